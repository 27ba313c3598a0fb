"""Read and plan against the HTTP emulator: no change is decided on a lagging tag index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler import manifests
from reconciler.aws.reader import AccountReader, TagReads
from reconciler.observed import TAG_MANAGED_BY, TAG_SPEC_HASH
from reconciler.plan import ActionKind
from reconciler.reconcile import read_and_plan
from tests.aws.test_reader import tagging_client
from tests.helpers import Cli, manifest, models, write

SCOPE = "default"


def reader(emulator: Any) -> AccountReader:
    return AccountReader(emulator.client(), lambda: tagging_client(emulator), SCOPE)


def kinds(result: Any) -> dict[str, ActionKind]:
    return {a.name: a.kind for a in result.actions}


def applied(cli: Cli, emulator: Any, folder: Path, *names: str) -> dict[str, str]:
    """Apply manifests of ``names``; name -> ARN of the models made."""
    for name in names:
        write(folder, f"{name}.yaml", manifest(name))
    assert cli("apply", str(folder)).code == 0
    return {n: m["modelArn"] for n, m in models(emulator.client()).items()}


def test_in_sync_costs_a_list_and_an_index_page(cli: Cli, emulator: Any, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    applied(cli, emulator, folder, "alpha", "beta", "gamma")
    emulator.backend.calls.clear()
    result, _ = read_and_plan(reader(emulator), manifests.load([str(folder)]), SCOPE)
    assert set(kinds(result).values()) == {ActionKind.NOOP}
    assert dict(emulator.backend.calls) == {"ListCustomModels": 1, "GetResources": 1}


def test_a_delete_seen_only_in_a_stale_index_is_not_planned(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    """Someone took beta out of management; the index has not caught up: it must survive."""
    folder = tmp_path / "m"
    arns = applied(cli, emulator, folder, "alpha", "beta")
    (folder / "beta.yaml").unlink()
    emulator.backend.freeze_tag_index()
    emulator.client().untag_resource(resourceARN=arns["beta"], tagKeys=[TAG_MANAGED_BY])
    emulator.backend.calls.clear()
    result, observed = read_and_plan(reader(emulator), manifests.load([str(folder)]), SCOPE)
    assert kinds(result) == {"alpha": ActionKind.NOOP}
    assert emulator.backend.calls["ListTagsForResource"] == 1  # beta's, to confirm
    assert not observed.by_name()["beta"].is_managed_by(SCOPE)


def test_a_replace_seen_only_in_a_stale_index_becomes_a_conflict(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    """The index says beta is ours with other content; in fact another scope owns it now."""
    folder = tmp_path / "m"
    arns = applied(cli, emulator, folder, "alpha", "beta")
    emulator.backend.freeze_tag_index()
    client = emulator.client()
    client.tag_resource(
        resourceARN=arns["beta"],
        tags=[{"key": TAG_MANAGED_BY, "value": "other"}, {"key": TAG_SPEC_HASH, "value": "1"}],
    )
    write(folder, "beta.yaml", manifest("beta", s3_uri="s3://acme-models/beta/v2/"))
    result, _ = read_and_plan(reader(emulator), manifests.load([str(folder)]), SCOPE)
    assert kinds(result) == {"alpha": ActionKind.NOOP, "beta": ActionKind.CONFLICT}


def test_a_model_the_index_does_not_know_yet_is_not_created_twice(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    emulator.backend.freeze_tag_index()  # before alpha exists: the index will not show it
    applied(cli, emulator, folder, "alpha")
    result, _ = read_and_plan(reader(emulator), manifests.load([str(folder)]), SCOPE)
    assert kinds(result) == {"alpha": ActionKind.NOOP}


def test_a_per_model_reader_plans_the_same(cli: Cli, emulator: Any, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    applied(cli, emulator, folder, "alpha", "beta", "gamma")
    (folder / "gamma.yaml").unlink()
    write(folder, "beta.yaml", manifest("beta", tags={"team": "b"}))
    desired = manifests.load([str(folder)])
    by_index, _ = read_and_plan(reader(emulator), desired, SCOPE)
    per_model = AccountReader(emulator.client(), lambda: None, SCOPE, TagReads.PER_MODEL)
    by_model, _ = read_and_plan(per_model, desired, SCOPE)
    assert by_index == by_model
    assert kinds(by_index) == {
        "alpha": ActionKind.NOOP,
        "beta": ActionKind.UPDATE_TAGS,
        "gamma": ActionKind.DELETE,
    }
