"""The apply executor without an account: a fake Bedrock client, a serial pool, a fake clock.

Pins each of ``aws.executor``'s rules on its own, exactly: a plan holding a conflict or
blocked action is refused whole before any call; the waves run in graph order; dependents of
a failed or deferred action are skipped, naming it; the readiness gates defer an action
(without ``--wait``), fail it (timed out with ``--wait``, or the resource failed) or let it
run; ``--no-prune`` skips deletes and releases; an importing model's delete or replace is
deferred; creates answered with a deleted model are sent again, a bounded number of times.
Every test asserts the calls made, in order, and each action's whole result, so that a
changed comparison, message or argument is noticed (the mutation check runs these). The
same paths against the HTTP emulator are in ``test_executor.py`` and ``tests/test_rollout.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any, ClassVar

import botocore.exceptions
import pytest

from reconciler.aws import executor
from reconciler.aws.apis import APIS, request_token
from reconciler.aws.creates import create_request
from reconciler.aws.readiness import Answer, Clock, Gate
from reconciler.errors import ConflictError, InvalidRequestError, UnsafePlanError
from reconciler.identity import Kind
from reconciler.plan import Action, ActionKind, Plan, WaitFor
from reconciler.report import DEFERRED, ActionResult, ApplyReport, Outcome
from tests.builders import cm, dep, model_arn, pt, serving_arn

SCOPE = "team-a"
PT = Kind.PROVISIONED_THROUGHPUT
DEP = Kind.CUSTOM_MODEL_DEPLOYMENT
M = model_arn("m")
OLD = model_arn("old")
NEW = model_arn("new")
P = serving_arn(PT, "p")
D = serving_arn(DEP, "d")
_LIST_METHODS = {
    "list_custom_models": (Kind.CUSTOM_MODEL, "modelSummaries"),
    "list_provisioned_model_throughputs": (PT, "provisionedModelSummaries"),
    "list_custom_model_deployments": (DEP, "modelDeploymentSummaries"),
}
_ARN_KEYS = {kind: api.arn_key for kind, api in APIS.items()}
_READY = {Kind.CUSTOM_MODEL: "Active", PT: "InService", DEP: "Active"}


class FakeBedrock:
    """The Bedrock calls the executor makes, answered from ``found`` (ARN -> kind, summary).

    ``calls`` records each call as (method, the ARN or name it is about); ``params`` the
    keyword arguments of each. ``refuse`` makes one call fail with a service error code.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.params: list[dict[str, Any]] = []
        self.found: dict[str, tuple[Kind, dict[str, Any]]] = {}
        self.refusals: dict[tuple[str, str], str] = {}
        self.stale_answers: dict[str, int] = {}  # model name -> create answers naming no model
        self.after_sleep: dict[str, dict[str, Any]] = {}  # ARN -> summary changes at a sleep
        self.new_status = dict(_READY)

    def refuse(self, method: str, target: str, code: str) -> None:
        self.refusals[(method, target)] = code

    def add(self, kind: Kind, name: str, arn: str, status: str = "", **fields: Any) -> None:
        names = {Kind.CUSTOM_MODEL: "modelName", PT: "provisionedModelName"}
        status_key = "modelStatus" if kind is Kind.CUSTOM_MODEL else "status"
        summary = {_ARN_KEYS[kind]: arn, names.get(kind, "modelDeploymentName"): name}
        self.found[arn] = (kind, {**summary, status_key: status or _READY[kind], **fields})

    def tick(self) -> None:
        for arn, changes in self.after_sleep.items():
            self.found[arn][1].update(changes)
        self.after_sleep.clear()

    def _call(self, method: str, target: str, **params: Any) -> None:
        self.calls.append((method, target))
        self.params.append(params)
        code = self.refusals.get((method, target))
        if code is not None:
            error = {"Error": {"Code": code, "Message": f"{method} refused"}}
            raise botocore.exceptions.ClientError(error, method)  # type: ignore[arg-type]

    def _get(self, method: str, arn: str) -> dict[str, Any]:
        self._call(method, arn)
        if arn not in self.found:
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}
            raise botocore.exceptions.ClientError(error, method)  # type: ignore[arg-type]
        return dict(self.found[arn][1])

    def get_paginator(self, method: str) -> _Pages:
        return _Pages(self, method)

    def create_custom_model(self, **params: Any) -> dict[str, Any]:
        name = params["modelName"]
        self._call("create_custom_model", name, **params)
        if self.stale_answers.get(name, 0) > 0:
            self.stale_answers[name] -= 1
            return {"modelArn": f"{model_arn(name)}-deleted-{self.stale_answers[name]}"}
        self.add(Kind.CUSTOM_MODEL, name, model_arn(name), self.new_status[Kind.CUSTOM_MODEL])
        return {"modelArn": model_arn(name)}

    def create_provisioned_model_throughput(self, **params: Any) -> dict[str, Any]:
        name = params["provisionedModelName"]
        self._call("create_provisioned_model_throughput", name, **params)
        self.add(PT, name, serving_arn(PT, name), self.new_status[PT], modelArn=params["modelId"])
        return {"provisionedModelArn": serving_arn(PT, name)}

    def create_custom_model_deployment(self, **params: Any) -> dict[str, Any]:
        name = params["modelDeploymentName"]
        self._call("create_custom_model_deployment", name, **params)
        self.add(
            DEP, name, serving_arn(DEP, name), self.new_status[DEP], modelArn=params["modelArn"]
        )
        return {"customModelDeploymentArn": serving_arn(DEP, name)}

    def get_custom_model(self, modelIdentifier: str) -> dict[str, Any]:  # noqa: N803
        return self._get("get_custom_model", modelIdentifier)

    def get_provisioned_model_throughput(self, provisionedModelId: str) -> dict[str, Any]:  # noqa: N803
        return self._get("get_provisioned_model_throughput", provisionedModelId)

    def get_custom_model_deployment(self, customModelDeploymentIdentifier: str) -> dict[str, Any]:  # noqa: N803
        return self._get("get_custom_model_deployment", customModelDeploymentIdentifier)

    def _delete(self, method: str, arn: str) -> None:
        self._call(method, arn)
        self.found.pop(arn, None)

    def delete_custom_model(self, modelIdentifier: str) -> None:  # noqa: N803
        self._delete("delete_custom_model", modelIdentifier)

    def delete_provisioned_model_throughput(self, provisionedModelId: str) -> None:  # noqa: N803
        self._delete("delete_provisioned_model_throughput", provisionedModelId)

    def delete_custom_model_deployment(self, customModelDeploymentIdentifier: str) -> None:  # noqa: N803
        self._delete("delete_custom_model_deployment", customModelDeploymentIdentifier)

    def update_provisioned_model_throughput(
        self,
        provisionedModelId: str,  # noqa: N803
        desiredModelId: str,  # noqa: N803
    ) -> None:
        self._call("update_provisioned_model_throughput", provisionedModelId, model=desiredModelId)
        self.found[provisionedModelId][1].update(status="Updating", desiredModelArn=desiredModelId)
        self.after_sleep[provisionedModelId] = {"status": "InService", "modelArn": desiredModelId}

    def update_custom_model_deployment(
        self,
        customModelDeploymentIdentifier: str,  # noqa: N803
        modelArn: str,  # noqa: N803
    ) -> None:
        arn = customModelDeploymentIdentifier
        self._call("update_custom_model_deployment", arn, model=modelArn)
        pending = {"modelArn": modelArn, "updateStatus": "Updating"}
        self.found[arn][1].update(updateDetails=pending)
        self.after_sleep[arn] = {"modelArn": modelArn, "updateDetails": None}

    def tag_resource(self, resourceARN: str, tags: list[dict[str, str]]) -> None:  # noqa: N803
        self._call("tag_resource", resourceARN, tags=tags)

    def untag_resource(self, resourceARN: str, tagKeys: list[str]) -> None:  # noqa: N803
        self._call("untag_resource", resourceARN, tagKeys=tagKeys)


