"""The CI workflow end to end: markdown, step summaries, saved plans, the deletion budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, actions, manifest, models, write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "a.yaml", manifest("alpha", tags={"team": "a"}))
    write(folder, "b.yaml", manifest("beta"))
    return folder


def test_markdown_plan_lists_every_action_and_flags_destruction(cli: Cli, repo: Path) -> None:
    cli("apply", str(repo))
    write(repo, "a.yaml", manifest("alpha", s3_uri="s3://acme-models/alpha/v2/"))
    (repo / "b.yaml").unlink()
    write(repo, "c.yaml", manifest("gamma"))
    run = cli("plan", str(repo), "--output", "markdown")
    assert run.code == 0
    text = run.out
    assert text.startswith(
        "### Bedrock custom models: plan for scope `default` in `123456789012/us-east-1`"
    )
    assert "1 create · 1 replace · 1 delete" in text
    assert "[!CAUTION]" in text and "`alpha`, `beta`" in text
    assert "| 🔴 | **replace** | `alpha` |" in text
    assert "| 🔴 | **delete** | `beta` |" in text
    assert f"| 🟢 | create | `gamma` | not in the account | `{repo / 'c.yaml'}:1` |" in text


def test_markdown_apply_has_a_result_column(cli: Cli, repo: Path) -> None:
    run = cli("apply", str(repo), "--output", "markdown")
    assert run.code == 0
    assert "| | action | resource | reason | declared at | result |" in run.out
    assert run.out.count("| done |") == 2


def test_step_summary_is_appended_never_overwritten(cli: Cli, repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert cli("plan", str(repo), environ=environ).code == 0
    assert cli("apply", str(repo), "--output", "json", environ=environ).code == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert "plan for scope `default`" in text and "apply for scope `default`" in text
    assert text.count("`alpha`") == 2


def test_saved_plan_applies_its_own_actions_not_todays_manifests(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    planfile = tmp_path / "plan.json"
    assert cli("plan", str(repo), "--out", str(planfile)).code == 0
    document = json.loads(planfile.read_text())
    assert document["format"] == "bedrock-reconciler/plan" and document["version"] == 1
    assert document["observed"]["absent"] == ["alpha", "beta"]
    write(repo, "c.yaml", manifest("gamma"))
    (repo / "b.yaml").unlink()
    run = cli("apply", "--plan", str(planfile), "--output", "json")
    assert run.code == 0, run.err
    assert actions(run) == {"alpha": "create", "beta": "create"}
    assert sorted(models(emulator.client())) == ["alpha", "beta"]
    assert models(emulator.client())["alpha"]["tags"]["team"] == "a"


def test_saved_plan_over_a_changed_account_is_refused_and_names_the_change(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    cli("apply", str(repo))
    write(repo, "a.yaml", manifest("alpha", tags={"team": "b"}))
    planfile = tmp_path / "plan.json"
    assert cli("plan", str(repo), "--out", str(planfile)).code == 0
    client = emulator.client()
    beta = models(client)["beta"]["modelArn"]
    client.tag_resource(resourceARN=beta, tags=[{"key": "owner", "value": "ops"}])
    before = {n: (m["modelArn"], m["tags"]) for n, m in models(client).items()}
    calls = dict(emulator.backend.calls)
    run = cli("apply", "--plan", str(planfile))
    assert run.code == 1
    assert "beta: tag owner: None -> 'ops'" in run.err
    assert "stale" in run.err
    assert {n: (m["modelArn"], m["tags"]) for n, m in models(client).items()} == before
    mutating = ("CreateCustomModel", "DeleteCustomModel", "TagResource", "UntagResource")
    assert all(emulator.backend.calls[op] == calls.get(op, 0) for op in mutating)


def test_saved_plan_refuses_a_model_that_appeared(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    planfile = tmp_path / "plan.json"
    cli("plan", str(repo), "--out", str(planfile))
    emulator.client().create_custom_model(
        modelName="alpha", modelSourceConfig={"s3DataSource": {"s3Uri": "s3://other-bucket/a/"}}
    )
    run = cli("apply", "--plan", str(planfile))
    assert run.code == 1
    assert "alpha: was absent, now exists" in run.err
    assert sorted(models(emulator.client())) == ["alpha"]


def test_saved_plan_for_another_scope_or_region_is_refused(
    cli: Cli, repo: Path, tmp_path: Path
) -> None:
    planfile = tmp_path / "plan.json"
    cli("plan", str(repo), "--out", str(planfile))
    run = cli("apply", "--plan", str(planfile), "--scope", "other")
    assert run.code == 1
    assert "the plan is for scope 'default', not 'other'" in run.err


def test_saved_plan_file_that_is_not_a_plan(cli: Cli, tmp_path: Path) -> None:
    bogus = tmp_path / "plan.json"
    bogus.write_text('{"format": "something else"}')
    run = cli("apply", "--plan", str(bogus))
    assert run.code == 1
    assert "not a saved plan" in run.err
    assert "Traceback" not in run.err
    both = cli("apply", "--plan", str(bogus), "manifests/")
    assert both.code == 1 and "takes no PATH" in both.err


def many(folder: Path, count: int) -> None:
    for i in range(count):
        write(folder, f"m{i:02d}.yaml", manifest(f"m{i:02d}"))


def test_deletion_budget_refuses_and_force_overrides(
    cli: Cli, tmp_path: Path, emulator: Any
) -> None:
    folder = tmp_path / "many"
    many(folder, 10)
    assert cli("apply", str(folder)).code == 0
    for i in range(4):
        (folder / f"m{i:02d}.yaml").unlink()
    run = cli("apply", str(folder))
    assert run.code == 1
    assert "deletes or replaces 4 of 10 managed models (40% > 30%)" in run.err
    assert "m00, m01, m02, m03" in run.err
    assert len(models(emulator.client())) == 10
    assert cli("plan", str(folder)).code == 1
    assert cli("plan", str(folder), "--max-delete-percent", "50").code == 0
    assert cli("apply", str(folder), "--force").code == 0
    assert len(models(emulator.client())) == 6


def test_deletion_budget_needs_ten_managed_models(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "few"
    many(folder, 9)
    cli("apply", str(folder))
    for i in range(5):
        (folder / f"m{i:02d}.yaml").unlink()
    assert cli("apply", str(folder)).code == 0


def test_every_action_names_its_source(cli: Cli, repo: Path) -> None:
    run = cli("plan", str(repo), "--output", "json")
    sources = {a["name"]: a["source"] for a in run.json()["actions"]}
    assert sources == {"alpha": f"{repo / 'a.yaml'}:1", "beta": f"{repo / 'b.yaml'}:1"}
    cli("apply", str(repo))
    (repo / "b.yaml").unlink()
    deleted = cli("plan", str(repo), "--output", "json").json()["actions"]
    beta = next(a for a in deleted if a["name"] == "beta")
    assert beta["source"] is None
    assert beta["reason"] == "no manifest declares it any more"


def test_a_plan_with_conflicts_is_not_saved(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    emulator.client().create_custom_model(
        modelName="alpha", modelSourceConfig={"s3DataSource": {"s3Uri": "s3://other-bucket/a/"}}
    )
    planfile = tmp_path / "plan.json"
    run = cli("plan", str(repo), "--out", str(planfile))
    assert run.code == 1
    assert "! conflict" in run.out
    assert f"{planfile} was not written" in run.err
    assert not planfile.exists()


def test_a_saved_plan_with_conflicts_is_refused(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    planfile = tmp_path / "plan.json"
    cli("plan", str(repo), "--out", str(planfile))
    document = json.loads(planfile.read_text())
    document["actions"][0]["action"] = "conflict"
    planfile.write_text(json.dumps(document))
    run = cli("apply", "--plan", str(planfile))
    assert run.code == 1
    assert "holds conflict or blocked actions" in run.err
    assert models(emulator.client()) == {}


def test_a_failed_plan_still_writes_the_step_summary(cli: Cli, repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    write(repo, "bad.yaml", manifest("delta").replace("kind: CustomModel", "kind: Model"))
    run = cli("plan", str(repo), environ={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.code == 1
    text = summary.read_text()
    assert text.startswith("### Bedrock custom models: plan failed")
    assert f"{repo / 'bad.yaml'}:2: kind:" in text
