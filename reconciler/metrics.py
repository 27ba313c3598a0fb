"""Prometheus metrics of the watch loop, in a registry of their own (one per loop).

``ByTarget`` serves the loops of several targets as one set: every sample of every loop,
with a ``target`` label added (``watch --targets``); one loop alone keeps its labels as
they are.
Called by ``watch`` (which records) and ``health`` (which serves ``generate_latest``).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from reconciler.identity import KIND_ORDER, Kind
from reconciler.observed import ObservedState
from reconciler.plan import CHANGES, ERRORS, Plan
from reconciler.report import ApplyReport

_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Imports take minutes to an hour; throughputs minutes.
_READY_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 2700, 3600, 5400, 7200)
# Each kind's statuses (botocore's service model), always exported, zero when none.
_STATUSES = {
    Kind.CUSTOM_MODEL: ("Active", "Creating", "Failed"),
    Kind.PROVISIONED_THROUGHPUT: ("Creating", "InService", "Updating", "Failed"),
    Kind.CUSTOM_MODEL_DEPLOYMENT: ("Creating", "Active", "Failed"),
}


class Metrics:
    """Every metric ``reconciler watch`` exposes on /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "reconciler_reconcile_runs", "Reconcile passes by result", ["result"], registry=r
        )
        self.duration = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Duration of reconcile passes",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.actions = Counter(
            "reconciler_actions", "Actions by kind and result", ["action", "result"], registry=r
        )
        self.failures = Counter(
            "reconciler_action_failures",
            "Failed actions by kind and reason",
            ["action", "reason"],
            registry=r,
        )
        self.managed = Gauge("reconciler_managed_models", "Models managed by the scope", registry=r)
        self.models = Gauge(
            "reconciler_models", "Models the account owns, by status", ["status"], registry=r
        )
        self.drift = Counter(
            "reconciler_drift_corrections",
            "Changes made while the manifests had not changed",
            registry=r,
        )
        self.manifest_errors = Counter(
            "reconciler_manifest_errors", "Manifest loads that failed validation", registry=r
        )
        self.api_calls = Counter(
            "reconciler_api_calls", "AWS API calls by operation", ["operation"], registry=r
        )
        self.throttles = Counter(
            "reconciler_api_throttles",
            "Throttled AWS API calls by operation",
            ["operation"],
            registry=r,
        )
        self.managed_resources = Gauge(
            "reconciler_managed_resources",
            "Resources managed by the scope, by kind",
            ["kind"],
            registry=r,
        )
        self.resources = Gauge(
            "reconciler_resources",
            "Resources the account owns, by kind and status",
            ["kind", "status"],
            registry=r,
        )
        self.refusals = Counter(
            "reconciler_plan_refusals",
            "Passes whose plan (or part of it) a safety rule refused, by reason",
            ["reason"],
            registry=r,
        )
        self.pending = Gauge(
            "reconciler_pending_changes",
            "Changes the last plan holds, by kind and action (in report-only mode: drift)",
            ["kind", "action"],
            registry=r,
        )
        self.ready_seconds = Histogram(
            "reconciler_resource_ready_seconds",
            "Seconds from a create or switch to the resource being ready, by kind",
            ["kind"],
            buckets=_READY_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "reconciler_last_success_timestamp_seconds",
            "Unix time of the last successful reconcile",
            registry=r,
        )

    def observed(self, state: ObservedState, scope: str) -> None:
        """Record what the account holds."""
        self.managed.set(sum(m.is_managed_by(scope) for m in state.models))
        statuses = Tally(m.status for m in state.models)
        for status in ("Active", "Creating", "Failed"):
            self.models.labels(status=status).set(statuses[status])
        for kind in KIND_ORDER:
            of_kind = state.of_kind(kind)
            self.managed_resources.labels(kind=kind.value).set(
                sum(r.is_managed_by(scope) for r in of_kind)
            )
            by_status = Tally(r.status for r in of_kind)
            for status in sorted(set(by_status) | set(_STATUSES[kind])):
                self.resources.labels(kind=kind.value, status=status).set(by_status[status])

    def planned(self, plan: Plan) -> None:
        """Record what the plan would change."""
        counts = Tally((a.resource.value, a.kind.value) for a in plan.changes + plan.errors)
        for kind in KIND_ORDER:
            for action in (*CHANGES, *ERRORS):
                value = counts[(kind.value, action.value)]
                self.pending.labels(kind=kind.value, action=action.value).set(value)

    def applied(self, report: ApplyReport, drift: bool) -> None:
        """Record the results of an apply."""
        for result in report.results:
            kind = result.action.kind.value
            self.actions.labels(action=kind, result=result.outcome.value).inc()
            if result.outcome.value == "failed":
                reason = result.code or result.action.kind.value
                self.failures.labels(action=kind, reason=reason).inc()
        if drift:
            changed = [r for r in report.results if r.outcome.value == "done"]
            self.drift.inc(sum(r.action.kind.value != "noop" for r in changed))


class ByTarget(Collector):
    """Every target's metrics as one collector, each sample labelled with its target."""

    def __init__(self, metrics: Mapping[str, Metrics]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for target, metrics in self._metrics.items():
            for family in metrics.registry.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = Metric(family.name, family.documentation, family.type, family.unit)
                    families[family.name] = merged
                for sample in family.samples:
                    labels = {"target": target, **sample.labels}
                    merged.samples.append(sample._replace(labels=labels))
        yield from families.values()


def by_target(metrics: Mapping[str, Metrics]) -> CollectorRegistry:
    """A registry serving every target's metrics, labelled by target."""
    registry = CollectorRegistry()
    registry.register(ByTarget(metrics))
    return registry