class _Pages:
    def __init__(self, fake: FakeBedrock, method: str) -> None:
        self.fake = fake
        self.method = method

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        self.fake._call(self.method, "")
        kind, key = _LIST_METHODS[self.method]
        yield {key: [dict(s) for k, s in self.fake.found.values() if k is kind]}


class SerialPool:
    """A ThreadPoolExecutor stand-in that runs each call in turn: calls come in plan order."""

    sizes: ClassVar[list[int]] = []

    def __init__(self, max_workers: int) -> None:
        SerialPool.sizes.append(max_workers)

    def __enter__(self) -> SerialPool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, function: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        return iter([function(item) for item in items])


class FakeClock:
    """Time that passes only when slept; each sleep lets the fake's pending changes happen."""

    def __init__(self, fake: FakeBedrock) -> None:
        self.fake = fake
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> Clock:
        return Clock(now=lambda: self.now, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.fake.tick()


class Polls:
    def __init__(self) -> None:
        self.seen: list[tuple[dict[Gate, Answer], float]] = []

    def update(self, states: Mapping[Gate, Answer], now: float) -> None:
        self.seen.append((dict(states), now))


@pytest.fixture(autouse=True)
def serial_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    SerialPool.sizes = []
    monkeypatch.setattr(executor, "ThreadPoolExecutor", SerialPool)


@pytest.fixture
def fake() -> FakeBedrock:
    return FakeBedrock()


def apply(fake: FakeBedrock, *actions: Action, **options: Any) -> ApplyReport:
    return executor.apply(Plan(scope=SCOPE, actions=actions), fake, **options)  # type: ignore[arg-type]


def done(action: Action, arn: str | None = None, model_arn: str | None = None) -> ActionResult:
    return ActionResult(action, Outcome.DONE, arn=arn or action.arn, model_arn=model_arn)


def deleted(action: Action) -> ActionResult:
    """A delete done: the resource has no ARN any more."""
    return ActionResult(action, Outcome.DONE)


def onto(action: Action, model_arn: str) -> Action:
    """The action as run: given the ARN of the model it serves from, once that is known."""
    return replace(action, model_arn=model_arn)


def skipped(action: Action, why: str, code: str | None = None) -> ActionResult:
    return ActionResult(action, Outcome.SKIPPED, why, action.arn, code)


def failed(
    action: Action, why: str, code: str | None = None, arn: str | None = None
) -> ActionResult:
    return ActionResult(action, Outcome.FAILED, why, arn or action.arn, code)


# -- actions, as the planner makes them -----------------------------------------------------


def create_model(name: str = "m") -> Action:
    return Action(ActionKind.CREATE, name, "not found", declared=cm(name))


def model(kind: ActionKind, name: str, arn: str, **fields: Any) -> Action:
    return Action(kind, name, "r", arn=arn, declared=cm(name), **fields)


def create_serving(
    kind: Kind, name: str, model: str | None = "m", arn: str | None = None
) -> Action:
    build = pt if kind is PT else dep
    declared = build(name, model=model) if model else build(name, arn=arn)
    return Action(
        ActionKind.CREATE,
        name,
        "not found",
        declared=declared,
        resource=kind,
        model=model,
        model_arn=arn,
    )


def serving(kind: ActionKind, resource: Kind, name: str, arn: str, **fields: Any) -> Action:
    return Action(kind, name, "r", arn=arn, resource=resource, **fields)


def refusal_text(operation: str, name: str, cause: str) -> str:
    return f"{operation} {name} failed: {cause} ({_method(operation)} refused)"


def _method(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


# -- the whole-plan refusal -------------------------------------------------------------------


def test_a_plan_holding_a_conflict_or_blocked_action_is_refused_before_any_call(
    fake: FakeBedrock,
) -> None:
    actions = (
        create_model("a"),
        Action(ActionKind.CONFLICT, "x", "not ours"),
        Action(ActionKind.NOOP, "y", "in sync", arn=M),
        Action(ActionKind.BLOCKED, "p", "in use", resource=PT),
    )
    with pytest.raises(UnsafePlanError) as refused:
        apply(fake, *actions)
    assert str(refused.value) == (
        "the plan holds actions that cannot be applied "
        "(conflict CustomModel/x, blocked ProvisionedThroughput/p)"
    )
    assert fake.calls == []


def test_noops_are_done_without_a_call_and_the_pool_is_sized_from_the_concurrency(
    fake: FakeBedrock,
) -> None:
    noop = Action(ActionKind.NOOP, "m", "in sync", arn=M)
    assert apply(fake, noop).results == (done(noop),)
    assert apply(fake, noop, concurrency=0).results == (done(noop),)
    apply(fake, noop, concurrency=3)
    assert fake.calls == []
    assert SerialPool.sizes[1:] == [1, 3]


# -- waves and what depends on what -----------------------------------------------------------


def test_what_serves_from_a_new_model_is_created_on_its_arn_once_it_is_active(
    fake: FakeBedrock,
) -> None:
    actions = (create_model(), create_serving(PT, "p"), create_serving(DEP, "d"))
    report = apply(fake, *actions)
    assert report.results == (
        done(actions[0], M),
        done(onto(actions[1], M), P, model_arn=M),
        done(onto(actions[2], M), D, model_arn=M),
    )
    assert fake.calls == [
        ("create_custom_model", "m"),
        ("list_custom_models", ""),  # the create confirmed
        ("list_custom_models", ""),  # the gate: m Active
        ("create_provisioned_model_throughput", "p"),
        ("get_provisioned_model_throughput", P),
        ("create_custom_model_deployment", "d"),
        ("get_custom_model_deployment", D),
    ]
    assert fake.params[3]["modelId"] == M
    assert fake.params[5]["modelArn"] == M


def test_dependents_of_a_failed_create_are_skipped_naming_it(fake: FakeBedrock) -> None:
    fake.refuse("create_custom_model", "m", "ValidationException")
    actions = (create_model(), create_serving(PT, "p"))
    report = apply(fake, *actions)
    assert report.results == (
        failed(
            actions[0],
            refusal_text("CreateCustomModel", "m", "ValidationException"),
            "ValidationException",
        ),
        skipped(actions[1], "create CustomModel/m failed; not attempted"),
    )
    assert fake.calls == [("create_custom_model", "m")]


def test_a_model_delete_waits_for_every_user_it_moves_off(fake: FakeBedrock) -> None:
    fake.refuse("delete_custom_model_deployment", D, "ConflictException")
    actions = (
        model(ActionKind.DELETE, "old", OLD),
        serving(ActionKind.DELETE, PT, "p", P, serves_from=(OLD,)),
        serving(ActionKind.DELETE, DEP, "d", D, serves_from=(OLD,)),
    )
    report = apply(fake, *actions)
    busy = "ConflictException: the deployment is busy"
    assert report.results == (
        skipped(actions[0], "delete CustomModelDeployment/d failed; not attempted"),
        deleted(actions[1]),
        failed(
            actions[2], refusal_text("DeleteCustomModelDeployment", "d", busy), "ConflictException"
        ),
    )
    assert fake.calls == [
        ("delete_provisioned_model_throughput", P),
        ("delete_custom_model_deployment", D),
    ]


def test_a_model_delete_runs_once_what_served_from_it_is_deleted(fake: FakeBedrock) -> None:
    actions = (
        model(ActionKind.DELETE, "old", OLD),
        serving(ActionKind.DELETE, PT, "p", P, serves_from=(OLD,)),
    )
    assert apply(fake, *actions).results == (deleted(actions[0]), deleted(actions[1]))
    assert fake.calls == [("delete_provisioned_model_throughput", P), ("delete_custom_model", OLD)]


def switch(kind: Kind = PT, name: str = "p", arn: str = P) -> Action:
    return serving(
        ActionKind.UPDATE_MODEL, kind, name, arn, model="new", model_arn=NEW, serves_from=(OLD,)
    )


def test_a_model_delete_is_deferred_until_the_switch_off_it_is_complete(fake: FakeBedrock) -> None:
    fake.add(Kind.CUSTOM_MODEL, "new", NEW)
    fake.add(PT, "p", P, modelArn=OLD)
    actions = (model(ActionKind.DELETE, "old", OLD), switch())
    report = apply(fake, *actions)
    assert report.results == (
        skipped(
            actions[0],
            f"deferred: waiting for ProvisionedThroughput/p to finish switching to {NEW}",
            DEFERRED,
        ),
        done(actions[1], model_arn=NEW),
    )
    assert report.deferred == (report.results[0],)
    assert fake.calls == [
        ("list_custom_models", ""),  # the switch's gate: new Active
        ("update_provisioned_model_throughput", P),
        ("list_provisioned_model_throughputs", ""),  # the delete's gate: still switching
    ]
    assert fake.params[1] == {"model": NEW}


def test_with_wait_the_model_is_deleted_once_the_switch_completes(fake: FakeBedrock) -> None:
    fake.add(Kind.CUSTOM_MODEL, "new", NEW)
    fake.add(DEP, "d", D, modelArn=OLD)
    time = FakeClock(fake)
    polls = Polls()
    actions = (model(ActionKind.DELETE, "old", OLD), switch(DEP, "d", D))
    report = apply(fake, *actions, waiting=executor.Waiting(60.0, time.clock(), polls))
    assert report.results == (deleted(actions[0]), done(actions[1], model_arn=NEW))
    assert fake.calls == [
        ("list_custom_models", ""),
        ("update_custom_model_deployment", D),
        ("list_custom_model_deployments", ""),
        ("get_custom_model_deployment", D),  # still updating
        ("list_custom_model_deployments", ""),
        ("get_custom_model_deployment", D),  # serving the new model
        ("delete_custom_model", OLD),
    ]
    assert time.sleeps == [0.5]
    gate = Gate(DEP, D, "d", NEW)
    assert [list(states) for states, _ in polls.seen[-2:]] == [[gate], [gate]]
    assert polls.seen[-1][1] == 0.5


def test_a_switch_already_under_way_gates_the_model_delete(fake: FakeBedrock) -> None:
    """A switch an earlier run started: the delete waits for it (``waits_for``)."""
    fake.add(PT, "p", P, modelArn=OLD, desiredModelArn=NEW)
    waits = (WaitFor(PT, P, "p", NEW),)
    delete = model(ActionKind.DELETE, "old", OLD, waits_for=waits)
    report = apply(fake, delete)
    why = f"deferred: waiting for ProvisionedThroughput/p to finish switching to {NEW}"
    assert report.results == (skipped(delete, why, DEFERRED),)
    fake.found[P][1].update(modelArn=NEW)
    assert apply(fake, delete).results == (deleted(delete),)
    assert fake.calls[-2:] == [
        ("list_provisioned_model_throughputs", ""),
        ("delete_custom_model", OLD),
    ]


def test_dependents_of_a_deferred_action_are_deferred_too(fake: FakeBedrock) -> None:
    fake.add(Kind.CUSTOM_MODEL, "new", NEW, "Creating")
    actions = (model(ActionKind.DELETE, "old", OLD), switch())
    report = apply(fake, *actions)
    assert report.results == (
        skipped(
            actions[0],
            "deferred: waits for update-model ProvisionedThroughput/p, deferred",
            DEFERRED,
        ),
        skipped(actions[1], "deferred: waiting for model new to be Active", DEFERRED),
    )
    assert fake.calls == [("list_custom_models", "")]


# -- the gates ----------------------------------------------------------------------------------


def test_a_gate_on_a_failed_model_skips_the_action_with_the_failure(fake: FakeBedrock) -> None:
    fake.add(Kind.CUSTOM_MODEL, "m", M, "Failed", failureMessage="bad weights")
    create = create_serving(PT, "p", model="m")
    create = replace(create, model_arn=M)
    report = apply(fake, create)
    assert report.results == (skipped(create, "model m to be Active: bad weights; not attempted"),)
    assert fake.calls == [("list_custom_models", ""), ("get_custom_model", M)]


def test_with_wait_a_gate_still_closed_at_the_deadline_fails_the_action(fake: FakeBedrock) -> None:
    fake.add(Kind.CUSTOM_MODEL, "m", M, "Creating")
    time = FakeClock(fake)
    polls = Polls()
    create = create_serving(DEP, "d", model=None, arn=M)
    report = apply(fake, create, waiting=executor.Waiting(20.0, time.clock(), polls))
    why = f"timed out waiting for model {M} to be Active (--timeout); not attempted"
    assert report.results == (failed(create, why),)
    assert sum(time.sleeps) == 20.0
    assert len(polls.seen) == len(time.sleeps) + 1
    assert {c for c in fake.calls} == {("list_custom_models", "")}


def test_without_wait_a_closed_gate_defers_and_the_open_ones_run(fake: FakeBedrock) -> None:
    fake.add(Kind.CUSTOM_MODEL, "m", M, "Creating")
    fake.add(Kind.CUSTOM_MODEL, "new", NEW)
    onto_m = create_serving(PT, "p", model=None, arn=M)
    onto_new = create_serving(DEP, "d", model=None, arn=NEW)
    retag = serving(ActionKind.UPDATE_TAGS, PT, "q", "arn:q", model_arn=M, set_tags=(("a", "1"),))
    report = apply(fake, onto_m, retag, onto_new)
    assert report.results == (
        skipped(onto_m, f"deferred: waiting for model {M} to be Active", DEFERRED),
        done(retag, model_arn=M),
        done(onto_new, D, model_arn=NEW),
    )
    assert fake.calls == [
        ("list_custom_models", ""),
        ("tag_resource", "arn:q"),
        ("create_custom_model_deployment", "d"),
        ("get_custom_model_deployment", D),
    ]


def test_with_wait_while_stopping_the_gates_are_checked_once(fake: FakeBedrock) -> None:
    fake.add(Kind.CUSTOM_MODEL, "m", M, "Creating")
    time = FakeClock(fake)
    create = create_serving(PT, "p", model=None, arn=M)
    waiting = executor.Waiting(60.0, time.clock())
    report = apply(fake, create, waiting=waiting, stopping=lambda: True)
    assert report.results[0].outcome is Outcome.FAILED
    assert time.sleeps == []
    assert fake.calls == [("list_custom_models", "")]


# -- the runner: one action ----------------------------------------------------------------------


def test_no_prune_skips_deletes_and_releases_and_nothing_else(fake: FakeBedrock) -> None:
    actions = (
        model(ActionKind.DELETE, "gone", OLD),
        model(ActionKind.RELEASE, "kept", M, remove_tag_keys=("reconciler:managed-by",)),
        model(ActionKind.UPDATE_TAGS, "new", NEW, set_tags=(("team", "a"),)),
    )
    report = apply(fake, *actions, prune=False)
    assert report.results == (
        skipped(actions[0], "--no-prune"),
        skipped(actions[1], "--no-prune"),
        done(actions[2]),
    )
    assert fake.calls == [("tag_resource", NEW)]
    assert fake.params == [{"tags": [{"key": "team", "value": "a"}]}]
    fake.calls.clear()
    assert apply(fake, *actions).results == (
        deleted(actions[0]),
        done(actions[1]),
        done(actions[2]),
    )
    assert fake.calls == [
        ("delete_custom_model", OLD),
        ("untag_resource", M),
        ("tag_resource", NEW),
    ]
    assert fake.params[-2] == {"tagKeys": ["reconciler:managed-by"]}


def test_once_stopping_no_action_starts(fake: FakeBedrock) -> None:
    actions = (create_model(), model(ActionKind.DELETE, "old", OLD))
    report = apply(fake, *actions, stopping=lambda: True)
    assert report.results == tuple(skipped(a, "shutting down") for a in actions)
    assert fake.calls == []


@pytest.mark.parametrize("code", ["ConflictException", "ValidationException"])
def test_an_importing_models_delete_is_deferred_to_the_next_run(
    fake: FakeBedrock, code: str
) -> None:
    fake.refuse("delete_custom_model", M, code)
    delete = model(ActionKind.DELETE, "m", M, importing=True)
    why = (
        "deferred: the model is still importing (Creating) and Bedrock will not delete it yet; "
        "the next run deletes it"
    )
    assert apply(fake, delete).results == (skipped(delete, why, DEFERRED),)
    assert fake.calls == [("delete_custom_model", M)]


def test_an_importing_models_replace_is_deferred_and_so_is_what_serves_from_it(
    fake: FakeBedrock,
) -> None:
    fake.refuse("delete_custom_model", M, "ConflictException")
    actions = (model(ActionKind.REPLACE, "m", M, importing=True), create_serving(PT, "p"))
    why = (
        "deferred: the model is still importing (Creating) and Bedrock will not delete it yet; "
        "the next run replaces it"
    )
    assert apply(fake, *actions).results == (
        skipped(actions[0], why, DEFERRED),
        skipped(actions[1], "deferred: waits for replace CustomModel/m, deferred", DEFERRED),
    )
    assert fake.calls == [("delete_custom_model", M)]


@pytest.mark.parametrize(
    ("action", "method", "arn", "operation", "cause"),
    [
        (
            model(ActionKind.DELETE, "m", M),
            "delete_custom_model",
            M,
            "DeleteCustomModel",
            "ConflictException: the model is busy: still importing, or in use "
            "(for example by a provisioned throughput)",
        ),
        (
            serving(ActionKind.DELETE, PT, "p", P, importing=True),
            "delete_provisioned_model_throughput",
            P,
            "DeleteProvisionedModelThroughput",
            "ConflictException: the throughput is busy (still being created or updated), or "
            "its commitment has not expired",
        ),
    ],
)
def test_a_refused_delete_of_anything_but_an_importing_model_fails(
    fake: FakeBedrock, action: Action, method: str, arn: str, operation: str, cause: str
) -> None:
    fake.refuse(method, arn, "ConflictException")
    assert apply(fake, action).results == (
        failed(action, refusal_text(operation, action.name, cause), "ConflictException"),
    )


def test_a_replace_deletes_then_creates_and_a_refused_delete_skips_the_create(
    fake: FakeBedrock,
) -> None:
    replacing = model(ActionKind.REPLACE, "m", OLD)
    assert apply(fake, replacing).results == (done(replacing, M),)
    assert fake.calls == [
        ("delete_custom_model", OLD),
        ("create_custom_model", "m"),
        ("list_custom_models", ""),
    ]
    fake.calls.clear()
    fake.refuse("delete_custom_model", OLD, "AccessDeniedException")
    cause = (
        "AccessDeniedException: the credentials lack the IAM permission bedrock:DeleteCustomModel"
    )
    why = f"{refusal_text('DeleteCustomModel', 'm', cause)}; the create was skipped"
    assert apply(fake, replacing).results == (failed(replacing, why, "AccessDeniedException"),)
    assert fake.calls == [("delete_custom_model", OLD)]


def test_a_refused_replace_keeps_the_errors_kind_code_and_model(fake: FakeBedrock) -> None:
    fake.refuse("delete_custom_model", OLD, "ConflictException")
    runner = executor._Runner(fake, SCOPE, True, lambda: False)  # type: ignore[arg-type]
    with pytest.raises(ConflictError) as refused:
        runner._replace(model(ActionKind.REPLACE, "m", OLD))
    assert (refused.value.code, refused.value.model) == ("ConflictException", "m")
    assert str(refused.value).endswith("; the create was skipped")
    fake.refuse("delete_custom_model", OLD, "ValidationException")
    with pytest.raises(InvalidRequestError):
        runner._replace(model(ActionKind.REPLACE, "m", OLD))


def test_serving_without_a_known_model_arn_fails_without_a_call(fake: FakeBedrock) -> None:
    create = create_serving(PT, "p", model="m")
    moved = serving(ActionKind.UPDATE_MODEL, DEP, "d", D, model="m")
    report = apply(fake, create, moved)
    assert report.results == (
        failed(create, "ProvisionedThroughput/p: the ARN of model m is not known"),
        failed(moved, "CustomModelDeployment/d: the ARN of model m is not known"),
    )
    assert fake.calls == []


def test_a_switch_moves_the_resource_then_sets_and_removes_its_tags(fake: FakeBedrock) -> None:
    fake.add(Kind.CUSTOM_MODEL, "new", NEW)
    fake.add(PT, "p", P, modelArn=OLD)
    moved = serving(
        ActionKind.UPDATE_MODEL,
        PT,
        "p",
        P,
        model="new",
        model_arn=NEW,
        set_tags=(("team", "a"),),
        remove_tag_keys=("old",),
    )
    assert apply(fake, moved).results == (done(moved, model_arn=NEW),)
    assert fake.calls == [
        ("list_custom_models", ""),
        ("update_provisioned_model_throughput", P),
        ("tag_resource", P),
        ("untag_resource", P),
    ]
    assert fake.params[1:] == [
        {"model": NEW},
        {"tags": [{"key": "team", "value": "a"}]},
        {"tagKeys": ["old"]},
    ]


def test_an_adoption_only_tags_and_a_release_only_untags(fake: FakeBedrock) -> None:
    adopt = serving(ActionKind.ADOPT, DEP, "d", D, set_tags=(("k", "v"),))
    release = serving(ActionKind.RELEASE, PT, "p", P)
    untouched = model(ActionKind.UPDATE_TAGS, "m", M)
    assert apply(fake, untouched, adopt, release).results == (
        done(untouched),
        done(adopt),
        done(release),
    )
    assert fake.calls == [("tag_resource", D)]


@pytest.mark.parametrize(
    ("method", "operation", "action"),
    [
        (
            "tag_resource",
            "TagResource",
            model(ActionKind.UPDATE_TAGS, "m", M, set_tags=(("k", "v"),)),
        ),
        (
            "untag_resource",
            "UntagResource",
            model(ActionKind.RELEASE, "m", M, remove_tag_keys=("k",)),
        ),
    ],
)
def test_a_refused_tag_call_fails_the_action_naming_the_call(
    fake: FakeBedrock, method: str, operation: str, action: Action
) -> None:
    fake.refuse(method, M, "ThrottlingException")
    cause = "ThrottlingException: AWS kept throttling the call after every retry"
    assert apply(fake, action).results == (
        failed(action, refusal_text(operation, "m", cause), "ThrottlingException"),
    )


# -- model ARNs, as the waves learn them ---------------------------------------------------------


def test_a_serving_action_is_given_its_models_arn_unless_the_model_is_replaced(
    fake: FakeBedrock,
) -> None:
    actions = (
        model(ActionKind.NOOP, "kept", NEW),
        model(ActionKind.REPLACE, "m", OLD),
        serving(ActionKind.UPDATE_TAGS, PT, "p", P, model="kept"),
        serving(ActionKind.UPDATE_TAGS, DEP, "d", D, model="m"),
    )
    report = apply(fake, *actions)
    assert report.results == (
        done(actions[0]),
        done(actions[1], M),
        done(onto(actions[2], NEW), model_arn=NEW),
        done(actions[3]),
    )


def test_a_throughput_named_like_a_model_never_stands_in_for_its_arn(fake: FakeBedrock) -> None:
    fake.add(Kind.CUSTOM_MODEL, "new", NEW)
    actions = (
        create_model("m"),
        create_serving(PT, "m", model=None, arn=NEW),
        create_serving(DEP, "d", model="m"),
    )
    report = apply(fake, *actions)
    assert report.results == (
        done(actions[0], M),
        done(actions[1], serving_arn(PT, "m"), model_arn=NEW),
        done(onto(actions[2], M), D, model_arn=M),
    )
    assert fake.params[-2]["modelArn"] == M


# -- creates answered with a deleted model -----------------------------------------------------


def create_calls(name: str, answers: list[str]) -> list[tuple[str, str]]:
    calls = []
    for arn in answers:
        calls += [
            ("create_custom_model", name),
            ("list_custom_models", ""),
            ("get_custom_model", arn),
        ]
    return calls


def stale(name: str, left: int) -> str:
    return f"{model_arn(name)}-deleted-{left}"


def test_a_create_answered_with_a_deleted_model_is_sent_again_past_it(fake: FakeBedrock) -> None:
    fake.stale_answers["m"] = 1
    actions = (create_model("a"), create_model("m"))
    report = apply(fake, *actions)
    assert report.results == (done(actions[0], model_arn("a")), done(actions[1], M))
    assert fake.calls == [
        ("create_custom_model", "a"),
        ("create_custom_model", "m"),
        ("list_custom_models", ""),  # a is listed, m is not
        ("get_custom_model", stale("m", 0)),
        ("create_custom_model", "m"),
        ("list_custom_models", ""),
    ]
    request = create_request(actions[1].declared, SCOPE)  # type: ignore[arg-type]
    assert fake.params[1]["clientRequestToken"] == request_token(request)
    assert fake.params[4]["clientRequestToken"] == request_token(request, after=stale("m", 0))


def test_a_create_the_service_keeps_answering_with_deleted_models_fails(fake: FakeBedrock) -> None:
    fake.stale_answers["m"] = executor.MAX_TOKEN_ROLLS
    create = create_model("m")
    report = apply(fake, create)
    answers = [stale("m", n) for n in reversed(range(executor.MAX_TOKEN_ROLLS))]
    why = "CreateCustomModel m: the service kept answering with deleted models"
    assert report.results == (failed(create, why, arn=answers[-1]),)
    assert fake.calls == create_calls("m", answers)


def test_a_create_that_could_not_be_checked_fails_with_the_checks_error(fake: FakeBedrock) -> None:
    fake.stale_answers["m"] = 1
    fake.refuse("get_custom_model", stale("m", 0), "AccessDeniedException")
    create = create_model("m")
    cause = "AccessDeniedException: the credentials lack the IAM permission bedrock:GetCustomModel"
    checked = "the create was answered, but the model could not be checked"
    why = f"{refusal_text('GetCustomModel', 'm', cause)}; {checked}"
    assert apply(fake, create).results == (
        failed(create, why, "AccessDeniedException", arn=stale("m", 0)),
    )


def test_a_create_sent_again_and_refused_fails_with_the_refusal(fake: FakeBedrock) -> None:
    fake.stale_answers["m"] = 1
    create = create_model("m")
    original = fake.create_custom_model

    def second_refused(**params: Any) -> dict[str, Any]:
        if fake.stale_answers["m"] == 0:
            fake.refuse("create_custom_model", "m", "ThrottlingException")
        return original(**params)

    fake.create_custom_model = second_refused  # type: ignore[method-assign]
    cause = "ThrottlingException: AWS kept throttling the call after every retry"
    assert apply(fake, create).results == (
        failed(
            create,
            refusal_text("CreateCustomModel", "m", cause),
            "ThrottlingException",
            arn=stale("m", 0),
        ),
    )


def test_delete_model_deletes_by_arn_and_a_model_already_gone_is_deleted(fake: FakeBedrock) -> None:
    fake.refuse("delete_custom_model", OLD, "ResourceNotFoundException")
    executor.delete_model(fake, M, "m")  # type: ignore[arg-type]
    executor.delete_model(fake, OLD, "old")  # type: ignore[arg-type]
    assert fake.calls == [("delete_custom_model", M), ("delete_custom_model", OLD)]
