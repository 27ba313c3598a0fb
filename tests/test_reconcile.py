"""Read and plan against the HTTP emulator: no change is decided on a lagging tag index."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import manifests
from reconciler.aws.reader import AccountReader, TagReads
from reconciler.desired import DesiredState
from reconciler.observed import (
    TAG_MANAGED_BY,
    TAG_SPEC_HASH,
    ObservedState,
    TagSource,
    state_of,
)
from reconciler.plan import ActionKind, plan
from reconciler.reconcile import read_and_plan
from tests.aws.test_reader import tagging_client
from tests.helpers import Cli, manifest, models, write
from tests.test_plan import declared, observed_tags, scenarios

INDEX, UNREAD = TagSource.INDEX, TagSource.UNREAD

SCOPE = "default"


def reader(emulator: Any) -> AccountReader:
    return AccountReader(emulator.client(), lambda: tagging_client(emulator), SCOPE)


def kinds(result: Any) -> dict[str, ActionKind]:
    return {a.name: a.kind for a in result.actions}


def applied(cli: Cli, emulator: Any, folder: Path, *names: str) -> dict[str, str]:
    """Apply manifests of ``names`` and wait for the imports (a model still importing plans
    differently once it is done); name -> ARN of the models made."""
    for name in names:
        write(folder, f"{name}.yaml", manifest(name))
    assert cli("apply", "--wait", str(folder)).code == 0
    return {n: m["modelArn"] for n, m in models(emulator.client()).items()}


def test_in_sync_costs_a_list_and_an_index_page(cli: Cli, emulator: Any, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    applied(cli, emulator, folder, "alpha", "beta", "gamma")
    emulator.backend.calls.clear()
    result, _ = read_and_plan(reader(emulator), manifests.load([str(folder)]), SCOPE)
    assert set(kinds(result).values()) == {ActionKind.NOOP}
    assert dict(emulator.backend.calls) == {
        "ListCustomModels": 1,
        "ListProvisionedModelThroughputs": 1,
        "ListCustomModelDeployments": 1,
        "GetResources": 1,
    }


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


# --- property: whatever the index says, changes follow what the models really carry -------


class IndexedReader:
    """A reader whose tagging index shows ``index`` (ARN -> tags, possibly stale) where the
    account really holds ``truth``, honouring AccountReader's contract."""

    def __init__(self, truth: ObservedState, index: dict[str, dict[str, str]]) -> None:
        self.truth = truth.by_name()
        self.index = index
        self.confirmed: set[str] = set()

    def read(self, declared: Collection[str]) -> ObservedState:
        models = []
        for model in self.truth.values():
            if model.arn in self.index:
                models.append(replace(model, tags=self.index[model.arn], tags_from=INDEX))
            elif model.name in declared:
                models.append(model)  # read per model
            else:
                models.append(replace(model, tags={}, tags_from=UNREAD))
        return state_of(models)

    def confirm(self, observed: ObservedState, arns: Iterable[str]) -> ObservedState:
        wanted = set(arns)
        self.confirmed |= wanted
        true = {m.arn: m for m in self.truth.values()}
        return state_of(true[m.arn] if m.arn in wanted else m for m in observed.models)


@st.composite
def lagging(draw: st.DrawFn) -> tuple[DesiredState, ObservedState, dict[str, dict[str, str]]]:
    wanted, truth = draw(scenarios())
    index = {}
    for model in truth.models:
        stale = draw(observed_tags(declared(model.name)))
        seen = dict(model.tags) if draw(st.booleans()) else stale
        if seen.get(TAG_MANAGED_BY) == SCOPE:  # GetResources filters on the scope's tag
            index[model.arn] = seen
    return wanted, truth, index


@settings(max_examples=300, deadline=None)
@given(lagging())
def test_no_change_is_ever_decided_on_the_index_alone(
    scenario: tuple[DesiredState, ObservedState, dict[str, dict[str, str]]],
) -> None:
    wanted, truth, index = scenario
    fake = IndexedReader(truth, index)
    result, _ = read_and_plan(fake, wanted, SCOPE)  # type: ignore[arg-type]
    really = plan(wanted, truth, SCOPE)
    true_actions = {a.name: a for a in really.actions}
    true_models = truth.by_name()
    for action in result.actions:
        if action.kind is ActionKind.NOOP:
            continue
        # Decided on what the model really carries: the very action a full read plans...
        assert action == true_actions[action.name]
        # ...and never touching a model that is not really ours.
        if action.arn is not None and action.kind is not ActionKind.CONFLICT:
            assert true_models[action.name].is_managed_by(SCOPE)
