"""The targets file loader: every problem at its line, paths relative to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import targets
from reconciler.errors import ManifestError, SourceError, UsageError
from tests.helpers import write

GOOD = """\
apiVersion: bedrock.gitops/v1
kind: Target
metadata:
  name: prod-use1
spec:
  region: us-east-1
  accountId: "222222222222"
  profile: prod
  roleArn: arn:aws:iam::222222222222:role/bedrock-reconciler
  externalId: team-ml
  scope: prod
  paths: [../manifests/common, /abs/prod]
"""


def load(tmp_path: Path, text: str) -> tuple[targets.Target, ...]:
    return targets.load(str(write(tmp_path / "deploy", "targets.yaml", text)))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load(tmp_path, text)
    assert str(caught.value).endswith("found in the targets file; nothing was sent to AWS")
    return [f"{p.line}: {p.path}: {p.message}" for p in caught.value.problems]


def test_a_target_with_every_field(tmp_path: Path) -> None:
    (target,) = load(tmp_path, GOOD)
    assert target == targets.Target(
        name="prod-use1",
        region="us-east-1",
        paths=(str(tmp_path / "deploy" / "../manifests/common"), "/abs/prod"),
        account_id="222222222222",
        profile="prod",
        role_arn="arn:aws:iam::222222222222:role/bedrock-reconciler",
        external_id="team-ml",
        scope="prod",
        source=f"{tmp_path / 'deploy' / 'targets.yaml'}:1",
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("name: prod-use1", "name: Prod_1", "4: metadata.name: 'Prod_1' is not 1 to 63"),
        ("region: us-east-1", "region: useast", "6: spec.region: 'useast' is not an AWS region"),
        ('accountId: "222222222222"', "accountId: 2222", "7: spec.accountId: Input should be"),
        ('accountId: "222222222222"', 'accountId: "12"', "7: spec.accountId: '12' is not a 12"),
        ("roleArn: arn:aws:iam", "roleArn: xarn:aws:iam", "9: spec.roleArn: 'xarn"),
        ("scope: prod", "scope: ''", "11: spec.scope: '' is not a scope"),
        ("  paths: [../manifests/common, /abs/prod]", "  paths: []", "12: spec.paths: "),
        ("  paths: [../manifests/common, /abs/prod]", "  paths: ['']", "12: spec.paths: "),
        ("  scope: prod", "  scopes: prod", "11: spec.scopes: unknown field"),
        ("kind: Target", "kind: Targets", "2: kind: Input should be 'Target'"),
    ],
)
def test_each_bad_field_is_reported_at_its_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    (found,) = problems(tmp_path, GOOD.replace(old, new))
    assert found.startswith(expected), found


def test_an_external_id_needs_a_role(tmp_path: Path) -> None:
    text = GOOD.replace("  roleArn: arn:aws:iam::222222222222:role/bedrock-reconciler\n", "")
    (found,) = problems(tmp_path, text)
    assert "externalId is given without roleArn" in found


def test_a_manifest_in_a_targets_file_is_refused(tmp_path: Path) -> None:
    text = GOOD + "---\napiVersion: bedrock.gitops/v1\nkind: CustomModel\nmetadata: {name: a}\n"
    assert problems(tmp_path, text) == [
        "15: kind: a CustomModel belongs among the manifests, not in a targets file"
    ]


def test_duplicate_names_and_empty_files(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD + "---\n" + GOOD)
    assert found == [
        f"14: metadata.name: target 'prod-use1' is declared twice (also at "
        f"{tmp_path / 'deploy' / 'targets.yaml'}:1)"
    ]
    assert problems(tmp_path, "# nothing yet\n") == ["1: : no Target document in the targets file"]
    assert "malformed YAML" in problems(tmp_path, "a: [")[0]


def test_a_missing_file_or_a_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        targets.load(str(tmp_path / "nope.yaml"))
    with pytest.raises(SourceError, match="is a folder"):
        targets.load(str(tmp_path))


def test_select_keeps_the_files_order(tmp_path: Path) -> None:
    many = [targets.Target(name=n, region="us-east-1", paths=("m",)) for n in ("a", "b", "c")]
    assert targets.select(many, []) == tuple(many)
    assert [t.name for t in targets.select(many, ["c", "a"])] == ["a", "c"]
    with pytest.raises(
        UsageError, match=r"--target 'd' is not in the targets file \(it has: a, b, c\)"
    ):
        targets.select(many, ["d"])
