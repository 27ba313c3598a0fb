"""How the benchmark measures: wall and CPU time, peak memory, medians.

- ``run_measured``: a child process's wall time and its own peak RSS (``os.wait4``, not
  ``RUSAGE_CHILDREN``, which would be the largest child so far), started through
  ``bench.spawner`` so that this process's own size does not count.
- ``timed``: wall and CPU time of a block in this process, with the emulator process's CPU
  over the same block (so a slow phase can be blamed on the client or on the emulator).
- ``RssSampler`` / ``current_rss_mb``: this process's resident memory while a block runs.
- ``summary``: median, min, max of repeated runs.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.spawner import Spawner, maxrss_mb
from bench.system import ROOT, child_environment

SUBPROCESS_TIMEOUT = 900.0


@dataclass(frozen=True)
class Measured:
    wall_s: float
    rss_mb: float
    code: int
    out: str
    err: str
    floor_mb: float = 0.0  # the spawner's own peak RSS: rss_mb cannot be reported below it


_spawner: Spawner | None = None


def run_measured(argv: Sequence[str], timeout: float = SUBPROCESS_TIMEOUT) -> Measured:
    """Run ``argv`` from the repository root; its wall time and its own peak RSS.

    Started by ``bench.spawner``, a small helper process, since a child started from this
    (large) process would inherit this process's peak RSS as its own.
    """
    global _spawner  # noqa: PLW0603 (one helper for the whole run, started on first use)
    if _spawner is None:
        _spawner = Spawner(str(ROOT), child_environment())
    reply = _spawner.run(list(argv), timeout)
    return Measured(
        reply["wall_s"],
        reply["rss_mb"],
        reply["code"],
        reply["out"],
        reply["err"],
        reply["floor_mb"],
    )


def close_spawner() -> None:
    global _spawner  # noqa: PLW0603
    if _spawner is not None:
        _spawner.close()
        _spawner = None


def check(measured: Measured, what: str, codes: tuple[int, ...] = (0,)) -> Measured:
    """``measured``, or an error with the end of its stderr if it exited otherwise."""
    if measured.code not in codes:
        raise RuntimeError(f"{what} exited {measured.code}:\n{measured.err[-3000:]}")
    return measured


def summary(runs: Sequence[Measured]) -> dict[str, Any]:
    walls = [r.wall_s for r in runs]
    return {
        "median_s": round(statistics.median(walls), 4),
        "min_s": round(min(walls), 4),
        "max_s": round(max(walls), 4),
        "runs_s": [round(w, 4) for w in walls],
        "peak_rss_mb": round(max(r.rss_mb for r in runs), 1),
    }


def median_run(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median ``wall_s`` (the upper middle one for an even count), with
    ``median_s`` and every run's time added: its calls and CPU belong to that time."""
    walls = [r["wall_s"] for r in runs]
    middle = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    return {**middle, "median_s": round(statistics.median(walls), 4), "runs_s": walls}


@dataclass
class Timed:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    emulator_cpu_s: float = 0.0


@contextlib.contextmanager
def timed(emulator_cpu: Callable[[], float]) -> Iterator[Timed]:
    """Wall and CPU seconds of the block, and the emulator's CPU seconds meanwhile."""
    result = Timed()
    server_cpu = emulator_cpu()
    cpu = time.process_time()
    started = time.perf_counter()
    yield result
    result.wall_s = time.perf_counter() - started
    result.cpu_s = time.process_time() - cpu
    result.emulator_cpu_s = emulator_cpu() - server_cpu


def phase(t: Timed, probe: Any, emulator_calls: dict[str, int]) -> dict[str, Any]:
    """One measured phase: its times, the client's counters (a ``bench.probe.Probe``) and the
    calls the emulator received meanwhile."""
    return {
        "wall_s": round(t.wall_s, 4),
        "client_cpu_s": round(t.cpu_s, 4),
        "emulator_cpu_s": round(t.emulator_cpu_s, 4),
        **probe.snapshot(),
        "emulator_calls": emulator_calls,
    }


def current_rss_mb() -> float:
    """This process's resident set size now (Linux); its peak so far elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        import resource

        return maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


class RssSampler:
    """This process's resident set size, sampled every few milliseconds while in use.

    The process's own peak (``ru_maxrss``) cannot be reset between phases, hence sampling.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.before_mb = current_rss_mb()
        self.peak_mb = self.before_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, current_rss_mb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, current_rss_mb())


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


def rate_limit_bound_s(calls: int, max_rps: float) -> float | None:
    """The least time ``calls`` calls of one operation take under ``--max-rps``: the
    package's ``RateLimiter`` lets a burst of ``max(1, rate / 10)`` through, then ``rate``
    per second. None without a limit."""
    if not max_rps:
        return None
    burst = max(1.0, max_rps / 10)
    return round(max(0.0, calls - burst) / max_rps, 4)
