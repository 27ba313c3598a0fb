"""Plans over a targets file: T targets, each its own emulated account and region, M models each.

``measure_fleet`` writes a targets file (target ``tNNN`` in account ``1000000000NN``, reached
through a role assumed with the emulator's STS, in a region taken in turn from ``REGIONS``)
and M manifests per target, seeds every account with the reconciler's own
``apply --targets`` (no latency, no rate limit), then times three ``reconciler plan
--targets`` processes (``bench.cliplan``, the latency on every client of every target):

- ``fleet``: every target, at the CLI's default ``--target-concurrency``;
- ``one_by_one``: the same work target by target (``--target-concurrency 1``);
- ``one_target``: the first target alone (``--target t000``).

Each is the median of ``repeat`` runs, with its own peak RSS, the client's calls and the
calls every emulated account and region received (``EmulatorProcess.backends``). Every plan
must be all ``noop`` over every target, with no target failed, or the run fails.
``derive`` adds the ratios the issue states its target in. Called by ``bench.run``.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.emulator import EmulatorProcess
from bench.measure import check, median_run, ratio, run_measured
from bench.system import SCOPE
from bench.workload import write_manifests
from reconciler.cli import DEFAULT_TARGET_CONCURRENCY

# Bedrock regions the emulator offers, taken in turn by the targets.
REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-northeast-1", "ap-south-1")
FIRST_ACCOUNT = 100_000_000_001
ROLE_NAME = "bench-reconciler"
# The runs measured, and the options each adds to ``plan --targets FILE``.
RUNS = {
    "fleet": (),
    "one_by_one": ("--target-concurrency", "1"),
    "one_target": ("--target", "t000"),
}


def target_name(index: int) -> str:
    return f"t{index:03d}"


def account_of(index: int) -> str:
    return str(FIRST_ACCOUNT + index)


def region_of(index: int) -> str:
    return REGIONS[index % len(REGIONS)]


def target_document(index: int) -> str:
    account = account_of(index)
    return (
        "apiVersion: bedrock.gitops/v1\n"
        "kind: Target\n"
        "metadata:\n"
        f"  name: {target_name(index)}\n"
        "spec:\n"
        f"  region: {region_of(index)}\n"
        f'  accountId: "{account}"\n'
        f"  roleArn: arn:aws:iam::{account}:role/{ROLE_NAME}\n"
        f"  paths: [manifests/{target_name(index)}]\n"
    )


def write_targets(folder: Path, targets: int, models: int) -> Path:
    """The targets file, and ``models`` manifests (one per file) in each target's folder."""
    for index in range(targets):
        write_manifests(folder / "manifests" / target_name(index), models)
    file = folder / "targets.yaml"
    file.write_text("---\n".join(target_document(i) for i in range(targets)))
    return file


def measure_fleet(  # noqa: PLR0917
    emulator: EmulatorProcess,
    targets: int,
    models: int,
    latency: float,
    concurrency: int,
    max_rps: float,
    repeat: int,
) -> dict[str, Any]:
    """Seed ``targets`` accounts of ``models`` models each, then time the three plans."""
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as temp:
        file = write_targets(Path(temp), targets, models)
        seed = _seed(emulator, file, targets, models)
        global_options = ("--concurrency", str(concurrency), "--max-rps", str(max_rps))
        runs = {}
        for key, extra in RUNS.items():
            count = 1 if key == "one_target" else targets
            measured = [
                _plan(emulator, file, latency, global_options, extra, count, models)
                for _ in range(repeat)
            ]
            runs[key] = {**median_run(measured), "targets": count}
    emulator.reset()
    row = {
        "targets": targets,
        "models_per_target": models,
        "regions": sorted({region_of(i) for i in range(targets)}),
        "target_concurrency": DEFAULT_TARGET_CONCURRENCY,
        "seed": seed,
        **runs,
    }
    derive(row)
    return row


