"""The benchmark runs end to end (``bench/run.py --quick``) and its plan is as frugal as claimed.

A correctness check, not a timing assertion: the steady-state plan reads the account with
exactly one ListCustomModels per page plus one ListTagsForResource per model, never
GetCustomModel, and the emulator saw the same calls the client counted.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE_SIZE = 100


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.run", "--quick", "--models", "30,101"),
            # A limit high enough not to slow the run, so the limiter's path is still taken.
            *("--max-rps", "1000", "--json", str(out)),
        ],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Targets (issue 6, item 2)" in done.stdout
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_results_have_the_expected_keys(results: dict[str, Any]) -> None:
    assert results["format"] == "bedrock-reconciler/bench"
    for key in ("version", "date", "git", "python", "machine", "settings", "startup"):
        assert key in results
    assert {"validate", "models", "targets", "elapsed_s"} <= set(results)
    assert results["settings"]["quick"] is True
    assert results["settings"]["max_rps"] == 1000
    assert results["startup"]["help"]["median_s"] > 0
    assert results["startup"]["help"]["peak_rss_mb"] > 0
    assert [v["documents_per_file"] for v in results["validate"]] == [100, 1]
    assert set(results["models"]) == {"30", "101"}
    for row in results["models"].values():
        for phase in ("plan", "naive", "cli_plan", "create", "sequential_create"):
            assert row[phase]["wall_s"] > 0
            assert row[phase]["calls"]
        assert {"floor_s", "startup_s", "ratios", "pages"} <= set(row)
        assert row["plan"]["peak_concurrency"] >= 1
        assert row["cli_plan"]["peak_rss_mb"] > 0


@pytest.mark.parametrize("count", [30, 101])
def test_plan_makes_pages_plus_n_calls_and_no_get(results: dict[str, Any], count: int) -> None:
    row = results["models"][str(count)]
    pages = math.ceil(count / PAGE_SIZE)
    expected = {"ListCustomModels": pages, "ListTagsForResource": count}
    assert row["pages"] == pages
    assert row["plan"]["calls"] == expected
    assert row["plan"]["emulator_calls"] == expected
    assert row["plan"]["no_latency"]["calls"] == expected
    assert row["cli_plan"]["calls"] == expected
    assert row["naive"]["calls"] == expected
    assert row["plan"]["throttles"] == {}


def test_creates_are_counted(results: dict[str, Any]) -> None:
    row = results["models"]["101"]
    assert row["create"]["calls"]["CreateCustomModel"] == 101
    assert row["create"]["emulator_calls"] == row["create"]["calls"]
    assert row["sequential_create"]["calls"] == {"CreateCustomModel": 101}


def test_the_call_target_is_evaluated(results: dict[str, Any]) -> None:
    calls = [t for t in results["targets"] if t["target"].startswith("plan API calls")]
    assert [t["at"] for t in calls] == ["N=30", "N=101"]
    assert all(t["holds"] for t in calls)
