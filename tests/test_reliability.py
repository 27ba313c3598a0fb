"""Reliability end to end: the CLI against the emulator under injected faults.

Every test runs the real CLI (``main([...])`` in process, or ``python -m reconciler`` in a
subprocess where it must be killed) with real boto3 clients against the HTTP emulator, whose
``Faults`` throttle, fail, rate-limit, slow down or drop calls. Each must end with exactly
one model per manifest: none lost, none created twice, nothing unmanaged touched.

The figures (faults injected, runs, models lost, duplicates, unmanaged models touched, wall
time) are printed at the end of the module as a Markdown table for the README.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.endpoint
import pytest

from reconciler.aws.settings import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    AwsSettings,
    worst_case_seconds,
)
from reconciler.sandbox import Faults
from tests.helpers import Cli, Run, manifest, models, print_figures, write

SCOPE_TAG = "reconciler:managed-by"
HASH_TAG = "reconciler:spec-hash"
UNMANAGED = ("legacy-untagged", "legacy-other-scope", "legacy-team")
MAX_RUNS = 3
QUICK_TIMEOUTS = ("--connect-timeout", "0.5", "--read-timeout", "0.5")

# Figures -------------------------------------------------------------------------------


@dataclass
class Figure:
    scenario: str
    faults: int = 0
    runs: int = 1
    lost: int = 0
    duplicates: int = 0
    unmanaged_touched: int = 0
    seconds: float = 0.0
    note: str = ""


FIGURES: list[Figure] = []


@pytest.fixture(scope="module", autouse=True)
def figures_table(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the figures as a Markdown table once the module's tests have run."""
    yield
    if not FIGURES:
        return
    lines = [
        "",
        "| scenario | faults injected | runs | models lost | duplicates "
        "| unmanaged touched | wall time | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *(
            f"| {f.scenario} | {f.faults} | {f.runs} | {f.lost} | {f.duplicates} "
            f"| {f.unmanaged_touched} | {f.seconds:.1f} s | {f.note} |"
            for f in FIGURES
        ),
    ]
    print_figures(request, lines)


# Helpers -------------------------------------------------------------------------------


def many(folder: Path, count: int, prefix: str = "s3://acme-models") -> None:
    """``count`` manifests m00, m01, ... in ``folder``, one per file."""
    for i in range(count):
        name = f"m{i:02d}"
        write(folder, f"{name}.yaml", manifest(name, s3_uri=f"{prefix}/{name}/"))


def seed_unmanaged(emulator: Any) -> dict[str, tuple[str, dict[str, str]]]:
    """Three models the default scope must never touch: untagged, another scope's, a team's."""
    client = emulator.client()
    tags = {
        "legacy-untagged": [],
        "legacy-other-scope": [
            {"key": SCOPE_TAG, "value": "other-team"},
            {"key": HASH_TAG, "value": "0" * 32},
        ],
        "legacy-team": [{"key": "owner", "value": "someone-else"}],
    }
    for name in UNMANAGED:
        client.create_custom_model(
            modelName=name,
            modelSourceConfig={"s3DataSource": {"s3Uri": f"s3://legacy/{name}/"}},
            modelTags=tags[name],
        )
    return unmanaged(emulator)


def unmanaged(emulator: Any) -> dict[str, tuple[str, dict[str, str]]]:
    found = models(emulator.client())
    return {n: (found[n]["modelArn"], found[n]["tags"]) for n in UNMANAGED if n in found}


def touched(before: dict[str, tuple[str, dict[str, str]]], emulator: Any) -> int:
    after = unmanaged(emulator)
    return sum(after.get(name) != value for name, value in before.items())


def managed(emulator: Any) -> dict[str, dict[str, Any]]:
    return {
        n: m for n, m in models(emulator.client()).items() if m["tags"].get(SCOPE_TAG) == "default"
    }


def created_arns(emulator: Any) -> set[str]:
    """Every model the reconciler ever created (it always sends an idempotency token; so
    does boto3 for the unmanaged models the tests make, which are left out)."""
    backend = emulator.backend
    seeded = {m.arn for m in backend.models.values() if m.name in UNMANAGED}
    return {record.model_arn for record in backend.tokens.values()} - seeded


