"""``apply --wait`` against a scripted client and a fake clock: no real waiting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.aws.readiness import Answer, Gate
from reconciler.aws.waiter import Clock, wait_for_active
from reconciler.desired import CustomModelManifest, DeclaredModel
from reconciler.plan import Action, ActionKind, Plan
from reconciler.report import ActionResult, ApplyReport, Outcome


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(now=lambda: self.now, sleep=self.sleep)


class ScriptedClient:
    """Each poll (one ListCustomModels) moves every ARN to the next status of its script;
    GetCustomModel answers with the status of the current poll. ``hidden`` ARNs are not
    listed (the list lags behind), so only GetCustomModel shows them."""

    def __init__(self, scripts: dict[str, list[dict[str, str]]], hidden: Any = ()) -> None:
        self.scripts = scripts
        self.hidden = set(hidden)
        self.current: dict[str, dict[str, str]] = {}
        self.calls = 0
        self.lists = 0

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_custom_models"
        return self

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        self.lists += 1
        self.current = {arn: self._next(arn) for arn in self.scripts}
        summaries = [
            {"modelArn": arn, **status}
            for arn, status in self.current.items()
            if arn not in self.hidden
        ]
        return [{"modelSummaries": summaries}]

    def get_custom_model(self, modelIdentifier: str) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        return self.current[modelIdentifier]

    def _next(self, arn: str) -> dict[str, str]:
        script = self.scripts[arn]
        return script.pop(0) if len(script) > 1 else script[0]


def declared(name: str) -> DeclaredModel:
    manifest = CustomModelManifest.model_validate(
        {
            "apiVersion": "bedrock.gitops/v1",
            "kind": "CustomModel",
            "metadata": {"name": name},
            "spec": {"modelSourceConfig": {"s3DataSource": {"s3Uri": f"s3://bucket/{name}/"}}},
        }
    )
    return DeclaredModel(manifest, "m.yaml", 1)


def report(*names: str) -> ApplyReport:
    results = []
    for name in names:
        action = Action(ActionKind.CREATE, name, "not in the account", declared=declared(name))
        results.append(ActionResult(action, Outcome.DONE, arn=f"arn:{name}"))
    plan = Plan("default", tuple(r.action for r in results))
    return ApplyReport(plan, tuple(results))


def test_waits_until_active_then_stops_polling() -> None:
    time = FakeTime()
    client = ScriptedClient(
        {
            "arn:a": [
                {"modelStatus": "Creating"},
                {"modelStatus": "Creating"},
                {"modelStatus": "Active"},
            ]
        }
    )
    result = wait_for_active(report("a"), client, timeout=60, clock=time.clock())
    assert [r.outcome for r in result.results] == [Outcome.DONE]
    assert (client.lists, client.calls) == (3, 0)  # the list has every status
    assert time.sleeps == [0.5, 1.0]


def test_a_model_the_list_does_not_show_yet_is_asked_for() -> None:
    client = ScriptedClient(
        {"arn:a": [{"modelStatus": "Active"}], "arn:b": [{"modelStatus": "Active"}]},
        hidden={"arn:b"},
    )
    result = wait_for_active(report("a", "b"), client, timeout=60, clock=FakeTime().clock())
    assert [r.outcome for r in result.results] == [Outcome.DONE, Outcome.DONE]
    assert (client.lists, client.calls) == (1, 1)


def test_polls_back_off_up_to_the_cap() -> None:
    time = FakeTime()
    client = ScriptedClient(
        {"arn:a": [{"modelStatus": "Creating"}] * 8 + [{"modelStatus": "Active"}]}
    )
    wait_for_active(report("a"), client, timeout=600, clock=time.clock(), poll_seconds=4)
    assert time.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]


def test_failed_import_is_reported_with_its_message() -> None:
    client = ScriptedClient(
        {
            "arn:a": [{"modelStatus": "Active"}],
            "arn:b": [{"modelStatus": "Failed", "failureMessage": "no weights at the S3 URI"}],
        }
    )
    result = wait_for_active(report("a", "b"), client, timeout=60, clock=FakeTime().clock())
    outcomes = {r.action.name: (r.outcome, r.error) for r in result.results}
    assert outcomes["a"] == (Outcome.DONE, None)
    assert outcomes["b"][0] is Outcome.FAILED
    assert "no weights at the S3 URI" in str(outcomes["b"][1])
    assert client.calls == 1  # only the failed one, for its failureMessage


def test_gives_up_at_the_timeout() -> None:
    time = FakeTime()
    client = ScriptedClient({"arn:a": [{"modelStatus": "Creating"}]})
    result = wait_for_active(
        report("a"), client, timeout=12, clock=time.clock(), poll_seconds=5, first_poll=5
    )
    assert result.results[0].outcome is Outcome.FAILED
    assert "still Creating after 12 seconds" in str(result.results[0].error)
    assert time.now == 12


def test_nothing_created_means_no_calls() -> None:
    client = ScriptedClient({})
    wait_for_active(report(), client, timeout=5, clock=FakeTime().clock())
    assert (client.lists, client.calls) == (0, 0)


def test_the_observer_is_told_every_poll_with_the_time_of_the_clock() -> None:
    time = FakeTime()
    client = ScriptedClient(
        {"arn:a": [{"modelStatus": "Creating"}, {"modelStatus": "Active"}]},
    )
    seen: list[tuple[dict[str, str], float]] = []

    class Observer:
        def update(self, states: Mapping[Gate, Answer], now: float) -> None:
            seen.append(({g.name: a.status for g, a in states.items()}, now))

    wait_for_active(report("a"), client, timeout=60, clock=time.clock(), observer=Observer())
    assert seen == [({"a": "Creating"}, 0.0), ({"a": "Active"}, 0.5)]
