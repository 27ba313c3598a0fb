"""Crash safety and concurrent runs, end to end: real processes, killed with SIGKILL.

The emulator serves from the test process, so a killed ``reconciler apply`` cannot take it
down; hooks on the backend slow calls down and kill the process at exact points (between a
replace's delete and its create, after the n-th create). A re-run must converge with
exactly one model per manifest, no duplicate create, and nothing unmanaged touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import manifest, models, write

UNMANAGED = ("legacy-a", "legacy-b", "legacy-c")


def apply_process(emulator: Any, folder: Path, *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "reconciler", "--endpoint-url", emulator.url,
        "--region", "us-east-1", "--max-rps", "0", "apply", str(folder), *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )


def unmanaged(emulator: Any) -> dict[str, tuple[str, dict[str, str]]]:
    found = models(emulator.client())
    return {n: (found[n]["modelArn"], found[n]["tags"]) for n in UNMANAGED}


@pytest.fixture
def account(emulator: Any) -> dict[str, tuple[str, dict[str, str]]]:
    client = emulator.client()
    for name in UNMANAGED:
        client.create_custom_model(
            modelName=name,
            modelSourceConfig={"s3DataSource": {"s3Uri": f"s3://legacy/{name}/"}},
            modelTags=[{"key": "owner", "value": "someone-else"}],
        )
    return unmanaged(emulator)


def slow(
    backend: Any, operation: str, seconds: float, after: Callable[[], None] | None = None
) -> None:
    original = getattr(backend, operation)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        result = original(*args, **kwargs)
        if after is not None:
            after()
        return result

    setattr(backend, operation, wrapper)
    return lambda: setattr(backend, operation, original)


def converge(emulator: Any, folder: Path, count: int) -> None:
    process = apply_process(emulator, folder)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    found = models(emulator.client())
    managed = [n for n, m in found.items() if m["tags"].get("reconciler:managed-by") == "default"]
    assert sorted(managed) == [f"m{i:02d}" for i in range(count)]


def in_sync(emulator: Any, folder: Path) -> bool:
    command = [
        sys.executable, "-m", "reconciler", "--endpoint-url", emulator.url, "--region",
        "us-east-1", "plan", str(folder), "--detailed-exitcode",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0


def many(folder: Path, count: int, prefix: str = "s3://acme-models") -> None:
    for i in range(count):
        write(folder, f"m{i:02d}.yaml", manifest(f"m{i:02d}", s3_uri=f"{prefix}/m{i:02d}/"))


@pytest.mark.parametrize("kill_after", [1, 10, 30])
def test_killed_during_creates_then_rerun_converges(
    emulator: Any, account: Any, tmp_path: Path, kill_after: int
) -> None:
    folder = tmp_path / "m"
    many(folder, 30)
    process: subprocess.Popen[str] | None = None
    killed = threading.Event()

    def maybe_kill() -> None:
        if emulator.backend.calls["CreateCustomModel"] >= kill_after + 3 and not killed.is_set():
            killed.set()
            assert process is not None
            os.kill(process.pid, signal.SIGKILL)

    slow(emulator.backend, "create_custom_model", 0.02, maybe_kill)
    process = apply_process(emulator, folder, "--concurrency", "4")
    process.communicate(timeout=60)
    assert killed.is_set() and process.returncode == -signal.SIGKILL
    assert len(models(emulator.client())) <= 33
    converge(emulator, folder, 30)
    assert len(models(emulator.client())) == 33
    assert in_sync(emulator, folder)
    assert unmanaged(emulator) == account


def test_killed_between_a_replace_delete_and_its_create(
    emulator: Any, account: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    many(folder, 5)
    converge(emulator, folder, 5)
    many(folder, 5, prefix="s3://acme-models/v2")  # every model is replaced
    process: subprocess.Popen[str] | None = None

    def kill_now() -> None:
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)

    undo = slow(emulator.backend, "delete_custom_model", 0.0, kill_now)
    process = apply_process(emulator, folder, "--concurrency", "1", "--force")
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert len(models(emulator.client())) == 3 + 4  # one model deleted, not yet recreated
    undo()
    process = apply_process(emulator, folder, "--force")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    found = models(emulator.client())
    assert len(found) == 8
    assert in_sync(emulator, folder)
    assert unmanaged(emulator) == account


def test_killed_during_deletes_then_rerun_converges(
    emulator: Any, account: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    many(folder, 12)
    converge(emulator, folder, 12)
    for i in range(6, 12):
        (folder / f"m{i:02d}.yaml").unlink()
    process: subprocess.Popen[str] | None = None
    deletes = 0

    def kill_on_third() -> None:
        nonlocal deletes
        deletes += 1
        if deletes == 3:
            assert process is not None
            os.kill(process.pid, signal.SIGKILL)

    undo = slow(emulator.backend, "delete_custom_model", 0.05, kill_on_third)
    process = apply_process(emulator, folder, "--concurrency", "1", "--force")
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    undo()
    process = apply_process(emulator, folder, "--force")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert sorted(models(emulator.client())) == sorted(
        [*UNMANAGED, *(f"m{i:02d}" for i in range(6))]
    )
    assert unmanaged(emulator) == account


def test_two_applies_at_once_make_no_duplicates_and_no_spurious_deletes(
    emulator: Any, account: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    many(folder, 20)
    slow(emulator.backend, "create_custom_model", 0.02)
    first = apply_process(emulator, folder)
    second = apply_process(emulator, folder)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    found = models(emulator.client())
    assert len(found) == 23
    assert emulator.backend.calls["DeleteCustomModel"] == 0
    assert unmanaged(emulator) == account
    converge(emulator, folder, 20)
