"""The watch loop against the HTTP emulator: events, resyncs, drift, backoff, health, signals."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.health import HealthServer
from reconciler.watch import Watcher, WatchOptions
from tests.helpers import manifest, models, serving_lists, write


class Running:
    """A Watcher running in a thread, stopped at the end of the test."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.thread = threading.Thread(target=watcher.run, daemon=True)

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self.watcher

    def __exit__(self, *exc: object) -> None:
        self.watcher.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def eventually(check: Callable[[], bool], within: float) -> float:
    """Seconds until ``check()`` held; fails the test after ``within`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        try:
            if check():
                return time.monotonic() - start
        except Exception:  # the account may be failing on purpose; ask again
            pass
        time.sleep(0.05)
    raise AssertionError(f"not true within {within} s")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "a.yaml", manifest("alpha", tags={"team": "a"}))
    return folder


@pytest.fixture
def make(repo: Path, emulator: Any) -> Iterator[Callable[..., Running]]:
    def build(**overrides: Any) -> Running:
        settings: dict[str, Any] = {
            "paths": (str(repo),),
            "scope": "default",
            "interval": 60.0,
            "debounce_ms": 100,
            "tick_ms": 100,
            "backoff_base": 0.4,
            "backoff_cap": 5.0,
        }
        settings.update(overrides)
        logger = logging.getLogger(f"test-watch-{id(settings)}")
        return Running(Watcher(WatchOptions(**settings), emulator.client(), logger))

    yield build


def names(emulator: Any) -> list[str]:
    return sorted(models(emulator.client()))


def test_reconciles_at_start_and_a_new_manifest_within_two_seconds(
    make: Callable[..., Running], repo: Path, emulator: Any
) -> None:
    with make() as watcher:
        eventually(lambda: names(emulator) == ["alpha"], within=5)
        eventually(lambda: watcher.ready, within=1)
        write(repo, "b.yaml", manifest("beta"))
        took = eventually(lambda: "beta" in names(emulator), within=2)
    assert took < 2


def test_an_edited_tag_is_applied(make: Callable[..., Running], repo: Path, emulator: Any) -> None:
    with make():
        eventually(lambda: names(emulator) == ["alpha"], within=5)
        write(repo, "a.yaml", manifest("alpha", tags={"team": "b"}))
        eventually(lambda: models(emulator.client())["alpha"]["tags"]["team"] == "b", within=2)


def test_resync_heals_a_deleted_model_and_changed_tags(
    make: Callable[..., Running], emulator: Any
) -> None:
    with make(interval=1.0) as watcher:
        eventually(lambda: names(emulator) == ["alpha"], within=5)
        client = emulator.client()
        arn = models(client)["alpha"]["modelArn"]
        client.tag_resource(resourceARN=arn, tags=[{"key": "team", "value": "hacked"}])
        eventually(lambda: models(client)["alpha"]["tags"]["team"] == "a", within=3)
        client.delete_custom_model(modelIdentifier=arn)
        eventually(lambda: "alpha" in names(emulator), within=3)
        # The model shows in the account before the pass that made it records its metrics.
        eventually(lambda: watcher.metrics.drift._value.get() >= 2, within=2)


def test_a_broken_manifest_prunes_nothing_and_the_loop_goes_on(
    make: Callable[..., Running], repo: Path, emulator: Any
) -> None:
    write(repo, "b.yaml", manifest("beta"))
    with make(interval=0.5) as watcher:
        eventually(lambda: names(emulator) == ["alpha", "beta"], within=5)
        (repo / "b.yaml").write_text("apiVersion: [broken\n")
        passes = watcher.passes
        eventually(lambda: watcher.passes >= passes + 3, within=5)
        assert names(emulator) == ["alpha", "beta"]
        assert watcher.metrics.manifest_errors._value.get() >= 1
        write(repo, "b.yaml", manifest("gamma"))
        eventually(lambda: names(emulator) == ["alpha", "gamma"], within=3)


def test_an_empty_folder_never_prunes(
    make: Callable[..., Running], repo: Path, emulator: Any
) -> None:
    with make(interval=0.5) as watcher:
        eventually(lambda: names(emulator) == ["alpha"], within=5)
        (repo / "a.yaml").unlink()
        passes = watcher.passes
        eventually(lambda: watcher.passes >= passes + 3, within=5)
        assert names(emulator) == ["alpha"]


class Clock:
    """The watch loop's injected clock: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("rand", [0.0, 0.5, 0.999])
