"""The ``CustomModel`` kind: a model imported with ``CreateCustomModel``.

Its weights come from S3 (``modelSourceConfig``) or from a SageMaker AI model package
(``customModelDataSource``). The spec hash of an S3-sourced model is exactly version 1's
(name, ``s3Uri``, ``modelKmsKeyArn``): upgrading the reconciler never replaces or retags an
existing model. A package-sourced model hashes its ``modelPackageArn`` in place of the
``s3Uri``, so moving a model from one source to the other replaces it. An unmanaged model
is adopted when its KMS key is the manifest's and its import did not fail; its source
cannot be read back from Bedrock, so the manifest's is taken on trust. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.desired import CustomModelManifest, DeclaredResource, Spec
from reconciler.identity import Kind
from reconciler.kinds.base import KindRules, desired_tags, digest, mismatch, tag_list
from reconciler.observed import STATUS_FAILED, ObservedResource

if TYPE_CHECKING:
    from mypy_boto3_bedrock.type_defs import CreateCustomModelRequestTypeDef


def _manifest(resource: DeclaredResource) -> CustomModelManifest:
    assert isinstance(resource.manifest, CustomModelManifest)
    return resource.manifest


def _source(spec: Spec) -> tuple[str, str]:
    """The source's hash field and value: ``s3Uri`` or ``modelPackageArn``."""
    if spec.modelSourceConfig is not None:
        return "s3Uri", spec.modelSourceConfig.s3DataSource.s3Uri
    assert spec.customModelDataSource is not None  # the manifest gives exactly one
    return "modelPackageArn", spec.customModelDataSource.modelPackageArnDataSource.modelPackageArn


def spec_hash(resource: DeclaredResource) -> str:
    """Digest of what defines the model's content; roleArn and tags are deliberately left out."""
    spec = _manifest(resource).spec
    field, value = _source(spec)
    return digest({"modelKmsKeyArn": spec.modelKmsKeyArn, "name": resource.name, field: value})


def create_request(
    resource: DeclaredResource, scope: str, _model_arn: str
) -> CreateCustomModelRequestTypeDef:
    """The full CreateCustomModel request for a declared model, tags included (a model serves
    from no other model, so ``_model_arn`` is unused)."""
    spec = _manifest(resource).spec
    field, value = _source(spec)
    request: CreateCustomModelRequestTypeDef = {"modelName": resource.name}
    if field == "s3Uri":
        request["modelSourceConfig"] = {"s3DataSource": {"s3Uri": value}}
    else:
        request["customModelDataSource"] = {"modelPackageArnDataSource": {"modelPackageArn": value}}
    request["modelTags"] = tag_list(desired_tags(resource, scope, spec_hash(resource)))
    if spec.roleArn is not None:
        request["roleArn"] = spec.roleArn
    if spec.modelKmsKeyArn is not None:
        request["modelKmsKeyArn"] = spec.modelKmsKeyArn
    return request


def adoption_mismatches(resource: DeclaredResource, found: ObservedResource) -> list[str]:
    """What an unmanaged model holding the name differs in: its KMS key, a failed import, a
    model not made by CreateCustomModel."""
    spec = _manifest(resource).spec
    mismatches = []
    if (spec.modelKmsKeyArn or "") != found.kms_key_arn:
        mismatches.append(mismatch("modelKmsKeyArn", found.kms_key_arn, spec.modelKmsKeyArn))
    if found.status == STATUS_FAILED:
        mismatches.append(mismatch("status", STATUS_FAILED, "a model that imported"))
    if not made_by_create(found):
        made = "IMPORTED (a model CreateCustomModel made)"
        mismatches.append(mismatch("customizationType", found.customization_type, made))
    return mismatches


def made_by_create(found: ObservedResource) -> bool:
    """Whether a model is one CreateCustomModel made (``customizationType`` IMPORTED; unknown
    counts as such): a fine-tuned or distilled model cannot be declared, so it is never
    adopted nor exported."""
    return found.customization_type.upper() in ("", "IMPORTED")


def unreadable(resource: DeclaredResource) -> str:
    """What adoption cannot compare: the source, which Bedrock never gives back."""
    field, _ = _source(_manifest(resource).spec)
    return (
        f"its source ({field}) cannot be read back from Bedrock: the manifest's is taken on "
        "trust and recorded in the spec-hash tag"
    )


RULES = KindRules(
    kind=Kind.CUSTOM_MODEL,
    manifest=CustomModelManifest,
    hash_fields="source, modelKmsKeyArn or name",
    spec_hash=spec_hash,
    create_request=create_request,
    adoption_mismatches=adoption_mismatches,
    unreadable=unreadable,
)
