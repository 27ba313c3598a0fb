"""Rendering plans and apply reports: text for people, JSON for tools, Markdown for PRs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired import CustomModelManifest, DeclaredModel, DesiredState
from reconciler.observed import ObservedModel, state_of
from reconciler.plan import Action, ActionKind, Plan, desired_tags, plan
from reconciler.render import (
    plan_json,
    plan_markdown,
    plan_text,
    report_json,
    report_markdown,
    report_text,
)
from reconciler.report import ActionResult, ApplyReport, Outcome

SCOPE = "team-a"
REGION = "eu-west-1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def declared(
    name: str, s3: str | None = None, policy: str = "Delete", **tags: str
) -> DeclaredModel:
    manifest = CustomModelManifest.model_validate(
        {
            "apiVersion": "bedrock.gitops/v1",
            "kind": "CustomModel",
            "metadata": {"name": name},
            "spec": {
                "modelSourceConfig": {"s3DataSource": {"s3Uri": s3 or f"s3://acme-models/{name}/"}},
                "tags": tags,
                "deletionPolicy": policy,
            },
        }
    )
    return DeclaredModel(manifest=manifest, file=f"manifests/{name}.yaml", line=3)


def arn(name: str) -> str:
    return f"arn:aws:bedrock:eu-west-1:111122223333:custom-model/imported/{name}"


def managed(of: DeclaredModel, status: str = "Active") -> ObservedModel:
    return ObservedModel(arn(of.name), of.name, status, desired_tags(of, SCOPE))


@pytest.fixture(scope="module")
def full_plan() -> Plan:
    """A plan with one action of every kind, in name order."""
    wanted = DesiredState(
        resources=(
            declared("b-blocked", s3="s3://acme-models/new/", policy="Retain"),
            declared("c-create"),
            declared("n-noop"),
            declared("r-replace", s3="s3://acme-models/new/"),
            declared("u-update", team="new"),
            declared("x-conflict"),
        )
    )
    found = state_of(
        [
            managed(declared("b-blocked", policy="Retain")),
            managed(declared("d-delete")),
            managed(declared("e-release", policy="Retain")),
            managed(declared("n-noop")),
            managed(declared("r-replace")),
            managed(declared("u-update")),
            ObservedModel(arn("x-conflict"), "x-conflict", "Active", {}),
        ]
    )
    result = plan(wanted, found, SCOPE)
    assert [a.kind.value for a in result.actions] == [
        "blocked",
        "create",
        "delete",
        "release",
        "noop",
        "replace",
        "update-tags",
        "conflict",
    ]
    return result


def action_line(text: str, name: str) -> str:
    [line] = [line for line in text.splitlines() if f" {name}: " in line]
    return line


# --- text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "marker", "reason", "source"),
    [
        ("c-create", "+ create", "not in the account", "[manifests/c-create.yaml:3]"),
        ("d-delete", "- delete", "no manifest declares it any more", None),
        (
            "r-replace",
            "-/+ replace",
            "its content changed (source, modelKmsKeyArn or name)",
            "[manifests/r-replace.yaml:3]",
        ),
        ("u-update", "~ update-tags", "tags differ: set team", "[manifests/u-update.yaml:3]"),
        ("e-release", "~ release", "deletion policy Retain", None),
        ("x-conflict", "! conflict", "not managed; it is left untouched", "[manifests/"),
        ("b-blocked", "! blocked", "so it is never replaced", "[manifests/b-blocked.yaml:3]"),
        ("n-noop", "= noop", "in sync", "[manifests/n-noop.yaml:3]"),
    ],
    ids=["create", "delete", "replace", "update-tags", "release", "conflict", "blocked", "noop"],
)
def test_text_line_per_action(
    full_plan: Plan, name: str, marker: str, reason: str, source: str | None
) -> None:
    line = action_line(plan_text(full_plan, REGION, show_noop=True), name)
    assert line.lstrip().startswith(marker + " ")
    assert f"{name}: " in line
    assert reason in line
    if source is None:
        assert not line.endswith("]")
    else:
        assert source in line
        assert line.endswith("]")


def test_text_has_a_header_one_line_per_action_and_a_summary(full_plan: Plan) -> None:
    lines = plan_text(full_plan, REGION, show_noop=True).splitlines()
    assert lines[0] == f"Plan for scope {SCOPE!r} in {REGION}:"
    assert len(lines) == len(full_plan.actions) + 2
    names = [a.name for a in full_plan.actions]
    for line, name in zip(lines[1:-1], names, strict=True):
        assert f" {name}: " in line
    assert lines[-1] == (
        "Plan: 1 create, 1 replace, 1 update-tags, 1 delete, 1 release, 1 conflict, "
        "1 blocked, 1 noop."
    )


def test_text_line_format_exactly(full_plan: Plan) -> None:
    text = plan_text(full_plan, REGION)
    line = action_line(text, "c-create")
    assert line == "  + create        c-create: not in the account [manifests/c-create.yaml:3]"


def test_text_of_an_empty_plan() -> None:
    text = plan_text(Plan(scope="default", actions=()), "us-east-1")
    assert text == (
        "Plan for scope 'default' in us-east-1:\n"
        "  (no models declared or managed)\n"
        "Plan: nothing to do.\n"
    )


def test_no_ansi_without_color(full_plan: Plan) -> None:
    assert "\x1b" not in plan_text(full_plan, REGION)
    assert "\x1b" not in plan_text(full_plan, REGION, color=False)
    assert "\x1b" not in report_text(_report(full_plan), REGION, color=False)


def test_ansi_with_color(full_plan: Plan) -> None:
    text = plan_text(full_plan, REGION, color=True, show_noop=True)
    assert len(ANSI.findall(text)) == 2 * len(full_plan.actions)
    assert "\x1b[32m+ create" in action_line(text, "c-create")
    assert "\x1b[31m- delete" in action_line(text, "d-delete")
    # Without the escape codes, the coloured text says exactly the same.
    assert ANSI.sub("", text) == plan_text(full_plan, REGION, show_noop=True)
    assert ANSI.search(report_text(_report(full_plan), REGION, color=True))


# --- JSON ------------------------------------------------------------------------------------


def test_plan_json_is_one_document(full_plan: Plan) -> None:
    document = json.loads(plan_json(full_plan, REGION))
    assert set(document) == {"scope", "account", "region", "actions", "summary"}
    assert document["scope"] == SCOPE
    assert document["region"] == REGION
    assert document["summary"] == {
        "create": 1,
        "replace": 1,
        "update-tags": 1,
        "delete": 1,
        "release": 1,
        "conflict": 1,
        "blocked": 1,
        "noop": 1,
    }
    assert [a["name"] for a in document["actions"]] == [a.name for a in full_plan.actions]
    for entry, action in zip(document["actions"], full_plan.actions, strict=True):
        assert {"action", "name", "arn", "reason"} <= set(entry)
        assert entry["action"] == action.kind.value
        assert entry["reason"] == action.reason
        assert entry["arn"] == action.arn
    by_name = {a["name"]: a for a in document["actions"]}
    assert by_name["c-create"]["arn"] is None
    assert by_name["d-delete"]["arn"] == arn("d-delete")
    assert by_name["d-delete"]["action"] == "delete"


def test_plan_json_of_an_empty_plan() -> None:
    document = json.loads(plan_json(Plan(scope="s", actions=()), "us-east-1"))
    assert document == {
        "scope": "s",
        "account": None,
        "region": "us-east-1",
        "actions": [],
        "summary": {},
    }


def _report(result: Plan) -> ApplyReport:
    outcomes: dict[str, tuple[Outcome, str | None, str | None]] = {
        "c-create": (Outcome.DONE, None, arn("c-create-new")),
        "d-delete": (Outcome.FAILED, "ConflictException: model in use by a throughput", None),
        "r-replace": (Outcome.SKIPPED, "its delete failed", None),
        "b-blocked": (Outcome.FAILED, "blocked: deletion policy Retain", None),
        "x-conflict": (Outcome.FAILED, "conflict: the name is taken", None),
    }
    results = []
    for action in result.actions:
        outcome, error, new_arn = outcomes.get(action.name, (Outcome.DONE, None, None))
        results.append(ActionResult(action, outcome, error, new_arn))
    return ApplyReport(plan=result, results=tuple(results))


def test_report_json_has_result_and_error_per_action(full_plan: Plan) -> None:
    document = json.loads(report_json(_report(full_plan), REGION))
    assert set(document) == {"scope", "account", "region", "actions", "summary"}
    assert document["summary"] == full_plan.summary()
    by_name = {a["name"]: a for a in document["actions"]}
    assert len(by_name) == len(full_plan.actions)
    for entry in document["actions"]:
        assert {"action", "name", "arn", "reason", "result", "error"} <= set(entry)
    assert by_name["c-create"]["result"] == "done"
    assert by_name["c-create"]["error"] is None
    assert by_name["c-create"]["arn"] == arn("c-create-new")
    assert by_name["d-delete"]["result"] == "failed"
    assert by_name["d-delete"]["error"] == "ConflictException: model in use by a throughput"
    assert by_name["d-delete"]["arn"] == arn("d-delete")
    assert by_name["r-replace"]["result"] == "skipped"
    assert by_name["n-noop"]["result"] == "done"
    assert by_name["n-noop"]["error"] is None
    assert by_name["x-conflict"]["result"] == "failed"


def test_report_text(full_plan: Plan) -> None:
    text = report_text(_report(full_plan), REGION)
    lines = text.splitlines()
    assert lines[0] == f"Apply for scope {SCOPE!r} in {REGION}:"
    assert len(lines) == len(full_plan.actions) + 3
    assert action_line(text, "c-create").endswith("-> done")
    assert action_line(text, "d-delete").endswith(
        "-> failed: ConflictException: model in use by a throughput"
    )
    assert action_line(text, "r-replace").endswith("-> skipped: its delete failed")
    assert lines[-2].startswith("Apply: 1 create, 1 replace")
    assert lines[-1] == "Results: 3 done, 1 in sync, 3 failed, 1 skipped"


def test_report_failed_lists_only_failures(full_plan: Plan) -> None:
    report = _report(full_plan)
    assert sorted(r.action.name for r in report.failed) == ["b-blocked", "d-delete", "x-conflict"]


# --- Markdown --------------------------------------------------------------------------------


def test_markdown_plan_warns_about_destructive_and_blocked_actions(full_plan: Plan) -> None:
    text = plan_markdown(full_plan, REGION)
    lines = text.splitlines()
    assert lines[0] == f"### Bedrock custom models: plan for scope `{SCOPE}` in `{REGION}`"
    assert "**1 create · 1 replace · 1 update-tags · 1 delete" in text
    assert "> **2 model(s) will be deleted or replaced:** `d-delete`, `r-replace`" in text
    blocked = "(conflict or blocked): `b-blocked`, `x-conflict`"
    assert f"> **2 action(s) cannot be applied** {blocked}" in text
    assert "<details><summary>1 in sync</summary>" in text
    rows = [line for line in lines if line.startswith("| ") and "`" in line]
    assert len(rows) == len(full_plan.actions)
    [delete_row] = [r for r in rows if "`d-delete`" in r]
    assert "**delete**" in delete_row
    assert delete_row.endswith("| — |")
    [create_row] = [r for r in rows if "`c-create`" in r]
    assert "`manifests/c-create.yaml:3`" in create_row
    assert "result" not in text.split("\n\n")[-1].splitlines()[0]


def test_markdown_escapes_pipes_and_newlines() -> None:
    action = Action(ActionKind.DELETE, "m", "a | b\nc", arn("m"))
    text = plan_markdown(Plan(scope="s", actions=(action,)), REGION)
    [row] = [line for line in text.splitlines() if "`m`" in line and line.startswith("|")]
    assert "a \\| b c" in row


def test_markdown_report_has_a_result_column(full_plan: Plan) -> None:
    text = report_markdown(_report(full_plan), REGION)
    assert text.startswith(f"### Bedrock custom models: apply for scope `{SCOPE}`")
    assert "| | action | resource | reason | declared at | result |" in text
    [row] = [line for line in text.splitlines() if line.startswith("|") and "`d-delete`" in line]
    assert row.endswith("| failed: ConflictException: model in use by a throughput |")


def test_markdown_of_an_empty_plan() -> None:
    text = plan_markdown(Plan(scope="s", actions=()), REGION)
    assert "**nothing to do**" in text
    assert "|" not in text
    assert "[!CAUTION]" not in text


def test_a_report_says_what_was_done_not_what_would_be(full_plan: Plan) -> None:
    """``--no-prune`` (or a failure) leaves deletes undone: the report does not claim them."""
    from reconciler.report import ActionResult, ApplyReport, Outcome

    results = tuple(
        ActionResult(a, Outcome.SKIPPED if a.kind.value == "delete" else Outcome.DONE, arn=a.arn)
        for a in full_plan.actions
        if a.kind.value not in ("conflict", "blocked")
    )
    report = ApplyReport(plan=full_plan, results=results)
    text = report_markdown(report, REGION)
    assert "will be deleted" not in text
    assert "> **1 deleted or replaced:** `r-replace`" in text
    warnings, diagram = text.split("| |")[0].split("```mermaid")
    assert "d-delete" not in warnings  # skipped: not in the warnings
    assert "d-delete<br/>model · to be deleted, skipped" in diagram


def test_markdown_cells_escape_pipes_backticks_and_newlines(cli: Any, tmp_path: Path) -> None:
    """A file name with a pipe and a backtick, end to end: the table keeps its columns."""
    from tests.helpers import manifest, write

    folder = tmp_path / "odd"
    write(folder, "we|ird`name.yaml", manifest("alpha"))
    run = cli("plan", str(folder), "--output", "markdown")
    assert run.code == 0, run.err
    [row] = [line for line in run.out.splitlines() if line.startswith("| 🟢")]
    assert "we\\|ird`name.yaml:1 ``" in row  # the pipe escaped, the backtick fenced
    cells = [c for c in re.split(r"(?<!\\)\|", row)[1:-1]]
    assert len(cells) == 5, cells


def test_resources_in_sync_fold_into_one_line(full_plan: Plan) -> None:
    text = plan_text(full_plan, REGION)
    assert "n-noop" not in text
    assert "  = 1 in sync\n" in text
    assert len(text.splitlines()) == len(full_plan.actions) - 1 + 1 + 2
    shown = plan_text(full_plan, REGION, show_noop=True)
    assert "= 1 in sync" not in shown and "n-noop: in sync" in shown


def test_a_large_plan_shows_its_two_changes_at_a_glance() -> None:
    models = [declared(f"m{i:03d}") for i in range(500)]
    found = state_of([managed(m) for m in models[:498]])
    result = plan(DesiredState(resources=tuple(models)), found, SCOPE)
    lines = plan_text(result, REGION).splitlines()
    assert lines[1:-1] == [
        "  + create        m498: not in the account [manifests/m498.yaml:3]",
        "  + create        m499: not in the account [manifests/m499.yaml:3]",
        "  = 498 in sync",
    ]
