"""``apply --wait``: poll what an apply created or switched until it is ready, or Failed.

Models until ``Active``; throughputs until ``InService`` on the model they were given;
deployments until ``Active`` on theirs. Each poll is one paginated list per kind involved,
which carries every status, so waiting for 500 imports costs a few calls per poll, not 500;
a Get is asked only for what the list does not show yet, for a Failed one's
``failureMessage`` and for a deployment's pending update. Polls start quickly and double up
to ``poll_seconds``. The clock is injected so tests do not wait in real time. Called by
``commands`` after ``executor.apply``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from reconciler.aws.readiness import (
    FIRST_POLL_SECONDS,
    POLL_SECONDS,
    Answer,
    Clock,
    Gate,
    Observer,
    Readiness,
    State,
)
from reconciler.identity import Kind
from reconciler.plan import ActionKind
from reconciler.report import ActionResult, ApplyReport, Outcome

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient


__all__ = ["FIRST_POLL_SECONDS", "POLL_SECONDS", "Clock", "gate_of", "wait_for_active"]

_WAITED = (ActionKind.CREATE, ActionKind.REPLACE, ActionKind.UPDATE_MODEL)


def wait_for_active(
    report: ApplyReport,
    client: BedrockClient,
    timeout: float,
    *,
    clock: Clock | None = None,
    poll_seconds: float = POLL_SECONDS,
    first_poll: float = FIRST_POLL_SECONDS,
    deadline: float | None = None,
    observer: Observer | None = None,
) -> ApplyReport:
    """Wait for everything the report created or switched; mark Failed and timed-out ones
    as failed. ``deadline`` (on the clock) overrides ``timeout`` when the wait is the end of
    a longer one. ``observer`` is told every poll's answers."""
    clock = clock or Clock()
    gates = {g: r for r in report.results if (g := gate_of(r)) is not None}
    if not gates:
        return report
    end = deadline if deadline is not None else clock.now() + timeout
    answers = Readiness(client, clock).wait(
        gates, end, observer, poll_seconds=poll_seconds, first_poll=first_poll
    )
    finished = {
        id(result): _finished(result, answers[gate], timeout) for gate, result in gates.items()
    }
    return replace(report, results=tuple(finished.get(id(r), r) for r in report.results))


def gate_of(result: ActionResult) -> Gate | None:
    """What to wait for after a result: None when there is nothing to wait for."""
    action = result.action
    if action.kind not in _WAITED or result.outcome is not Outcome.DONE or result.arn is None:
        return None
    if action.resource is Kind.CUSTOM_MODEL:
        return Gate(Kind.CUSTOM_MODEL, result.arn, action.name)
    return Gate(action.resource, result.arn, action.name, result.model_arn or "")


def _finished(result: ActionResult, answer: Answer, timeout: float) -> ActionResult:
    if answer.state is State.READY:
        return result
    if answer.state is State.FAILED:
        what = "the import failed" if result.action.resource is Kind.CUSTOM_MODEL else "it failed"
        return replace(result, outcome=Outcome.FAILED, error=f"{what}: {answer.detail}")
    status = answer.status or "not ready"
    message = f"still {status} after {timeout:g} seconds (--timeout)"
    return replace(result, outcome=Outcome.FAILED, error=message)