def converge(cli: Cli, *argv: str, environ: dict[str, str] | None = None) -> tuple[int, Run]:
    """Run ``apply`` until it exits 0, at most MAX_RUNS times; the runs and the last one."""
    for runs in range(1, MAX_RUNS + 1):
        run = cli("apply", *argv, environ=environ)
        if run.code == 0:
            return runs, run
        assert "Traceback" not in run.err
    return MAX_RUNS + 1, run


def in_sync(cli: Cli, folder: Path) -> bool:
    """A plan of ``folder`` is all noops (run without faults)."""
    run = cli("plan", str(folder), "--output", "json")
    return run.code == 0 and {a["action"] for a in run.json()["actions"]} <= {"noop"}


def faults_count(emulator: Any) -> int:
    """Every fault the emulator injected so far, delays included."""
    return sum(emulator.backend.faults_injected.values())


def apply_process(emulator: Any, folder: Path, *extra: str) -> subprocess.Popen[str]:
    command = [
        *(sys.executable, "-m", "reconciler", "--endpoint-url", emulator.url),
        *("--region", "us-east-1", "apply", str(folder), "--output", "json", *extra),
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def kill_when(process: subprocess.Popen[str], ready: Callable[[], bool], limit: float = 60) -> None:
    """SIGKILL ``process`` as soon as ``ready()``; fail if it finishes or times out first."""
    deadline = time.monotonic() + limit
    while not ready():
        assert process.poll() is None, "the apply finished before the kill point"
        assert time.monotonic() < deadline, "the kill point was never reached"
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


# Throttling, server errors, dropped connections -----------------------------------------


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("scenario", "settings"),
    [
        ("30% of calls throttled (429)", {"throttle_rate": 0.3}),
        ("20% of calls fail (500)", {"error_rate": 0.2}),
        ("10% dropped + 10% lost responses", {"drop_rate": 0.1, "lost_response_rate": 0.1}),
    ],
    ids=["throttle", "server-error", "dropped"],
)
def test_apply_converges_under_random_faults(
    cli: Cli, emulator: Any, tmp_path: Path, scenario: str, settings: dict[str, float]
) -> None:
    before = seed_unmanaged(emulator)
    folder = tmp_path / "m"
    many(folder, 20)
    emulator.backend.faults = Faults(**settings, seed=1)
    started = time.monotonic()
    runs, last = converge(cli, str(folder))
    seconds = time.monotonic() - started
    injected = faults_count(emulator)
    emulator.backend.faults = None
    found = managed(emulator)
    figure = Figure(
        scenario=f"apply 20 manifests, {scenario}",
        faults=injected,
        runs=runs,
        lost=20 - len(found),
        duplicates=len(created_arns(emulator)) - 20,
        unmanaged_touched=touched(before, emulator),
        seconds=seconds,
    )
    FIGURES.append(figure)
    assert runs <= MAX_RUNS, last.err
    assert injected > 0
    assert sorted(found) == [f"m{i:02d}" for i in range(20)]
    assert (figure.lost, figure.duplicates, figure.unmanaged_touched) == (0, 0, 0)
    assert in_sync(cli, folder)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("client_limit", [None, "5"], ids=["backoff-only", "max-rps-5"])
