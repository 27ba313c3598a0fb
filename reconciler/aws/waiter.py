"""``apply --wait``: poll the models an apply created until each is Active or Failed.

The clock and the sleep are injected so tests do not wait in real time. Called by ``cli``
after ``executor.apply``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.aws.errors import calling
from reconciler.errors import CloudError
from reconciler.observed import STATUS_ACTIVE, STATUS_FAILED
from reconciler.plan import ActionKind
from reconciler.report import ActionResult, ApplyReport, Outcome

POLL_SECONDS = 5.0
_CREATES = (ActionKind.CREATE, ActionKind.REPLACE)


@dataclass(frozen=True)
class Clock:
    """Time as the waiter sees it; tests pass a fake."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def wait_for_active(
    report: ApplyReport,
    client: Any,
    timeout: float,
    clock: Clock | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> ApplyReport:
    """Wait for every model the report created; mark Failed and timed-out ones as failed."""
    clock = clock or Clock()
    pending = {r.arn: r for r in report.results if r.arn and _created(r)}
    finished: dict[str, ActionResult] = {}
    deadline = clock.now() + timeout
    while pending:
        for arn, result in list(pending.items()):
            try:
                status, failure = _status(client, arn, result.action.name)
            except CloudError as e:
                finished[arn] = replace(pending.pop(arn), outcome=Outcome.FAILED, error=str(e))
                continue
            if status == STATUS_ACTIVE:
                finished[arn] = pending.pop(arn)
            elif status == STATUS_FAILED:
                message = f"the import failed: {failure or 'no failureMessage given'}"
                finished[arn] = replace(pending.pop(arn), outcome=Outcome.FAILED, error=message)
        if pending and clock.now() >= deadline:
            for arn, result in pending.items():
                message = f"still Creating after {timeout:g} seconds (--timeout)"
                finished[arn] = replace(result, outcome=Outcome.FAILED, error=message)
            break
        if pending:
            clock.sleep(min(poll_seconds, max(0.0, deadline - clock.now())))
    return _merge(report, finished)


def _created(result: ActionResult) -> bool:
    return (
        result.action.kind in _CREATES and result.outcome is Outcome.DONE and result.arn is not None
    )


def _status(client: Any, arn: str, name: str) -> tuple[str, str]:
    with calling("GetCustomModel", name):
        model: Mapping[str, Any] = client.get_custom_model(modelIdentifier=arn)
    return str(model.get("modelStatus", STATUS_ACTIVE)), str(model.get("failureMessage", ""))


def _merge(report: ApplyReport, finished: Mapping[str, ActionResult]) -> ApplyReport:
    results = tuple(finished.get(r.arn or "", r) if _created(r) else r for r in report.results)
    return replace(report, results=results)
