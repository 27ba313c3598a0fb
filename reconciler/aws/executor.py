"""Run a Plan against Bedrock: one function per action kind, bounded concurrency.

One failed action never stops the others; every action gets a result. Creates carry all
their tags in the create call itself (a model never exists untagged) and an idempotency
token (``creates``); once every action ran, the ARNs the creates were answered with are
confirmed together, and the stale ones created again. A delete of a model already gone is
done; a delete the service refuses while the model is still importing is deferred to the
next run. Called by ``commands`` and ``watch`` with a client from ``aws.client``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from reconciler.aws.creates import Sent, send, stale_arns
from reconciler.aws.errors import calling
from reconciler.aws.settings import DEFAULT_CONCURRENCY
from reconciler.desired import DeclaredModel
from reconciler.errors import CloudError
from reconciler.plan import PRUNES, Action, ActionKind, Plan
from reconciler.report import DEFERRED, ActionResult, ApplyReport, Outcome

# Bedrock answers a reused token with the first ARN even after that model was deleted;
# each such stale answer moves to a new token derived from it, a few times at most.
MAX_TOKEN_ROLLS = 5
# How the service refuses to delete a model whose import is still running.
_BUSY_IMPORTING = frozenset({"ConflictException", "ValidationException"})


class _DeferredError(Exception):
    """The service refused, for now, to delete a model that is still importing."""


def apply(
    plan: Plan,
    client: Any,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    prune: bool = True,
    stopping: Callable[[], bool] = lambda: False,
) -> ApplyReport:
    """Execute every action of ``plan``; failures are recorded, never raised.

    Once ``stopping()`` is true no new action starts (they are reported skipped); an action
    already running finishes, so a replace whose delete was sent still sends its create.
    """
    runner = _Runner(client, plan.scope, prune, stopping)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(runner.run, plan.actions))
        _confirm_creates(runner, pool, results)
    return ApplyReport(plan=plan, results=tuple(results))


def _confirm_creates(runner: _Runner, pool: Executor, results: list[ActionResult]) -> None:
    """Check the ARNs the creates were answered with; create the stale ones again."""
    for attempt in range(1, MAX_TOKEN_ROLLS + 1):
        pending = {s.arn: s for s in runner.take_sent() if not s.confirmed}
        stale = stale_arns(runner.client, pending.values(), pool) if pending else {}
        again = []
        for index, result in enumerate(results):
            if result.arn not in stale:
                continue
            error = stale[result.arn]
            if error is not None:
                why = f"{error}; the create was answered, but the model could not be checked"
                results[index] = _failed(result, why, error.code)
            elif attempt == MAX_TOKEN_ROLLS:
                why = "the service kept answering with deleted models"
                results[index] = _failed(result, f"CreateCustomModel {result.action.name}: {why}")
            else:
                again.append((index, pending[result.arn or ""]))
        resent = list(pool.map(lambda job: runner.resend(results[job[0]], job[1]), again))
        for (index, _), result in zip(again, resent, strict=True):
            results[index] = result
        if not again:
            return


def _failed(result: ActionResult, message: str, code: str | None = None) -> ActionResult:
    return replace(result, outcome=Outcome.FAILED, error=message, code=code)


class _Runner:
    def __init__(self, client: Any, scope: str, prune: bool, stopping: Callable[[], bool]) -> None:
        self.client = client
        self.stopping = stopping
        self.scope = scope
        self.prune = prune
        self._sent: list[Sent] = []
        self._lock = threading.Lock()
        self._handlers: Mapping[ActionKind, Callable[[Action], str | None]] = {
            ActionKind.CREATE: self._create,
            ActionKind.REPLACE: self._replace,
            ActionKind.UPDATE_TAGS: self._update_tags,
            ActionKind.DELETE: self._delete,
            ActionKind.RELEASE: self._release,
        }

    def run(self, action: Action) -> ActionResult:
        if action.kind is ActionKind.NOOP:
            return ActionResult(action, Outcome.DONE, arn=action.arn)
        if action.kind in (ActionKind.CONFLICT, ActionKind.BLOCKED):
            return ActionResult(action, Outcome.FAILED, action.reason, action.arn)
        if action.kind in PRUNES and not self.prune:
            return ActionResult(action, Outcome.SKIPPED, "--no-prune", action.arn)
        if self.stopping():
            return ActionResult(action, Outcome.SKIPPED, "shutting down", action.arn)
        try:
            arn = self._handlers[action.kind](action)
        except _DeferredError as e:
            return ActionResult(action, Outcome.SKIPPED, str(e), action.arn, DEFERRED)
        except CloudError as e:
            return ActionResult(action, Outcome.FAILED, str(e), action.arn, e.code or None)
        return ActionResult(action, Outcome.DONE, arn=arn)

    def take_sent(self) -> list[Sent]:
        """The creates sent since the last call."""
        with self._lock:
            sent, self._sent = self._sent, []
        return sent

    def resend(self, result: ActionResult, stale: Sent) -> ActionResult:
        """Create again, past the stale ARN ``stale`` was answered with."""
        try:
            arn = self._send(stale.model, after=stale.arn)
        except CloudError as e:
            return _failed(result, str(e), e.code or None)
        return replace(result, arn=arn)

    def _send(self, model: DeclaredModel, after: str = "") -> str:
        sent = send(self.client, model, self.scope, after)
        with self._lock:
            self._sent.append(sent)
        return sent.arn

    def _create(self, action: Action) -> str:
        assert action.declared is not None
        return self._send(action.declared)

    def _replace(self, action: Action) -> str:
        assert action.declared is not None
        try:
            self._delete(action)
        except CloudError as e:
            raise CloudError(f"{e}; the create was skipped", code=e.code, model=e.model) from e
        return self._send(action.declared)

    def _update_tags(self, action: Action) -> str | None:
        assert action.arn is not None
        if action.set_tags:
            tags = [{"key": k, "value": v} for k, v in action.set_tags]
            with calling("TagResource", action.name):
                self.client.tag_resource(resourceARN=action.arn, tags=tags)
        self._untag(action)
        return action.arn

    def _delete(self, action: Action) -> None:
        assert action.arn is not None
        try:
            delete_model(self.client, action.arn, action.name)
        except CloudError as e:
            if not (action.importing and e.code in _BUSY_IMPORTING):
                raise
            verb = "replaces" if action.kind is ActionKind.REPLACE else "deletes"
            raise _DeferredError(
                f"deferred: the model is still importing (Creating) and Bedrock will not "
                f"delete it yet; the next run {verb} it"
            ) from e

    def _release(self, action: Action) -> str | None:
        self._untag(action)
        return action.arn

    def _untag(self, action: Action) -> None:
        if action.remove_tag_keys:
            with calling("UntagResource", action.name):
                keys = list(action.remove_tag_keys)
                self.client.untag_resource(resourceARN=action.arn, tagKeys=keys)


def delete_model(client: Any, arn: str, name: str) -> None:
    """Delete one model by ARN; one already gone (a retried or re-run delete) is deleted."""
    try:
        with calling("DeleteCustomModel", name):
            client.delete_custom_model(modelIdentifier=arn)
    except CloudError as e:
        if e.code != "ResourceNotFoundException":
            raise
