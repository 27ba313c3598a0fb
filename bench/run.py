"""The benchmark of issue 6: ``python -m bench.run`` (see ``bench/README.md``).

Owns the command line and the order of the phases: start-up and validate (``offline``),
then, on one emulator process (``emulator``), for each N: creates (``creates``), plans
(``plans``), the sequential baselines; then watch mode (``watchloop``); then plans over a
targets file of many accounts and regions (``fleet``). The figures are
interpreted by ``targets`` and printed by ``report``; the full results go to a JSON file
with the machine, the git commit and the load average, to compare across commits.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import creates, fleet, offline, plans, report, targets, workload
from bench.emulator import EmulatorProcess, warm_up
from bench.measure import close_spawner
from bench.system import (
    ROOT,
    git_info,
    load_average,
    machine_info,
    make_this_process_safe,
)
from bench.watchloop import measure_watch
from reconciler.aws.settings import DEFAULT_CONCURRENCY

FORMAT = "bedrock-reconciler/bench"
VERSION = 2
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"
HELP_RUNS = 5
# --quick: a smoke run of every phase, small enough for the test suite.
QUICK = {
    "models": [20],
    "latency": 0.002,
    "repeat": 1,
    "validate_manifests": 200,
    "watch_models": 150,
    "watch_resyncs": 12,
    "help_runs": 2,
    "fleet_targets": 3,
    "fleet_models": 5,
}
FULL = {
    "models": [targets.TARGET_N],
    "latency": targets.TARGET_LATENCY,
    "repeat": 3,
    "validate_manifests": 10_000,
    "watch_models": 1000,
    "watch_resyncs": 100,
    "help_runs": HELP_RUNS,
    "fleet_targets": targets.FLEET_TARGETS,
    "fleet_models": targets.FLEET_MODELS,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from reconciler.aws.settings import DEFAULT_MAX_RPS

    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark bedrock-reconciler on the local emulator with injected latency.",
    )
    add = parser.add_argument
    add("--models", type=_counts, metavar="N[,N...]", help="in-sync models (default 500)")
    add("--latency", type=float, metavar="SECONDS", help="per API call (default 0.02)")
    add(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"the reconciler's --concurrency (default {DEFAULT_CONCURRENCY}, the CLI's)",
    )
    add(
        "--max-rps",
        type=float,
        default=DEFAULT_MAX_RPS,
        metavar="N",
        help=f"the reconciler's --max-rps for plans, creates and watch (default "
        f"{DEFAULT_MAX_RPS:g}, the CLI's); creates are also run with 0 (no limit)",
    )
    add("--repeat", type=int, help="runs of each plan and validate; the median (default 3)")
    add("--validate-manifests", type=int, metavar="COUNT", help="default 10000")
    add("--watch-models", type=int, metavar="M", help="in-sync models for watch (default 1000)")
    add("--watch-resyncs", type=int, metavar="R", help="back-to-back resyncs (default 100)")
    add(
        "--fleet-targets",
        type=int,
        metavar="T",
        help="targets (accounts/regions) for plan --targets (default 50; 0: skip)",
    )
    add("--fleet-models", type=int, metavar="M", help="in-sync models per target (default 100)")
    add("--json", type=Path, default=DEFAULT_JSON, metavar="FILE", help="where results go")
    add("--markdown", action="store_true", help="print the tables as Markdown")
    add("--quick", action="store_true", help="a small, fast smoke run of every phase")
    add(
        "--stock-emulator",
        action="store_true",
        help="do not cache moto's per-request module listing in the emulator (slower emulator)",
    )
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.max_rps < 0:
        parser.error("--max-rps must be 0 (no limit) or more")
    if args.latency < 0 or args.concurrency < 1 or args.repeat < 1:
        parser.error("--latency must be >= 0, --concurrency and --repeat >= 1")
    if args.validate_manifests < 100 or args.validate_manifests % 100:
        parser.error("--validate-manifests must be a multiple of 100")
    if args.watch_models < 0 or args.watch_resyncs < 1:
        parser.error("--watch-models must be >= 0 (0: skip watch), --watch-resyncs >= 1")
    if args.fleet_targets < 0 or args.fleet_models < 1:
        parser.error("--fleet-targets must be >= 0 (0: skip), --fleet-models >= 1")
    return args


def _counts(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"model counts must be >= 1: {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    make_this_process_safe()
    args = parse_args(argv)
    try:
        results = run(args)
    finally:
        close_spawner()
    print(report.render(results, markdown=args.markdown), end="")
    path: Path = args.json
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_info(),
        "python": sys.version.split()[0],
        "machine": {**machine_info(), "load_average_before": load_average()},
        "settings": settings(args),
    }
    offline.warm_caches()
    log("CLI start-up")
    results["startup"] = offline.measure_startup(args.help_runs)
    log("validate")
    results["validate"] = offline.measure_validate(args.validate_manifests, args.repeat)
    startup_s = results["startup"]["help"]["median_s"]
    results["models"] = {}
    with EmulatorProcess(stock=args.stock_emulator) as emulator:
        warm_up(emulator)
        for count in args.models:
            log(f"{count} models")
            results["models"][str(count)] = measure_models(emulator, count, args, startup_s)
        results["watch"] = None
        if args.watch_models:
            log(f"watch: {args.watch_models} models, {args.watch_resyncs} resyncs")
            results["watch"] = measure_watch(
                emulator,
                args.watch_models,
                args.watch_resyncs,
                args.latency,
                args.concurrency,
                args.max_rps,
            )
        results["fleet"] = None
        if args.fleet_targets:
            log(f"fleet: {args.fleet_targets} targets x {args.fleet_models} models")
            results["fleet"] = fleet.measure_fleet(
                emulator,
                args.fleet_targets,
                args.fleet_models,
                args.latency,
                args.concurrency,
                args.max_rps,
                args.repeat,
            )
    results["machine"]["load_average_after"] = load_average()
    results["elapsed_s"] = round(time.perf_counter() - started, 2)
    results["targets"] = targets.evaluate(results)
    return results


def settings(args: argparse.Namespace) -> dict[str, Any]:
    from reconciler.aws.reader import LIST_PAGE_SIZE

    return {
        "models": args.models,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "max_rps": args.max_rps,
        "repeat": args.repeat,
        "validate_manifests": args.validate_manifests,
        "watch_models": args.watch_models,
        "watch_resyncs": args.watch_resyncs,
        "fleet_targets": args.fleet_targets,
        "fleet_models": args.fleet_models,
        "quick": args.quick,
        "page_size": workload.PAGE_SIZE,
        "list_page_size": LIST_PAGE_SIZE,
        "emulator": "moto server, stock"
        if args.stock_emulator
        else "moto server, module listing cached",
    }


def measure_models(
    emulator: EmulatorProcess, count: int, args: argparse.Namespace, startup_s: float
) -> dict[str, Any]:
    """Everything measured at one N, on an account that holds exactly the N declared models.

    The unlimited create runs last of the creates, so that its models are the in-sync
    account every plan then reads.
    """
    latency, concurrency, rps = args.latency, args.concurrency, args.max_rps
    with tempfile.TemporaryDirectory(prefix="bench-models-") as temp:
        folder = workload.write_manifests(Path(temp, "manifests"), count)
        desired = workload.load(folder, count)
        row: dict[str, Any] = {
            "models": count,
            "pages": workload.pages_for(count),
            "list_pages": workload.list_pages_for(count),
        }
        limited = creates.measure_create(emulator, desired, latency, concurrency, rps)
        row["create"] = {
            "limited": limited if rps else None,
            "unlimited": creates.measure_create(emulator, desired, latency, concurrency, 0.0)
            if rps
            else limited,
        }
        row["plan"] = {
            path: plans.measure_plan(
                emulator, desired, path, latency, concurrency, rps, args.repeat
            )
            for path in plans.PATHS
        }
        row["naive"] = plans.measure_naive(emulator, count, latency)
        row["cli_plan"] = plans.measure_cli_plan(emulator, folder, count, latency, concurrency, rps)
        row["sequential_create"] = creates.measure_sequential_create(emulator, desired, latency)
        emulator.reset()
    targets.derive(row, latency, concurrency, startup_s)
    return row


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
