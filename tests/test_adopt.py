"""Adoption end to end on the HTTP emulator: resources made by hand (boto3, no reconciler
tag) taken over by ``spec.adopt: true`` manifests through ``reconciler.cli.main``, with tag
changes alone; what does not match, or belongs to another scope or account, stays a
conflict; a saved adoption goes stale when its target changes; and the onboarding path of
the README (export, fill in the source, validate, plan, apply, plan) runs as written."""

from __future__ import annotations

import logging
import shlex
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reconciler.aws.reader import AccountReader, TagReads
from reconciler.cli import main
from reconciler.desired import SOURCE_PLACEHOLDER
from reconciler.observed import TAG_MANAGED_BY, TAG_SPEC_HASH
from reconciler.sandbox import DEFAULT_ACCOUNT, ENV_IMPORT_SECONDS
from reconciler.watch import Watcher, WatchOptions
from tests.conftest import Emulator
from tests.helpers import (
    KMS,
    Cli,
    deployment,
    deployments,
    keyed,
    manifest,
    models,
    throughput,
    throughputs,
    write,
)

S3 = {"s3DataSource": {"s3Uri": "s3://acme-models/hand/"}}
PARTNER = "210987654321"
ROOT = Path(__file__).resolve().parent.parent


def adopting(text: str) -> str:
    """A manifest's text with ``spec.adopt: true``."""
    return text + "  adopt: true\n"


def tags_of(client: Any, arn: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in client.list_tags_for_resource(resourceARN=arn)["tags"]}


@pytest.fixture
def hand(emulator: Emulator) -> dict[str, str]:
    """A model, a throughput and a deployment made by hand, with user tags; their ARNs."""
    emulator.backend.import_seconds = 0.0
    client = emulator.client()
    model = client.create_custom_model(
        modelName="hand",
        modelSourceConfig=S3,
        modelTags=[{"key": "team", "value": "old"}, {"key": "ticket", "value": "OPS-1"}],
    )["modelArn"]
    pt = client.create_provisioned_model_throughput(
        provisionedModelName="hand-pt",
        modelId=model,
        modelUnits=1,
        tags=[{"key": "ticket", "value": "OPS-2"}],
    )["provisionedModelArn"]
    od = client.create_custom_model_deployment(
        modelDeploymentName="hand-od", modelArn=model, description="made by hand"
    )["customModelDeploymentArn"]
    return {"model": model, "pt": pt, "od": od}


def declare(repo: Path, *, model: str = "", pt: str = "", od: str = "") -> Path:
    write(
        repo,
        "m.yaml",
        model or adopting(manifest("hand", "s3://acme-models/hand/", tags={"team": "chat"})),
    )
    write(repo, "p.yaml", pt or adopting(throughput("hand-pt", model="hand")))
    write(
        repo,
        "d.yaml",
        od or adopting(deployment("hand-od", model="hand", description="made by hand")),
    )
    return repo


def test_every_kind_is_adopted_by_tags_and_the_next_plan_is_clean(
    cli: Cli, emulator: Emulator, hand: dict[str, str], tmp_path: Path
) -> None:
    repo = declare(tmp_path / "repo")
    run = cli("plan", str(repo), "--output", "json", "--detailed-exitcode")
    assert run.code == 2, run.err  # an adoption is a change
    planned = keyed(run)
    assert {k: a["action"] for k, a in planned.items()} == {
        "CustomModel/hand": "adopt",
        "ProvisionedThroughput/hand-pt": "adopt",
        "CustomModelDeployment/hand-od": "adopt",
    }
    assert run.json()["summary"] == {"adopt": 3}
    assert "cannot be read back from Bedrock" in planned["CustomModel/hand"]["reason"]
    assert "remove ticket" in planned["CustomModel/hand"]["reason"]
    applied = cli("apply", str(repo))
    assert applied.code == 0, applied.err
    assert "Results: 3 done" in applied.out
    client = emulator.client()
    # Nothing was created, replaced or deleted: the same ARNs, one of each.
    assert models(client)["hand"]["modelArn"] == hand["model"] and len(models(client)) == 1
    assert throughputs(client)["hand-pt"]["provisionedModelArn"] == hand["pt"]
    assert deployments(client)["hand-od"]["customModelDeploymentArn"] == hand["od"]
    model_tags = tags_of(client, hand["model"])
    assert model_tags["team"] == "chat" and "ticket" not in model_tags  # declared set, rest gone
    assert model_tags[TAG_MANAGED_BY] == "default" and len(model_tags[TAG_SPEC_HASH]) == 32
    assert "ticket" not in tags_of(client, hand["pt"])
    again = cli("plan", str(repo), "--output", "json", "--detailed-exitcode")
    assert again.code == 0, again.out
    assert {a["action"] for a in again.json()["actions"]} == {"noop"}


