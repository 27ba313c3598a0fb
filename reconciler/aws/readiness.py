"""Is it ready yet? The gates between the waves of an apply, and ``apply --wait``'s end.

A ``Gate`` asks one thing of one resource: a model ``Active``; a throughput or deployment
ready again and serving a given model (a switch complete); any resource ready to serve.
``Readiness.check`` answers a set of gates with one list per kind involved (a deployment's
pending update is read with its Get, as the list does not carry it), and ``wait`` polls
until every gate passes or fails, within a deadline, telling an ``Observer`` (``progress``)
each gate's answer at every poll. The clock and sleep are injected so tests never wait in
real time. Called by ``executor`` and ``waiter``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from reconciler.aws.apis import APIS, describe, list_all
from reconciler.errors import CloudError
from reconciler.identity import Kind
from reconciler.observed import FROM_API, STATUS_FAILED, ObservedResource

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient


POLL_SECONDS = 15.0
FIRST_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Clock:
    """Time as the waits see it; tests pass a fake."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class State(StrEnum):
    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class Gate:
    """``kind`` resource ``arn`` (called ``name``) must be ready, serving ``model_arn`` if set."""

    kind: Kind
    arn: str
    name: str
    model_arn: str = ""

    def waiting_for(self) -> str:
        if self.kind is Kind.CUSTOM_MODEL:
            return f"model {self.name} to be Active"
        if self.model_arn:
            return f"{self.kind.value}/{self.name} to finish switching to {self.model_arn}"
        return f"{self.kind.value}/{self.name} to be ready"


@dataclass(frozen=True)
class Answer:
    state: State
    status: str = ""
    detail: str = ""


class Observer(Protocol):
    """Told, at every poll of a wait, the answer of each gate waited for so far."""

    def update(self, states: Mapping[Gate, Answer], now: float) -> None: ...


class Readiness:
    """Checks gates against the account through one Bedrock client."""

    def __init__(self, client: BedrockClient, clock: Clock | None = None) -> None:
        self.client = client
        self.clock = clock or Clock()

    def check(self, gates: Collection[Gate]) -> dict[Gate, Answer]:
        """Each gate's answer now: one list per kind involved, Gets only where needed."""
        seen = self._observe(gates)
        return {gate: _judge(gate, seen.get(gate.arn)) for gate in gates}

    def wait(
        self,
        gates: Collection[Gate],
        deadline: float,
        observer: Observer | None = None,
        poll_seconds: float = POLL_SECONDS,
        first_poll: float = FIRST_POLL_SECONDS,
    ) -> dict[Gate, Answer]:
        """Poll until no gate is waiting or ``deadline`` (on the clock) passes."""
        answers: dict[Gate, Answer] = {}
        pending = set(gates)
        delay = first_poll
        while pending:
            now = self.check(pending)
            answers.update(now)
            if observer is not None:
                observer.update(dict(answers), self.clock.now())
            pending = {g for g, a in now.items() if a.state is State.WAITING}
            if not pending or self.clock.now() >= deadline:
                break
            self.clock.sleep(min(delay, max(0.0, deadline - self.clock.now())))
            delay = min(poll_seconds, delay * 2)
        return answers

    def _observe(self, gates: Collection[Gate]) -> dict[str, ObservedResource | None]:
        seen: dict[str, ObservedResource | None] = {}
        for kind in {g.kind for g in gates}:
            try:
                listed = {
                    str(s[APIS[kind].arn_key]): FROM_API[kind](s, [])
                    for s in list_all(self.client, kind)
                }
            except CloudError:
                listed = {}  # ask for each instead
            for gate in (g for g in gates if g.kind is kind):
                found = listed.get(gate.arn)
                if found is None or _needs_details(found):
                    found = self._described(gate)
                seen[gate.arn] = found
        return seen

    def _described(self, gate: Gate) -> ObservedResource | None:
        try:
            answer = describe(self.client, gate.kind, gate.arn, gate.name)
        except CloudError:
            return None
        if answer is None:
            return None
        return FROM_API[gate.kind]({APIS[gate.kind].arn_key: gate.arn, **answer}, [])


def _needs_details(found: ObservedResource) -> bool:
    # A deployment's pending update, and a model's failure message, are only in its Get.
    return found.kind is Kind.CUSTOM_MODEL_DEPLOYMENT or found.status == STATUS_FAILED


def _judge(gate: Gate, found: ObservedResource | None) -> Answer:
    if found is None:
        return Answer(State.WAITING, "", "not listed yet")
    if found.status == STATUS_FAILED:
        return Answer(
            State.FAILED, found.status, found.failure_message or "no failureMessage given"
        )
    if gate.model_arn and found.next_model_arn and found.next_model_arn != gate.model_arn:
        return Answer(State.FAILED, found.status, f"it is switching to {found.next_model_arn}")
    serving = not gate.model_arn or found.model_arn == gate.model_arn
    if found.ready and serving:
        return Answer(State.READY, found.status)
    return Answer(State.WAITING, found.status)
