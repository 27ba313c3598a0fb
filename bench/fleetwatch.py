"""How many targets one ``reconciler watch --targets`` replica handles (``bench.fleetwatch``).

Writes T targets of M in-sync models each (``bench.fleet``: each target its own emulated
account and region, reached through a role assumed with the emulator's STS), seeds them,
then runs one ``reconciler watch --targets FILE --interval I`` process (``bench.cliplan``:
the latency on every HTTP attempt) until every target has completed ``passes`` full passes.
It polls ``/readyz`` (200 once every target has completed a first pass) and reads the
process's CPU time and resident memory from ``/proc`` and the passes from ``/metrics``
(``reconciler_reconcile_runs_total``, labelled by target). From the steady passes after
the first it derives the CPU one target's pass costs and the memory a target holds, and
from them how many targets one replica handles at a given ``--interval`` while staying
under half of one CPU. Prints one JSON document; Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/fleetwatch.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.emulator import EmulatorProcess, warm_up
from bench.fleet import _seed, write_targets
from bench.measure import close_spawner
from bench.system import SCOPE, child_environment, make_this_process_safe

# The share of one CPU a replica may spend on passes, and the resync period it is rated at
# (the CLI's default ``--interval``).
CPU_BUDGET = 0.5
RATED_INTERVAL_S = 300.0
PASSES = re.compile(
    r'^reconciler_reconcile_runs_total\{[^}]*result="success"[^}]*\} ([0-9.e+]+)$', re.M
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as e:
        return int(e.code), ""
    except OSError:
        return 0, ""


def passes_done(port: int) -> int:
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    return int(sum(float(n) for n in PASSES.findall(text)))


def measure(  # noqa: PLR0917
    emulator: EmulatorProcess,
    targets: int,
    models: int,
    latency: float,
    interval: float,
    passes: int,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-fleetwatch-") as temp:
        file = write_targets(Path(temp), targets, models)
        seed = _seed(emulator, file, targets, models)
        port, stats = free_port(), Path(temp, "stats.json")
        child = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.cliplan"),
                *("--latency", str(latency), "--stats", str(stats), "--"),
                *("--endpoint-url", emulator.url, "--scope", SCOPE),
                *("watch", "--targets", str(file), "--interval", str(interval)),
                *("--log-format", "json"),
                *("--metrics-port", str(port)),
            ],
            env=child_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            started = time.monotonic()
            while get(f"http://127.0.0.1:{port}/readyz")[0] != 200:
                if child.poll() is not None or time.monotonic() - started > timeout:
                    raise RuntimeError(f"watch never became ready:\n{child.communicate()[1]}")
                time.sleep(0.05)
            ready_s = time.monotonic() - started
            ready_cpu, ready_rss, first = cpu_s(child.pid), rss_mb(child.pid), passes_done(port)
            rss_by_round = {1: round(ready_rss, 1)}
            while (count := passes_done(port)) < targets * passes:
                if child.poll() is not None or time.monotonic() - started > timeout:
                    raise RuntimeError(f"watch stopped:\n{child.communicate()[1]}")
                rss_by_round.setdefault(count // targets, round(rss_mb(child.pid), 1))
                time.sleep(0.2)
            end_cpu, end_rss, done = cpu_s(child.pid), rss_mb(child.pid), passes_done(port)
            wall_s = time.monotonic() - started
        finally:
            child.send_signal(signal.SIGTERM)
            _, err = child.communicate(timeout=120)
        if child.returncode != 0:
            raise RuntimeError(f"watch exited {child.returncode}:\n{err[-3000:]}")
        warned = [line for line in err.splitlines() if '"level": "warning"' in line]
        if warned or '"result": "failed"' in err:
            raise RuntimeError(f"watch warned or failed:\n{err[-3000:]}")
        calls = json.loads(stats.read_text())["calls"]
    steady = done - first
    per_pass = (end_cpu - ready_cpu) / steady if steady else None
    row: dict[str, Any] = {
        "targets": targets,
        "models_per_target": models,
        "latency_s": latency,
        "interval_s": interval,
        "seed_s": seed["wall_s"],
        "ready_s": round(ready_s, 2),
        "cpu_to_ready_s": round(ready_cpu, 2),
        "passes_at_ready": first,
        "passes": done,
        "wall_s": round(wall_s, 1),
        "steady_cpu_s": round(end_cpu - ready_cpu, 2),
        "cpu_s_per_target_pass": round(per_pass, 4) if per_pass else None,
        "rss_ready_mb": round(ready_rss, 1),
        "rss_end_mb": round(end_rss, 1),
        "rss_mb_by_round": rss_by_round,
        "calls_per_target_pass": {op: round(n / done, 2) for op, n in sorted(calls.items())},
    }
    if per_pass:
        row["rated"] = {
            "interval_s": RATED_INTERVAL_S,
            "cpu_budget": CPU_BUDGET,
            "targets_per_replica_by_cpu": int(CPU_BUDGET * RATED_INTERVAL_S / per_pass),
        }
    row["rss_per_target_mb"] = round(end_rss / targets, 2)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleetwatch", description=__doc__)
    add = parser.add_argument
    add("--targets", type=int, default=50)
    add("--models", type=int, default=100, help="in-sync models per target")
    add("--latency", type=float, default=0.02, help="per API call (seconds)")
    add("--interval", type=float, default=5.0, help="the watch --interval (seconds)")
    add("--passes", type=int, default=4, help="full passes every target completes")
    args = parser.parse_args(argv)
    make_this_process_safe()
    try:
        with EmulatorProcess() as emulator:
            warm_up(emulator)
            row = measure(
                emulator, args.targets, args.models, args.latency, args.interval, args.passes
            )
    finally:
        close_spawner()
    print(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
