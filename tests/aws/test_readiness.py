"""The readiness gates without an account: what each observed state answers, what a gate
says it waits for, the calls ``check`` makes through a fake client (one list per kind, a Get
where the list is not enough or fails), and the poll schedule of ``wait`` on a fake clock.

The gates are checked against the emulator end to end in ``tests/test_rollout.py``; these
tests pin each rule on its own, so a changed comparison or schedule is noticed at once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import botocore.exceptions
import pytest

from reconciler.aws import readiness
from reconciler.aws.readiness import Answer, Clock, Gate, Readiness, State
from reconciler.identity import Kind
from reconciler.observed import ObservedResource

V1 = "arn:aws:bedrock:us-east-1:111122223333:custom-model/imported/v1"
V2 = "arn:aws:bedrock:us-east-1:111122223333:custom-model/imported/v2"
PT = "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/pt"
DEP = "arn:aws:bedrock:us-east-1:111122223333:custom-model-deployment/dep"


def model(status: str, failure: str = "") -> ObservedResource:
    return ObservedResource(arn=V2, name="v2", status=status, failure_message=failure)


def throughput(status: str, serves: str = V1, switching_to: str = "") -> ObservedResource:
    return ObservedResource(
        kind=Kind.PROVISIONED_THROUGHPUT,
        arn=PT,
        name="pt",
        status=status,
        model_arn=serves,
        next_model_arn=switching_to,
    )


MODEL_ACTIVE = Gate(Kind.CUSTOM_MODEL, V2, "v2")
SWITCHED = Gate(Kind.PROVISIONED_THROUGHPUT, PT, "pt", model_arn=V2)
SERVING = Gate(Kind.PROVISIONED_THROUGHPUT, PT, "pt")


@pytest.mark.parametrize(
    ("gate", "found", "answer"),
    [
        (MODEL_ACTIVE, None, Answer(State.WAITING, "", "not listed yet")),
        (MODEL_ACTIVE, model("Creating"), Answer(State.WAITING, "Creating")),
        (MODEL_ACTIVE, model("Active"), Answer(State.READY, "Active")),
        (
            MODEL_ACTIVE,
            model("Failed", "bad weights"),
            Answer(State.FAILED, "Failed", "bad weights"),
        ),
        (
            MODEL_ACTIVE,
            model("Failed"),
            Answer(State.FAILED, "Failed", "no failureMessage given"),
        ),
        (SERVING, throughput("Creating"), Answer(State.WAITING, "Creating")),
        (SERVING, throughput("InService"), Answer(State.READY, "InService")),
        # a switch under way is not ready, even while it still serves
        (SERVING, throughput("InService", switching_to=V2), Answer(State.WAITING, "InService")),
        # switching onto v2: still serving v1, then done
        (SWITCHED, throughput("Updating", V1, V2), Answer(State.WAITING, "Updating")),
        (SWITCHED, throughput("InService", V1), Answer(State.WAITING, "InService")),
        (SWITCHED, throughput("InService", V2, V2), Answer(State.READY, "InService")),
        (SWITCHED, throughput("InService", V2), Answer(State.READY, "InService")),
        # someone else switched it elsewhere: it will never get there
        (
            SWITCHED,
            throughput("Updating", V1, "arn:other"),
            Answer(State.FAILED, "Updating", "it is switching to arn:other"),
        ),
        (
            SWITCHED,
            throughput("Failed", V2),
            Answer(State.FAILED, "Failed", "no failureMessage given"),
        ),
    ],
)
def test_each_observed_state_answers_the_gate(
    gate: Gate, found: ObservedResource | None, answer: Answer
) -> None:
    assert readiness._judge(gate, found) == answer


def test_a_gate_says_what_it_waits_for() -> None:
    assert MODEL_ACTIVE.waiting_for() == "model v2 to be Active"
    assert SWITCHED.waiting_for() == f"ProvisionedThroughput/pt to finish switching to {V2}"
    assert SERVING.waiting_for() == "ProvisionedThroughput/pt to be ready"
    deployment = Gate(Kind.CUSTOM_MODEL_DEPLOYMENT, DEP, "dep")
    assert deployment.waiting_for() == "CustomModelDeployment/dep to be ready"


def test_only_deployments_and_failures_need_their_get() -> None:
    assert readiness._needs_details(
        ObservedResource(arn=DEP, name="d", status="Active", kind=Kind.CUSTOM_MODEL_DEPLOYMENT)
    )
    assert readiness._needs_details(model("Failed"))
    assert not readiness._needs_details(model("Active"))
    assert not readiness._needs_details(throughput("InService"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> Clock:
        return Clock(now=lambda: self.now, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Polls:
    """An observer that records every update."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[Gate, Answer], float]] = []

    def update(self, states: Mapping[Gate, Answer], now: float) -> None:
        self.seen.append((dict(states), now))


