"""The benchmark runs end to end (``bench/run.py --quick``) and makes exactly the calls claimed.

A correctness check, not a timing assertion (timings belong to the benchmark, not to CI):

- the default plan path reads the account with one ListCustomModels and one GetResources per
  page of 100, never ListTagsForResource or GetCustomModel; the per-model path with the pages
  plus one ListTagsForResource per model; the whole ``reconciler plan`` CLI like the first;
- creating N models is N CreateCustomModel plus one paginated ListCustomModels, with or
  without a rate limit, and no GetCustomModel;
- a watch resync at steady state is the list pages and the index pages, every time;
- the emulator received exactly the calls the client counted.
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

from reconciler.aws.settings import DEFAULT_MAX_RPS

ROOT = Path(__file__).resolve().parent.parent
PAGE_SIZE = 100  # GetResources' pages
LIST_PAGE_SIZE = 1000  # the reconciler's ListCustomModels pages
COUNTS = (30, 101)
WATCH_MODELS = 150
WATCH_RESYNCS = 12


# Every plan lists the (absent) throughputs and deployments beside the models: a page each.
SERVING_LIST_PAGES = {"ListProvisionedModelThroughputs": 1, "ListCustomModelDeployments": 1}


def pages(count: int) -> int:
    return max(1, math.ceil(count / PAGE_SIZE))


def list_pages(count: int) -> int:
    return max(1, math.ceil(count / LIST_PAGE_SIZE))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.run", "--quick"),
            *("--models", ",".join(map(str, COUNTS)), "--json", str(out)),
            *("--watch-models", str(WATCH_MODELS), "--watch-resyncs", str(WATCH_RESYNCS)),
        ],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Targets (issue 6)" in done.stdout
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_results_have_the_expected_keys(results: dict[str, Any]) -> None:
    assert results["format"] == "bedrock-reconciler/bench"
    for key in ("version", "date", "git", "python", "machine", "settings", "startup"):
        assert key in results
    assert {"validate", "models", "watch", "fleet", "targets", "elapsed_s"} <= set(results)
    assert {"load_average_before", "load_average_after"} <= set(results["machine"])
    assert results["settings"]["quick"] is True
    assert results["settings"]["max_rps"] == DEFAULT_MAX_RPS
    assert results["startup"]["help"]["median_s"] > 0
    assert results["startup"]["help"]["peak_rss_mb"] > 0
    assert [v["documents_per_file"] for v in results["validate"]] == [100, 1]
    assert set(results["models"]) == {str(n) for n in COUNTS}
    for row in results["models"].values():
        phases = [
            row["plan"]["default"],
            row["plan"]["per_model"],
            row["naive"],
            row["cli_plan"],
            row["create"]["limited"],
            row["create"]["unlimited"],
            row["sequential_create"],
        ]
        for phase in phases:
            assert 0 < phase["wall_s"] < 120
            assert phase["calls"] and all(
                isinstance(n, int) and n > 0 for n in phase["calls"].values()
            )
        assert 0 < row["startup_s"] < 10
        assert 0 < row["floor_s"] < row["naive"]["wall_s"]
        assert row["pages"] == pages(row["models"]) and row["list_pages"] >= 1
        for name, value in row["ratios"].items():
            assert isinstance(value, float) and value > 0, name
        assert row["create"]["limited"]["max_rps"] == DEFAULT_MAX_RPS
        assert row["create"]["unlimited"]["max_rps"] == 0
        assert row["cli_plan"]["peak_rss_mb"] > 0


@pytest.mark.parametrize("count", COUNTS)
def test_the_default_plan_reads_pages_of_the_list_and_of_the_index(
    results: dict[str, Any], count: int
) -> None:
    row = results["models"][str(count)]
    expected = {
        "ListCustomModels": list_pages(count),
        "GetResources": pages(count),
        **SERVING_LIST_PAGES,
    }
    assert row["pages"] == pages(count)
    assert row["list_pages"] == list_pages(count)
    default = row["plan"]["default"]
    assert default["tag_reads"] == "auto"
    assert default["calls"] == expected  # no ListTagsForResource, no GetCustomModel
    assert default["emulator_calls"] == expected
    assert default["no_latency_no_limit"]["calls"] == expected
    assert default["throttles"] == {}
    # The whole command also learns the account (moto's STS, not the Bedrock emulator).
    assert row["cli_plan"]["calls"] == {**expected, "GetCallerIdentity": 1}
    assert row["cli_plan"]["emulator_calls"] == expected


@pytest.mark.parametrize("count", COUNTS)
def test_the_per_model_plan_reads_pages_plus_n(results: dict[str, Any], count: int) -> None:
    row = results["models"][str(count)]
    expected = {
        "ListCustomModels": list_pages(count),
        "ListTagsForResource": count,
        **SERVING_LIST_PAGES,
    }
    per_model = row["plan"]["per_model"]
    assert per_model["tag_reads"] == "per-model"
    assert per_model["calls"] == expected
    assert per_model["emulator_calls"] == expected
    assert per_model["no_latency_no_limit"]["calls"] == expected
    assert per_model["throttles"] == {}
    # A plain paginator loop gets the API's default page of 100.
    naive = {"ListCustomModels": pages(count), "ListTagsForResource": count}
    assert row["naive"]["calls"] == naive


@pytest.mark.parametrize("count", COUNTS)
def test_creates_are_n_creates_and_one_list(results: dict[str, Any], count: int) -> None:
    row = results["models"][str(count)]
    expected = {"CreateCustomModel": count, "ListCustomModels": list_pages(count)}
    for run in ("limited", "unlimited"):
        assert row["create"][run]["calls"] == expected  # no GetCustomModel
        assert row["create"][run]["emulator_calls"] == expected
    assert row["sequential_create"]["calls"] == {"CreateCustomModel": count}


def test_a_watch_resync_reads_only_the_list_and_index_pages(results: dict[str, Any]) -> None:
    watch = results["watch"]
    per_resync = {
        "ListCustomModels": list_pages(WATCH_MODELS),
        "GetResources": pages(WATCH_MODELS),
        **SERVING_LIST_PAGES,
    }
    assert (watch["models"], watch["resyncs"]) == (WATCH_MODELS, WATCH_RESYNCS)
    assert watch["calls_per_resync"] == per_resync
    assert watch["calls_same_every_resync"] is True
    total = {op: n * WATCH_RESYNCS for op, n in per_resync.items()}
    assert watch["calls_total"] == total
    assert watch["emulator_calls"] == total
    assert set(watch["rss_mb"]) == {"1", "10", str(WATCH_RESYNCS)}
    assert len(watch["rss_mb_by_resync"]) == WATCH_RESYNCS
    assert watch["process_peak_rss_mb"] > 0


def test_the_call_targets_are_evaluated_and_hold(results: dict[str, Any]) -> None:
    calls = [t for t in results["targets"] if t["target"].startswith("plan API calls")]
    assert [t["at"] for t in calls] == [
        f"N={n}, {path} path" for n in COUNTS for path in ("default", "per-model")
    ]
    assert all(t["holds"] for t in calls)
    watch = [t for t in results["targets"] if t["target"].startswith("watch: calls")]
    assert len(watch) == 1
    assert watch[0]["holds"]


def test_a_plan_over_targets_reads_each_target_as_one_plan(results: dict[str, Any]) -> None:
    fleet = results["fleet"]
    reads = {"GetResources": 1, "ListCustomModels": 1, **SERVING_LIST_PAGES}
    assert (fleet["targets"], fleet["models_per_target"], fleet["rounds"]) == (3, 5, 1)
    assert len(fleet["regions"]) == 3
    assert fleet["calls_per_target"] == {"AssumeRole": 1, "GetCallerIdentity": 1, **reads}
    assert fleet["emulator_calls_per_target"] == reads
    assert fleet["calls_same_every_target"] is True
    assert fleet["one_target"]["targets"] == 1 and fleet["fleet"]["targets"] == 3
    for key in ("fleet", "one_by_one", "one_target"):
        assert 0 < fleet[key]["main_s"] < fleet[key]["wall_s"] < 60
        assert fleet[key]["peak_rss_mb"] > 0
    assert fleet["ratios"]["fleet_vs_one_by_one"] > 0
    [calls] = [t for t in results["targets"] if t["target"].startswith("plan --targets: calls")]
    assert calls["holds"] is True


def test_the_mixed_serving_plan_costs_list_and_index_pages_only() -> None:
    from bench.serving import run

    result = run(models=30, throughputs=30, deployments=5, latency=0.0, repeat=1)
    assert (
        result["plan_calls"]
        == result["expected_calls"]
        == {
            "GetResources": 1,
            "ListCustomModelDeployments": 1,
            "ListCustomModels": 1,
            "ListProvisionedModelThroughputs": 1,
        }
    )
    assert result["naive_calls"] == 3 + 65


def test_a_probed_account_makes_every_client_the_account_makes() -> None:
    """The probed ``_client`` takes the options ``Account`` passes (the ``--tag-reads auto``
    client's connect timeout), and probes that client too."""
    from bench.probe import Probe, probed_account
    from reconciler.aws.settings import AwsSettings, TagReads

    attached: list[Any] = []

    class Recording(Probe):
        def attach(self, client: Any) -> Any:
            attached.append(client)
            return super().attach(client)

    account = probed_account(AwsSettings(region="us-east-1", connect_timeout=30), Recording(0))
    client = account.tagging_for(TagReads.AUTO)
    assert client.meta.config.connect_timeout < 30
    assert attached == [account.bedrock, client]
