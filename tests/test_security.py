"""Security basics: credentials never leak into output, logs or plan files; no shell."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.logs import JsonFormatter
from tests.helpers import manifest, write

ACCESS_KEY = "AKIAEXAMPLELEAKCHECK"
SECRET = "wJalrXUtnFEMI-leak-check-secret-value"
TOKEN = "FwoGZXIvYXdzEleakchecksessiontoken"
SECRETS = (ACCESS_KEY, SECRET, TOKEN)
PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"


@pytest.fixture
def leaky_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_credentials_never_reach_output_or_plan_files(
    leaky_env: None, emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "m"
    write(folder, "a.yaml", manifest("alpha"))
    endpoint = ["--endpoint-url", emulator.url, "--region", "us-east-1"]
    summary = tmp_path / "summary.md"
    planfile = tmp_path / "plan.json"
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}
    # Each command must really run (a failure early would make "the secret is absent" trivial).
    for argv, code, says in (
        (["plan", str(folder), "--output", "json", "--out", str(planfile)], 0, '"alpha"'),
        (["plan", str(folder), "--output", "markdown"], 0, "`alpha`"),
        (["apply", "--plan", str(planfile), "--output", "json"], 0, '"done"'),
        (["--debug", "plan", str(tmp_path / "missing")], 1, "Traceback"),
    ):
        assert main([*endpoint, *argv], environ=environ) == code, argv
        captured = capsys.readouterr()
        assert says in captured.out + captured.err, argv
        assert_clean(captured.out + captured.err)
    unreachable = ["--debug", "--endpoint-url", "http://127.0.0.1:9", "plan", str(folder)]
    assert main(unreachable, {"AWS_MAX_ATTEMPTS": "1"}) == 1
    captured = capsys.readouterr()
    assert "cannot reach the STS endpoint" in captured.err
    assert_clean(captured.out + captured.err)
    assert_clean(planfile.read_text())
    assert_clean(summary.read_text())


def test_credentials_never_reach_watch_logs(leaky_env: None, emulator: Any, tmp_path: Path) -> None:
    from reconciler.watch import Watcher, WatchOptions

    folder = tmp_path / "m"
    write(folder, "a.yaml", manifest("alpha"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test-security-watch")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    emulator.backend.fail_next("ListCustomModels", "AccessDeniedException")
    watcher = Watcher(
        WatchOptions(paths=(str(folder),), scope="default"), emulator.client(), logger
    )
    watcher.reconcile("start")
    watcher.reconcile("resync")
    text = stream.getvalue()
    assert '"event": "reconcile_failed"' in text and '"event": "action_done"' in text
    assert_clean(text)


def test_the_package_never_starts_a_shell_or_subprocess() -> None:
    pattern = re.compile(r"\b(subprocess|os\.system|os\.popen|os\.exec\w*|pty\.spawn)\b")
    offenders = [
        f"{path}:{number}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_only_the_safe_yaml_loader_is_used() -> None:
    unsafe = re.compile(r"yaml\.(load|load_all|unsafe_load|full_load)\(|Loader=yaml\.(Loader|Full)")
    for path in PACKAGE.rglob("*.py"):
        assert not unsafe.search(path.read_text()), path