def test_a_failing_model_backs_off_while_others_converge(
    repo: Path, emulator: Any, rand: float
) -> None:
    """The exact schedule: after the k-th failure the next attempt comes no sooner than
    c/2 and no later than c, c = min(cap, base * 2^(k-1)); the others converge at once."""
    emulator.backend.import_seconds = 0.0  # Active at once: a refused delete fails, not defers
    clock = Clock()
    base, cap = 10.0, 60.0
    options = WatchOptions(paths=(str(repo),), scope="default", backoff_base=base, backoff_cap=cap)
    w = Watcher(options, emulator.client(), logging.getLogger("test-backoff"), clock=clock,
                rand=lambda: rand)  # fmt: skip
    write(repo, "b.yaml", manifest("beta"))
    w.reconcile("start")
    emulator.backend.set_in_use("beta", True)
    (repo / "b.yaml").unlink()
    write(repo, "c.yaml", manifest("gamma"))
    deletes = emulator.backend.calls["DeleteCustomModel"]
    w.reconcile("manifests changed")
    assert "gamma" in names(emulator)  # the others converge in the same pass
    attempts = emulator.backend.calls["DeleteCustomModel"] - deletes
    assert attempts == 1
    for failures in range(1, 6):
        ceiling = min(cap, base * 2 ** (failures - 1))
        due = clock.now + ceiling / 2 + rand * ceiling / 2
        clock.now = due - 0.01
        assert w.backoff.take_due() == []
        w.reconcile("resync")  # a pass before it is due does not try beta again
        assert emulator.backend.calls["DeleteCustomModel"] - deletes == attempts
        clock.now = due
        assert w.backoff.take_due() == ["CustomModel/beta"]
        w.reconcile("retry")
        attempts += 1
        assert emulator.backend.calls["DeleteCustomModel"] - deletes == attempts
    emulator.backend.set_in_use("beta", False)
    clock.now += cap
    w.reconcile("retry")  # a success forgets the failures
    assert "beta" not in names(emulator)
    assert w.backoff.waiting() == []


def test_api_errors_never_end_the_loop(make: Callable[..., Running], emulator: Any) -> None:
    emulator.backend.fail_next("ListCustomModels", "AccessDeniedException", times=3)
    with make(interval=0.3) as watcher:
        eventually(lambda: names(emulator) == ["alpha"], within=8)
        assert watcher.metrics.runs.labels(result="error")._value.get() >= 1


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_ready_and_metrics(make: Callable[..., Running], emulator: Any) -> None:
    running = make()
    watcher = running.watcher
    server = HealthServer(0, watcher.metrics.registry, watcher.healthy, lambda: watcher.ready)
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert get(f"{base}/readyz")[0] == 503
        with running:
            eventually(lambda: get(f"{base}/readyz")[0] == 200, within=5)
            assert get(f"{base}/healthz") == (200, "ok\n")
            status, body = get(f"{base}/metrics")
            assert status == 200
            assert 'reconciler_reconcile_runs_total{result="success"}' in body
            assert 'reconciler_actions_total{action="create",result="done"} 1.0' in body
            assert "reconciler_managed_models" in body
            assert "reconciler_reconcile_duration_seconds_bucket" in body
            assert "reconciler_last_success_timestamp_seconds" in body
            watcher.last_tick -= 10_000
            assert get(f"{base}/healthz")[0] == 503
        assert get(f"{base}/nope")[0] == 404
    finally:
        server.close()


