"""The result of applying a plan, as frozen data (no boto3, so ``render`` can use it).

Filled in by ``aws.executor`` and ``aws.waiter``; rendered by ``render``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.plan import Action, Plan

# The ``code`` of a skipped action the next run will retry (its model is still importing).
DEFERRED = "Deferred"


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ActionResult:
    """What happened to one action; ``arn`` is the model's ARN after the action."""

    action: Action
    outcome: Outcome
    error: str | None = None
    arn: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class ApplyReport:
    """The plan that was applied and the result of each of its actions, in plan order."""

    plan: Plan
    results: tuple[ActionResult, ...]

    @property
    def failed(self) -> tuple[ActionResult, ...]:
        return tuple(r for r in self.results if r.outcome is Outcome.FAILED)

    @property
    def deferred(self) -> tuple[ActionResult, ...]:
        return tuple(r for r in self.results if r.code == DEFERRED)
