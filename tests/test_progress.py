"""``apply --wait``'s progress: the line's text, when a plain line is written, the redrawn
terminal line, colour, and end to end on the sandbox (progress on stderr, the report clean
on stdout)."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.aws.readiness import Answer, Gate, State
from reconciler.identity import Kind
from reconciler.progress import ERASE, Reporter, elapsed_text
from tests.helpers import Cli, manifest, throughput, write

V1 = Gate(Kind.CUSTOM_MODEL, "arn:v1", "support-nova-lite-v1")
V2 = Gate(Kind.CUSTOM_MODEL, "arn:v2", "support-nova-lite-v2")
V3 = Gate(Kind.CUSTOM_MODEL, "arn:v3", "support-nova-lite-v3")
PROD = Gate(Kind.PROVISIONED_THROUGHPUT, "arn:prod", "support-prod", "arn:v2")
ACTIVE = Answer(State.READY, "Active")
CREATING = Answer(State.WAITING, "Creating")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def plain_reporter(interval: float = 60.0, started: float = 0.0) -> tuple[Reporter, io.StringIO]:
    stream = io.StringIO()
    return Reporter(stream, terminal=False, interval=interval, started=started), stream


def test_the_line_counts_each_kind_and_names_the_slowest_with_its_time() -> None:
    reporter, stream = plain_reporter()
    reporter.update({V1: CREATING, V2: CREATING}, 100.0)
    reporter.update({V1: ACTIVE, V2: CREATING, V3: CREATING}, 724.0)
    assert stream.getvalue().splitlines() == [
        "waiting 00:01:40: 0 of 2 models Active, 2 Creating (support-nova-lite-v1, 0s)",
        "waiting 00:12:04: 1 of 3 models Active, 2 Creating (support-nova-lite-v2, 10m24s)",
    ]


def test_mixed_kinds_get_a_clause_each_and_the_end_says_waited() -> None:
    reporter, stream = plain_reporter()
    reporter.update({V2: ACTIVE, PROD: Answer(State.WAITING, "InService")}, 5.0)
    reporter.update({V2: ACTIVE, PROD: Answer(State.READY, "InService")}, 65.0)
    assert stream.getvalue().splitlines() == [
        "waiting 00:00:05: 1 of 1 models Active; "
        "0 of 1 throughputs InService, 1 switching (support-prod, 0s)",
        "waited 00:01:05: 1 of 1 models Active; 1 of 1 throughputs InService",
    ]


def test_failed_ones_come_last_and_one_not_listed_yet_says_so() -> None:
    reporter, stream = plain_reporter()
    failed = Answer(State.FAILED, "Failed", "no weights")
    reporter.update({V1: failed, V2: Answer(State.WAITING), V3: CREATING}, 0.0)
    assert stream.getvalue() == (
        "waiting 00:00:00: 0 of 3 models Active, 1 Creating, "
        "1 not listed yet (support-nova-lite-v2, 0s), 1 Failed\n"
    )


def test_without_a_terminal_a_line_comes_at_each_change_and_otherwise_each_interval() -> None:
    reporter, stream = plain_reporter(interval=60.0)
    for now in (0.0, 15.0, 30.0, 45.0, 59.9, 60.0, 75.0, 119.9, 120.0):
        reporter.update({V1: CREATING}, now)
    reporter.update({V1: ACTIVE}, 121.0)  # a change: at once, whatever the interval
    assert stream.getvalue().splitlines() == [
        "waiting 00:00:00: 0 of 1 models Active, 1 Creating (support-nova-lite-v1, 0s)",
        "waiting 00:01:00: 0 of 1 models Active, 1 Creating (support-nova-lite-v1, 1m00s)",
        "waiting 00:02:00: 0 of 1 models Active, 1 Creating (support-nova-lite-v1, 2m00s)",
        "waited 00:02:01: 1 of 1 models Active",
    ]
    reporter.finish()
    assert "\x1b" not in stream.getvalue() and "\r" not in stream.getvalue()


def test_without_a_terminal_there_is_never_an_escape_code_even_with_colour() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, terminal=False, color=True, started=0.0)
    reporter.update({V1: CREATING, V2: ACTIVE}, 1.0)
    assert "\x1b" not in stream.getvalue()


def test_a_terminal_gets_one_line_redrawn_in_place_then_one_newline() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, terminal=True, color=True, started=0.0, width=200)
    for now in (0.0, 1.0, 2.0):
        reporter.update({V1: CREATING}, now)
    drawn = stream.getvalue()
    assert drawn.count(ERASE) == 3 and drawn.startswith(ERASE)
    assert "\n" not in drawn
    assert SGR.sub("", drawn.split(ERASE)[-1]) == (
        "waiting 00:00:02: 0 of 1 models Active, 1 Creating (support-nova-lite-v1, 2s)"
    )
    assert "\x1b[33m1 Creating\x1b[0m" in drawn
    reporter.finish()
    reporter.finish()
    assert stream.getvalue() == drawn + "\n"


def test_no_color_on_a_terminal_redraws_without_any_colour() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, terminal=True, color=False, started=0.0)
    reporter.update({V1: ACTIVE, V2: CREATING}, 3.0)
    assert stream.getvalue() == (
        ERASE + "waiting 00:00:03: 1 of 2 models Active, 1 Creating (support-nova-lite-v2, 0s)"
    )


def test_the_terminal_line_is_cut_to_the_width_so_it_never_wraps() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, terminal=True, color=True, started=0.0, width=30)
    reporter.update({V1: ACTIVE, V2: CREATING}, 3.0)
    line = SGR.sub("", stream.getvalue().removeprefix(ERASE))
    assert line == "waiting 00:00:03: 1 of 2 mode"
    assert stream.getvalue().endswith("\x1b[0m")  # the colour never leaks past the line


def test_a_finish_with_nothing_drawn_writes_nothing() -> None:
    stream = io.StringIO()
    Reporter(stream, terminal=True).finish()
    assert stream.getvalue() == ""


def test_elapsed_times_read_as_seconds_minutes_and_hours() -> None:
    assert [elapsed_text(s) for s in (0, 59.9, 60, 724, 3723)] == [
        "0s",
        "59s",
        "1m00s",
        "12m04s",
        "1h02m03s",
    ]


LINE = re.compile(r"waiting \d\d:\d\d:\d\d: ")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "v1.yaml", manifest("support-v1"))
    write(folder, "prod.yaml", throughput("support-prod", model="support-v1"))
    return folder


def test_apply_wait_shows_progress_on_stderr_and_a_clean_report_on_stdout(
    cli: Cli, repo: Path
) -> None:
    run = cli("apply", "--wait", str(repo), "--output", "json")
    assert run.code == 0, run.err
    assert [a["result"] for a in run.json()["actions"]] == ["done", "done"]
    lines = run.err.splitlines()
    # The wave's wait (the model, before its throughput is created), then the end's.
    assert re.fullmatch(
        r"waiting 00:00:0\d: 0 of 1 models Active, 1 Creating \(support-v1, \d+s\)", lines[0]
    ), lines
    assert any(
        re.fullmatch(
            r"waiting 00:00:0\d: 1 of 1 models Active; "
            r"0 of 1 throughputs InService, 1 Creating \(support-prod, \d+s\)",
            line,
        )
        for line in lines
    ), lines
    assert re.fullmatch(
        r"waited 00:00:0\d: 1 of 1 models Active; 1 of 1 throughputs InService", lines[-1]
    ), lines
    assert "\x1b" not in run.err and "\r" not in run.err
    assert "waiting" not in run.out


def test_apply_without_wait_shows_no_progress(cli: Cli, repo: Path) -> None:
    run = cli("apply", str(repo))
    assert run.code == 0, run.err
    assert "waiting 0" not in run.err and "waited" not in run.err


@pytest.mark.parametrize(
    ("environ", "coloured"), [({}, True), ({"NO_COLOR": ""}, True), ({"NO_COLOR": "1"}, False)]
)
def test_apply_wait_on_a_terminal_redraws_and_no_color_is_respected(
    cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], coloured: Any
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    run = cli("apply", "--wait", str(repo), environ=environ)
    assert run.code == 0, run.err
    progress, *rest = run.err.split("\n")
    assert progress.startswith(ERASE) and progress.count(ERASE) >= 2
    assert rest == [""]  # one newline, after the progress line is done
    assert bool(SGR.search(run.err)) is coloured
    assert "\x1b" not in run.out and "Results: 2 done" in run.out


def test_apply_wait_next_to_json_output_gives_plain_progress_lines(
    cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--output json is read by a program: its progress is plain lines even on a terminal."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    run = cli("apply", "--wait", "--output", "json", str(repo))
    assert run.code == 0, run.err
    assert "\x1b" not in run.err and "\r" not in run.err
    assert run.err.splitlines()[-1].startswith("waited ")
    assert run.json()["summary"]


def test_the_progress_interval_option_reaches_the_reporter() -> None:
    from reconciler.cli import build_parser
    from reconciler.commands import _progress

    parser = build_parser()
    args = parser.parse_args(["apply", "--wait", "--progress-interval", "7.5", "m"])
    assert _progress(args, {}, 0.0).interval == 7.5
    default = _progress(parser.parse_args(["apply", "--wait", "m"]), {}, 0.0)
    assert default.interval == 60
