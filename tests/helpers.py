"""Helpers shared by the end-to-end tests: write manifests, run the CLI, read the account."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.cli import main

KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::111122223333:role/BedrockModelImport"


def manifest(
    name: str,
    s3_uri: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    retain: bool = False,
    role: str | None = ROLE,
    kms: str | None = None,
    package: str | None = None,
) -> str:
    """The YAML text of one CustomModel manifest (``package``: from a model package ARN)."""
    lines = ["apiVersion: bedrock.gitops/v1", "kind: CustomModel", "metadata:", f"  name: {name}"]
    if package:
        lines += [
            "spec:",
            "  customModelDataSource:",
            "    modelPackageArnDataSource:",
            f"      modelPackageArn: {package}",
        ]
    else:
        lines += [
            "spec:",
            "  modelSourceConfig:",
            "    s3DataSource:",
            f"      s3Uri: {s3_uri or f's3://acme-models/{name}/'}",
        ]
    if role:
        lines.append(f"  roleArn: {role}")
    if kms:
        lines.append(f"  modelKmsKeyArn: {kms}")
    if tags:
        lines.append("  tags:")
        lines.extend(f'    {k}: "{v}"' for k, v in tags.items())
    if retain:
        lines.append("  deletionPolicy: Retain")
    return "\n".join(lines) + "\n"


def throughput(
    name: str,
    *,
    model: str | None = None,
    model_arn: str | None = None,
    units: int = 1,
    commitment: str | None = None,
    retain: bool = False,
) -> str:
    """The YAML text of one ProvisionedThroughput manifest."""
    lines = [
        "apiVersion: bedrock.gitops/v1",
        "kind: ProvisionedThroughput",
        "metadata:",
        f"  name: {name}",
        "spec:",
        f"  model: {model}" if model else f"  modelArn: {model_arn}",
        f"  modelUnits: {units}",
    ]
    if commitment:
        lines.append(f"  commitmentDuration: {commitment}")
    if retain:
        lines.append("  deletionPolicy: Retain")
    return "\n".join(lines) + "\n"


def deployment(
    name: str, *, model: str | None = None, model_arn: str | None = None, description: str = ""
) -> str:
    """The YAML text of one CustomModelDeployment manifest."""
    lines = [
        "apiVersion: bedrock.gitops/v1",
        "kind: CustomModelDeployment",
        "metadata:",
        f"  name: {name}",
        "spec:",
        f"  model: {model}" if model else f"  modelArn: {model_arn}",
    ]
    if description:
        lines.append(f"  description: {description}")
    return "\n".join(lines) + "\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs ``main`` against one emulator endpoint and captures its output."""

    def __init__(self, endpoint: str, capsys: Any) -> None:
        self.endpoint = endpoint
        self.capsys = capsys

    def __call__(self, *argv: str, environ: Mapping[str, str] | None = None) -> Run:
        self.capsys.readouterr()
        args = ["--endpoint-url", self.endpoint, "--region", "us-east-1", *argv]
        code = main(args, environ=dict(environ or {}))
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)


def models(client: Any) -> dict[str, dict[str, Any]]:
    """Every model the account owns, by name, with its tags under ``tags``."""
    found: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("list_custom_models").paginate(isOwned=True):
        for summary in page["modelSummaries"]:
            tags = client.list_tags_for_resource(resourceARN=summary["modelArn"])["tags"]
            found[summary["modelName"]] = {**summary, "tags": {t["key"]: t["value"] for t in tags}}
    return found


def actions(run: Run) -> dict[str, str]:
    """Model name -> action kind, from a JSON plan or report (CustomModels only)."""
    return {
        a["name"]: a["action"]
        for a in run.json()["actions"]
        if a.get("kind", "CustomModel") == "CustomModel"
    }


def keyed(run: Run) -> dict[str, dict[str, Any]]:
    """``Kind/name`` -> the action's JSON, from a JSON plan or report."""
    return {f"{a['kind']}/{a['name']}": a for a in run.json()["actions"]}


def throughputs(client: Any) -> dict[str, dict[str, Any]]:
    """Every Provisioned Throughput of the account, by name."""
    pages = client.get_paginator("list_provisioned_model_throughputs").paginate()
    return {s["provisionedModelName"]: s for p in pages for s in p["provisionedModelSummaries"]}


def deployments(client: Any) -> dict[str, dict[str, Any]]:
    """Every custom model deployment of the account, by name."""
    pages = client.get_paginator("list_custom_model_deployments").paginate()
    return {s["customModelDeploymentName"]: s for p in pages for s in p["modelDeploymentSummaries"]}


def names(paths: Sequence[Path]) -> list[str]:
    return [p.name for p in paths]


def print_figures(request: Any, lines: Sequence[str]) -> None:
    """Print ``lines`` in the test session's report (the figures a module measured)."""
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        for line in lines:
            reporter.write_line(line)


def serving_lists(pages: int = 1) -> dict[str, int]:
    """The serving-kind lists every read makes beside ``ListCustomModels``."""
    return {"ListProvisionedModelThroughputs": pages, "ListCustomModelDeployments": pages}
