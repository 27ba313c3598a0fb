"""Where the benchmark runs: the machine, the git commit, and a safe environment for children.

Owns the facts recorded with every result (platform, CPUs, memory, load average, commit)
and the environment every process the benchmark starts gets: fake credentials, no profile,
no endpoint override, so nothing can ever reach a real AWS account.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
SCOPE = "bench"

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    # Imported models are Active at once, so an in-sync plan is all "in sync" noops.
    "RECONCILER_SANDBOX_IMPORT_SECONDS": "0",
}


def safe_environment(base: dict[str, str]) -> dict[str, str]:
    """``base`` with fake credentials and nothing that could reach a real account: every
    ``AWS_*`` variable (profiles, session tokens, endpoint overrides) is dropped first."""
    env = {k: v for k, v in base.items() if not k.startswith("AWS_")}
    env.update(FAKE_ENV)
    return env


def make_this_process_safe() -> None:
    """Apply ``safe_environment`` to this process (boto3 reads ``os.environ``)."""
    env = safe_environment(dict(os.environ))
    os.environ.clear()
    os.environ.update(env)


def child_environment() -> dict[str, str]:
    """The environment of every measured child process."""
    env = safe_environment(dict(os.environ))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    # Measure what users get: bytecode cached, as after any install (see run.warm_caches).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def reconciler_command() -> list[str]:
    """The ``reconciler`` console script next to this interpreter, as users run it."""
    script = Path(sys.executable).parent / "reconciler"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "reconciler"]


def git_info() -> dict[str, Any]:
    """The commit measured, and whether the tree had uncommitted changes (read-only git)."""

    def git(*argv: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_model": None,
        "memory_mb": None,
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_mb"] = round(int(line.split()[1]) / 1024)
                break
    return info


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def stop_child(process: subprocess.Popen[str], farewell: str = "") -> None:
    """End a child that reads commands on stdin: say ``farewell``, close its stdin (end of
    input means stop), wait up to 10 s, then kill it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(OSError, ValueError):
        assert process.stdin is not None
        if farewell:
            process.stdin.write(farewell)
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