def test_a_rate_quota_slows_the_client_down_instead_of_hammering(
    cli: Cli, emulator: Any, tmp_path: Path, client_limit: str | None
) -> None:
    folder = tmp_path / "m"
    many(folder, 30)
    faults = Faults(quota_rps=5)
    emulator.backend.faults = faults
    limit = ["--max-rps", client_limit] if client_limit else []
    started = time.monotonic()
    runs, last = converge(cli, *limit, str(folder))
    seconds = time.monotonic() - started
    emulator.backend.faults = None
    creates = faults.history(["CreateCustomModel"])
    rejected = sum(r.outcome == "quota" for r in creates)
    accepted = len(creates) - rejected
    span = creates[-1].time - creates[0].time
    mean_rate = len(creates) / span
    peak = faults.peak_rate("CreateCustomModel")
    found = managed(emulator)
    FIGURES.append(
        Figure(
            scenario="30 creates, a 5 requests/s quota per operation"
            + (f" (`--max-rps {client_limit}`)" if client_limit else ""),
            faults=faults_count(emulator),
            runs=runs,
            lost=30 - len(found),
            duplicates=len(created_arns(emulator)) - 30,
            seconds=seconds,
            note=f"{rejected} of {len(creates)} CreateCustomModel attempts refused; "
            f"{mean_rate:.1f} attempts/s on average, at most {peak} in one second",
        )
    )
    assert runs == 1, last.err
    assert accepted == 30 and len(found) == 30
    assert len(created_arns(emulator)) == 30
    # The client backs off: refused attempts are a bounded share (at most three per model on
    # average), not a tight loop, and the server saw creates at a few times the quota at
    # most (8 threads retrying with jittered exponential backoff; a tight loop would be
    # hundreds a second).
    assert rejected <= 3 * 30
    assert mean_rate <= 5 * 5
    if client_limit:
        assert rejected <= 3
        assert mean_rate <= 5 * 1.2


# Crash safety: SIGKILL at several points, then a re-run ---------------------------------


@dataclass(frozen=True)
class Crash:
    """Where an apply of 30 manifests is killed: what to set up, slow down and wait for."""

    scenario: str
    setup: str  # "empty" or "applied" (30 models exist; the manifests then change)
    slow: str  # the operation the faults slow down
    latency: float
    kill_when: Callable[[Any], bool]
    change: str = ""  # "delete" (9 manifests removed) or "replace" (5 s3Uris changed)


CRASHES = [
    Crash("killed before any create", "empty", "ListCustomModels", 2.0,
          lambda calls: calls["ListCustomModels"] >= 1),
    Crash("killed after 10 of 30 creates", "empty", "CreateCustomModel", 0.15,
          lambda calls: calls["CreateCustomModel"] >= 10),
    Crash("killed after the last create, before its check", "empty", "ListCustomModels", 0.4,
          lambda calls: calls["CreateCustomModel"] >= 30),
    Crash("killed after 4 of 9 deletes", "applied", "DeleteCustomModel", 0.3,
          lambda calls: calls["DeleteCustomModel"] >= 4, change="delete"),
    Crash("killed between 5 replaces' deletes and their creates", "applied",
          "DeleteCustomModel", 0.5, lambda calls: calls["DeleteCustomModel"] >= 5,
          change="replace"),
]  # fmt: skip


@pytest.mark.timeout(90)
@pytest.mark.parametrize("crash", CRASHES, ids=lambda c: c.scenario.replace(" ", "-"))
def test_a_killed_apply_is_finished_by_the_next_run(
    cli: Cli, emulator: Any, tmp_path: Path, crash: Crash
) -> None:
    before = seed_unmanaged(emulator)
    folder = tmp_path / "m"
    many(folder, 30)
    if crash.setup == "applied":
        assert cli("apply", str(folder)).code == 0
    survivors = {n: m["modelArn"] for n, m in managed(emulator).items()}
    expected = [f"m{i:02d}" for i in range(30)]
    if crash.change == "delete":
        for name in expected[21:]:
            (folder / f"{name}.yaml").unlink()
        expected = expected[:21]
    if crash.change == "replace":
        for i in range(5):
            write(folder, f"m{i:02d}.yaml", manifest(f"m{i:02d}", s3_uri=f"s3://acme-v2/m{i:02d}/"))
    emulator.backend.calls.clear()
    faults = Faults(latency=crash.latency, operations=frozenset({crash.slow}))
    emulator.backend.faults = faults
    started = time.monotonic()
    process = apply_process(emulator, folder)
    kill_when(process, lambda: crash.kill_when(emulator.backend.calls))
    # The calls the dead process had sent still complete on the server, as in AWS.
    faults.cancel()
    assert faults.wait_idle(10)
    emulator.backend.faults = None
    at_kill = dict(emulator.backend.calls)
    if crash.change == "replace":
        # Cut between delete and create: the replaced models are gone, none recreated yet.
        assert at_kill.get("CreateCustomModel", 0) == 0
        assert len(managed(emulator)) == 25
    runs, last = converge(cli, str(folder))
    seconds = time.monotonic() - started
    found = managed(emulator)
    fresh = 30 if crash.setup == "empty" else 5 if crash.change == "replace" else 0
    kept = {n: a for n, a in survivors.items() if n in found and n not in {"m00", "m01"}}
    figure = Figure(
        scenario=f"apply of 30, SIGKILL: {crash.scenario}; then a re-run",
        faults=faults_count(emulator) + 1,  # the delayed calls, and the SIGKILL
        runs=runs + 1,
        lost=len(set(expected) - set(found)),
        duplicates=len(created_arns(emulator)) - len(survivors) - fresh,
        unmanaged_touched=touched(before, emulator),
        seconds=seconds,
        note=f"calls at kill: {', '.join(f'{k} {v}' for k, v in sorted(at_kill.items()))}",
    )
    FIGURES.append(figure)
    assert runs == 1, last.err
    assert sorted(found) == expected
    assert (figure.lost, figure.duplicates, figure.unmanaged_touched) == (0, 0, 0)
    if crash.change != "replace":  # models that needed nothing were never recreated
        assert all(found[n]["modelArn"] == arn for n, arn in kept.items() if n in expected)
    assert in_sync(cli, folder)


