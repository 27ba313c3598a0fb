"""``reconciler status``: the pure row builder, its views, and the command on the emulator.

The rows: one per resource the scope manages and per other resource holding a declared
name, never another scope's undeclared one; in sync means the spec-hash tag matches the
manifest; ages come from the read time. End to end: every kind's row, the JSON shape, exit
0, and only read calls made.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.identity import Kind, Place, ResourceKey
from reconciler.status import StatusRow, not_in_account, status_rows
from reconciler.statusview import format_age, status_json, status_markdown, status_text
from tests.builders import (
    FOUNDATION,
    NOW,
    OTHER,
    SCOPE,
    cm,
    dep,
    desired,
    model_arn,
    observed,
    observed_of,
    pt,
)
from tests.helpers import Cli, deployment, manifest, models, throughput, write

PLACE = Place("us-east-1", "111122223333")
READ_ONLY = re.compile(r"(List|Get)[A-Za-z]+")


def _account() -> Any:
    """A model and what serves from it, all the scope's; another scope's model; an
    untagged model; an untagged throughput holding a name the manifests declare."""
    v1 = model_arn("support-v1")
    return observed(
        replace(observed_of(cm("support-v1")), created=NOW - 3 * 86_400 - 4 * 3_600),
        replace(observed_of(pt("prod", model="support-v1"), serves=v1), created=NOW - 724),
        observed_of(dep("chat", model="support-v1"), serves=v1, switching_to=model_arn("v2")),
        observed_of(cm("theirs"), scope=OTHER),
        observed_of(cm("stray"), scope=None),
        observed_of(pt("taken", arn=FOUNDATION), scope=None, serves=FOUNDATION, expires=NOW + 60),
    )


def _manifests() -> Any:
    return desired(
        cm("support-v1"),
        pt("prod", model="support-v1", units=2),  # two units now: the hash differs
        dep("chat", model="support-v1"),
        pt("taken", arn=FOUNDATION),
        cm("new"),
    )


def _by_key(rows: tuple[StatusRow, ...]) -> dict[str, StatusRow]:
    return {str(r.key): r for r in rows}


def test_rows_are_the_scopes_resources_and_the_holders_of_declared_names() -> None:
    rows = _by_key(status_rows(_account(), SCOPE, _manifests()))
    assert list(rows) == [
        "CustomModel/support-v1",
        "ProvisionedThroughput/prod",
        "ProvisionedThroughput/taken",
        "CustomModelDeployment/chat",
    ]  # not another scope's model, nor an untagged one no manifest names
    taken = rows["ProvisionedThroughput/taken"]
    assert (taken.declared, taken.managed_by, taken.in_sync) == (True, None, False)
    assert taken.serves_from == FOUNDATION  # not a model of the account: its ARN
    assert taken.commitment_expires == NOW + 60


def test_in_sync_is_what_the_plan_says_and_declared_is_known_only_with_manifests() -> None:
    rows = _by_key(status_rows(_account(), SCOPE, _manifests()))
    model, chat = rows["CustomModel/support-v1"], rows["CustomModelDeployment/chat"]
    assert (model.in_sync, model.change) == (True, None)
    # Its spec hash matches, but it is switching to another model than the declared one.
    assert (chat.in_sync, chat.change) == (False, "update-model")
    assert (
        rows["ProvisionedThroughput/prod"].in_sync,
        rows["ProvisionedThroughput/prod"].change,
    ) == (
        False,
        "replace",
    )
    assert (
        rows["ProvisionedThroughput/taken"].in_sync,
        rows["ProvisionedThroughput/taken"].change,
    ) == (
        False,
        "conflict",
    )
    assert rows["CustomModel/support-v1"].source == "manifests/support-v1.yaml:1"
    bare = status_rows(_account(), SCOPE)
    assert [str(r.key) for r in bare] == [
        "CustomModel/support-v1",
        "ProvisionedThroughput/prod",
        "CustomModelDeployment/chat",
    ]
    assert {(r.declared, r.in_sync, r.source) for r in bare} == {(None, None, None)}


def test_undeclared_but_managed_rows_say_so() -> None:
    rows = _by_key(status_rows(_account(), SCOPE, desired(cm("support-v1"))))
    prod = rows["ProvisionedThroughput/prod"]
    assert (prod.declared, prod.in_sync) == (False, None)


def test_serving_both_ways_and_ages_from_the_read_time() -> None:
    rows = _by_key(status_rows(_account(), SCOPE))
    model = rows["CustomModel/support-v1"]
    assert model.served_by == (
        ResourceKey(Kind.PROVISIONED_THROUGHPUT, "prod"),
        ResourceKey(Kind.CUSTOM_MODEL_DEPLOYMENT, "chat"),
    )
    assert model.age == 3 * 86_400 + 4 * 3_600
    assert rows["ProvisionedThroughput/prod"].serves_from == "support-v1"
    assert rows["ProvisionedThroughput/prod"].age == 724
    chat = rows["CustomModelDeployment/chat"]
    assert (chat.serves_from, chat.switching_to, chat.age) == ("support-v1", model_arn("v2"), None)
    unread = replace(_account(), read_at=None)
    assert {r.age for r in status_rows(unread, SCOPE)} == {None}


def test_what_is_declared_but_absent() -> None:
    assert not_in_account(_account(), _manifests()) == (ResourceKey(Kind.CUSTOM_MODEL, "new"),)
    assert not_in_account(_account(), None) == ()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (59.9, "59s"),
        (724, "12m04s"),
        (3_600 + 5 * 60, "1h05m"),
        (3 * 86_400 + 4 * 3_600 + 59, "3d4h"),
    ],
)
def test_ages_read_in_their_two_largest_units(seconds: float | None, text: str) -> None:
    assert format_age(seconds) == text


def test_text_is_an_aligned_table_under_the_plan_style_heading() -> None:
    rows = status_rows(_account(), SCOPE, _manifests())
    lines = status_text(rows, SCOPE, PLACE, (ResourceKey(Kind.CUSTOM_MODEL, "new"),)).splitlines()
    assert lines[0] == "Status for scope 'team-a' in 111122223333/us-east-1:"
    table = lines[1:6]
    assert table[0].startswith("  KIND ") and re.search(r"  IN SYNC +MANAGED$", table[0])
    starts = {
        line.index(word) for line, word in zip(table, ("AGE", "3d4h", "12m04s"), strict=False)
    }
    assert len(starts) == 1  # the columns line up
    assert "<- ProvisionedThroughput/prod, CustomModelDeployment/chat" in table[1]
    assert "-> support-v1 (switching to " in table[4]
    assert table[3].split()[-1] == "no" and "yes" in table[2]
    assert "  no: replace  " in table[2] and "  no: conflict  " in table[3]
    assert "  yes  " in table[1]
    assert lines[6] == "  not in the account: CustomModel/new"
    assert (
        lines[7]
        == "Status: 4 resources, 1 in sync, 3 not in sync, 1 declared but not in the account."
    )
    empty = status_text((), SCOPE, PLACE)
    assert "(no resources managed by this scope)" in empty


def test_markdown_cells_are_escaped_as_the_plan_escapes_them() -> None:
    odd = StatusRow(Kind.CUSTOM_MODEL, "a`b", "arn", "Weird|status\nsplit", managed_by=OTHER)
    text = status_markdown((odd,), SCOPE, PLACE)
    [row] = [line for line in text.splitlines() if line.startswith("| CustomModel")]
    assert "`` a`b ``" in row and "Weird\\|status split" in row
    cells = re.split(r"(?<!\\)\|", row)[1:-1]
    assert len(cells) == 9, cells
    assert cells[-1].strip() == "scope 'team-b'"


def test_json_keys_are_stable() -> None:
    rows = status_rows(_account(), SCOPE, _manifests())
    document = json.loads(status_json(rows, SCOPE, PLACE))
    assert set(document) == {"scope", "account", "region", "resources", "missing"}
    assert set(document["resources"][0]) == {
        "kind", "name", "arn", "status", "created", "ageSeconds", "age", "servesFrom",
        "switchingTo", "servedBy", "commitmentExpires", "declared", "inSync", "change",
        "managedBy", "source",
    }  # fmt: skip


# End to end, on the emulator.


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "v1.yaml", manifest("support-v1"))
    write(
        folder, "prod.yaml", throughput("support-prod", model="support-v1", commitment="OneMonth")
    )
    write(folder, "chat.yaml", deployment("support-chat", model="support-v1"))
    return folder


def _applied(cli: Cli, repo: Path) -> None:
    run = cli("apply", "--wait", "--allow-commitment", str(repo))
    assert run.code == 0, run.err


def _resources(run: Any) -> dict[str, dict[str, Any]]:
    return {f"{r['kind']}/{r['name']}": r for r in run.json()["resources"]}


def test_status_shows_every_kind_in_sync_and_calls_nothing_that_changes(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    _applied(cli, repo)
    before = dict(emulator.backend.calls)
    run = cli("status", str(repo), "--output", "json")
    assert run.code == 0, run.err
    called = {op for op, n in emulator.backend.calls.items() if n != before.get(op, 0)}
    assert called and all(READ_ONLY.fullmatch(op) for op in called), called
    document = run.json()
    assert (document["scope"], document["account"]) == ("default", "123456789012")
    got = _resources(run)
    assert list(got) == [
        "CustomModel/support-v1",
        "ProvisionedThroughput/support-prod",
        "CustomModelDeployment/support-chat",
    ]
    assert {(r["declared"], r["inSync"], r["managedBy"]) for r in got.values()} == {
        (True, True, "default")
    }
    assert got["CustomModel/support-v1"]["servedBy"] == [
        "ProvisionedThroughput/support-prod",
        "CustomModelDeployment/support-chat",
    ]
    prod = got["ProvisionedThroughput/support-prod"]
    assert (prod["status"], prod["servesFrom"]) == ("InService", "support-v1")
    assert prod["commitmentExpires"] is not None and prod["ageSeconds"] >= 0
    assert got["CustomModelDeployment/support-chat"]["servesFrom"] == "support-v1"
    assert document["missing"] == []


def test_status_without_a_path_reads_only_the_account(cli: Cli, repo: Path, tmp_path: Path) -> None:
    _applied(cli, repo)
    (repo / "v1.yaml").write_text("not: [valid")  # never read: no PATH, no manifests
    run = cli("status")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "Status for scope 'default' in 123456789012/us-east-1:"
    assert lines[1].split()[:3] == ["KIND", "NAME", "STATUS"]
    assert [line.split()[1] for line in lines[2:5]] == [
        "support-v1",
        "support-prod",
        "support-chat",
    ]
    assert all(line.split()[-3:] == ["-", "-", "yes"] for line in lines[2:5])


def test_status_shows_a_holder_of_a_declared_name_and_no_other_scopes_resource(
    cli: Cli, tmp_path: Path
) -> None:
    theirs = tmp_path / "theirs"
    write(theirs, "a.yaml", manifest("support-v1"))
    write(theirs, "b.yaml", manifest("their-own"))
    assert cli("--scope", "team-b", "apply", str(theirs)).code == 0
    ours = tmp_path / "ours"
    write(ours, "a.yaml", manifest("support-v1"))
    run = cli("status", str(ours), "--output", "json")
    assert run.code == 0, run.err
    [holder] = run.json()["resources"]
    assert (holder["name"], holder["managedBy"], holder["declared"]) == (
        "support-v1",
        "team-b",
        True,
    )
    assert cli("status", "--output", "json").json()["resources"] == []


def test_status_tells_drift_from_sync(cli: Cli, repo: Path, tmp_path: Path) -> None:
    _applied(cli, repo)
    write(repo, "chat.yaml", deployment("support-chat", model="support-v1", description="new"))
    write(repo, "extra.yaml", manifest("later"))
    run = cli("status", str(repo), "--output", "json")
    assert run.code == 0, run.err
    got = _resources(run)
    assert got["CustomModelDeployment/support-chat"]["inSync"] is False
    assert got["CustomModelDeployment/support-chat"]["change"] == "replace"
    assert got["CustomModel/support-v1"]["inSync"] is True
    assert got["CustomModel/support-v1"]["change"] is None
    assert run.json()["missing"] == ["CustomModel/later"]
    text = cli("status", str(repo)).out
    assert (
        "Status: 3 resources, 2 in sync, 1 not in sync, 1 declared but not in the account." in text
    )


def test_drift_seen_on_the_tagging_index_is_read_again_from_the_resource(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    _applied(cli, repo)
    client = emulator.client()
    arn = models(client)["support-v1"]["modelArn"]
    write(repo, "v1.yaml", manifest("support-v1", "s3://acme-models/elsewhere/"))
    before = emulator.backend.calls["ListTagsForResource"]
    planned = cli("plan", str(repo), "--output", "json", "--tag-reads", "tagging-api")
    assert planned.code == 1  # the replace is blocked: the model is in use
    confirmed = emulator.backend.calls["ListTagsForResource"] - before
    assert confirmed >= 1
    before = emulator.backend.calls["ListTagsForResource"]
    run = cli("status", str(repo), "--output", "json", "--tag-reads", "tagging-api")
    assert run.code == 0, run.err
    assert _resources(run)["CustomModel/support-v1"]["inSync"] is False
    # Exactly the reads the plan makes to confirm what it would change, no more.
    assert emulator.backend.calls["ListTagsForResource"] - before == confirmed
    assert _resources(run)["CustomModel/support-v1"]["arn"] == arn
    changes = {k: r["change"] for k, r in _resources(run).items()}
    planned_changes = {
        f"{a['kind']}/{a['name']}": None if a["action"] == "noop" else a["action"]
        for a in planned.json()["actions"]
    }
    assert changes == {k: planned_changes[k] for k in changes}
    assert changes["CustomModel/support-v1"] == "blocked"


def test_status_agrees_with_the_plan_on_tags_and_rollouts(cli: Cli, repo: Path) -> None:
    """A changed tag, and a throughput declared on a new model, are changes the plan would
    make, so status says not in sync and names them."""
    _applied(cli, repo)
    write(repo, "v1.yaml", manifest("support-v1", tags={"team": "search"}))
    write(repo, "v2.yaml", manifest("support-v2"))
    write(repo, "prod.yaml", throughput("support-prod", model="support-v2", commitment="OneMonth"))
    run = cli("status", str(repo), "--output", "json")
    assert run.code == 0, run.err
    got = _resources(run)
    assert (got["CustomModel/support-v1"]["inSync"], got["CustomModel/support-v1"]["change"]) == (
        False,
        "update-tags",
    )
    prod = got["ProvisionedThroughput/support-prod"]
    assert (prod["inSync"], prod["change"]) == (False, "update-model")


def test_status_markdown_on_the_emulator(cli: Cli, repo: Path) -> None:
    _applied(cli, repo)
    run = cli("status", str(repo), "--output", "markdown")
    assert run.code == 0, run.err
    assert run.out.startswith(
        "### Bedrock custom models: status for scope `default` in `123456789012/us-east-1`"
    )
    assert "| CustomModel | `support-v1` | Active |" in run.out


def test_status_on_the_sandbox_option(
    tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "sandbox.json")
    environ = {"NO_COLOR": "1"}
    assert (
        main(["--sandbox", "--sandbox-state", state, "apply", str(repo / "v1.yaml")], environ) == 0
    )
    capsys.readouterr()
    assert main(["--sandbox", "--sandbox-state", state, "status"], environ) == 0
    out = capsys.readouterr().out
    assert "Status for scope 'default' in 123456789012/us-east-1:" in out
    assert "CustomModel  support-v1" in out


def test_status_errors_are_one_line_and_exit_1(cli: Cli, tmp_path: Path, emulator: Any) -> None:
    bad = write(tmp_path / "bad", "a.yaml", "kind: CustomModel\n")
    run = cli("status", str(bad.parent))
    assert run.code == 1 and run.out == ""
    assert run.err.count("\n") >= 1 and run.err.splitlines()[-1].startswith("error: ")
    emulator.backend.fail_next("ListCustomModels", "AccessDeniedException")
    run = cli("status")
    assert (run.code, run.out) == (1, "")
    assert len(run.err.splitlines()) == 1 and run.err.startswith("error: ")
    run = cli("status", "--account-id", "222222222222")
    assert run.code == 1 and "not 222222222222" in run.err
