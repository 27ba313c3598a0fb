"""``reconciler watch``: the long-lived loop that keeps the account matching the manifests.

It reconciles once at start, then on every manifest change (watchfiles events, debounced so
an editor's burst of writes or a git checkout is one pass), every ``interval`` seconds (with
jitter) as a full resync that heals drift, and when a failed model's backoff expires.
Safety first: a broken manifest keeps the last good desired state and prunes nothing; an
empty source prunes nothing unless allowed; a model that keeps failing backs off alone; no
API error, throttle or lost network ends the loop. Called by ``commands``; the client, clock and
random source are injected.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import watchfiles

from reconciler import manifests
from reconciler.aws import executor
from reconciler.aws.reader import AccountReader, TagCache, TagReads
from reconciler.aws.settings import DEFAULT_CONCURRENCY
from reconciler.backoff import Backoff
from reconciler.budget import DEFAULT_MAX_DELETE_PERCENT
from reconciler.desired import DesiredState
from reconciler.errors import ManifestError, ReconcilerError, UnsafePlanError
from reconciler.logs import event
from reconciler.metrics import Metrics
from reconciler.observed import (
    STATUS_CREATING,
    STATUS_FAILED,
    TAG_MANAGED_BY,
    ObservedResource,
    ObservedState,
    state_of,
)
from reconciler.plan import (
    CHANGES,
    DESTRUCTIVE,
    PRUNES,
    ActionKind,
    Plan,
    check_deletion_budget,
    check_empty_source,
    label,
)
from reconciler.reconcile import read_and_plan
from reconciler.report import DEFERRED, ApplyReport, Outcome

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_resourcegroupstaggingapi import (
        ResourceGroupsTaggingAPIClient as TaggingClient,
    )


@dataclass(frozen=True)
class WatchOptions:
    """How the loop behaves; the defaults are the CLI's."""

    paths: tuple[str, ...]
    scope: str
    interval: float = 300.0
    jitter: float = 0.1
    allow_empty: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    max_delete_percent: float = DEFAULT_MAX_DELETE_PERCENT
    force: bool = False
    debounce_ms: int = 300
    tick_ms: int = 500
    stall_seconds: float = 120.0
    backoff_base: float = 10.0
    backoff_cap: float = 600.0
    tag_reads: TagReads = TagReads.AUTO
    allow_commitment: bool = False
    # Plan and report every pass (logs, metrics, /readyz), and send no change at all.
    report_only: bool = False
    # A deferred action (what it waits for is not ready yet) is retried this soon, doubling
    # while it stays deferred, up to deferred_cap.
    deferred_base: float = 2.0
    deferred_cap: float = 30.0


