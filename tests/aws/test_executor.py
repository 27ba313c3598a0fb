"""Executing plans against the HTTP emulator: creates confirmed together, stale token answers
created again, deletes that are already done, and the calls each costs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler import manifests
from reconciler.aws import executor
from reconciler.aws.creates import create_request, request_token
from reconciler.observed import ObservedState
from reconciler.plan import Action, ActionKind, Plan, plan
from reconciler.report import Outcome
from tests.helpers import manifest, models, write

SCOPE = "default"


def creates(tmp_path: Path, *names: str) -> Plan:
    for name in names:
        write(tmp_path, f"{name}.yaml", manifest(name))
    return plan(manifests.load([str(tmp_path)]), ObservedState(resources=()), SCOPE)


def test_creates_are_confirmed_by_one_list(emulator: Any, tmp_path: Path) -> None:
    report = executor.apply(creates(tmp_path, *(f"m{i}" for i in range(5))), emulator.client())
    assert {r.outcome for r in report.results} == {Outcome.DONE}
    assert dict(emulator.backend.calls) == {"CreateCustomModel": 5, "ListCustomModels": 1}
    found = models(emulator.client())
    assert {r.action.name: r.arn for r in report.results} == {
        n: m["modelArn"] for n, m in found.items()
    }


def test_a_create_answered_with_a_deleted_model_is_made_again(
    emulator: Any, tmp_path: Path
) -> None:
    """A manifest removed, then restored unchanged: its token replays the deleted ARN."""
    client = emulator.client()
    first = executor.apply(creates(tmp_path, "alpha", "beta"), client)
    old = {r.action.name: r.arn for r in first.results}
    client.delete_custom_model(modelIdentifier=old["alpha"])
    emulator.backend.calls.clear()
    again = executor.apply(creates(tmp_path / "again", "alpha"), client)
    [result] = again.results
    assert result.outcome is Outcome.DONE and result.arn not in (None, old["alpha"])
    # The stale answer, the list and a look-up that confirm it stale, the new create and the
    # list that confirms it.
    assert dict(emulator.backend.calls) == {
        "CreateCustomModel": 2,
        "ListCustomModels": 2,
        "GetCustomModel": 1,
    }
    assert models(client)["alpha"]["modelArn"] == result.arn


def test_the_new_token_is_derived_from_the_stale_arn(emulator: Any, tmp_path: Path) -> None:
    """So a crash after the second create and a re-run still make no duplicate."""
    client = emulator.client()
    declared = manifests.load([str(write(tmp_path, "a.yaml", manifest("alpha")))]).models[0]
    request = create_request(declared, SCOPE)
    stale = client.create_custom_model(**request, clientRequestToken=request_token(request))
    client.delete_custom_model(modelIdentifier=stale["modelArn"])
    token = request_token(request, after=stale["modelArn"])
    fresh = client.create_custom_model(**request, clientRequestToken=token)["modelArn"]
    [result] = executor.apply(creates(tmp_path), client).results
    assert result.arn == fresh
    assert len(models(client)) == 1


def test_when_the_list_fails_each_create_is_looked_up(emulator: Any, tmp_path: Path) -> None:
    to_create = creates(tmp_path, "alpha", "beta", "gamma")
    emulator.backend.fail_next("ListCustomModels", "AccessDeniedException")
    report = executor.apply(to_create, emulator.client())
    assert {r.outcome for r in report.results} == {Outcome.DONE}
    assert emulator.backend.calls["GetCustomModel"] == 3


def test_a_create_that_cannot_be_checked_is_reported(emulator: Any, tmp_path: Path) -> None:
    to_create = creates(tmp_path, "alpha")
    emulator.backend.fail_next("ListCustomModels", "AccessDeniedException")
    emulator.backend.fail_next("GetCustomModel", "AccessDeniedException")
    [result] = executor.apply(to_create, emulator.client()).results
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert result.error.startswith(
        "GetCustomModel alpha failed: AccessDeniedException: the credentials lack the IAM "
        "permission bedrock:GetCustomModel"
    )
    assert result.error.endswith("; the create was answered, but the model could not be checked")


def test_deleting_a_model_already_gone_is_done(emulator: Any, tmp_path: Path) -> None:
    client = emulator.client()
    [created] = executor.apply(creates(tmp_path, "alpha"), client).results
    assert created.arn is not None
    client.delete_custom_model(modelIdentifier=created.arn)  # a lost answer, or another run
    emulator.backend.calls.clear()
    delete = Action(ActionKind.DELETE, "alpha", "no manifest declares it", created.arn)
    [result] = executor.apply(Plan(SCOPE, (delete,)), client).results
    assert result.outcome is Outcome.DONE, result.error
    assert emulator.backend.calls["DeleteCustomModel"] == 1


def test_a_plan_with_an_error_action_is_refused_before_any_call(emulator: Any) -> None:
    from reconciler.errors import UnsafePlanError

    delete = Action(ActionKind.DELETE, "keep", "no manifest declares it any more", "arn:x")
    conflict = Action(ActionKind.CONFLICT, "taken", "the name is taken", "arn:y")
    before = sum(emulator.backend.calls.values())
    with pytest.raises(UnsafePlanError, match="conflict CustomModel/taken"):
        executor.apply(Plan(SCOPE, (delete, conflict)), emulator.client())
    assert sum(emulator.backend.calls.values()) == before