MISMATCHES = {
    "kms": (
        {"model": adopting(manifest("hand", "s3://acme-models/hand/", kms=KMS))},
        "CustomModel/hand",
        f"modelKmsKeyArn: account has none, manifest has {KMS}",
    ),
    "modelUnits": (
        {"pt": adopting(throughput("hand-pt", model="hand", units=2))},
        "ProvisionedThroughput/hand-pt",
        "modelUnits: account has 1, manifest has 2",
    ),
    "commitmentDuration": (
        {"pt": adopting(throughput("hand-pt", model="hand", commitment="OneMonth"))},
        "ProvisionedThroughput/hand-pt",
        "commitmentDuration: account has none, manifest has OneMonth",
    ),
    "description": (
        {"od": adopting(deployment("hand-od", model="hand", description="a bot"))},
        "CustomModelDeployment/hand-od",
        "description: account has made by hand, manifest has a bot",
    ),
}


@pytest.mark.parametrize("case", list(MISMATCHES.values()), ids=list(MISMATCHES))
def test_a_mismatch_stays_a_conflict_with_its_reason(
    cli: Cli, emulator: Emulator, hand: dict[str, str], tmp_path: Path, case: Any
) -> None:
    files, key, reason = case
    repo = declare(tmp_path / "repo", **files)
    run = cli("plan", str(repo), "--output", "json")
    assert run.code == 1
    action = keyed(run)[key]
    assert action["action"] == "conflict"
    assert action["reason"].endswith("does not match the manifest: " + reason)
    assert cli("apply", str(repo)).code == 1
    assert TAG_MANAGED_BY not in tags_of(emulator.client(), action["arn"])


