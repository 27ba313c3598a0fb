"""``reconciler export``: the pure documents (``reconciler.export``) and the command end to end
on the HTTP emulator, with resources made by hand (boto3) and by ``apply``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import manifests
from reconciler.desired import SOURCE_PLACEHOLDER, SOURCE_PLACEHOLDER_MESSAGE
from reconciler.export import export, summary, user_tags
from reconciler.identity import Kind, Place, ResourceKey
from reconciler.observed import ObservedResource, state_of
from reconciler.sandbox import DEFAULT_ACCOUNT
from reconciler.yamlnodes import load_documents
from tests.conftest import Emulator
from tests.helpers import KMS, Cli, deployment, manifest, models, throughput, write

PLACE = Place(region="us-east-1", account=DEFAULT_ACCOUNT)
PARTNER = "210987654321"
FOUNDATION = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"
TAG_TEXT = st.text(alphabet=st.sampled_from("abcXYZ019 \t\n._:/=+@-"), min_size=0, max_size=40)


def arn(name: str, account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:bedrock:us-east-1:{account}:custom-model/imported/{name[:12]:0>12}"


def model(name: str, **fields: Any) -> ObservedResource:
    return ObservedResource(
        arn=arn(name), name=name, status="Active", owner_account_id=DEFAULT_ACCOUNT, **fields
    )


def serving(kind: Kind, name: str, serves: str, **fields: Any) -> ObservedResource:
    path = "provisioned-model" if kind is Kind.PROVISIONED_THROUGHPUT else "custom-model-deployment"
    return ObservedResource(
        kind=kind,
        arn=f"arn:aws:bedrock:us-east-1:{DEFAULT_ACCOUNT}:{path}/{name:0>12}",
        name=name,
        status="Active",
        model_arn=serves,
        **fields,
    )


def documents(*resources: ObservedResource, scope: str = "default", **kw: Any) -> dict[str, str]:
    return {d.path: d.text for d in export(state_of(resources), scope, PLACE, **kw).documents}


def load(folder: Path) -> dict[ResourceKey, Any]:
    """Every manifest under ``folder`` (placeholders filled in), validated, by key."""
    for path in folder.rglob("*.yaml"):
        path.write_text(path.read_text().replace(SOURCE_PLACEHOLDER, f"s3://acme/{path.stem}/"))
    return {r.key: r.manifest for r in manifests.load([str(folder)]).resources}


# --- the documents ---------------------------------------------------------------------------


def test_an_unmanaged_model_is_adopted_with_its_tags_and_a_placeholder_source() -> None:
    tags = {"team": "a", "aws:cloudformation:stack-name": "s", "reconciler:spec-hash": "x"}
    found = documents(model("alpha", tags=tags, kms_key_arn=KMS))
    text = found["models/alpha.yaml"]
    assert f"s3Uri: {SOURCE_PLACEHOLDER}" in text
    above = text.split("  modelSourceConfig:")[0].splitlines()
    comment, source = [line for line in above if line.startswith("  #")], text
    assert comment[0].startswith("  # Bedrock cannot give a model's source back")
    assert comment[-2:] == [
        "  # package: replace this modelSourceConfig block with",
        "  # customModelDataSource.modelPackageArnDataSource.modelPackageArn instead.",
    ]
    data = next(load_documents(source)).data
    assert data["spec"] == {
        "modelSourceConfig": {"s3DataSource": {"s3Uri": SOURCE_PLACEHOLDER}},
        "modelKmsKeyArn": KMS,
        "tags": {"team": "a"},
        "adopt": True,
    }


def test_managed_resources_of_the_scope_carry_no_adopt_and_keep_retain() -> None:
    tags = {"reconciler:managed-by": "default", "reconciler:deletion-policy": "Retain"}
    data = next(load_documents(documents(model("alpha", tags=tags))["models/alpha.yaml"])).data
    assert data["spec"]["deletionPolicy"] == "Retain"
    assert "adopt" not in data["spec"]
    assert "tags" not in data["spec"]


def test_other_scopes_and_shared_models_are_left_out() -> None:
    theirs = model("theirs", tags={"reconciler:managed-by": "team-b"})
    shared = ObservedResource(
        arn=arn("shared", PARTNER), name="shared", status="Active", owner_account_id=PARTNER
    )
    unowned_arn = ObservedResource(arn=arn("guess", PARTNER), name="guess", status="Active")
    result = export(state_of([theirs, shared, unowned_arn, model("mine")]), "default", PLACE)
    assert [d.path for d in result.documents] == ["models/mine.yaml"]
    assert dict(result.left_out) == {
        ResourceKey(Kind.CUSTOM_MODEL, "theirs"): "managed by another scope, 'team-b'",
        ResourceKey(Kind.CUSTOM_MODEL, "shared"): f"shared from account {PARTNER}",
        ResourceKey(Kind.CUSTOM_MODEL, "guess"): f"shared from account {PARTNER}",
    }


def test_models_create_custom_model_did_not_make_are_left_out() -> None:
    tuned = model("tuned", customization_type="FINE_TUNING")
    made = [model("a", customization_type="IMPORTED"), model("b", customization_type="")]
    result = export(state_of([tuned, *made]), "default", PLACE)
    assert [d.path for d in result.documents] == ["models/a.yaml", "models/b.yaml"]
    assert dict(result.left_out) == {
        ResourceKey(Kind.CUSTOM_MODEL, "tuned"): (
            "a FINE_TUNING model: only a model CreateCustomModel made (IMPORTED) can be declared"
        )
    }


def test_unmanaged_only_leaves_out_the_scopes_own() -> None:
    mine = model("mine", tags={"reconciler:managed-by": "default"})
    result = export(state_of([mine, model("loose")]), "default", PLACE, unmanaged_only=True)
    assert [d.path for d in result.documents] == ["models/loose.yaml"]
    assert result.left_out == (
        (ResourceKey(Kind.CUSTOM_MODEL, "mine"), "managed by scope 'default' (--unmanaged)"),
    )


def test_references_name_an_exported_model_else_its_arn() -> None:
    pt, cmd = Kind.PROVISIONED_THROUGHPUT, Kind.CUSTOM_MODEL_DEPLOYMENT
    found = documents(
        model("v1"),
        model("v2"),
        serving(pt, "p", arn("v1"), next_model_arn=arn("v2"), model_units=2, commitment="OneMonth"),
        serving(pt, "f", FOUNDATION, model_units=1),
        serving(cmd, "d", arn("gone"), description="a: b # c"),
    )
    spec = {path: next(load_documents(text)).data["spec"] for path, text in found.items()}
    # A throughput switching models is exported as it will be: on the model it moves to.
    assert spec["throughputs/p.yaml"]["model"] == "v2"
    assert spec["throughputs/p.yaml"]["commitmentDuration"] == "OneMonth"
    assert spec["throughputs/p.yaml"]["modelUnits"] == 2
    assert spec["throughputs/f.yaml"]["modelArn"] == FOUNDATION
    assert spec["deployments/d.yaml"]["modelArn"] == arn("gone")
    assert spec["deployments/d.yaml"]["description"] == "a: b # c"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("../../etc/passwd", r"etc_passwd-[0-9a-f]{10}"), ("a/b", r"a_b-[0-9a-f]{10}"), ("..", None)],
)
def test_file_names_never_leave_their_folder(name: str, expected: str | None) -> None:
    (path,) = documents(model(name))
    folder, file = path.split("/")
    assert folder == "models"
    assert ".." not in file.removesuffix(".yaml")
    if expected is not None:
        import re

        assert re.fullmatch(expected, file.removesuffix(".yaml")), file


def test_names_differing_only_in_case_get_distinct_files() -> None:
    paths = sorted(p.lower() for p in documents(model("Alpha"), model("alpha")))
    assert len(set(paths)) == 2


def test_user_tags_drop_reserved_keys_in_any_case() -> None:
    tags = {"AWS:x": "1", "Reconciler:y": "2", "b": "3", "a": "4", "awsome": "5"}
    assert list(user_tags(tags).items()) == [("a", "4"), ("awsome", "5"), ("b", "3")]


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(min_size=1, max_size=80),
    tags=st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=5),
    description=st.text(max_size=80),
)
def test_any_text_reads_back_exactly(name: str, tags: dict[str, str], description: str) -> None:
    """Names, tags and descriptions are the account's, so anything: the YAML holds it as is."""
    tags = user_tags(tags)
    found = documents(
        model(name, tags=tags),
        serving(Kind.CUSTOM_MODEL_DEPLOYMENT, "d", arn(name), description=description),
    )
    texts = sorted(found.items())
    deployment_doc = next(load_documents(texts[0][1])).data
    model_doc = next(load_documents(texts[1][1])).data
    assert model_doc["metadata"]["name"] == name
    assert model_doc["spec"].get("tags", {}) == tags
    assert deployment_doc["spec"].get("description", "") == description
    assert deployment_doc["spec"]["model"] == name


