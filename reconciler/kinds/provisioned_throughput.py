"""The ``ProvisionedThroughput`` kind: ``CreateProvisionedModelThroughput``.

Its spec hash covers what cannot change in place (name, model units, commitment); the model
it serves from is not in it, because ``UpdateProvisionedModelThroughput`` switches that
while serving continues. A commitment is money that cannot be refunded, so the rules say
which creates buy one. An unmanaged throughput is adopted when its model units and
commitment are the manifest's; the model it serves from may differ (switched in place by
the next plan). Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.desired import DeclaredResource, ProvisionedThroughputManifest
from reconciler.identity import Kind
from reconciler.kinds.base import KindRules, desired_tags, digest, mismatch, tag_list
from reconciler.observed import ObservedResource

if TYPE_CHECKING:
    from mypy_boto3_bedrock.type_defs import CreateProvisionedModelThroughputRequestTypeDef


def _manifest(resource: DeclaredResource) -> ProvisionedThroughputManifest:
    assert isinstance(resource.manifest, ProvisionedThroughputManifest)
    return resource.manifest


def spec_hash(resource: DeclaredResource) -> str:
    spec = _manifest(resource).spec
    return digest(
        {
            "commitmentDuration": spec.commitmentDuration,
            "modelUnits": spec.modelUnits,
            "name": resource.name,
        }
    )


def create_request(
    resource: DeclaredResource, scope: str, model_arn: str
) -> CreateProvisionedModelThroughputRequestTypeDef:
    spec = _manifest(resource).spec
    request: CreateProvisionedModelThroughputRequestTypeDef = {
        "provisionedModelName": resource.name,
        "modelId": model_arn,
        "modelUnits": spec.modelUnits,
        "tags": tag_list(desired_tags(resource, scope, spec_hash(resource))),
    }
    if spec.commitmentDuration is not None:
        request["commitmentDuration"] = spec.commitmentDuration
    return request


def commitment(resource: DeclaredResource) -> str | None:
    """The commitment a create of this throughput buys, as a caution; None for hourly."""
    spec = _manifest(resource).spec
    if spec.commitmentDuration is None:
        return None
    units = spec.modelUnits
    return (
        f"buys a {spec.commitmentDuration} commitment of {units} model unit{'s' * (units != 1)}: "
        "billed to the end of the term, it cannot be refunded or deleted early"
    )


def adoption_mismatches(resource: DeclaredResource, found: ObservedResource) -> list[str]:
    """What an unmanaged throughput holding the name differs in: units, commitment."""
    spec = _manifest(resource).spec
    mismatches = []
    if found.model_units != spec.modelUnits:
        mismatches.append(mismatch("modelUnits", found.model_units, spec.modelUnits))
    if found.commitment != (spec.commitmentDuration or ""):
        mismatches.append(mismatch("commitmentDuration", found.commitment, spec.commitmentDuration))
    return mismatches


RULES = KindRules(
    kind=Kind.PROVISIONED_THROUGHPUT,
    manifest=ProvisionedThroughputManifest,
    hash_fields="modelUnits, commitmentDuration or name",
    spec_hash=spec_hash,
    create_request=create_request,
    adoption_mismatches=adoption_mismatches,
    commitment=commitment,
)