class Scripted(Readiness):
    """Answers each check from a script of states, one entry per poll."""

    def __init__(self, script: list[dict[Gate, State]], clock: Clock) -> None:
        super().__init__(client=None, clock=clock)  # type: ignore[arg-type]
        self.script = script
        self.asked: list[frozenset[Gate]] = []

    def check(self, gates: Collection[Gate]) -> dict[Gate, Answer]:
        self.asked.append(frozenset(gates))
        states = self.script[min(len(self.asked), len(self.script)) - 1]
        return {g: Answer(states[g]) for g in gates}


def test_wait_polls_doubling_from_the_first_poll_up_to_the_poll_interval() -> None:
    fake = FakeClock()
    script = [{MODEL_ACTIVE: State.WAITING}] * 7 + [{MODEL_ACTIVE: State.READY}]
    polls = Polls()
    answers = Scripted(script, fake.clock()).wait(
        [MODEL_ACTIVE], deadline=1_000.0, observer=polls, poll_seconds=4.0, first_poll=0.5
    )
    assert answers == {MODEL_ACTIVE: Answer(State.READY)}
    assert fake.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert [now for _, now in polls.seen] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5]
    assert polls.seen[-1][0] == {MODEL_ACTIVE: Answer(State.READY)}


def test_wait_asks_again_only_for_the_gates_still_waiting() -> None:
    fake = FakeClock()
    script = [
        {MODEL_ACTIVE: State.READY, SWITCHED: State.WAITING},
        {SWITCHED: State.FAILED},
    ]
    waiting = Scripted(script, fake.clock())
    answers = waiting.wait([MODEL_ACTIVE, SWITCHED], deadline=100.0)
    assert waiting.asked == [frozenset({MODEL_ACTIVE, SWITCHED}), frozenset({SWITCHED})]
    assert answers == {MODEL_ACTIVE: Answer(State.READY), SWITCHED: Answer(State.FAILED)}


def test_wait_stops_at_the_deadline_and_never_sleeps_past_it() -> None:
    fake = FakeClock()
    waiting = Scripted([{MODEL_ACTIVE: State.WAITING}], fake.clock())
    answers = waiting.wait([MODEL_ACTIVE], deadline=10.0, poll_seconds=4.0, first_poll=3.0)
    assert answers == {MODEL_ACTIVE: Answer(State.WAITING)}
    assert fake.sleeps == [3.0, 4.0, 3.0]  # the last sleep ends at the deadline
    assert fake.now == 10.0
    assert len(waiting.asked) == 4


def test_wait_with_nothing_to_wait_for_asks_nothing() -> None:
    waiting = Scripted([], FakeClock().clock())
    assert waiting.wait([], deadline=10.0) == {}
    assert waiting.asked == []


class FakeBedrock:
    """A Bedrock client that answers lists and Gets from canned data and records each call.

    ``lists`` maps a list method to its summaries (one page), or to the error code it fails
    with; ``gets`` maps a resource ARN to its Get answer, or to an error code.
    """

    def __init__(
        self,
        lists: Mapping[str, list[dict[str, Any]] | str],
        gets: Mapping[str, dict[str, Any] | str] | None = None,
    ) -> None:
        self.lists = lists
        self.gets = gets or {}
        self.calls: list[tuple[str, str]] = []

    def get_paginator(self, method: str) -> FakeBedrock:
        self.listing = method
        return self

    def paginate(self, **params: Any) -> list[dict[str, Any]]:
        method = self.listing
        self.calls.append((method, ""))
        answer = self.lists[method]
        if isinstance(answer, str):
            raise _error(answer, method)
        key = {
            "list_custom_models": "modelSummaries",
            "list_provisioned_model_throughputs": "provisionedModelSummaries",
            "list_custom_model_deployments": "modelDeploymentSummaries",
        }[method]
        return [{key: answer}]

    def __getattr__(self, method: str) -> Callable[..., dict[str, Any]]:
        if not method.startswith("get_"):
            raise AttributeError(method)

        def get(**params: str) -> dict[str, Any]:
            (arn,) = params.values()
            self.calls.append((method, arn))
            answer = self.gets.get(arn, "ResourceNotFoundException")
            if isinstance(answer, str):
                raise _error(answer, method)
            return answer

        return get


def _error(code: str, operation: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "no"}}, operation)


def check(client: FakeBedrock, *gates: Gate) -> dict[Gate, Answer]:
    return Readiness(client=client).check(gates)  # type: ignore[arg-type]


MODEL_V1 = Gate(Kind.CUSTOM_MODEL, V1, "v1")
DEPLOYED = Gate(Kind.CUSTOM_MODEL_DEPLOYMENT, DEP, "dep", model_arn=V2)


