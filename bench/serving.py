"""The mixed steady-state plan: N models, M throughputs and D deployments, all in sync.

Seeds the HTTP emulator with the reconciler's own ``apply`` (no latency, no rate limit),
then times ``reconcile.read_and_plan`` with 20 ms added to every API call, against a naive
sequential loop (every list, then each resource's tags). The plan's calls must be the list
pages of the three kinds plus the tagging index's pages: no per-resource call.

    .venv/bin/python -m bench.serving --models 500 --throughputs 500 --deployments 100
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.probe import Probe, probed_account

SCOPE = "bench"
REGION = "us-east-1"


def write_manifests(folder: Path, models: int, throughputs: int, deployments: int) -> None:
    """One file per kind; throughputs and deployments serve the models in turn."""
    docs = []
    for i in range(models):
        docs.append(
            "apiVersion: bedrock.gitops/v1\nkind: CustomModel\n"
            f"metadata:\n  name: m{i:05d}\nspec:\n  modelSourceConfig:\n    s3DataSource:\n"
            f"      s3Uri: s3://bench-models/m{i:05d}/\n"
        )
    for i in range(throughputs):
        docs.append(
            "apiVersion: bedrock.gitops/v1\nkind: ProvisionedThroughput\n"
            f"metadata:\n  name: p{i:05d}\nspec:\n  model: m{i % models:05d}\n  modelUnits: 1\n"
        )
    for i in range(deployments):
        docs.append(
            "apiVersion: bedrock.gitops/v1\nkind: CustomModelDeployment\n"
            f"metadata:\n  name: d{i:05d}\nspec:\n  model: m{i % models:05d}\n"
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "all.yaml").write_text("---\n".join(docs))


def expected_calls(models: int, throughputs: int, deployments: int) -> dict[str, int]:
    """List pages of 1,000 per kind, index pages of 100 for every managed resource."""
    return {
        "ListCustomModels": max(1, math.ceil(models / 1000)),
        "ListProvisionedModelThroughputs": max(1, math.ceil(throughputs / 1000)),
        "ListCustomModelDeployments": max(1, math.ceil(deployments / 1000)),
        "GetResources": max(1, math.ceil((models + throughputs + deployments) / 100)),
    }


def run(models: int, throughputs: int, deployments: int, latency: float, repeat: int) -> Any:
    from reconciler import manifests, sandbox
    from reconciler.aws.reader import AccountReader
    from reconciler.aws.settings import AwsSettings
    from reconciler.cli import main
    from reconciler.reconcile import read_and_plan

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")  # the emulator's; nothing reaches AWS
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as temp, sandbox.serve() as url:
        folder = Path(temp, "m")
        write_manifests(folder, models, throughputs, deployments)
        backend = sandbox.get_backend(REGION, sandbox.DEFAULT_ACCOUNT)
        backend.import_seconds = 0.0
        backend.serving.hourly_unit_quota = None
        base = ["--endpoint-url", url, "--region", REGION, "--scope", SCOPE, "--max-rps", "0"]
        started = time.perf_counter()
        if main([*base, "apply", str(folder), "--output", "json"], environ={}) != 0:
            raise RuntimeError("seeding the account failed")
        seed_s = time.perf_counter() - started
        desired = manifests.load([str(folder)])
        settings = AwsSettings(region=REGION, endpoint_url=url, concurrency=10, max_rps=0)
        runs = []
        for _ in range(repeat):
            probe = Probe(latency)
            account = probed_account(settings, probe)
            reader = AccountReader(account.bedrock, lambda a=account: a.tagging, SCOPE)
            started = time.perf_counter()
            result, _ = read_and_plan(reader, desired, SCOPE)
            wall = time.perf_counter() - started
            if {a.kind.value for a in result.actions} != {"noop"}:
                raise RuntimeError("the mixed plan is not in sync")
            runs.append((wall, dict(sorted(probe.snapshot()["calls"].items()))))
        naive = _naive(url, latency)
    walls = [w for w, _ in runs]
    return {
        "models": models,
        "throughputs": throughputs,
        "deployments": deployments,
        "latency_s": latency,
        "seed_s": round(seed_s, 2),
        "plan_median_s": round(statistics.median(walls), 3),
        "plan_calls": runs[0][1],
        "expected_calls": dict(sorted(expected_calls(models, throughputs, deployments).items())),
        "naive_s": round(naive[0], 2),
        "naive_calls": naive[1],
        "plan_vs_naive": round(statistics.median(walls) / naive[0], 4),
    }


def _naive(url: str, latency: float) -> tuple[float, int]:
    """Every list (pages of 100), then each resource's tags, one call after the other."""
    import boto3

    probe = Probe(latency)
    client = probe.attach(boto3.client("bedrock", region_name=REGION, endpoint_url=url))
    started = time.perf_counter()
    arns = []
    for method, key, arn in (
        ("list_custom_models", "modelSummaries", "modelArn"),
        ("list_provisioned_model_throughputs", "provisionedModelSummaries", "provisionedModelArn"),
        ("list_custom_model_deployments", "modelDeploymentSummaries", "customModelDeploymentArn"),
    ):
        for page in client.get_paginator(method).paginate(PaginationConfig={"PageSize": 100}):
            arns += [s[arn] for s in page[key]]
    for resource in arns:
        client.list_tags_for_resource(resourceARN=resource)
    return time.perf_counter() - started, sum(probe.snapshot()["calls"].values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--throughputs", type=int, default=500)
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(args.models, args.throughputs, args.deployments, args.latency, args.repeat)
    result["calls_hold"] = result["plan_calls"] == result["expected_calls"]
    print(json.dumps(result, indent=2))
    return 0 if result["calls_hold"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
