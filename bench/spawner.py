"""Start the measured processes from a small helper process, so that their peak RSS is theirs.

On Linux a child's peak RSS as ``wait4`` reports it is at least the RSS of the process that
spawned it: ``exec`` carries the old address space's high-water mark into the child's
``maxrss`` (with ``vfork``, as Python's ``subprocess`` uses, that is the spawner's own peak).
The benchmark's own process grows past 100 MB (clients, N models, results), so every child
it started directly would seem to use at least that much. Children are therefore started by
``python -m bench.spawner``, a process that imports little and stays small (its own peak,
``floor_mb``, is recorded: no child can be reported below it).

The helper reads one JSON request per line on stdin (``{"argv": [...], "timeout": s}``),
runs the command from the repository root with the helper's environment (which the
benchmark sets to ``system.child_environment()``) and answers one JSON line: wall time,
peak RSS in MB, exit code, stdout and stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

# The child


def main() -> int:
    for line in sys.stdin:
        request = json.loads(line)
        reply = _run(request["argv"], float(request["timeout"]))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


def _run(argv: list[str], timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return {
            "wall_s": wall,
            "rss_mb": maxrss_mb(usage.ru_maxrss),
            "code": os.waitstatus_to_exitcode(status),
            "out": out.read().decode(errors="replace"),
            "err": err.read().decode(errors="replace"),
            "floor_mb": peak_rss_mb(),
        }


def maxrss_mb(maxrss: int) -> float:
    # Linux reports KiB, macOS bytes.
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def peak_rss_mb() -> float:
    """This process's own peak RSS (for this helper: the least any child it starts can be
    reported at).

    ``VmHWM`` is the high-water mark of this address space only; ``ru_maxrss`` would also
    hold the peak inherited from the process that started this one.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    return maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# The parent


class Spawner:
    """The helper process; ``run`` starts one command through it and waits for it."""

    def __init__(self, cwd: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.spawner"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
        )

    def run(self, argv: list[str], timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"argv": argv, "timeout": timeout}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the spawner process ended unexpectedly")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        from bench.system import stop_child

        stop_child(self.process)


if __name__ == "__main__":
    sys.exit(main())
