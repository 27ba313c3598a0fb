"""Both model sources end to end: S3 weights and SageMaker AI model packages, on the emulator
over HTTP and on ``--sandbox``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from tests.helpers import Cli, actions, manifest, models, write

PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/support-nova/3"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "s3.yaml", manifest("from-s3"))
    write(folder, "package.yaml", manifest("from-package", package=PACKAGE, role=None))
    return folder


def test_both_sources_are_created_and_then_in_sync(cli: Cli, repo: Path, emulator: Any) -> None:
    run = cli("apply", "--wait", str(repo), "--output", "json")
    assert run.code == 0, run.err
    assert actions(run) == {"from-package": "create", "from-s3": "create"}
    stored = {m.name: m.source for m in emulator.backend.models.values()}
    assert stored == {
        "from-s3": {"modelSourceConfig": {"s3DataSource": {"s3Uri": "s3://acme-models/from-s3/"}}},
        "from-package": {
            "customModelDataSource": {"modelPackageArnDataSource": {"modelPackageArn": PACKAGE}}
        },
    }
    assert {m["modelStatus"] for m in models(emulator.client()).values()} == {"Active"}
    again = cli("plan", "--detailed-exitcode", str(repo), "--output", "json")
    assert again.code == 0, again.out
    assert actions(again) == {"from-package": "noop", "from-s3": "noop"}


@pytest.mark.parametrize(
    ("before", "after"),
    [({}, {"package": PACKAGE}), ({"package": PACKAGE}, {})],
    ids=["s3-to-package", "package-to-s3"],
)
def test_switching_the_source_is_a_replace(
    cli: Cli, tmp_path: Path, emulator: Any, before: dict[str, str], after: dict[str, str]
) -> None:
    folder = tmp_path / "manifests"
    write(folder, "m.yaml", manifest("m", **before))
    assert cli("apply", "--wait", str(folder)).code == 0
    first = models(emulator.client())["m"]
    write(folder, "m.yaml", manifest("m", **after))
    run = cli("plan", str(folder), "--output", "json")
    (action,) = run.json()["actions"]
    assert action["action"] == "replace"
    assert action["reason"] == "its content changed (source, modelKmsKeyArn or name)"
    assert cli("apply", "--wait", str(folder)).code == 0
    second = models(emulator.client())["m"]
    assert second["modelArn"] != first["modelArn"]
    assert second["tags"]["reconciler:spec-hash"] != first["tags"]["reconciler:spec-hash"]
    assert set(actions(cli("plan", str(folder), "--output", "json")).values()) == {"noop"}


def test_both_sources_on_the_sandbox(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "sandbox.json")
    sandboxed = ["--sandbox", "--sandbox-state", state]
    assert main([*sandboxed, "apply", "--wait", str(repo)], environ={}) == 0
    capsys.readouterr()
    code = main([*sandboxed, "plan", "--detailed-exitcode", str(repo)], environ={})
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 in sync" in out
    assert "customModelDataSource" in Path(state).read_text()


def test_two_sources_fail_validate_with_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    both = manifest("m") + (
        "  customModelDataSource:\n"
        "    modelPackageArnDataSource:\n"
        f"      modelPackageArn: {PACKAGE}\n"
    )
    file = write(tmp_path, "m.yaml", both)
    assert main(["validate", str(file)], environ={}) == 1
    err = capsys.readouterr().err
    assert f"{file}:10: spec.customModelDataSource: give exactly one of" in err
    assert "Traceback" not in err


def test_the_schema_command_shows_both_sources(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["schema"], environ={}) == 0
    spec = json.loads(capsys.readouterr().out)["$defs"]["Spec"]
    assert spec["oneOf"] == [
        {"required": ["modelSourceConfig"]},
        {"required": ["customModelDataSource"]},
    ]
    assert set(spec["properties"]) >= {"modelSourceConfig", "customModelDataSource"}


S3_MANIFEST = """\
apiVersion: bedrock.gitops/v1
kind: CustomModel
metadata:
  name: support-nova-lite
spec:
  modelSourceConfig:
    s3DataSource:
      s3Uri: s3://acme-models/support-nova-lite/
  roleArn: arn:aws:iam::111122223333:role/BedrockModelImport
{kms}  tags: {{team: support}}
"""
KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("kms", "digest"),
    [
        (f"  modelKmsKeyArn: {KMS}\n", "fec8b62ddd38bc48aadc1ffc46a61142"),
        ("", "6b7e025c241f9761c1154019def6ed31"),
    ],
    ids=["with-kms", "without-kms"],
)
def test_an_s3_model_keeps_the_hash_it_had_before_package_sources(
    tmp_path: Path, kms: str, digest: str
) -> None:
    """The digests computed by the release before ``customModelDataSource`` (commit
    6a311c3^): an upgrade must not see every existing model as changed and replace it."""
    from reconciler import manifests
    from reconciler.plan import spec_hash

    write(tmp_path / "m", "m.yaml", S3_MANIFEST.format(kms=kms))
    [model] = manifests.load([str(tmp_path / "m")]).resources
    assert spec_hash(model) == digest