def test_a_model_with_another_kms_key_and_a_failed_one_are_not_adopted(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.backend.import_seconds = 0.0
    client = emulator.client()
    client.create_custom_model(modelName="keyed", modelSourceConfig=S3, modelKmsKeyArn=KMS)
    failed = client.create_custom_model(modelName="failed", modelSourceConfig=S3)["modelArn"]
    emulator.backend.set_status(failed, "Failed", "bad weights")
    write(tmp_path, "k.yaml", adopting(manifest("keyed")))
    write(tmp_path, "f.yaml", adopting(manifest("failed")))
    run = cli("plan", str(tmp_path), "--output", "json")
    assert run.code == 1
    reasons = {k: a["reason"] for k, a in keyed(run).items()}
    assert reasons["CustomModel/keyed"].endswith(
        f"modelKmsKeyArn: account has {KMS}, manifest has none"
    )
    assert reasons["CustomModel/failed"].endswith(
        "status: account has Failed, manifest has a model that imported"
    )
    write(tmp_path, "k.yaml", adopting(manifest("keyed", kms=KMS)))
    (tmp_path / "f.yaml").unlink()
    assert (
        keyed(cli("plan", str(tmp_path), "--output", "json"))["CustomModel/keyed"]["action"]
        == "adopt"
    )


def test_without_adopt_the_conflict_says_how_to_adopt(
    cli: Cli, emulator: Emulator, hand: dict[str, str], tmp_path: Path
) -> None:
    write(tmp_path, "m.yaml", manifest("hand", "s3://acme-models/hand/"))
    run = cli("plan", str(tmp_path))
    assert run.code == 1
    assert (
        "! conflict      hand: the name is taken by a model not managed; it is left untouched; "
        "to take it over, declare it with spec.adopt: true "
        "(or write it with `reconciler export --unmanaged`)"
    ) in run.out


def test_another_scopes_resources_are_never_adopted(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.backend.import_seconds = 0.0
    theirs = tmp_path / "theirs"
    write(theirs, "m.yaml", manifest("shared-name"))
    write(theirs, "p.yaml", throughput("shared-pt", model="shared-name"))
    assert cli("--scope", "team-b", "apply", "--wait", str(theirs)).code == 0
    mine = tmp_path / "mine"
    write(mine, "m.yaml", adopting(manifest("shared-name")))
    write(mine, "p.yaml", adopting(throughput("shared-pt", model="shared-name")))
    run = cli("plan", str(mine), "--output", "json")
    assert run.code == 1
    reasons = {k: (a["action"], a["reason"]) for k, a in keyed(run).items()}
    assert reasons == {
        "CustomModel/shared-name": (
            "conflict",
            "the name is taken by a model managed by scope 'team-b'; it is left untouched",
        ),
        "ProvisionedThroughput/shared-pt": (
            "conflict",
            "the name is taken by a ProvisionedThroughput managed by scope 'team-b'; it is "
            "left untouched",
        ),
    }


def test_a_shared_model_is_never_adopted(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    shared = emulator.backend.add_shared_model("beta", PARTNER)
    write(tmp_path, "m.yaml", adopting(manifest("beta")))
    run = cli("plan", str(tmp_path), "--output", "json")
    assert run.code == 0
    [action] = run.json()["actions"]
    assert (action["action"], action["arn"]) == ("create", None)  # never the shared one
    assert shared in {
        m["modelArn"] for m in emulator.client().list_custom_models()["modelSummaries"]
    }


def test_a_throughput_on_an_adopted_model_is_created_in_the_same_apply(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.backend.import_seconds = 0.0
    client = emulator.client()
    model = client.create_custom_model(modelName="hand", modelSourceConfig=S3)["modelArn"]
    write(tmp_path, "m.yaml", adopting(manifest("hand", "s3://acme-models/hand/")))
    write(tmp_path, "p.yaml", throughput("new-pt", model="hand"))
    run = cli("apply", "--wait", str(tmp_path), "--output", "json")
    assert run.code == 0, run.err
    assert {k: a["result"] for k, a in keyed(run).items()} == {
        "CustomModel/hand": "done",
        "ProvisionedThroughput/new-pt": "done",
    }
    assert throughputs(client)["new-pt"]["modelArn"] == model
    assert {
        a["action"] for a in cli("plan", str(tmp_path), "--output", "json").json()["actions"]
    } == {"noop"}


def test_an_adopted_throughput_on_another_model_is_switched_by_the_next_apply(
    cli: Cli, emulator: Emulator, hand: dict[str, str], tmp_path: Path
) -> None:
    repo = declare(tmp_path / "repo", pt=adopting(throughput("hand-pt", model="v2")))
    write(repo, "v2.yaml", manifest("v2"))
    assert cli("apply", "--wait", str(repo)).code == 0
    run = cli("plan", str(repo), "--output", "json")
    assert {k: a["action"] for k, a in keyed(run).items() if a["action"] != "noop"} == {
        "ProvisionedThroughput/hand-pt": "update-model"
    }


def test_a_saved_adoption_is_stale_once_its_target_gained_a_managed_by_tag(
    cli: Cli, emulator: Emulator, hand: dict[str, str], tmp_path: Path
) -> None:
    repo = declare(tmp_path / "repo")
    saved = tmp_path / "plan.json"
    assert cli("plan", str(repo), "--out", str(saved)).code == 0
    emulator.client().tag_resource(
        resourceARN=hand["model"], tags=[{"key": TAG_MANAGED_BY, "value": "team-b"}]
    )
    run = cli("apply", "--plan", str(saved))
    assert run.code == 1
    assert f"hand: tag {TAG_MANAGED_BY}: None -> 'team-b'" in run.err
    assert "the saved plan is stale" in run.err
    assert tags_of(emulator.client(), hand["model"])[TAG_MANAGED_BY] == "team-b"


def test_a_saved_adoption_applies_when_nothing_moved(
    cli: Cli, emulator: Emulator, hand: dict[str, str], tmp_path: Path
) -> None:
    repo = declare(tmp_path / "repo")
    saved = tmp_path / "plan.json"
    assert cli("plan", str(repo), "--out", str(saved)).code == 0
    run = cli("apply", "--plan", str(saved))
    assert run.code == 0, run.err
    assert "Apply: 3 adopt." in run.out
    assert tags_of(emulator.client(), hand["od"])[TAG_MANAGED_BY] == "default"


def test_export_fill_in_apply_then_clean(
    cli: Cli, emulator: Emulator, hand: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert cli("export", "--unmanaged", "--output-dir", str(out)).code == 0
    path = out / "models/hand.yaml"
    path.write_text(path.read_text().replace(SOURCE_PLACEHOLDER, "s3://acme-models/hand/"))
    assert cli("validate", str(out)).code == 0
    run = cli("plan", str(out), "--output", "json")
    assert {a["action"] for a in run.json()["actions"]} == {"adopt"}
    assert cli("apply", str(out)).code == 0
    again = cli("plan", str(out), "--output", "json", "--detailed-exitcode")
    assert again.code == 0
    assert {a["action"] for a in again.json()["actions"]} == {"noop"}
    assert tags_of(emulator.client(), hand["model"])["ticket"] == "OPS-1"  # export kept it


def test_watch_reports_an_adoption_as_pending_then_applies_it(
    emulator: Emulator, hand: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = declare(tmp_path / "repo")
    client = emulator.client()

    def watcher(**options: Any) -> Watcher:
        settings = WatchOptions(paths=(str(repo),), scope="default", **options)
        return Watcher(settings, client, logging.getLogger("test-adopt-watch"))

    with caplog.at_level(logging.WARNING, logger="test-adopt-watch"):
        watcher(report_only=True).reconcile("start")
    pending = [
        r.getMessage() for r in caplog.records if getattr(r, "event", "") == "drift_detected"
    ]
    assert any(m.startswith("adopt hand: not managed, and it matches") for m in pending), pending
    assert TAG_MANAGED_BY not in tags_of(client, hand["model"])  # report-only sent nothing
    watcher().reconcile("start")
    for arn in hand.values():
        assert tags_of(client, arn)[TAG_MANAGED_BY] == "default"


def test_the_reader_records_the_account_it_read(emulator: Emulator, hand: dict[str, str]) -> None:
    reader = AccountReader(
        emulator.client(), lambda: None, "default", TagReads.PER_MODEL, account=DEFAULT_ACCOUNT
    )
    observed = reader.read()
    described = reader.describe_deployments(reader.describe_models(observed, {hand["model"]}))
    assert (observed.account, described.account) == (DEFAULT_ACCOUNT, DEFAULT_ACCOUNT)
    assert {r.name for r in described.resources} == {"hand", "hand-pt", "hand-od"}
    assert described.by_arn()[hand["od"]].description == "made by hand"


def test_the_readme_onboarding_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's section in a fresh sandbox in an empty folder: its setup script, the
    edit it shows, and each ``$ reconciler`` line printing exactly the output shown."""
    section = (ROOT / "README.md").read_text().split("## Bringing existing resources", 1)[1]
    section = section.split("\n## ", 1)[0]
    setup, edit = (block.split("```", 1)[0] for block in section.split("```sh\n")[1:])
    script = setup.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    consoles = [b.split("```", 1)[0] for b in section.split("```console\n")[1:]]
    assert len(consoles) == 2
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_IMPORT_SECONDS, "0")
    exec(compile(script, "README.md", "exec"), {})
    ran = []
    for index, console in enumerate(consoles):
        if index == 1:
            subprocess.run(["sh", "-c", edit], check=True)
        for step in textwrap.dedent(console).split("$ ")[1:]:
            command, _, expected = step.partition("\n")
            argv = shlex.split(command)
            assert argv[:2] == ["reconciler", "--sandbox"]
            capsys.readouterr()
            assert main(argv[1:], environ={}) == 0, command
            assert capsys.readouterr().out == expected, command
            ran.append(argv[2])
    assert ran == ["export", "validate", "plan", "apply", "plan"]
