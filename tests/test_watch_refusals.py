"""What ``watch`` refuses to apply, how it says so, and what its gauges say after a pass.

Each pass is driven directly (``Watcher.reconcile``) against the HTTP emulator, so the
tests are deterministic: no threads, no sleeps.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.watch import Watcher, WatchOptions
from tests.helpers import deployment, deployments, manifest, models, throughput, throughputs, write

MUTATING = ("CreateCustomModel", "DeleteCustomModel", "TagResource", "UntagResource")


class Events(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def named(self, event: str) -> list[str]:
        return [r.getMessage() for r in self.records if getattr(r, "event", "") == event]


@pytest.fixture
def events() -> Events:
    return Events()


def watcher(
    repo: Path, emulator: Any, events: Events, scope: str = "default", **options: Any
) -> Watcher:
    logger = logging.getLogger(f"test-refusals-{id(events)}")
    logger.addHandler(events)
    logger.setLevel(logging.DEBUG)
    settings = WatchOptions(paths=(str(repo),), scope=scope, **options)
    return Watcher(settings, emulator.client(), logger)


def sample(w: Watcher, name: str, **labels: str) -> float:
    value = w.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


def test_a_plan_with_a_conflict_is_applied_not_at_all(
    tmp_path: Path, emulator: Any, events: Events
) -> None:
    repo = tmp_path / "m"
    write(repo, "a.yaml", manifest("alpha"))
    write(repo, "b.yaml", manifest("beta"))
    w = watcher(repo, emulator, events)
    w.reconcile("start")
    theirs = tmp_path / "theirs"
    write(theirs, "v.yaml", manifest("victim"))
    watcher(theirs, emulator, Events(), scope="other-team").reconcile("start")
    (repo / "a.yaml").unlink()
    write(repo, "v.yaml", manifest("victim"))  # alpha renamed onto another scope's model
    before = {op: emulator.backend.calls[op] for op in MUTATING}
    for _ in range(3):
        w.reconcile("manifests changed")
    assert {op: emulator.backend.calls[op] for op in MUTATING} == before
    assert sorted(models(emulator.client())) == ["alpha", "beta", "victim"]
    refused = events.named("plan_refused")
    assert len(refused) == 1  # once per change of the plan, not every pass
    assert refused[0].startswith("conflict victim:")
    assert sample(w, "reconciler_plan_refusals_total", reason="conflict") == 3
    assert sample(w, "reconciler_reconcile_runs_total", result="refused") == 3
    assert w.healthy()
    (repo / "v.yaml").unlink()  # fixed: the next pass converges
    w.reconcile("manifests changed")
    assert sorted(models(emulator.client())) == ["beta", "victim"]


def test_gauges_follow_what_the_pass_did(tmp_path: Path, emulator: Any, events: Events) -> None:
    repo = tmp_path / "m"
    write(repo, "a.yaml", manifest("alpha"))
    write(repo, "b.yaml", manifest("beta"))
    w = watcher(repo, emulator, events)
    w.reconcile("start")
    assert sample(w, "reconciler_managed_models") == 2
    assert sample(w, "reconciler_models", status="Creating") == 2
    assert sample(w, "reconciler_managed_resources", kind="CustomModel") == 2
    (repo / "b.yaml").unlink()
    w.reconcile("manifests changed")
    assert sample(w, "reconciler_managed_models") == 1


def test_a_broken_manifest_says_healing_goes_on_and_heals(
    tmp_path: Path, emulator: Any, events: Events
) -> None:
    repo = tmp_path / "m"
    write(repo, "a.yaml", manifest("alpha"))
    w = watcher(repo, emulator, events)
    w.reconcile("start")
    client = emulator.client()
    client.delete_custom_model(modelIdentifier=models(client)["alpha"]["modelArn"])
    write(repo, "bad.yaml", "kind: [")
    w.reconcile("resync")
    [broken] = events.named("manifests_broken")
    assert "keeping the last good manifests; healing continues from them" in broken
    assert "alpha" in models(client)  # healed in the same pass


def test_report_only_sends_no_change_and_names_the_drift_once(
    tmp_path: Path, emulator: Any, events: Events
) -> None:
    repo = tmp_path / "m"
    write(repo, "a.yaml", manifest("alpha"))
    healing = watcher(repo, emulator, Events())
    healing.reconcile("start")
    write(repo, "b.yaml", manifest("beta"))  # pending: a create
    client = emulator.client()
    client.tag_resource(  # drift: a tag changed out of band
        resourceARN=models(client)["alpha"]["modelArn"], tags=[{"key": "team", "value": "x"}]
    )
    w = watcher(repo, emulator, events, report_only=True)
    before = {op: emulator.backend.calls[op] for op in MUTATING}
    for _ in range(3):
        w.reconcile("resync")
    assert {op: emulator.backend.calls[op] for op in MUTATING} == before
    drift = events.named("drift_detected")
    assert sorted(d.split(":")[0] for d in drift) == ["create beta", "update-tags alpha"]
    assert sample(w, "reconciler_pending_changes", kind="CustomModel", action="create") == 1
    assert sample(w, "reconciler_pending_changes", kind="CustomModel", action="update-tags") == 1
    assert w.ready  # it reports: a pass completed
    healing.reconcile("resync")  # the healing loop has the same gauge, then at zero
    assert sample(healing, "reconciler_pending_changes", kind="CustomModel", action="create") == 1
    healing.reconcile("resync")
    assert sample(healing, "reconciler_pending_changes", kind="CustomModel", action="create") == 0


def test_the_time_to_ready_is_observed(tmp_path: Path, emulator: Any, events: Events) -> None:
    repo = tmp_path / "m"
    write(repo, "a.yaml", manifest("alpha"))
    w = watcher(repo, emulator, events)
    w.reconcile("start")  # created: Creating for a moment (the test emulator's 0.2 s)
    import time

    time.sleep(0.3)
    w.reconcile("resync")
    count = "reconciler_resource_ready_seconds_count"
    assert sample(w, count, kind="CustomModel") == 1


def test_a_create_brings_the_loop_back_soon_to_time_it(
    tmp_path: Path, emulator: Any, events: Events
) -> None:
    """Without a quick return the sample would land at the next resync: an import of a few
    seconds recorded as the 300 s interval."""
    import time

    repo = tmp_path / "m"
    write(repo, "a.yaml", manifest("alpha"))
    now = [1_000.0]
    logger = logging.getLogger(f"test-ready-{id(events)}")
    options = WatchOptions(paths=(str(repo),), scope="default")
    w = Watcher(options, emulator.client(), logger, clock=lambda: now[0])
    w.reconcile("start")
    assert w._retry_deferred == 1_000.0 + options.deferred_base
    time.sleep(0.3)  # the test emulator's import: 0.2 s
    now[0] += options.deferred_base
    w.reconcile("deferred")
    assert sample(w, "reconciler_resource_ready_seconds_count", kind="CustomModel") == 1
    assert sample(w, "reconciler_resource_ready_seconds_sum", kind="CustomModel") == 2.0
    assert w._retry_deferred is None  # nothing left to wait for: back to the resync interval


READ_ONLY = re.compile(r"(List|Get)[A-Za-z]+")


def _changing_calls(emulator: Any) -> dict[str, int]:
    return {op: n for op, n in emulator.backend.calls.items() if not READ_ONLY.fullmatch(op)}


def test_report_only_sends_nothing_for_any_kind_and_reports_each_new_plan(
    tmp_path: Path, emulator: Any, events: Events
) -> None:
    """A rollout, a deployment to delete and a model to create are all reported, and no
    call but a List or Get reaches the account; a new plan is reported again."""
    repo = tmp_path / "m"
    write(repo, "alpha.yaml", manifest("alpha"))
    write(repo, "p.yaml", throughput("p", model="alpha"))
    write(repo, "d.yaml", deployment("d", model="alpha"))
    healing = watcher(repo, emulator, Events())
    for _ in range(20):  # the throughput and deployment wait for alpha to be Active
        healing.reconcile("deferred")
        client = emulator.client()
        if "p" in throughputs(client) and "d" in deployments(client):
            break
        time.sleep(0.1)
    assert set(throughputs(client)) == {"p"} and set(deployments(client)) == {"d"}
    write(repo, "beta.yaml", manifest("beta"))
    write(repo, "p.yaml", throughput("p", model="beta"))
    (repo / "d.yaml").unlink()
    w = watcher(repo, emulator, events, report_only=True)
    before = _changing_calls(emulator)
    for _ in range(3):
        w.reconcile("resync")
    assert _changing_calls(emulator) == before
    first = events.named("drift_detected")
    assert sorted(d.split(":")[0] for d in first) == [
        "create beta",
        "delete CustomModelDeployment/d",
        "update-model ProvisionedThroughput/p",
    ]
    assert all(d.endswith("; report-only, nothing sent") for d in first)
    assert (
        sample(w, "reconciler_pending_changes", kind="ProvisionedThroughput", action="update-model")
        == 1
    )
    assert (
        sample(w, "reconciler_pending_changes", kind="CustomModelDeployment", action="delete") == 1
    )
    write(repo, "gamma.yaml", manifest("gamma"))  # the plan changes: reported again
    w.reconcile("manifests changed")
    again = events.named("drift_detected")[len(first) :]
    assert sorted(d.split(":")[0] for d in again) == [
        "create beta",
        "create gamma",
        "delete CustomModelDeployment/d",
        "update-model ProvisionedThroughput/p",
    ]
    assert _changing_calls(emulator) == before


def test_the_report_only_flag_reaches_the_loop() -> None:
    from reconciler.cli import build_parser
    from reconciler.commands import watch_options

    parser = build_parser()
    assert watch_options(parser.parse_args(["watch", "--report-only", "m"])).report_only is True
    assert watch_options(parser.parse_args(["watch", "m"])).report_only is False
