"""The commands that make no API call, each as its own process: start-up and ``validate``.

Timed from outside with each process's own peak RSS (``measure.run_measured``), as a user
or a CI job would run them: ``reconciler --help`` (with ``python -c pass`` beside it for
the interpreter's own share) and ``reconciler validate`` of many manifests, laid out as a
few large files and as one file per manifest.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import check, run_measured, summary
from bench.system import reconciler_command
from bench.workload import write_manifests

# Imported once, untimed, by ``warm_caches``: every module a measured process loads.
MEASURED_MODULES = (
    "bench.cliplan, bench.watchloop, reconciler.cli, reconciler.commands, reconciler.manifests, "
    "reconciler.plan, reconciler.planfile, reconciler.render, reconciler.reconcile, "
    "reconciler.watch, reconciler.aws.reader, reconciler.aws.client, reconciler.aws.executor"
)


def warm_caches() -> None:
    """Run each measured kind of process once, untimed: bytecode and file caches are warm."""
    check(run_measured([*reconciler_command(), "--help"]), "reconciler --help")
    check(run_measured([sys.executable, "-c", f"import {MEASURED_MODULES}"]), "imports")


def measure_startup(runs: int) -> dict[str, Any]:
    command = reconciler_command()
    help_runs = [
        check(run_measured([*command, "--help"]), "reconciler --help") for _ in range(runs)
    ]
    bare = [check(run_measured([sys.executable, "-c", "pass"]), "python") for _ in range(runs)]
    return {
        "help": {
            "command": " ".join([Path(command[0]).name, *command[1:], "--help"]),
            **summary(help_runs),
        },
        "python_baseline": {"command": "python -c pass", **summary(bare)},
        # Peak RSS cannot be reported below the spawner's own (see bench.spawner).
        "rss_floor_mb": round(max(r.floor_mb for r in help_runs + bare), 1),
    }


def measure_validate(count: int, repeat: int) -> list[dict[str, Any]]:
    """``reconciler validate`` of ``count`` manifests: 100 per file, then one per file."""
    command = reconciler_command()
    layouts = [(count // 100, 100), (count, 1)]
    found = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as temp:
        for files, per_file in layouts:
            folder = write_manifests(Path(temp, f"{files}x{per_file}"), count, per_file)
            runs = [
                check(run_measured([*command, "validate", str(folder)]), "reconciler validate")
                for _ in range(repeat)
            ]
            expected = f"{count} models valid in {files} file"  # "file." or "files."
            if expected not in runs[0].out:
                raise RuntimeError(f"validate printed {runs[0].out!r}, expected {expected!r}")
            found.append(
                {
                    "manifests": count,
                    "files": files,
                    "documents_per_file": per_file,
                    **summary(runs),
                }
            )
    return found
