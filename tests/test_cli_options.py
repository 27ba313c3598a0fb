"""The global and command options: every unusable value is a one-line usage error (exit 1)
that names the option, before anything is read or sent; the scope is never silently another;
the region comes from one order everywhere; a missing profile is named with its source."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from tests.helpers import Cli, manifest, models, write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "a.yaml", manifest("alpha"))
    return folder


def run(capsys: Any, *argv: str, environ: dict[str, str] | None = None) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv), environ=environ or {})
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scope", "", "plan"], "--scope is empty"),
        (["--scope", "   ", "plan"], "--scope is empty"),
        (["--scope", "a" * 257, "plan"], "must be 1 to 256"),
        (["--scope", "bad|scope", "plan"], "must be 1 to 256"),
        (["--concurrency", "0", "plan"], "--concurrency must be between 1 and 64"),
        (["--max-rps", "nan", "plan"], "--max-rps must be a finite number"),
        (["--max-rps", "-1", "plan"], "--max-rps must be a finite number"),
        (["--connect-timeout", "inf", "plan"], "--connect-timeout must be a finite number"),
        (["--read-timeout", "0", "plan"], "--read-timeout must be a finite number above 0"),
        (["plan", "--max-delete-percent", "-5"], "--max-delete-percent must be between 0 and 100"),
        (["plan", "--max-delete-percent", "nan"], "--max-delete-percent must be between"),
        (["apply", "--timeout", "nan"], "--timeout must be a finite number above 0"),
        (["apply", "--progress-interval", "0"], "--progress-interval must be a finite number"),
        (["apply", "--progress-interval", "inf"], "--progress-interval must be a finite number"),
        (["watch", "--interval", "-1"], "--interval must be a finite number above 0"),
        (["watch", "--metrics-port", "70000"], "--metrics-port must be between 0 and 65535"),
        (["watch", "--metrics-port", "-1"], "--metrics-port must be between 0 and 65535"),
    ],
)
def test_unusable_options_are_usage_errors(
    capsys: Any, repo: Path, argv: list[str], message: str, emulator: Any
) -> None:
    before = sum(emulator.backend.calls.values())
    code, err = run(capsys, "--endpoint-url", emulator.url, *argv, str(repo))
    assert code == 1
    assert message in err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert sum(emulator.backend.calls.values()) == before  # nothing was read


def test_an_empty_scope_from_the_environment_is_an_error(capsys: Any, repo: Path) -> None:
    code, err = run(capsys, "plan", str(repo), environ={"RECONCILER_SCOPE": ""})
    assert code == 1
    assert "RECONCILER_SCOPE is empty" in err


def test_the_scope_flag_wins_over_the_environment(cli: Cli, repo: Path, emulator: Any) -> None:
    result = cli("apply", str(repo), "--scope", "team-a", environ={"RECONCILER_SCOPE": "x"})
    assert result.code == 0
    tags = models(emulator.client())["alpha"]["tags"]
    assert tags["reconciler:managed-by"] == "team-a"


def test_a_metrics_port_in_use_is_named(capsys: Any, repo: Path, emulator: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = run(
            capsys, "--endpoint-url", emulator.url, "watch", str(repo), "--metrics-port", str(port)
        )
    assert code == 1
    assert f"--metrics-port {port}: cannot listen there" in err
    assert "unexpected" not in err


def test_empty_path_is_a_usage_error(capsys: Any) -> None:
    for command in ("validate", "plan"):
        code, err = run(capsys, command, "")
        assert code == 1
        assert "an empty PATH was given" in err


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"AWS_REGION": "eu-west-1"}, "eu-west-1"),
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "us-west-2"}, "us-west-2"),
    ],
)
def test_region_order_against_aws(
    capsys: Any,
    repo: Path,
    emulator: Any,
    monkeypatch: Any,
    environ: dict[str, str],
    expected: str,
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    code = main(["--endpoint-url", emulator.url, "plan", str(repo)], environ=environ)
    out = capsys.readouterr().out
    assert code == 0
    assert f"in 123456789012/{expected}:" in out


def test_the_region_flag_wins(capsys: Any, repo: Path, emulator: Any) -> None:
    environ = {"AWS_REGION": "eu-west-1"}
    code = main(
        ["--endpoint-url", emulator.url, "--region", "ap-south-1", "plan", str(repo)],
        environ=environ,
    )
    assert code == 0
    assert "in 123456789012/ap-south-1:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "us-west-2"}, "us-west-2"),
        ({}, "us-east-1"),
    ],
)
def test_region_order_on_the_sandbox(
    capsys: Any, repo: Path, tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    state = str(tmp_path / "state.json")
    code = main(["--sandbox", "--sandbox-state", state, "plan", str(repo)], environ=environ)
    assert code == 0
    assert f"in 123456789012/{expected}:" in capsys.readouterr().out


def test_a_missing_profile_is_named_with_its_source(
    capsys: Any, repo: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    code, err = run(capsys, "--region", "us-east-1", "plan", str(repo))
    assert code == 1
    assert "AWS profile 'nope' (from AWS_PROFILE) is not in the AWS config files" in err
    monkeypatch.delenv("AWS_PROFILE")
    code, err = run(capsys, "--region", "us-east-1", "--profile", "gone", "plan", str(repo))
    assert code == 1
    assert "AWS profile 'gone' (from --profile)" in err


def test_a_held_sandbox_lock_is_waited_for_then_refused(
    capsys: Any, repo: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    import fcntl
    import os

    state = tmp_path / "state.json"
    lock = tmp_path / "state.json.lock"
    monkeypatch.setenv("RECONCILER_SANDBOX_LOCK_SECONDS", "0.5")
    with lock.open("a+") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        holder.write(f"{os.getpid()}\n")
        holder.flush()
        code, err = run(capsys, "--sandbox", "--sandbox-state", str(state), "plan", str(repo))
    assert code == 1
    assert f"waiting for the sandbox state lock held by pid {os.getpid()}" in err
    assert "gave up after 0.5 s" in err
    assert run(capsys, "--sandbox", "--sandbox-state", str(state), "plan", str(repo))[0] == 0


def test_plan_text_folds_what_is_in_sync_unless_show_noop(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    for name in ("alpha", "beta", "gamma"):
        write(folder, f"{name}.yaml", manifest(name))
    assert cli("apply", str(folder), "--wait").code == 0  # an import in progress is no fold
    write(folder, "delta.yaml", manifest("delta"))
    folded = cli("plan", str(folder))
    assert folded.code == 0
    assert folded.out.splitlines()[1:-1] == [
        f"  + create        delta: not in the account [{folder / 'delta.yaml'}:1]",
        "  = 3 in sync",
    ]
    listed = cli("plan", str(folder), "--show-noop")
    assert "alpha: in sync" in listed.out and "in sync [" in listed.out
    assert "= 3 in sync" not in listed.out
    applied = cli("apply", str(folder))
    assert "  = 3 in sync" in applied.out
    assert "Results: 1 done, 3 in sync, 0 failed, 0 skipped" in applied.out
