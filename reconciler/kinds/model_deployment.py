"""The ``CustomModelDeployment`` kind: an on-demand ``CreateCustomModelDeployment``.

Its spec hash covers the name and the description (neither changes in place); the model it
serves from is switched in place with ``UpdateCustomModelDeployment``. An unmanaged
deployment is adopted when its description is the manifest's. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.desired import CustomModelDeploymentManifest, DeclaredResource
from reconciler.identity import Kind
from reconciler.kinds.base import KindRules, desired_tags, digest, mismatch, tag_list
from reconciler.observed import ObservedResource

if TYPE_CHECKING:
    from mypy_boto3_bedrock.type_defs import CreateCustomModelDeploymentRequestTypeDef


def _manifest(resource: DeclaredResource) -> CustomModelDeploymentManifest:
    assert isinstance(resource.manifest, CustomModelDeploymentManifest)
    return resource.manifest


def spec_hash(resource: DeclaredResource) -> str:
    spec = _manifest(resource).spec
    return digest({"description": spec.description, "name": resource.name})


def create_request(
    resource: DeclaredResource, scope: str, model_arn: str
) -> CreateCustomModelDeploymentRequestTypeDef:
    spec = _manifest(resource).spec
    request: CreateCustomModelDeploymentRequestTypeDef = {
        "modelDeploymentName": resource.name,
        "modelArn": model_arn,
        "tags": tag_list(desired_tags(resource, scope, spec_hash(resource))),
    }
    if spec.description is not None:
        request["description"] = spec.description
    return request


def adoption_mismatches(resource: DeclaredResource, found: ObservedResource) -> list[str]:
    """What an unmanaged deployment holding the name differs in: its description."""
    spec = _manifest(resource).spec
    if found.description == (spec.description or ""):
        return []
    return [mismatch("description", found.description, spec.description)]


RULES = KindRules(
    kind=Kind.CUSTOM_MODEL_DEPLOYMENT,
    manifest=CustomModelDeploymentManifest,
    hash_fields="description or name",
    spec_hash=spec_hash,
    create_request=create_request,
    adoption_mismatches=adoption_mismatches,
)
