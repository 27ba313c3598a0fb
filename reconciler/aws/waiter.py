"""``apply --wait``: poll the models an apply created until each is Active or Failed.

Each poll is one paginated ``ListCustomModels``, which carries every model's status, so
waiting for 500 imports costs a few calls per poll, not 500; ``GetCustomModel`` is asked only
for a model the list does not show yet and for a Failed one's ``failureMessage``. The clock
and the sleep are injected so tests do not wait in real time. Called by ``commands`` after
``executor.apply``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.aws.errors import calling
from reconciler.aws.reader import list_models
from reconciler.errors import CloudError
from reconciler.observed import STATUS_ACTIVE, STATUS_FAILED
from reconciler.plan import ActionKind
from reconciler.report import ActionResult, ApplyReport, Outcome

POLL_SECONDS = 15.0
FIRST_POLL_SECONDS = 0.5
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
    *,
    clock: Clock | None = None,
    poll_seconds: float = POLL_SECONDS,
    first_poll: float = FIRST_POLL_SECONDS,
) -> ApplyReport:
    """Wait for every model the report created; mark Failed and timed-out ones as failed.

    Polls start quickly and double up to ``poll_seconds``: short imports are seen at once,
    long ones cost few calls.
    """
    clock = clock or Clock()
    pending = {r.arn: r for r in report.results if r.arn and _created(r)}
    finished: dict[str, ActionResult] = {}
    deadline = clock.now() + timeout
    delay = first_poll
    while pending:
        _poll(client, pending, finished)
        if pending and clock.now() >= deadline:
            message = f"still Creating after {timeout:g} seconds (--timeout)"
            for arn, result in pending.items():
                finished[arn] = replace(result, outcome=Outcome.FAILED, error=message)
            break
        if pending:
            clock.sleep(min(delay, max(0.0, deadline - clock.now())))
            delay = min(poll_seconds, delay * 2)
    return _merge(report, finished)


def _poll(client: Any, pending: dict[str, ActionResult], finished: dict[str, ActionResult]) -> None:
    """Move every model that is no longer Creating from ``pending`` to ``finished``."""
    listed = _listed_statuses(client)
    for arn, result in list(pending.items()):
        status, failure = listed.get(arn, ""), ""
        if status in ("", STATUS_FAILED):
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


def _created(result: ActionResult) -> bool:
    return (
        result.action.kind in _CREATES and result.outcome is Outcome.DONE and result.arn is not None
    )


def _listed_statuses(client: Any) -> dict[str, str]:
    """ARN -> status of every model the list shows; nothing when the list fails (each model
    is then asked for by ARN)."""
    try:
        return {s["modelArn"]: str(s.get("modelStatus", "")) for s in list_models(client)}
    except CloudError:
        return {}


def _status(client: Any, arn: str, name: str) -> tuple[str, str]:
    with calling("GetCustomModel", name):
        model: Mapping[str, Any] = client.get_custom_model(modelIdentifier=arn)
    return str(model.get("modelStatus", STATUS_ACTIVE)), str(model.get("failureMessage", ""))


def _merge(report: ApplyReport, finished: Mapping[str, ActionResult]) -> ApplyReport:
    results = tuple(finished.get(r.arn or "", r) if _created(r) else r for r in report.results)
    return replace(report, results=results)