def test_check_answers_from_one_list_per_kind_without_gets() -> None:
    client = FakeBedrock(
        {
            "list_custom_models": [
                {"modelArn": V1, "modelName": "v1", "modelStatus": "Creating"},
                {"modelArn": V2, "modelName": "v2", "modelStatus": "Active"},
            ],
            "list_provisioned_model_throughputs": [
                {
                    "provisionedModelArn": PT,
                    "provisionedModelName": "pt",
                    "status": "InService",
                    "modelArn": V2,
                }
            ],
        }
    )
    assert check(client, MODEL_ACTIVE, MODEL_V1, SWITCHED) == {
        MODEL_ACTIVE: Answer(State.READY, "Active"),
        MODEL_V1: Answer(State.WAITING, "Creating"),
        SWITCHED: Answer(State.READY, "InService"),
    }
    assert sorted(client.calls) == [
        ("list_custom_models", ""),
        ("list_provisioned_model_throughputs", ""),
    ]


def test_check_gets_a_failed_model_for_its_failure_message() -> None:
    client = FakeBedrock(
        {"list_custom_models": [{"modelArn": V2, "modelName": "v2", "modelStatus": "Failed"}]},
        {V2: {"modelName": "v2", "modelStatus": "Failed", "failureMessage": "bad weights"}},
    )
    assert check(client, MODEL_ACTIVE) == {
        MODEL_ACTIVE: Answer(State.FAILED, "Failed", "bad weights")
    }
    assert client.calls == [("list_custom_models", ""), ("get_custom_model", V2)]


def test_check_gets_a_listed_deployment_for_its_pending_update() -> None:
    summary = {
        "customModelDeploymentArn": DEP,
        "customModelDeploymentName": "dep",
        "status": "Active",
        "modelArn": V1,
    }
    # The Get does not repeat the ARN: the gate's is used.
    get = {
        "modelDeploymentName": "dep",
        "status": "Active",
        "modelArn": V1,
        "updateDetails": {"modelArn": V2, "updateStatus": "Updating"},
    }
    client = FakeBedrock({"list_custom_model_deployments": [summary]}, {DEP: get})
    assert check(client, DEPLOYED) == {DEPLOYED: Answer(State.WAITING, "Active")}
    assert client.calls == [
        ("list_custom_model_deployments", ""),
        ("get_custom_model_deployment", DEP),
    ]
    switched = {
        **get,
        "modelArn": V2,
        "updateDetails": {"modelArn": V2, "updateStatus": "UpdateCompleted"},
    }
    client = FakeBedrock({"list_custom_model_deployments": [summary]}, {DEP: switched})
    assert check(client, DEPLOYED) == {DEPLOYED: Answer(State.READY, "Active")}


def test_check_gets_each_gate_when_its_list_fails() -> None:
    client = FakeBedrock(
        {"list_custom_models": "AccessDeniedException"},
        {V2: {"modelName": "v2", "modelStatus": "Active"}},
    )
    assert check(client, MODEL_ACTIVE, MODEL_V1) == {
        MODEL_ACTIVE: Answer(State.READY, "Active"),
        MODEL_V1: Answer(State.WAITING, "", "not listed yet"),  # its Get: not found
    }
    assert sorted(client.calls) == [
        ("get_custom_model", V1),
        ("get_custom_model", V2),
        ("list_custom_models", ""),
    ]


def test_check_gets_a_gate_not_listed_and_waits_when_its_get_fails() -> None:
    client = FakeBedrock(
        {
            "list_custom_models": [],
            "list_provisioned_model_throughputs": [],
        },
        {
            V2: {"modelName": "v2", "modelStatus": "Active"},
            PT: "AccessDeniedException",
        },
    )
    assert check(client, MODEL_ACTIVE, SERVING) == {
        MODEL_ACTIVE: Answer(State.READY, "Active"),
        SERVING: Answer(State.WAITING, "", "not listed yet"),
    }
    assert sorted(client.calls) == [
        ("get_custom_model", V2),
        ("get_provisioned_model_throughput", PT),
        ("list_custom_models", ""),
        ("list_provisioned_model_throughputs", ""),
    ]


def test_check_of_no_gates_calls_nothing() -> None:
    client = FakeBedrock({})
    assert check(client) == {}
    assert client.calls == []


def test_wait_never_sleeps_past_a_deadline_under_a_second_away() -> None:
    fake = FakeClock()
    waiting = Scripted([{MODEL_ACTIVE: State.WAITING}], fake.clock())
    waiting.wait([MODEL_ACTIVE], deadline=3.5, poll_seconds=4.0, first_poll=3.0)
    assert fake.sleeps == [3.0, 0.5]
