"""The result of applying a plan, as frozen data (no boto3, so ``render`` can use it).

Filled in by ``aws.executor`` and ``aws.waiter``; rendered by ``render``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.plan import Action, Plan

# The ``code`` of a skipped action the next run will retry (what it waits for is not ready).
DEFERRED = "Deferred"


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ActionResult:
    """What happened to one action; ``arn`` is the resource's ARN after the action, and
    ``model_arn`` the model a throughput or deployment was given."""

    action: Action
    outcome: Outcome
    error: str | None = None
    arn: str | None = None
    code: str | None = None
    model_arn: str | None = None


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
