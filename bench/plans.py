"""Steady-state plans of N in-sync models: the package's two read paths, a naive loop, the CLI.

- ``measure_plan``: ``reconcile.read_and_plan`` (what ``reconciler plan`` runs) with a fresh
  ``Account`` and an ``AccountReader``, in the default ``auto`` mode (ListCustomModels pages
  and GetResources pages, side by side) or ``per-model`` (pages, then one
  ListTagsForResource per model). Median of repeated runs, plus one run with no injected
  latency and no rate limit: what the client and the emulator cost by themselves.
- ``measure_naive``: what a script would do, one call after the other.
- ``measure_cli_plan``: the whole ``reconciler plan`` process (``bench.cliplan``).

Every plan must come out all ``noop`` and in the mode asked (no silent fallback), or the
run fails: a benchmark of the wrong work is worse than none.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.emulator import EmulatorProcess
from bench.measure import (
    RssSampler,
    check,
    median_run,
    phase,
    rate_limit_bound_s,
    run_measured,
    timed,
)
from bench.probe import Probe, probed_account
from bench.system import REGION, SCOPE
from bench.workload import PAGE_SIZE

# Result keys for the two read paths, and the TagReads value each runs with.
PATHS = {"default": "auto", "per_model": "per-model"}


def measure_plan(  # noqa: PLR0917
    emulator: EmulatorProcess,
    desired: Any,
    path: str,
    latency: float,
    concurrency: int,
    max_rps: float,
    repeat: int,
) -> dict[str, Any]:
    """``repeat`` steady-state plans on ``path`` (a key of ``PATHS``); the median run."""
    runs = [
        _plan_once(emulator, desired, path, latency, concurrency, max_rps) for _ in range(repeat)
    ]
    bare = _plan_once(emulator, desired, path, 0.0, concurrency, 0.0)
    most = max(runs[0]["calls"].values())
    return {
        **median_run(runs),
        "tag_reads": PATHS[path],
        "max_rps": max_rps,
        "rate_limit_bound_s": rate_limit_bound_s(most, max_rps),
        "rss_peak_mb": max(r["rss_peak_mb"] for r in runs),
        "rss_growth_mb": round(max(r["rss_peak_mb"] - r["rss_before_mb"] for r in runs), 1),
        "no_latency_no_limit": {
            key: bare[key] for key in ("wall_s", "client_cpu_s", "emulator_cpu_s", "calls")
        },
    }


def _plan_once(  # noqa: PLR0917
    emulator: EmulatorProcess,
    desired: Any,
    path: str,
    latency: float,
    concurrency: int,
    max_rps: float,
) -> dict[str, Any]:
    from reconciler.aws.reader import AccountReader, TagReads
    from reconciler.aws.settings import AwsSettings
    from reconciler.reconcile import read_and_plan

    probe = Probe(latency)
    settings = AwsSettings(
        region=REGION, endpoint_url=emulator.url, concurrency=concurrency, max_rps=max_rps
    )
    made = time.perf_counter()
    account = probed_account(settings, probe)
    client_s = time.perf_counter() - made
    tagging_s: list[float] = []

    def tagging() -> Any:
        # The tagging client is made on first use, inside the read, as in the CLI: timed so
        # that its share of the plan is visible.
        started = time.perf_counter()
        fresh = "tagging" not in vars(account)
        client = account.tagging
        if fresh:
            tagging_s.append(time.perf_counter() - started)
        return client

    warnings: list[str] = []
    mode = TagReads(PATHS[path])
    reader = AccountReader(
        account.bedrock, tagging, SCOPE, mode=mode, concurrency=concurrency, warn=warnings.append
    )
    emulator.calls()  # zero the emulator's counters
    with RssSampler() as rss, timed(emulator.cpu) as t:
        result, _ = read_and_plan(reader, desired, SCOPE)
    if warnings or reader.mode is not mode:
        raise RuntimeError(f"the {path} plan did not read as asked: {warnings}")
    not_in_sync = [a for a in result.actions if a.kind != "noop"]
    if not_in_sync or len(result.actions) != len(desired.models):
        raise RuntimeError(f"the {path} plan is not in sync: {not_in_sync[:3]}")
    return {
        **phase(t, probe, emulator.calls()),
        "client_s": round(client_s, 4),
        "tagging_client_s": round(sum(tagging_s), 4),
        "rss_before_mb": round(rss.before_mb, 1),
        "rss_peak_mb": round(rss.peak_mb, 1),
    }


def measure_naive(emulator: EmulatorProcess, count: int, latency: float) -> dict[str, Any]:
    """The same reads as the per-model path, one after the other: every page, then each
    model's tags, with a plain ``boto3.client`` (its defaults, no rate limit)."""
    import boto3

    probe = Probe(latency)
    client = probe.attach(boto3.client("bedrock", region_name=REGION, endpoint_url=emulator.url))
    emulator.calls()
    with timed(emulator.cpu) as t:
        summaries = []
        for page in client.get_paginator("list_custom_models").paginate(
            isOwned=True, PaginationConfig={"PageSize": PAGE_SIZE}
        ):
            summaries.extend(page["modelSummaries"])
        tags = {
            s["modelArn"]: client.list_tags_for_resource(resourceARN=s["modelArn"])["tags"]
            for s in summaries
        }
    if len(tags) != count:
        raise RuntimeError(f"the naive loop read {len(tags)} models, expected {count}")
    return phase(t, probe, emulator.calls())


def measure_cli_plan(  # noqa: PLR0917
    emulator: EmulatorProcess,
    folder: Path,
    count: int,
    latency: float,
    concurrency: int,
    max_rps: float,
) -> dict[str, Any]:
    """``reconciler plan`` as a whole process (start-up, manifests, reads, rendering)."""
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as temp:
        stats_file = Path(temp, "stats.json")
        emulator.calls()
        measured = run_measured(
            [
                *(sys.executable, "-m", "bench.cliplan"),
                *("--latency", str(latency), "--stats", str(stats_file), "--"),
                *("--endpoint-url", emulator.url, "--region", REGION, "--scope", SCOPE),
                *("--concurrency", str(concurrency), "--max-rps", str(max_rps)),
                *("plan", str(folder), "--detailed-exitcode"),
            ]
        )
        check(measured, "reconciler plan (0: in sync)")
        stats = json.loads(stats_file.read_text())
    if f"Plan: {count} noop." not in measured.out:
        raise RuntimeError(f"reconciler plan is not all noop:\n{measured.out[-500:]}")
    if "warning" in measured.err:
        raise RuntimeError(f"reconciler plan warned:\n{measured.err[-1000:]}")
    return {
        "wall_s": round(measured.wall_s, 4),
        "peak_rss_mb": round(measured.rss_mb, 1),
        "import_s": round(stats["import_s"], 4),
        "main_s": round(stats["main_s"], 4),
        "max_rps": max_rps,
        "calls": stats["calls"],
        "emulator_calls": emulator.calls(),
        "peak_concurrency": stats["peak_concurrency"],
        "throttles": stats["throttles"],
    }