@settings(max_examples=200, deadline=None)
@given(tags=st.dictionaries(TAG_TEXT.filter(bool), TAG_TEXT, max_size=10))
def test_hostile_tags_that_the_service_allows_validate_and_round_trip(
    tags: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    tags = user_tags(tags)
    hostile = {
        **tags,
        "yes": "on",
        "1.10": "null",
        "- x": "@x",
        "k": ": v",
        "=": " ",
        " lead": "trail\t\n",
    }
    folder = tmp_path_factory.mktemp("export")
    for path, text in documents(model("alpha", tags=hostile)).items():
        write(folder, path, text)
    spec = load(folder)[ResourceKey(Kind.CUSTOM_MODEL, "alpha")].spec
    assert spec.tags == hostile
    assert spec.adopt is True


def test_summary_counts_files_and_names_those_needing_a_source() -> None:
    result = export(
        state_of(
            [
                model("alpha"),
                model("beta", tags={"reconciler:managed-by": "default"}),
                model("theirs", tags={"reconciler:managed-by": "team-b"}),
                serving(Kind.PROVISIONED_THROUGHPUT, "p", arn("alpha"), model_units=1),
            ]
        ),
        "default",
        PLACE,
    )
    assert summary(result, "out/") == (
        "3 files written to out/ (2 CustomModel, 1 ProvisionedThroughput); "
        "2 unmanaged, marked spec.adopt: true.\n"
        "2 need the model source filled in "
        "(spec.modelSourceConfig.s3DataSource.s3Uri: FILL-IN, or a customModelDataSource "
        "for a SageMaker model package in its place):\n"
        "  out/models/alpha.yaml\n"
        "  out/models/beta.yaml\n"
        "1 left out:\n"
        "  CustomModel/theirs: managed by another scope, 'team-b'\n"
    )
    assert summary(export(state_of([]), "default", PLACE), "out") == "0 files written to out.\n"


# --- the command, end to end -----------------------------------------------------------------


@pytest.fixture
def account(emulator: Emulator, cli: Cli, tmp_path: Path) -> dict[str, str]:
    """Managed resources made by apply and unmanaged ones made by hand; their ARNs."""
    emulator.backend.import_seconds = 0.0
    repo = tmp_path / "manifests"
    write(repo, "m.yaml", manifest("managed", kms=KMS, tags={"team": "a"}, retain=True))
    write(repo, "p.yaml", throughput("managed-pt", model="managed", units=2))
    write(repo, "d.yaml", deployment("managed-od", model="managed", description="bot"))
    assert cli("apply", "--wait", str(repo)).code == 0
    client = emulator.client()
    hand = client.create_custom_model(
        modelName="hand",
        modelSourceConfig={"s3DataSource": {"s3Uri": "s3://acme/hand/"}},
        modelKmsKeyArn=KMS,
        modelTags=[
            {"key": "team", "value": "yes"},
            {"key": "aws:cloudformation:stack-name", "value": "stack"},
            {"key": "note", "value": "a: b @c -d"},
        ],
    )["modelArn"]
    managed = models(client)["managed"]["modelArn"]
    client.create_provisioned_model_throughput(
        provisionedModelName="hand-pt", modelId=hand, modelUnits=1
    )
    client.create_provisioned_model_throughput(
        provisionedModelName="hand-on-managed", modelId=managed, modelUnits=1
    )
    client.create_custom_model_deployment(
        modelDeploymentName="hand-od", modelArn=hand, description="made by hand"
    )
    return {"hand": hand, "managed": managed, "repo": str(repo)}


def test_export_writes_every_resource_by_kind(
    cli: Cli, account: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = cli("export", "--output-dir", str(out))
    assert run.code == 0, run.err
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "deployments/hand-od.yaml",
        "deployments/managed-od.yaml",
        "models/hand.yaml",
        "models/managed.yaml",
        "throughputs/hand-on-managed.yaml",
        "throughputs/hand-pt.yaml",
        "throughputs/managed-pt.yaml",
    ]
    assert run.out.startswith(
        f"7 files written to {out} (2 CustomModel, 3 ProvisionedThroughput, "
        "2 CustomModelDeployment); 4 unmanaged, marked spec.adopt: true.\n"
        "2 need the model source filled in"
    )
    assert f"  {out}/models/hand.yaml\n  {out}/models/managed.yaml\n" in run.out
    found = load(out)
    hand = found[ResourceKey(Kind.CUSTOM_MODEL, "hand")].spec
    assert (hand.tags, hand.modelKmsKeyArn, hand.adopt) == (
        {"team": "yes", "note": "a: b @c -d"},
        KMS,
        True,
    )
    managed = found[ResourceKey(Kind.CUSTOM_MODEL, "managed")].spec
    assert (managed.tags, managed.deletionPolicy, managed.adopt) == ({"team": "a"}, "Retain", False)
    od = found[ResourceKey(Kind.CUSTOM_MODEL_DEPLOYMENT, "hand-od")].spec
    assert (od.model, od.description, od.adopt) == ("hand", "made by hand", True)
    pt = found[ResourceKey(Kind.PROVISIONED_THROUGHPUT, "hand-on-managed")].spec
    assert (pt.model, pt.modelUnits) == ("managed", 1)


def test_exported_managed_resources_plan_in_sync(
    cli: Cli, account: dict[str, str], tmp_path: Path
) -> None:
    """Round trip: what export writes of the scope's own resources, with the real source
    filled in, is what apply made (same spec hash, same tags): the plan is all noops."""
    out = tmp_path / "out"
    assert cli("export", "--output-dir", str(out)).code == 0
    for unmanaged in ("models/hand", "throughputs/hand-pt", "throughputs/hand-on-managed"):
        (out / f"{unmanaged}.yaml").unlink()
    (out / "deployments/hand-od.yaml").unlink()
    text = (out / "models/managed.yaml").read_text()
    (out / "models/managed.yaml").write_text(
        text.replace(SOURCE_PLACEHOLDER, "s3://acme-models/managed/")
    )
    assert cli("validate", str(out)).code == 0
    run = cli("plan", str(out), "--output", "json")
    assert run.code == 0, run.err
    assert {a["action"] for a in run.json()["actions"]} == {"noop"}


def test_unmanaged_exports_only_what_no_scope_manages_and_refers_by_arn(
    cli: Cli, account: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = cli("export", "--unmanaged", "--output-dir", str(out))
    assert run.code == 0, run.err
    assert sorted(p.name for p in out.rglob("*.yaml")) == [
        "hand-od.yaml",
        "hand-on-managed.yaml",
        "hand-pt.yaml",
        "hand.yaml",
    ]
    assert "3 left out:\n  CustomModel/managed: managed by scope 'default' (--unmanaged)" in run.out
    found = load(out)
    pt = found[ResourceKey(Kind.PROVISIONED_THROUGHPUT, "hand-on-managed")].spec
    assert (pt.model, pt.modelArn) == (None, account["managed"])
    assert all(m.spec.adopt for m in found.values())


def test_another_scope_exports_only_the_unmanaged(
    cli: Cli, account: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = cli("--scope", "team-b", "export", "--output-dir", str(out))
    assert run.code == 0, run.err
    assert "CustomModel/managed: managed by another scope, 'default'" in run.out
    assert not (out / "models/managed.yaml").exists()
    assert (out / "models/hand.yaml").exists()


def test_existing_files_are_never_overwritten_without_force(
    cli: Cli, account: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    write(out, "models/hand.yaml", "mine\n")
    run = cli("export", "--output-dir", str(out))
    assert run.code == 1
    assert run.err == (
        f"error: {out}/models/hand.yaml exists; nothing was written (--force overwrites)\n"
    )
    assert [p.name for p in out.rglob("*") if p.is_file()] == ["hand.yaml"]
    assert (out / "models/hand.yaml").read_text() == "mine\n"
    assert cli("export", "--output-dir", str(out), "--force").code == 0
    assert "kind: CustomModel" in (out / "models/hand.yaml").read_text()
    assert len(list(out.rglob("*.yaml"))) == 7
    assert not list(out.rglob("*.tmp"))


def test_an_output_dir_that_is_a_file_is_refused(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    out = write(tmp_path, "out", "")
    run = cli("export", "--output-dir", str(out), "--force")
    assert (run.code, run.err) == (1, f"error: {out}: not a folder; nothing was written\n")


def test_the_placeholder_fails_validation_at_its_line(
    cli: Cli, account: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert cli("export", "--output-dir", str(out)).code == 0
    run = cli("validate", str(out / "models/hand.yaml"))
    assert run.code == 1
    line = (
        (out / "models/hand.yaml")
        .read_text()
        .splitlines()
        .index(f"      s3Uri: {SOURCE_PLACEHOLDER}")
    )
    assert run.err.splitlines()[0] == (
        f"{out}/models/hand.yaml:{line + 1}: spec.modelSourceConfig.s3DataSource.s3Uri: "
        f"{SOURCE_PLACEHOLDER_MESSAGE}"
    )
    assert SOURCE_PLACEHOLDER_MESSAGE == "fill in the model's source (export cannot read it back)"


def test_a_shared_model_is_never_exported(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    shared = emulator.backend.add_shared_model("shared", PARTNER)
    emulator.client().create_provisioned_model_throughput(
        provisionedModelName="on-shared", modelId=shared, modelUnits=1
    )
    out = tmp_path / "out"
    run = cli("export", "--output-dir", str(out))
    assert run.code == 0, run.err
    assert [p.name for p in out.rglob("*.yaml")] == ["on-shared.yaml"]
    assert f'modelArn: "{shared}"' in (out / "throughputs/on-shared.yaml").read_text()


def test_an_empty_account_writes_nothing(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    run = cli("export", "--output-dir", str(tmp_path / "out"))
    assert (run.code, run.out) == (0, f"0 files written to {tmp_path / 'out'}.\n")
    assert not (tmp_path / "out").exists()


def test_the_readme_example_is_what_export_prints(
    cli: Cli, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(__file__).resolve().parent.parent
    section = (root / "README.md").read_text().split("`reconciler export`", 1)[1]
    block = section.split("```\n", 1)[1].split("```", 1)[0]
    command, *expected = block.splitlines(keepends=True)
    assert command == "$ reconciler --sandbox export\n"
    emulator.backend.import_seconds = 0.0
    assert cli("apply", "--wait", str(root / "manifests")).code == 0
    monkeypatch.chdir(tmp_path)
    run = cli("export")
    assert (run.code, run.out) == (0, "".join(expected))
    assert len(list((tmp_path / "exported").rglob("*.yaml"))) == 4
