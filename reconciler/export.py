"""Manifests written back from what an account holds: the pure body of ``reconciler export``.

``export(observed, scope, place)`` turns the observed state into one YAML document per
resource, each with its path relative to the output folder (``models/``, ``throughputs/``,
``deployments/``), plus what was left out and why; ``summary`` says it in words. Resources
no scope manages are exported with ``spec.adopt: true``, those of this scope without it,
those of another scope (or shared from another account) never. A model's source cannot be
read back from Bedrock, so its manifest holds ``SOURCE_PLACEHOLDER``, which validation
refuses until it is filled in. Every string that comes from the account is written
double-quoted (YAML's only style that can hold any text), with a fixed key order, so a file
reads back exactly. No I/O: ``commands`` reads the account and writes the files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.desired import API_VERSION, RESERVED_TAG_PREFIXES, SOURCE_PLACEHOLDER
from reconciler.identity import KIND_ORDER, Kind, Place, ResourceKey
from reconciler.kinds.custom_model import made_by_create
from reconciler.observed import ObservedResource, ObservedState

FOLDERS: Mapping[Kind, str] = {
    Kind.CUSTOM_MODEL: "models",
    Kind.PROVISIONED_THROUGHPUT: "throughputs",
    Kind.CUSTOM_MODEL_DEPLOYMENT: "deployments",
}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_SOURCE_COMMENT = (
    "  # Bedrock cannot give a model's source back: replace FILL-IN with the s3:// URI its\n"
    "  # weights were imported from (validate refuses this file until then). Add roleArn\n"
    "  # too if importing it again needs a role. A model made from a SageMaker model\n"
    "  # package: replace this modelSourceConfig block with\n"
    "  # customModelDataSource.modelPackageArnDataSource.modelPackageArn instead.\n"
)


@dataclass(frozen=True)
class Document:
    """One exported manifest: its path under the output folder and its YAML text."""

    key: ResourceKey
    path: str
    text: str
    adopt: bool
    needs_source: bool


@dataclass(frozen=True)
class Export:
    """Every document to write, in kind order then name, and what was left out (and why)."""

    documents: tuple[Document, ...]
    left_out: tuple[tuple[ResourceKey, str], ...] = ()


def export(
    observed: ObservedState, scope: str, place: Place, unmanaged_only: bool = False
) -> Export:
    """The manifests of every resource of ``observed`` this scope may declare."""
    chosen: list[ObservedResource] = []
    left_out: list[tuple[ResourceKey, str]] = []
    for resource in observed.resources:
        why = _left_out_because(resource, scope, place.account, unmanaged_only)
        if why:
            left_out.append((resource.key, why))
        else:
            chosen.append(resource)
    model_names = {r.arn: r.name for r in chosen if r.kind is Kind.CUSTOM_MODEL}
    paths = _paths(chosen)
    header = f"# Exported by reconciler export from {place}.\n"
    documents = tuple(
        Document(
            key=r.key,
            path=paths[r.key],
            text=header + _yaml(_manifest(r, model_names)),
            adopt=r.managed_by is None,
            needs_source=r.kind is Kind.CUSTOM_MODEL,
        )
        for r in chosen
    )
    return Export(documents=documents, left_out=tuple(left_out))


def _left_out_because(
    resource: ObservedResource, scope: str, account: str, unmanaged_only: bool
) -> str:
    """Why a resource is not exported; empty when it is."""
    owner = resource.owner_account_id or _arn_account(resource.arn)
    if resource.kind is Kind.CUSTOM_MODEL and account and owner and owner != account:
        return f"shared from account {owner}"
    if resource.kind is Kind.CUSTOM_MODEL and not made_by_create(resource):
        return (
            f"a {resource.customization_type} model: only a model CreateCustomModel made "
            "(IMPORTED) can be declared"
        )
    managed_by = resource.managed_by
    if managed_by is None:
        return ""
    if unmanaged_only:
        return f"managed by scope {managed_by!r} (--unmanaged)"
    if managed_by != scope:
        return f"managed by another scope, {managed_by!r}"
    return ""


def _arn_account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def _paths(resources: Iterable[ObservedResource]) -> dict[ResourceKey, str]:
    """A safe, unique relative path per resource: ``<folder>/<name>.yaml``.

    A name that is not a plain file name (names follow the service's patterns, but nothing
    here relies on it), or that differs only in case from one before it (a case-insensitive
    file system would merge them), gets a digest of the name appended instead.
    """
    paths: dict[ResourceKey, str] = {}
    taken: set[str] = set()
    for resource in sorted(resources, key=lambda r: r.key.order):
        folder = FOLDERS[resource.kind]
        stem = resource.name
        if _SAFE_NAME.fullmatch(stem) is None or f"{folder}/{stem}".lower() in taken:
            plain = re.sub(r"[^A-Za-z0-9_-]", "_", stem)[:64].strip("_-") or "resource"
            stem = f"{plain}-{hashlib.sha256(resource.name.encode()).hexdigest()[:10]}"
        taken.add(f"{folder}/{stem}".lower())
        paths[resource.key] = f"{folder}/{stem}.yaml"
    return paths


class _Text(str):
    """A string from the account: always written double-quoted."""

    __slots__ = ()


def _manifest(resource: ObservedResource, model_names: Mapping[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if resource.kind is Kind.CUSTOM_MODEL:
        spec["modelSourceConfig"] = {"s3DataSource": {"s3Uri": SOURCE_PLACEHOLDER}}
        if resource.kms_key_arn:
            spec["modelKmsKeyArn"] = _Text(resource.kms_key_arn)
    else:
        spec.update(_serving(resource, model_names))
    tags = user_tags(resource.tags)
    if tags:
        spec["tags"] = {_Text(k): _Text(v) for k, v in tags.items()}
    if resource.retained:
        spec["deletionPolicy"] = "Retain"
    if resource.managed_by is None:
        spec["adopt"] = True
    return {
        "apiVersion": API_VERSION,
        "kind": resource.kind.value,
        "metadata": {"name": _Text(resource.name)},
        "spec": spec,
    }


def _serving(resource: ObservedResource, model_names: Mapping[str, str]) -> dict[str, Any]:
    """A throughput's or deployment's own fields; the model it serves from (or is switching
    to) by name when that model is exported too, else by ARN."""
    model_arn = resource.next_model_arn or resource.model_arn
    name = model_names.get(model_arn)
    fields: dict[str, Any] = {"model": _Text(name)} if name else {"modelArn": _Text(model_arn)}
    if resource.kind is Kind.PROVISIONED_THROUGHPUT:
        fields["modelUnits"] = resource.model_units
        if resource.commitment:
            fields["commitmentDuration"] = _Text(resource.commitment)
    elif resource.description:
        fields["description"] = _Text(resource.description)
    return fields


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a manifest declares: all but the ``aws:`` and ``reconciler:`` ones, by key."""
    return {
        k: v for k, v in sorted(tags.items()) if not k.lower().startswith(RESERVED_TAG_PREFIXES)
    }


