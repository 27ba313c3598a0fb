"""The ``CustomModel`` kind: a model imported with ``CreateCustomModel``.

Its spec hash is exactly version 1's (name, ``s3Uri``, ``modelKmsKeyArn``): upgrading the
reconciler never replaces or retags an existing model. Pure.
"""

from __future__ import annotations

from typing import Any

from reconciler.desired import CustomModelManifest, DeclaredResource
from reconciler.identity import Kind
from reconciler.kinds.base import KindRules, desired_tags, digest, tag_list


def _manifest(resource: DeclaredResource) -> CustomModelManifest:
    assert isinstance(resource.manifest, CustomModelManifest)
    return resource.manifest


def spec_hash(resource: DeclaredResource) -> str:
    """Digest of what defines the model's content; roleArn and tags are deliberately left out."""
    spec = _manifest(resource).spec
    return digest(
        {
            "modelKmsKeyArn": spec.modelKmsKeyArn,
            "name": resource.name,
            "s3Uri": spec.modelSourceConfig.s3DataSource.s3Uri,
        }
    )


def create_request(resource: DeclaredResource, scope: str, _model_arn: str = "") -> dict[str, Any]:
    """The full CreateCustomModel request for a declared model, tags included."""
    spec = _manifest(resource).spec
    request: dict[str, Any] = {
        "modelName": resource.name,
        "modelSourceConfig": {"s3DataSource": {"s3Uri": spec.modelSourceConfig.s3DataSource.s3Uri}},
        "modelTags": tag_list(desired_tags(resource, scope, spec_hash(resource))),
    }
    if spec.roleArn is not None:
        request["roleArn"] = spec.roleArn
    if spec.modelKmsKeyArn is not None:
        request["modelKmsKeyArn"] = spec.modelKmsKeyArn
    return request


RULES = KindRules(
    kind=Kind.CUSTOM_MODEL,
    manifest=CustomModelManifest,
    hash_fields="s3Uri, modelKmsKeyArn or name",
    spec_hash=spec_hash,
    create_request=create_request,
)
