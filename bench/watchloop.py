"""Watch mode at steady state: a ``Watcher`` doing full resyncs back to back, in its own process.

``measure_watch`` (the parent side) puts M in-sync models in the emulator, then runs
``python -m bench.watchloop`` so that the RSS measured is the loop's own, not the
benchmark's. The child builds what ``reconciler watch`` builds (an ``Account``, a
``Metrics``, a ``Watcher`` in the default ``auto`` tag-read mode, with its tagging client
on first use), with the probe's latency on every HTTP attempt, and calls
``watcher.reconcile("resync")`` R times with no sleep in between. After each resync it
records the API calls made by operation, the time taken (and the part spent loading the
manifests, which every pass does), and its resident memory. Every pass must succeed and log
no warning, or the run fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.system import REGION, SCOPE, make_this_process_safe

# The parent


def measure_watch(  # noqa: PLR0917
    emulator: Any, models: int, resyncs: int, latency: float, concurrency: int, max_rps: float
) -> dict[str, Any]:
    """R back-to-back resyncs over ``models`` in-sync models, in a separate process."""
    from bench.creates import populate
    from bench.measure import check, run_measured
    from bench.workload import list_pages_for, load, pages_for, write_manifests

    with tempfile.TemporaryDirectory(prefix="bench-watch-") as temp:
        folder = write_manifests(Path(temp, "manifests"), models)
        populate(emulator, load(folder, models), concurrency)
        stats_file = Path(temp, "stats.json")
        measured = run_measured(
            [
                *(sys.executable, "-m", "bench.watchloop", "--url", emulator.url),
                *("--manifests", str(folder), "--resyncs", str(resyncs)),
                *("--latency", str(latency), "--concurrency", str(concurrency)),
                *("--max-rps", str(max_rps), "--stats", str(stats_file)),
            ]
        )
        check(measured, "bench.watchloop")
        stats = json.loads(stats_file.read_text())
    emulator_calls = emulator.calls()
    emulator.reset()
    per_resync = stats["resyncs"]
    walls = [r["wall_s"] for r in per_resync]
    rss = stats["rss_mb_by_resync"]
    checkpoints = sorted({n for n in (1, 10, resyncs) if n <= resyncs})
    distinct_calls = {json.dumps(r["calls"], sort_keys=True) for r in per_resync}
    return {
        "models": models,
        "resyncs": resyncs,
        "pages": pages_for(models),
        "list_pages": list_pages_for(models),
        "latency_s": latency,
        "concurrency": concurrency,
        "max_rps": max_rps,
        "calls_per_resync": per_resync[0]["calls"],
        "calls_same_every_resync": len(distinct_calls) == 1,
        "calls_total": stats["calls_total"],
        "emulator_calls": emulator_calls,
        "peak_concurrency": stats["peak_concurrency"],
        "throttles": stats["throttles"],
        "resync_s": {
            "first": walls[0],
            "median": round(statistics.median(walls), 4),
            "min": min(walls),
            "max": max(walls),
        },
        "manifest_load_s_median": round(
            statistics.median(r["manifest_load_s"] for r in per_resync), 4
        ),
        "rss_mb": {str(n): rss[n - 1] for n in checkpoints},
        "rss_growth_from_10_mb": round(rss[-1] - rss[min(10, resyncs) - 1], 1),
        "rss_mb_by_resync": rss,
        # Before the first resync (imports, clients made), and the peak so far after each.
        "rss_before_first_mb": stats["before_first"]["rss_mb"],
        "peak_rss_mb_by_resync": stats["peak_rss_mb_by_resync"],
        "process_wall_s": round(measured.wall_s, 3),
        "process_peak_rss_mb": round(measured.rss_mb, 1),
    }


# The child


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.watchloop")
    parser.add_argument("--url", required=True)
    parser.add_argument("--manifests", required=True)
    parser.add_argument("--resyncs", type=int, required=True)
    parser.add_argument("--latency", type=float, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--max-rps", type=float, required=True)
    parser.add_argument("--stats", required=True)
    args = parser.parse_args(argv)
    make_this_process_safe()

    from bench.measure import current_rss_mb
    from bench.probe import Probe, probe_every_account
    from bench.spawner import peak_rss_mb
    from reconciler import manifests
    from reconciler.aws.client import Account
    from reconciler.aws.settings import AwsSettings
    from reconciler.metrics import Metrics
    from reconciler.watch import Watcher, WatchOptions

    probe = Probe(args.latency)
    probe_every_account(probe)
    settings = AwsSettings(
        region=REGION,
        endpoint_url=args.url,
        concurrency=args.concurrency,
        max_rps=args.max_rps,
    )
    account = Account(settings)
    logger, warnings = _logger()
    metrics = Metrics()
    options = WatchOptions(paths=(args.manifests,), scope=SCOPE, concurrency=args.concurrency)
    watcher = Watcher(options, account.bedrock, logger, metrics, tagging=lambda: account.tagging)
    load_s = _time_manifest_loads(manifests)

    resyncs = []
    rss: list[float] = []
    peaks: list[float] = []
    before_first = {"rss_mb": round(current_rss_mb(), 1), "peak_rss_mb": round(peak_rss_mb(), 1)}
    for _ in range(args.resyncs):
        before = Counter(probe.calls)
        loads_before = sum(load_s)
        started = time.perf_counter()
        watcher.reconcile("resync")
        wall = time.perf_counter() - started
        calls = Counter(probe.calls)
        calls.subtract(before)
        resyncs.append(
            {
                "wall_s": round(wall, 4),
                "manifest_load_s": round(sum(load_s) - loads_before, 4),
                "calls": {op: n for op, n in sorted(calls.items()) if n},
            }
        )
        rss.append(round(current_rss_mb(), 1))
        peaks.append(round(peak_rss_mb(), 1))
    succeeded = metrics.registry.get_sample_value(
        "reconciler_reconcile_runs_total", {"result": "success"}
    )
    snapshot = probe.snapshot()
    stats = {
        "resyncs": resyncs,
        "rss_mb_by_resync": rss,
        "peak_rss_mb_by_resync": peaks,
        "before_first": before_first,
        "calls_total": snapshot["calls"],
        "peak_concurrency": snapshot["peak_concurrency"],
        "throttles": snapshot["throttles"],
        "succeeded": succeeded,
        "warnings": warnings,
    }
    Path(args.stats).write_text(json.dumps(stats))
    if succeeded != args.resyncs or warnings:
        print(f"{succeeded} of {args.resyncs} resyncs succeeded; {warnings[:5]}", file=sys.stderr)
        return 1
    return 0


def _logger() -> tuple[logging.Logger, list[str]]:
    """The Watcher's logger: warnings and errors are kept (a steady state has none)."""
    warnings: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(f"{getattr(record, 'event', '-')}: {record.getMessage()}")

    logger = logging.getLogger("bench.watchloop")
    logger.handlers[:] = [Keep(logging.WARNING)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, warnings


def _time_manifest_loads(manifests: Any) -> list[float]:
    """Time every ``manifests.load`` the Watcher makes (it loads them on every pass), so a
    resync's time can be split into loading the manifests and reading the account."""
    spent: list[float] = []
    real = manifests.load

    def load(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    manifests.load = load
    return spent


if __name__ == "__main__":
    sys.exit(main())