@dataclass
class Watcher:
    """One reconcile loop over one account and scope.

    ``client`` is a Bedrock client; ``tagging`` makes a Resource Groups Tagging API client.
    Without one, tags are read per model whatever ``options.tag_reads`` says.
    """

    options: WatchOptions
    client: BedrockClient
    logger: logging.Logger
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    stop: threading.Event = field(default_factory=threading.Event)
    tagging: Callable[[], TaggingClient | None] | None = None
    account: str = ""  # the credentials' account, when known

    def __post_init__(self) -> None:
        o = self.options
        self.backoff = Backoff(self.clock, o.backoff_base, o.backoff_cap, self.rand)
        self.last_tick = self.clock()
        self.ready = False
        self.passes = 0
        self._good: DesiredState | None = None
        self._broken = False
        self._last_applied: DesiredState | None = None
        self._next_resync = 0.0
        self._retry_deferred: float | None = None
        self._refused: tuple[str, ...] | None = None  # what the last refusal logged
        self._drift: tuple[str, ...] = ()  # what report-only mode last logged
        self._started: dict[str, tuple[str, float]] = {}  # ARN -> (kind, when it was asked)
        self._deferred_delay = self.options.deferred_base
        self._tags: TagCache = {}
        self.reader = AccountReader(
            self.client,
            self.tagging or (lambda: None),
            o.scope,
            mode=o.tag_reads if self.tagging else TagReads.PER_MODEL,
            concurrency=o.concurrency,
            cache=self._tags,
            warn=lambda message: event(self.logger, logging.WARNING, "tag_reads", message),
            account=self.account,
        )

    def healthy(self) -> bool:
        """Whether the loop ticked recently."""
        return self.clock() - self.last_tick < self.options.stall_seconds

    def run(self) -> None:
        """Reconcile until ``stop`` is set."""
        self.reconcile("start")
        for changes in self._events():
            self._tick()
            if self.stop.is_set():
                break
            if changes:
                self.reconcile("manifests changed")
            elif self.clock() >= self._next_resync:
                self.reconcile("resync")
            elif self.backoff.take_due():
                self.reconcile("retry")
            elif self._retry_deferred is not None and self.clock() >= self._retry_deferred:
                self.reconcile("deferred")
        event(self.logger, logging.INFO, "stopped", "watch loop stopped")

    def reconcile(self, trigger: str) -> None:
        """One pass: load, read, plan, apply what is allowed. Never raises."""
        started = self.clock()
        self._tick()
        result = "error"
        try:
            result = self._pass(trigger)
        except ReconcilerError as e:
            event(self.logger, logging.ERROR, "reconcile_failed", str(e), reason=trigger)
        except Exception as e:  # the loop must outlive any bug or fault in one pass
            self.logger.exception("unexpected error", extra={"event": "reconcile_crashed"})
            event(self.logger, logging.ERROR, "reconcile_failed", repr(e), reason=trigger)
        finally:
            self.passes += 1
            self.ready = self.ready or result in ("success", "partial")
            self.metrics.runs.labels(result=result).inc()
            self.metrics.duration.observe(self.clock() - started)
            self._next_resync = self.clock() + self._interval()
            self._tick()

    def _pass(self, trigger: str) -> str:
        desired = self._desired()
        if desired is None:
            return "manifest_error"
        if trigger in ("start", "resync"):
            self._tags.clear()  # a full resync re-reads every tag: that is how drift is seen
        planned, observed = read_and_plan(self.reader, desired, self.options.scope)
        self.metrics.observed(observed, self.options.scope)
        self.metrics.planned(planned)
        self._time_readiness(observed)
        if self.options.report_only:
            self._report_drift(planned)
            self.metrics.last_success.set(self.wall())
            return "success"
        for action in planned.actions:
            if action.kind is ActionKind.NOOP:
                self.backoff.succeeded(str(action.key))
        runnable = self._allowed(planned, desired)
        report = executor.apply(
            runnable, self.client, concurrency=self.options.concurrency, stopping=self._stopping
        )
        drift = trigger != "manifests changed" and desired == self._last_applied
        for result in report.results:
            self._tags.pop(result.action.arn or "", None)
        self.metrics.observed(after(observed, report), self.options.scope)
        self._record(report, drift)
        self._start_readiness_clocks(report)
        self._schedule_deferred(report)
        self._last_applied = desired
        if report.failed:
            return "partial"
        if runnable.actions == () and self._refused is not None:
            return "refused"
        self.metrics.last_success.set(self.wall())
        return "success"

    def _desired(self) -> DesiredState | None:
        """The manifests now, or the last good ones if they are broken now."""
        try:
            self._good = manifests.load(list(self.options.paths))
            self._broken = False
        except ReconcilerError as e:
            self._broken = True
            self.metrics.manifest_errors.inc()
            problems = e.problems if isinstance(e, ManifestError) else ()
            for problem in problems:
                event(self.logger, logging.ERROR, "manifest_invalid", str(problem))
            kept = (
                "keeping the last good manifests; healing continues from them"
                if self._good
                else "nothing to apply yet"
            )
            event(
                self.logger,
                logging.ERROR,
                "manifests_broken",
                f"{e}".splitlines()[-1] + f"; {kept}; nothing will be pruned",
            )
        return self._good

    def _allowed(self, planned: Plan, desired: DesiredState) -> Plan:
        """The plan's changes that safety checks and backoff allow now."""
        if self._refuse_whole(planned):
            return replace(planned, actions=())
        blocked: frozenset[ActionKind] = frozenset()
        try:
            if self._broken:
                raise UnsafePlanError("the manifests are broken")
            check_empty_source(planned, len(desired.resources), self.options.allow_empty)
        except UnsafePlanError as e:
            blocked = PRUNES
            self._skip_note(planned, blocked, str(e), "empty_source")
        try:
            check_deletion_budget(planned, self.options.max_delete_percent, self.options.force)
        except UnsafePlanError as e:
            blocked = blocked | DESTRUCTIVE
            self._skip_note(planned, DESTRUCTIVE, str(e), "deletion_budget")
        actions = tuple(
            a
            for a in planned.actions
            if a.kind in CHANGES and a.kind not in blocked and self.backoff.ready(str(a.key))
        )
        return replace(planned, actions=actions)

    def _refuse_whole(self, planned: Plan) -> bool:
        """A plan holding a conflict or blocked action, or an unallowed commitment, is
        applied not at all; each reason is logged once per change of the plan."""
        reasons = sorted({a.kind.value for a in planned.errors})
        lines = [f"{a.kind.value} {label(a)}: {a.reason}" for a in planned.errors]
        if planned.cautions and not self.options.allow_commitment:
            reasons.append("commitment")
            lines += [f"commitment {label(a)}: {a.caution}" for a in planned.cautions]
        for reason in reasons:
            self.metrics.refusals.labels(reason=reason).inc()
        refused = tuple(lines) or None
        if refused is not None and refused != self._refused:
            for line in refused:
                event(self.logger, logging.ERROR, "plan_refused", f"{line}; nothing applied")
        self._refused = refused
        return refused is not None

    def _skip_note(
        self, planned: Plan, kinds: frozenset[ActionKind], why: str, reason: str
    ) -> None:
        if any(a.kind in kinds for a in planned.actions):
            self.metrics.refusals.labels(reason=reason).inc()
            event(self.logger, logging.ERROR, "prune_refused", why.splitlines()[-1])

    def _record(self, report: ApplyReport, drift: bool) -> None:
        self.metrics.applied(report, drift)
        for r in report.results:
            key, name, kind = str(r.action.key), r.action.name, r.action.kind.value
            resource = r.action.resource.value
            if r.outcome is Outcome.FAILED:
                delay = self.backoff.failed(key)
                event(
                    self.logger,
                    logging.WARNING,
                    "action_failed",
                    f"{r.error}; next attempt in {delay:.0f}s",
                    model=name,
                    kind=resource,
                    action=kind,
                    reason=r.code or kind,
                )
            elif r.code == DEFERRED:
                event(
                    self.logger,
                    logging.INFO,
                    "action_deferred",
                    r.error or "",
                    model=name,
                    kind=resource,
                    action=kind,
                )
            elif r.outcome is Outcome.DONE:
                self.backoff.succeeded(key)
                label = "drift_corrected" if drift else "action_done"
                event(
                    self.logger,
                    logging.INFO,
                    label,
                    r.action.reason,
                    model=name,
                    kind=resource,
                    action=kind,
                )

    def _report_drift(self, planned: Plan) -> None:
        """Report-only: name each pending change once per change of the plan."""
        lines = tuple(
            f"{a.kind.value} {label(a)}: {a.reason}" for a in planned.changes + planned.errors
        )
        if lines != self._drift:
            for action, line in zip(planned.changes + planned.errors, lines, strict=True):
                event(
                    self.logger,
                    logging.WARNING,
                    "drift_detected",
                    f"{line}; report-only, nothing sent",
                    model=action.name,
                    kind=action.resource.value,
                    action=action.kind.value,
                )
        self._drift = lines

    def _start_readiness_clocks(self, report: ApplyReport) -> None:
        for r in report.results:
            waits = (ActionKind.CREATE, ActionKind.REPLACE, ActionKind.UPDATE_MODEL)
            if r.outcome is Outcome.DONE and r.action.kind in waits and r.arn:
                self._started[r.arn] = (r.action.resource.value, self.clock())

    def _time_readiness(self, observed: ObservedState) -> None:
        """Observe how long each create or switch took to be ready (once, when it is)."""
        by_arn = observed.by_arn()
        for arn, (kind, started) in list(self._started.items()):
            found = by_arn.get(arn)
            if found is None or found.status == STATUS_FAILED:
                del self._started[arn]
            elif found.ready:
                self.metrics.ready_seconds.labels(kind=kind).observe(self.clock() - started)
                del self._started[arn]

    def _schedule_deferred(self, report: ApplyReport) -> None:
        """Come back soon for what waits on something becoming ready (a model's import), and
        for what was created or switched and is not ready yet, so its time to ready is seen
        within the delay (at most ``deferred_cap``), not at the next resync."""
        if not report.deferred and not self._started:
            self._retry_deferred = None
            self._deferred_delay = self.options.deferred_base
            return
        self._retry_deferred = self.clock() + self._deferred_delay
        self._deferred_delay = min(self.options.deferred_cap, self._deferred_delay * 2)

    def _events(self) -> Iterator[set[tuple[watchfiles.Change, str]]]:
        """File changes (an empty set on each quiet tick) until ``stop`` is set.

        git-sync publishes a commit by repointing a symlink at a new folder, and a PATH may
        not exist yet when the loop starts: whenever what the PATHs resolve to changes, the
        watch restarts on the new folders and the change counts as a manifest change.
        """
        roots = self._roots()
        while not self.stop.is_set():
            if not roots:
                self.stop.wait(self.options.tick_ms / 1000)
                yield set()
            else:
                for changes in watchfiles.watch(
                    *roots,
                    debounce=self.options.debounce_ms,
                    step=50,
                    rust_timeout=self.options.tick_ms,
                    yield_on_timeout=True,
                    stop_event=self.stop,
                    raise_interrupt=False,
                ):
                    if self._roots() != roots:
                        break
                    yield changes
            moved = self._roots()
            if moved != roots:
                roots = moved
                yield {(watchfiles.Change.modified, str(root)) for root in roots} or {
                    (watchfiles.Change.deleted, path) for path in self.options.paths
                }

    def _roots(self) -> list[Path]:
        return [Path(p).resolve() for p in self.options.paths if Path(p).exists()]

    def _interval(self) -> float:
        spread = self.options.jitter * (2 * self.rand() - 1)
        return self.options.interval * (1 + spread)

    def _stopping(self) -> bool:
        self._tick()
        return self.stop.is_set()

    def _tick(self) -> None:
        self.last_tick = self.clock()


def after(observed: ObservedState, report: ApplyReport) -> ObservedState:
    """The account as a pass left it, as far as its results tell (for the gauges): what was
    created is there (still Creating), what was deleted is gone."""
    gone = {
        r.action.arn
        for r in report.results
        if r.outcome is Outcome.DONE and r.action.kind in (ActionKind.DELETE, ActionKind.REPLACE)
    }
    kept = [r for r in observed.resources if r.arn not in gone]
    made = [
        ObservedResource(
            arn=r.arn or "",
            name=r.action.name,
            status=STATUS_CREATING,
            tags={TAG_MANAGED_BY: report.plan.scope},
            kind=r.action.resource,
        )
        for r in report.results
        if r.outcome is Outcome.DONE and r.action.kind in (ActionKind.CREATE, ActionKind.REPLACE)
    ]
    return state_of([*kept, *made], observed.read_at, observed.account)
