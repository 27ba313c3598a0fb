"""Run a Plan against Bedrock: its dependency graph in waves, each wave concurrently.

The graph (``graph``) says which action waits for which; between waves the gates are
checked (``readiness``): a model ``Active`` before anything is created on it or switched
onto it, a switch complete before the old model is deleted. With ``wait`` the gates are
polled until they pass (one deadline for the whole apply); without, an action whose gate is
not yet open is reported skipped, ``deferred: waiting for ...``, and the next run does it.
Dependents of a failed or deferred action are skipped, so nothing is left half-way unsafe.
One failed action never stops the independent others; every action gets a result.

Creates carry all their tags in the create call itself (a resource never exists untagged)
and an idempotency token; an adoption only tags (and untags) the resource. A plan holding
a conflict or blocked action is refused whole. Called by ``commands`` and ``watch`` with a
client from ``aws.client``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from reconciler import graph
from reconciler.aws import apis
from reconciler.aws.creates import Sent, send, stale_arns
from reconciler.aws.errors import calling
from reconciler.aws.readiness import Answer, Clock, Gate, Observer, Readiness, State
from reconciler.aws.settings import DEFAULT_CONCURRENCY
from reconciler.desired import DeclaredResource
from reconciler.errors import CloudError, ConflictError, InvalidRequestError, UnsafePlanError
from reconciler.identity import Kind
from reconciler.plan import PRUNES, Action, ActionKind, Plan
from reconciler.report import DEFERRED, ActionResult, ApplyReport, Outcome

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_bedrock.type_defs import TagTypeDef


MAX_TOKEN_ROLLS = apis.MAX_TOKEN_ROLLS


class _DeferredError(Exception):
    """The service refused, for now, to delete a model that is still importing."""


@dataclass(frozen=True)
class Waiting:
    """``apply --wait``: gates are polled until ``deadline`` (on ``clock``), each poll told
    to ``observer``."""

    deadline: float
    clock: Clock
    observer: Observer | None = None


def apply(
    plan: Plan,
    client: BedrockClient,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    prune: bool = True,
    stopping: Callable[[], bool] = lambda: False,
    waiting: Waiting | None = None,
) -> ApplyReport:
    """Execute every action of ``plan``; failures are recorded, never raised.

    Once ``stopping()`` is true no new action starts (they are reported skipped); an action
    already running finishes, so a replace whose delete was sent still sends its create.
    """
    if plan.errors:
        listed = ", ".join(f"{a.kind.value} {a.key}" for a in plan.errors)
        raise UnsafePlanError(f"the plan holds actions that cannot be applied ({listed})")
    runner = _Runner(client, plan.scope, prune, stopping)
    run = _Run(plan, runner, Readiness(client, waiting.clock if waiting else None), waiting)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for wave in graph.waves(plan):
            run.wave(wave, pool)
    return ApplyReport(plan=plan, results=tuple(run.results[i] for i in range(len(plan.actions))))


class _Run:
    """The state of one apply: results so far, and the models' ARNs as they are created."""

    def __init__(
        self, plan: Plan, runner: _Runner, readiness: Readiness, waiting: Waiting | None
    ) -> None:
        self.plan = plan
        self.runner = runner
        self.readiness = readiness
        self.waiting = waiting
        self.edges = graph.dependencies(plan)
        self.results: dict[int, ActionResult] = {}
        self.model_arns: dict[str, str | None] = {
            a.name: a.arn
            for a in plan.actions
            if a.resource is Kind.CUSTOM_MODEL and a.arn and a.kind is not ActionKind.REPLACE
        }

    def wave(self, wave: tuple[int, ...], pool: Executor) -> None:
        ready = [i for i in wave if not self._skip_for_dependencies(i)]
        runnable = self._open_gates(ready)
        done = list(pool.map(lambda i: self.runner.run(self._resolved(i)), runnable))
        for index, result in zip(runnable, done, strict=True):
            self.results[index] = result
        _confirm_creates(self.runner, pool, self.results)
        for index in runnable:
            result = self.results[index]
            action = self.plan.actions[index]
            if action.resource is Kind.CUSTOM_MODEL and result.outcome is Outcome.DONE:
                self.model_arns[action.name] = result.arn

    def _skip_for_dependencies(self, index: int) -> bool:
        for edge in self.edges[index]:
            before = self.results[edge.after]
            if before.outcome is Outcome.DONE:
                continue
            what = self.plan.actions[edge.after]
            if before.code == DEFERRED:
                why = f"deferred: waits for {what.kind.value} {what.key}, deferred"
                self.results[index] = self._skipped(index, why, DEFERRED)
            else:
                why = f"{what.kind.value} {what.key} {before.outcome.value}; not attempted"
                self.results[index] = self._skipped(index, why)
            return True
        return False

    def _skipped(self, index: int, why: str, code: str | None = None) -> ActionResult:
        action = self.plan.actions[index]
        return ActionResult(action, Outcome.SKIPPED, why, action.arn, code)

    def _resolved(self, index: int) -> Action:
        """The action with the ARN of the model it serves from, now that it is known."""
        action = self.plan.actions[index]
        if action.model and not action.model_arn:
            return replace(action, model_arn=self.model_arns.get(action.model))
        return action

    def _gates(self, index: int) -> list[Gate]:
        action = self._resolved(index)
        gates = []
        if action.resource.serves and action.kind in graph.SERVING_ONTO and action.model_arn:
            gates.append(
                Gate(Kind.CUSTOM_MODEL, action.model_arn, action.model or action.model_arn)
            )
        gates += [Gate(w.kind, w.arn, w.name, w.model_arn) for w in action.waits_for]
        for edge in self.edges[index]:
            if edge.gate is graph.Gate.READY:
                before = self._resolved(edge.after)
                arn = self.results[edge.after].arn or before.arn or ""
                if before.resource is not Kind.CUSTOM_MODEL:
                    gates.append(Gate(before.resource, arn, before.name, before.model_arn or ""))
        return gates

    def _open_gates(self, ready: list[int]) -> list[int]:
        """The actions of ``ready`` whose gates pass; the others get their result here."""
        gates = {i: self._gates(i) for i in ready}
        wanted = {g for gs in gates.values() for g in gs}
        if not wanted:
            return ready
        if self.waiting is not None and not self.runner.stopping():
            answers = self.readiness.wait(wanted, self.waiting.deadline, self.waiting.observer)
        else:
            answers = self.readiness.check(wanted)
        runnable = []
        for index in ready:
            closed = [(g, answers[g]) for g in gates[index] if answers[g].state is not State.READY]
            if not closed:
                runnable.append(index)
            else:
                self.results[index] = self._closed(index, *closed[0])
        return runnable

    def _closed(self, index: int, gate: Gate, answer: Answer) -> ActionResult:
        if answer.state is State.FAILED:
            return self._skipped(index, f"{gate.waiting_for()}: {answer.detail}; not attempted")
        if self.waiting is not None:
            why = f"timed out waiting for {gate.waiting_for()} (--timeout); not attempted"
            return replace(self._skipped(index, why), outcome=Outcome.FAILED)
        return self._skipped(index, f"deferred: waiting for {gate.waiting_for()}", DEFERRED)