# Two applies at once --------------------------------------------------------------------


Outputs = list[tuple[str, str]]


def race(
    emulator: Any, first_folder: Path, second_folder: Path, count: int
) -> tuple[subprocess.Popen[str], subprocess.Popen[str], Outputs]:
    """Two applies of ``count`` models at once, both planning on the same account: creates
    are held on the server until both runs have sent their first wave (so both have
    planned), then all are let go together."""
    faults = Faults(latency=60.0, operations=frozenset({"CreateCustomModel"}))
    emulator.backend.faults = faults
    emulator.backend.calls.clear()
    first = apply_process(emulator, first_folder)
    second = apply_process(emulator, second_folder)
    waves = 2 * min(count, DEFAULT_CONCURRENCY)
    deadline = time.monotonic() + 30
    while emulator.backend.calls["CreateCustomModel"] < waves and time.monotonic() < deadline:
        time.sleep(0.005)
    faults.cancel()
    outputs = [process.communicate(timeout=60) for process in (first, second)]
    emulator.backend.faults = None
    return first, second, outputs


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "variant", ["same manifests", "same content, another roleArn"], ids=["same", "other-role"]
)
def test_two_applies_at_once_converge_without_duplicates(
    cli: Cli, emulator: Any, tmp_path: Path, variant: str
) -> None:
    before = seed_unmanaged(emulator)
    first_folder, second_folder = tmp_path / "a", tmp_path / "b"
    many(first_folder, 20)
    if variant == "same manifests":
        many(second_folder, 20)
    else:
        # Another roleArn: another create request (so another idempotency token), but the same
        # spec hash. The loser's create meets ConflictException on a model that is the one
        # it wants, which is not a failure.
        for i in range(20):
            name = f"m{i:02d}"
            text = manifest(name, role="arn:aws:iam::111122223333:role/Other")
            write(second_folder, f"{name}.yaml", text)
    started = time.monotonic()
    first, second, outputs = race(emulator, first_folder, second_folder, 20)
    seconds = time.monotonic() - started
    found = managed(emulator)
    figure = Figure(
        scenario=f"two applies of 20 at once ({variant})",
        faults=faults_count(emulator),
        runs=2,
        lost=20 - len(found),
        duplicates=len(created_arns(emulator)) - 20,
        unmanaged_touched=touched(before, emulator),
        seconds=seconds,
        note=f"exit codes {first.returncode} and {second.returncode}",
    )
    FIGURES.append(figure)
    for _, err in outputs:
        assert "Traceback" not in err
    assert (figure.lost, figure.duplicates, figure.unmanaged_touched) == (0, 0, 0)
    assert emulator.backend.calls["DeleteCustomModel"] == 0
    assert (first.returncode, second.returncode) == (0, 0), outputs
    for out, _ in outputs:
        results = {a["name"]: a["result"] for a in json.loads(out)["actions"]}
        assert set(results.values()) == {"done"}
    assert in_sync(cli, first_folder)
    assert in_sync(cli, second_folder)