def test_sigterm_exits_0_without_a_traceback(tmp_path: Path, repo: Path) -> None:
    command = [
        sys.executable, "-m", "reconciler", "--sandbox", "--sandbox-state",
        str(tmp_path / "state.json"), "watch", str(repo), "--log-format", "json",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 20
        assert process.stderr is not None
        for line in process.stderr:
            if '"action_done"' in line or time.monotonic() > deadline:
                break
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in err
    assert '"event": "stopped"' in err


def test_tags_are_cached_between_resyncs(repo: Path, emulator: Any) -> None:
    from collections import Counter

    from reconciler.aws.client import instrument

    calls: Counter[str] = Counter()
    client = emulator.client()
    instrument(client, lambda op: calls.update([op]), lambda op: None)
    options = WatchOptions(paths=(str(repo),), scope="default")
    watcher = Watcher(options, client, logging.getLogger("test-watch-cache"))
    write(repo, "b.yaml", manifest("beta"))
    watcher.reconcile("start")
    watcher.reconcile("resync")
    assert calls["ListTagsForResource"] == 2  # nothing listed at start; both at the resync
    write(repo, "b.yaml", manifest("beta", tags={"team": "b"}))
    calls.clear()
    watcher.reconcile("manifests changed")
    assert calls == {  # every tag from the cache
        "ListCustomModels": 1,
        "ListProvisionedModelThroughputs": 1,
        "ListCustomModelDeployments": 1,
        "TagResource": 1,
    }
    calls.clear()
    watcher.reconcile("manifests changed")
    # beta's, after its update
    assert calls == {**serving_lists(), "ListCustomModels": 1, "ListTagsForResource": 1}
    calls.clear()
    watcher.reconcile("resync")
    assert calls == {**serving_lists(), "ListCustomModels": 1, "ListTagsForResource": 2}


def test_resyncs_read_tags_from_the_index_and_heal_drift(repo: Path, emulator: Any) -> None:
    from collections import Counter

    from reconciler.aws.client import instrument
    from tests.aws.test_reader import tagging_client

    calls: Counter[str] = Counter()
    client, tagging = emulator.client(), tagging_client(emulator)
    for made in (client, tagging):
        instrument(made, lambda op: calls.update([op]), lambda op: None)
    options = WatchOptions(paths=(str(repo),), scope="default")
    watcher = Watcher(options, client, logging.getLogger("test-index"), tagging=lambda: tagging)
    write(repo, "b.yaml", manifest("beta"))
    watcher.reconcile("start")
    calls.clear()
    for _ in range(3):
        watcher.reconcile("resync")
    assert calls == {  # steady state: no tag reads
        "ListCustomModels": 3,
        "ListProvisionedModelThroughputs": 3,
        "ListCustomModelDeployments": 3,
        "GetResources": 3,
    }
    alpha = models(client)["alpha"]["modelArn"]
    client.tag_resource(resourceARN=alpha, tags=[{"key": "team", "value": "changed"}])
    calls.clear()
    watcher.reconcile("resync")
    # The index shows the drift; alpha's tags are confirmed, then restored.
    assert calls == {
        **serving_lists(),
        "ListCustomModels": 1,
        "GetResources": 1,
        "ListTagsForResource": 1,
        "TagResource": 1,
    }
    assert models(client)["alpha"]["tags"]["team"] == "a"


def publish(root: Path, revision: str, texts: dict[str, str]) -> None:
    """What git-sync does: write a new worktree, repoint the link atomically, drop the old."""
    folder = root / revision
    for name, text in texts.items():
        write(folder, name, text)
    old = (root / "repo").resolve() if (root / "repo").exists() else None
    (root / "repo.tmp").symlink_to(folder)
    os.replace(root / "repo.tmp", root / "repo")
    if old is not None:
        for file in old.iterdir():
            file.unlink()
        old.rmdir()


def test_follows_git_sync_symlink_swaps(
    make: Callable[..., Running], tmp_path: Path, emulator: Any
) -> None:
    root = tmp_path / "git"
    root.mkdir()
    publish(root, "rev1", {"a.yaml": manifest("alpha")})
    with make(paths=(str(root / "repo"),)):
        eventually(lambda: names(emulator) == ["alpha"], within=5)
        publish(root, "rev2", {"a.yaml": manifest("alpha"), "b.yaml": manifest("beta")})
        eventually(lambda: names(emulator) == ["alpha", "beta"], within=2)
        publish(root, "rev3", {"b.yaml": manifest("beta"), "c.yaml": manifest("gamma")})
        eventually(lambda: names(emulator) == ["beta", "gamma"], within=2)
        publish(root, "rev4", {"b.yaml": manifest("beta")})
        eventually(lambda: names(emulator) == ["beta"], within=2)


def test_a_folder_that_appears_later_is_reconciled(
    make: Callable[..., Running], tmp_path: Path, emulator: Any
) -> None:
    late = tmp_path / "late"
    with make(paths=(str(late),)) as watcher:
        time.sleep(0.5)
        assert not watcher.ready
        write(late, "a.yaml", manifest("alpha"))
        eventually(lambda: names(emulator) == ["alpha"], within=2)
        eventually(lambda: watcher.ready, within=1)