def _confirm_creates(runner: _Runner, pool: Executor, results: dict[int, ActionResult]) -> None:
    """Check the ARNs the model creates were answered with; create the stale ones again."""
    for attempt in range(1, MAX_TOKEN_ROLLS + 1):
        pending = {s.arn: s for s in runner.take_sent() if not s.confirmed}
        stale = stale_arns(runner.client, pending.values(), pool) if pending else {}
        again = []
        for index, result in results.items():
            if result.arn not in stale or result.action.resource is not Kind.CUSTOM_MODEL:
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
    def __init__(
        self, client: BedrockClient, scope: str, prune: bool, stopping: Callable[[], bool]
    ) -> None:
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
            ActionKind.UPDATE_MODEL: self._update_model,
            # An adoption is tag changes alone: the resource is neither created nor replaced.
            ActionKind.ADOPT: self._update_tags,
            ActionKind.DELETE: self._delete,
            ActionKind.RELEASE: self._release,
        }

    def run(self, action: Action) -> ActionResult:
        if action.kind is ActionKind.NOOP:
            return ActionResult(action, Outcome.DONE, arn=action.arn)
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
        return ActionResult(action, Outcome.DONE, arn=arn, model_arn=action.model_arn)

    def take_sent(self) -> list[Sent]:
        """The model creates sent since the last call."""
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

    def _send(self, model: DeclaredResource, after: str = "") -> str:
        sent = send(self.client, model, self.scope, after)
        with self._lock:
            self._sent.append(sent)
        return sent.arn

    def _create(self, action: Action) -> str:
        declared = action.declared
        assert declared is not None
        if action.resource is Kind.CUSTOM_MODEL:
            return self._send(declared)
        if not action.model_arn:
            raise CloudError(f"{action.key}: the ARN of model {action.model} is not known")
        return apis.create_serving(self.client, declared, self.scope, action.model_arn)

    def _replace(self, action: Action) -> str:
        try:
            self._delete(action)
        except CloudError as e:
            raise type(e)(f"{e}; the create was skipped", code=e.code, model=e.model) from e
        return self._create(action)

    def _update_model(self, action: Action) -> str | None:
        assert action.arn is not None
        if not action.model_arn:
            raise CloudError(f"{action.key}: the ARN of model {action.model} is not known")
        apis.update_model(self.client, action.resource, action.arn, action.name, action.model_arn)
        return self._update_tags(action)

    def _update_tags(self, action: Action) -> str | None:
        assert action.arn is not None
        if action.set_tags:
            tags: list[TagTypeDef] = [{"key": k, "value": v} for k, v in action.set_tags]
            with calling("TagResource", action.name):
                self.client.tag_resource(resourceARN=action.arn, tags=tags)
        self._untag(action)
        return action.arn

    def _delete(self, action: Action) -> None:
        assert action.arn is not None
        try:
            apis.delete(self.client, action.resource, action.arn, action.name)
        except (ConflictError, InvalidRequestError) as e:
            if not (action.importing and action.resource is Kind.CUSTOM_MODEL):
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
            assert action.arn is not None
            with calling("UntagResource", action.name):
                keys = list(action.remove_tag_keys)
                self.client.untag_resource(resourceARN=action.arn, tagKeys=keys)


def delete_model(client: BedrockClient, arn: str, name: str) -> None:
    """Delete one model by ARN; one already gone (a retried or re-run delete) is deleted."""
    apis.delete(client, Kind.CUSTOM_MODEL, arn, name)