@pytest.mark.timeout(90)
def test_a_lost_race_for_a_name_is_reported_clearly(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    """Two runs declare the same names with different content: each name goes to one of
    them; the other reports, per model, that the name was taken meanwhile."""
    before = seed_unmanaged(emulator)
    first_folder, second_folder = tmp_path / "a", tmp_path / "b"
    many(first_folder, 10)
    many(second_folder, 10, prefix="s3://elsewhere")
    _, _, outputs = race(emulator, first_folder, second_folder, 10)
    assert len(managed(emulator)) == 10
    assert len(created_arns(emulator)) == 10
    assert emulator.backend.calls["DeleteCustomModel"] == 0
    assert touched(before, emulator) == 0
    lost = 0
    for out, err in outputs:
        assert "Traceback" not in err
        for action in json.loads(out)["actions"]:
            if action["result"] == "failed":
                lost += 1
                assert "ConflictException" in action["error"]
                assert "the name was taken meanwhile by another model" in action["error"]
    assert lost == 10


def test_a_lost_race_is_not_blamed_on_a_model_in_use(
    cli: Cli, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "m"
    many(folder, 1)
    backend = emulator.backend
    original = backend.create_custom_model

    def another_run_wins(**request: Any) -> str:
        # Another run creates the name first, with other content, just before this create.
        original(
            model_name=request["model_name"],
            model_source_config={"s3DataSource": {"s3Uri": "s3://elsewhere/m00/"}},
            model_tags=[{"key": SCOPE_TAG, "value": "default"}, {"key": HASH_TAG, "value": "1"}],
        )
        return original(**request)

    monkeypatch.setattr(backend, "create_custom_model", another_run_wins)
    run = cli("apply", str(folder), "--output", "json")
    [action] = run.json()["actions"]
    assert action["result"] == "failed"
    assert "the name was taken meanwhile by another model" in action["error"]
    assert "in use" not in action["error"]
    assert "ConflictException: a model with this name already exists" in action["error"]


# Unreachable endpoints, refused connections, read timeouts -----------------------------


class RecordedSleeps:
    """Stands in for ``time`` in botocore.endpoint: retry backoffs are recorded, not slept."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._by_thread: Counter[int] = Counter()

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self._by_thread[threading.get_ident()] += seconds

    @property
    def waited(self) -> float:
        """What a user would have waited: calls in separate threads back off side by side."""
        return max(self._by_thread.values(), default=0.0)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> RecordedSleeps:
    recorded = RecordedSleeps()
    monkeypatch.setattr(botocore.endpoint, "time", recorded)
    return recorded


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_clear_line(run: Run, operation: str, service: str = "Bedrock") -> str:
    assert run.code == 1
    assert "Traceback" not in run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    pattern = rf"error: {operation}( m\d\d)? failed: cannot reach the {service} endpoint \(.+\)"
    assert re.fullmatch(pattern, lines[0]), lines[0]
    return lines[0]


def test_a_refused_connection_fails_with_one_line_in_bounded_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, backoffs: RecordedSleeps
) -> None:
    folder = tmp_path / "m"
    many(folder, 3)
    cli = Cli(f"http://127.0.0.1:{closed_port()}", capsys)
    started = time.monotonic()
    run = cli("apply", str(folder))
    elapsed = time.monotonic() - started
    # The first call of every command learns the account (sts:GetCallerIdentity), at the
    # same endpoint; every attempt was made, with botocore's (short) backoff.
    one_clear_line(run, "GetCallerIdentity", "STS")
    assert len(backoffs.delays) == DEFAULT_MAX_ATTEMPTS - 1
    worst = worst_case_seconds(AwsSettings(connect_timeout=0), connects=False)
    FIGURES.append(
        Figure(
            scenario="refused connection (closed port), default retries",
            faults=DEFAULT_MAX_ATTEMPTS,
            runs=1,
            seconds=elapsed + backoffs.waited,
            note=f"{DEFAULT_MAX_ATTEMPTS} attempts; time includes the backoff a user waits "
            f"(recorded, not slept, in the test); worst case {elapsed + worst:.1f} s",
        )
    )
    assert elapsed + worst < 30


def seed_deletable(cli: Cli, emulator: Any, folder: Path) -> dict[str, str]:
    """Five managed models, of which the manifests then declare only three."""
    many(folder, 5)
    assert cli("apply", str(folder)).code == 0
    for name in ("m03", "m04"):
        (folder / f"{name}.yaml").unlink()
    return {n: m["modelArn"] for n, m in models(emulator.client()).items()}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("kind", "settings"),
    [
        ("read timeout", {"latency": 3.0}),
        ("dropped connections", {"drop_rate": 1.0}),
    ],
    ids=["read-timeout", "dropped"],
)
def test_a_broken_network_mid_read_fails_clearly_and_deletes_nothing(
    cli: Cli,
    emulator: Any,
    tmp_path: Path,
    backoffs: RecordedSleeps,
    kind: str,
    settings: dict[str, float],
) -> None:
    folder = tmp_path / "m"
    before = seed_deletable(cli, emulator, folder)
    emulator.backend.calls.clear()
    # The list works; reading the tags (the step before any delete) times out or drops.
    faults = Faults(**settings, operations=frozenset({"ListTagsForResource"}))
    emulator.backend.faults = faults
    started = time.monotonic()
    run = cli("apply", *QUICK_TIMEOUTS, str(folder))
    elapsed = time.monotonic() - started
    faults.cancel()
    assert faults.wait_idle(10)
    emulator.backend.faults = None
    line = one_clear_line(run, "ListTagsForResource")
    assert re.search(r"ListTagsForResource m0\d failed", line)
    assert emulator.backend.calls["DeleteCustomModel"] == 0
    assert {n: m["modelArn"] for n, m in models(emulator.client()).items()} == before
    FIGURES.append(
        Figure(
            scenario=f"{kind} on every tag read during apply (0.5 s read timeout)",
            faults=faults_count(emulator),
            seconds=elapsed,
            note="exit 1, one line, nothing deleted; botocore's backoff recorded, not slept",
        )
    )
    assert elapsed < 20


@pytest.mark.timeout(30)
def test_a_silent_endpoint_fails_with_one_line_in_bounded_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, backoffs: RecordedSleeps
) -> None:
    """An endpoint that accepts connections and never answers (a hung proxy)."""
    folder = tmp_path / "m"
    many(folder, 3)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        cli = Cli(f"http://127.0.0.1:{silent.getsockname()[1]}", capsys)
        started = time.monotonic()
        run = cli("apply", *QUICK_TIMEOUTS, str(folder), environ={"AWS_MAX_ATTEMPTS": "3"})
        elapsed = time.monotonic() - started
    line = one_clear_line(run, "GetCallerIdentity", "STS")
    assert "Read timeout" in line
    quick = AwsSettings(max_attempts=3, connect_timeout=0.5, read_timeout=0.5)
    assert elapsed < worst_case_seconds(quick, connects=True) + 2  # + start-up


def test_the_default_client_gives_up_in_a_known_time() -> None:
    """The bounds the README states: a black-holed endpoint (every connect times out) fails
    within a minute; one that accepts connections but never answers, within three."""
    defaults = AwsSettings()
    assert worst_case_seconds(defaults, connects=False) == pytest.approx(55.55)
    assert worst_case_seconds(defaults, connects=True) == pytest.approx(155.55)


# Permissions and quotas -----------------------------------------------------------------


def test_access_denied_names_the_missing_permission(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    before = seed_deletable(cli, emulator, folder)
    emulator.backend.fail_next("DeleteCustomModel", "AccessDeniedException", times=10)
    run = cli("apply", str(folder))
    assert run.code == 1
    assert "Traceback" not in run.err
    for name in ("m03", "m04"):
        assert (
            f"DeleteCustomModel {name} failed: AccessDeniedException: the credentials lack "
            "the IAM permission bedrock:DeleteCustomModel" in run.out
        )
    assert emulator.backend.calls["DeleteCustomModel"] == 2  # refused, so not retried
    assert set(models(emulator.client())) == set(before)

    emulator.backend.fail_next("ListCustomModels", "AccessDeniedException")
    run = cli("plan", str(folder))
    assert run.code == 1
    assert run.err.startswith(
        "error: ListCustomModels failed: AccessDeniedException: the credentials lack the IAM "
        "permission bedrock:ListCustomModels"
    )
    assert "Traceback" not in run.err


def test_the_model_quota_is_not_retried_and_is_explained(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    many(folder, 5)
    emulator.backend.model_quota = 3
    run = cli("apply", str(folder), "--output", "json")
    assert run.code == 1
    assert "Traceback" not in run.err
    assert emulator.backend.calls["CreateCustomModel"] == 5  # one attempt each, no retry
    failed = [a for a in run.json()["actions"] if a["result"] == "failed"]
    assert len(failed) == 2 and len(managed(emulator)) == 3
    for action in failed:
        assert action["error"].startswith(
            f"CreateCustomModel {action['name']} failed: ServiceQuotaExceededException: the "
            "account's quota of imported custom models is reached; delete unused models or "
            "ask AWS Service Quotas for more"
        )
    assert run.err.strip() == "error: 2 action(s) failed"


# Models still importing ------------------------------------------------------------------


def test_a_model_still_creating_is_deleted_or_replaced_when_the_service_allows_it(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    many(folder, 3)
    emulator.backend.import_seconds = 3600.0  # every import stays Creating
    assert cli("apply", str(folder)).code == 0
    (folder / "m02.yaml").unlink()
    write(folder, "m01.yaml", manifest("m01", s3_uri="s3://acme-v2/m01/"))
    run = cli("apply", str(folder), "--output", "json")
    assert run.code == 0, run.err
    results = {a["name"]: (a["action"], a["result"]) for a in run.json()["actions"]}
    assert results == {
        "m00": ("noop", "done"),
        "m01": ("replace", "done"),
        "m02": ("delete", "done"),
    }
    assert run.err == ""


def test_a_delete_refused_while_creating_is_deferred_not_failed(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    many(folder, 3)
    emulator.backend.import_seconds = 3600.0
    assert cli("apply", str(folder)).code == 0
    (folder / "m02.yaml").unlink()
    write(folder, "m01.yaml", manifest("m01", s3_uri="s3://acme-v2/m01/"))
    # As Bedrock may: no delete while the import runs.
    emulator.backend.fail_next("DeleteCustomModel", "ConflictException", "Model is importing.", 2)
    run = cli("apply", str(folder), "--output", "json")
    assert run.code == 0, run.err
    assert len(managed(emulator)) == 3
    assert emulator.backend.calls["DeleteCustomModel"] == 2  # one attempt each, no retries
    assert emulator.backend.calls["CreateCustomModel"] == 3  # the replace's create waits too
    results = {a["name"]: (a["action"], a["result"], a["error"]) for a in run.json()["actions"]}
    for name, action, verb in (("m01", "replace", "replaces"), ("m02", "delete", "deletes")):
        kind, result, error = results[name]
        assert (kind, result) == (action, "skipped")
        assert error.startswith("deferred: the model is still importing (Creating)")
        assert error.endswith(f"the next run {verb} it")
    assert run.err == (
        "note: 2 action(s) deferred until what they wait for is ready (m01, m02); "
        "run apply again then, or use apply --wait\n"
    )
    # Once the imports finish, the next run does what was deferred.
    emulator.backend.import_seconds = 0.0
    run = cli("apply", str(folder), "--output", "json")
    assert run.code == 0, run.err
    assert {a["name"]: a["result"] for a in run.json()["actions"]} == {
        "m00": "done",
        "m01": "done",
        "m02": "done",
    }
    assert sorted(managed(emulator)) == ["m00", "m01"]
