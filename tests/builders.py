"""Builders of declared and observed resources of every kind, for the pure-layer tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.desired import Declared, DeclaredResource, DesiredState, Manifest, desired_state
from reconciler.identity import Kind
from reconciler.observed import ObservedResource, ObservedState, state_of
from reconciler.plan import desired_tags

SCOPE = "team-a"
OTHER = "team-b"
ACCOUNT = "111122223333"
NOW = 1_800_000_000.0  # when the account was read, for commitment expiry
FOUNDATION = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"


def model_arn(name: str) -> str:
    return f"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model/imported/{name[:12]:0>12}"


def serving_arn(kind: Kind, name: str) -> str:
    path = "provisioned-model" if kind is Kind.PROVISIONED_THROUGHPUT else "custom-model-deployment"
    return f"arn:aws:bedrock:us-east-1:{ACCOUNT}:{path}/{name[:12]:0>12}"


def _declare(document: dict[str, Any], line: int = 1) -> DeclaredResource:
    manifest = Manifest.validate_python(document)
    name = document["metadata"]["name"]
    return Declared(manifest=manifest, file=f"manifests/{name}.yaml", line=line, ref_line=line + 5)


def cm(
    name: str,
    *,
    s3: str | None = None,
    package: str | None = None,
    tags: Mapping[str, str] | None = None,
    policy: str = "Delete",
    kms: str | None = None,
    adopt: bool = False,
) -> DeclaredResource:
    spec: dict[str, Any] = {"tags": dict(tags or {}), "deletionPolicy": policy, "adopt": adopt}
    if kms:
        spec["modelKmsKeyArn"] = kms
    if package:
        spec["customModelDataSource"] = {"modelPackageArnDataSource": {"modelPackageArn": package}}
    else:
        spec["modelSourceConfig"] = {"s3DataSource": {"s3Uri": s3 or f"s3://acme/{name}/"}}
    return _declare(
        {
            "apiVersion": "bedrock.gitops/v1",
            "kind": "CustomModel",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def pt(
    name: str,
    *,
    model: str | None = None,
    arn: str | None = None,
    units: int = 1,
    commitment: str | None = None,
    tags: Mapping[str, str] | None = None,
    policy: str = "Delete",
    adopt: bool = False,
) -> DeclaredResource:
    spec: dict[str, Any] = {
        "modelUnits": units,
        "tags": dict(tags or {}),
        "deletionPolicy": policy,
        "adopt": adopt,
    }
    spec.update({"model": model} if model else {"modelArn": arn})
    if commitment:
        spec["commitmentDuration"] = commitment
    return _declare(
        {
            "apiVersion": "bedrock.gitops/v1",
            "kind": "ProvisionedThroughput",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def dep(
    name: str,
    *,
    model: str | None = None,
    arn: str | None = None,
    description: str | None = None,
    policy: str = "Delete",
    adopt: bool = False,
) -> DeclaredResource:
    spec: dict[str, Any] = {"deletionPolicy": policy, "adopt": adopt}
    spec.update({"model": model} if model else {"modelArn": arn})
    if description:
        spec["description"] = description
    return _declare(
        {
            "apiVersion": "bedrock.gitops/v1",
            "kind": "CustomModelDeployment",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def observed_of(
    resource: DeclaredResource,
    *,
    scope: str | None = SCOPE,
    status: str | None = None,
    serves: str = "",
    switching_to: str = "",
    expires: float | None = None,
    arn: str | None = None,
) -> ObservedResource:
    """``resource`` as the reconciler would have made it (``scope=None``: untagged)."""
    tags = desired_tags(resource, scope) if scope else {}
    kind = resource.kind
    if kind is Kind.CUSTOM_MODEL:
        return ObservedResource(
            arn=arn or model_arn(resource.name),
            name=resource.name,
            status=status or "Active",
            tags=tags,
        )
    spec = resource.spec
    return ObservedResource(
        kind=kind,
        arn=arn or serving_arn(kind, resource.name),
        name=resource.name,
        status=status or ("InService" if kind is Kind.PROVISIONED_THROUGHPUT else "Active"),
        tags=tags,
        model_arn=serves,
        next_model_arn=switching_to or (serves if kind is Kind.PROVISIONED_THROUGHPUT else ""),
        model_units=getattr(spec, "modelUnits", 0),
        commitment=getattr(spec, "commitmentDuration", None) or "",
        commitment_expires=expires,
    )


def desired(*resources: DeclaredResource) -> DesiredState:
    return desired_state(resources)


def observed(*resources: ObservedResource) -> ObservedState:
    return state_of(resources, read_at=NOW)