def _seed(emulator: EmulatorProcess, file: Path, targets: int, models: int) -> dict[str, Any]:
    """Every target in sync: the reconciler's own apply, no latency, no rate limit."""
    measured = check(
        run_measured(
            [
                *(sys.executable, "-m", "reconciler", "--endpoint-url", emulator.url),
                *("--scope", SCOPE, "--max-rps", "0", "apply", "--targets", str(file)),
            ]
        ),
        "reconciler apply --targets (seeding)",
    )
    held = {(b["account"], b["region"]): b["models"] for b in emulator.backends()}
    expected = {(account_of(i), region_of(i)): models for i in range(targets)}
    if held != expected:
        raise RuntimeError(f"seeding left {held}, expected {models} models in each target")
    return {"wall_s": round(measured.wall_s, 2)}


def _plan(  # noqa: PLR0917
    emulator: EmulatorProcess,
    file: Path,
    latency: float,
    options: tuple[str, ...],
    plan_options: tuple[str, ...],
    targets: int,
    models: int,
) -> dict[str, Any]:
    """One ``reconciler plan --targets`` process, checked to be all in sync."""
    with tempfile.TemporaryDirectory(prefix="bench-fleet-cli-") as temp:
        stats_file = Path(temp, "stats.json")
        emulator.backends()  # zero every account's counters
        measured = run_measured(
            [
                *(sys.executable, "-m", "bench.cliplan"),
                *("--latency", str(latency), "--stats", str(stats_file), "--"),
                *("--endpoint-url", emulator.url, "--scope", SCOPE, *options),
                *("plan", "--targets", str(file), *plan_options),
                *("--output", "json", "--detailed-exitcode"),
            ]
        )
        check(measured, "reconciler plan --targets (0: in sync)")
        stats = json.loads(stats_file.read_text())
    summary = json.loads(measured.out)["summary"]
    if summary != {"targets": targets, "failed": 0, "noop": targets * models}:
        raise RuntimeError(f"reconciler plan --targets is not all in sync: {summary}")
    if "warning" in measured.err:
        raise RuntimeError(f"reconciler plan --targets warned:\n{measured.err[-1000:]}")
    return {
        "wall_s": round(measured.wall_s, 4),
        "peak_rss_mb": round(measured.rss_mb, 1),
        "import_s": round(stats["import_s"], 4),
        "main_s": round(stats["main_s"], 4),
        "calls": stats["calls"],
        "throttles": stats["throttles"],
        "peak_concurrency": stats["peak_concurrency"],
        "emulator_calls": {
            f"{b['account']}/{b['region']}": b["calls"] for b in emulator.backends() if b["calls"]
        },
    }


def derive(row: dict[str, Any]) -> None:
    """Add the rounds, the ratios, the calls per target and the peak RSS to ``row``."""
    fleet, one = row["fleet"], row["one_target"]
    rounds = math.ceil(row["targets"] / row["target_concurrency"])
    per_target = [Counter(calls) for calls in fleet["emulator_calls"].values()]
    same = len(per_target) == row["targets"] and all(c == per_target[0] for c in per_target)
    targets = row["targets"]
    client = {
        op: n // targets if n % targets == 0 else n / targets for op, n in fleet["calls"].items()
    }
    row["rounds"] = rounds
    row["calls_per_target"] = {op: n for op, n in sorted(client.items())}
    row["emulator_calls_per_target"] = dict(sorted(per_target[0].items())) if same else None
    row["calls_same_every_target"] = same
    row["peak_rss_mb"] = max(row[k]["peak_rss_mb"] for k in RUNS)
    row["ratios"] = {
        # The measure: the whole process, against one target's whole process
        # once per round of ``target_concurrency`` targets.
        "fleet_vs_rounds": ratio(fleet["wall_s"], one["wall_s"] * rounds),
        # The same without the interpreter's start-up and imports, paid once either way.
        "fleet_main_vs_rounds": ratio(fleet["main_s"], one["main_s"] * rounds),
        "fleet_vs_one_by_one": ratio(fleet["wall_s"], row["one_by_one"]["wall_s"]),
        "one_by_one_vs_targets": ratio(row["one_by_one"]["wall_s"], one["wall_s"] * row["targets"]),
    }