class _Dumper(yaml.SafeDumper):
    pass


def _quoted(dumper: yaml.SafeDumper, value: _Text) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')


_Dumper.add_representer(_Text, _quoted)


def _yaml(manifest: Mapping[str, Any]) -> str:
    text = yaml.dump(
        manifest,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=False,
        width=2**20,  # never fold a long value
    )
    # Keys are in a fixed order and tags are nested deeper, so this line is the spec's own.
    return text.replace(
        "\n  modelSourceConfig:\n", "\n" + _SOURCE_COMMENT + "  modelSourceConfig:\n"
    )


def summary(result: Export, folder: str) -> str:
    """What ``export`` wrote, which files need a source filled in, and what it left out."""
    documents = result.documents
    counts = [
        f"{n} {kind.value}"
        for kind in KIND_ORDER
        if (n := sum(d.key.kind is kind for d in documents))
    ]
    adopted = sum(d.adopt for d in documents)
    lines = [
        f"{len(documents)} file{'s' * (len(documents) != 1)} written to {folder}"
        + (f" ({', '.join(counts)})" if counts else "")
        + (f"; {adopted} unmanaged, marked spec.adopt: true" if adopted else "")
        + "."
    ]
    sources = [d.path for d in documents if d.needs_source]
    if sources:
        lines.append(
            f"{len(sources)} need{'s' * (len(sources) == 1)} the model source filled in "
            f"(spec.modelSourceConfig.s3DataSource.s3Uri: {SOURCE_PLACEHOLDER}, or a "
            "customModelDataSource for a SageMaker model package in its place):"
        )
        lines.extend(f"  {_join(folder, path)}" for path in sources)
    if result.left_out:
        lines.append(f"{len(result.left_out)} left out:")
        lines.extend(f"  {key}: {why}" for key, why in result.left_out)
    return "\n".join(lines) + "\n"


def _join(folder: str, path: str) -> str:
    return f"{folder.rstrip('/')}/{path}"
