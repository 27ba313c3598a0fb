"""Each kind's rules on their own: the full create request it builds from a manifest, the
spec hash pinned to fixed digests, which fields move the hash and which do not, and the
caution a commitment carries.

The requests are compared whole, so a renamed, dropped or extra key is noticed at once; the
digests are fixed, so a hash that drifts (and would replace or retag every existing resource)
fails here before it reaches an account.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.desired import Declared, DeclaredResource, Manifest
from reconciler.identity import Kind
from reconciler.kinds import RULES, custom_model, model_deployment, provisioned_throughput

SCOPE = "team-a"
ACCOUNT = "111122223333"
MODEL_ARN = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model/imported/abcdefabcdef"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/BedrockModelImport"
KMS = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PACKAGE = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/support-nova/3"
S3 = "s3://acme-models/support-nova-lite/"


def declare(kind: str, name: str, spec: dict[str, Any]) -> DeclaredResource:
    manifest = Manifest.validate_python(
        {"apiVersion": "bedrock.gitops/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    )
    return Declared(manifest=manifest, file=f"manifests/{name}.yaml", line=1)


def model(name: str = "support-nova-lite", **spec: Any) -> DeclaredResource:
    spec.setdefault("modelSourceConfig", {"s3DataSource": {"s3Uri": S3}})
    return declare("CustomModel", name, spec)


def packaged(name: str = "support-nova-lite", **spec: Any) -> DeclaredResource:
    source = {"modelPackageArnDataSource": {"modelPackageArn": PACKAGE}}
    return declare("CustomModel", name, {"customModelDataSource": source, **spec})


def throughput(name: str = "support-pt", **spec: Any) -> DeclaredResource:
    return declare("ProvisionedThroughput", name, {"model": "support-nova-lite", **spec})


def deployment(name: str = "support-dep", **spec: Any) -> DeclaredResource:
    return declare("CustomModelDeployment", name, {"model": "support-nova-lite", **spec})


def own_tags(spec_hash: str, *, retain: bool = False) -> list[dict[str, str]]:
    """The reconciler's tags, in the sorted order the request carries them."""
    tags = [{"key": "reconciler:deletion-policy", "value": "Retain"}] if retain else []
    return [
        *tags,
        {"key": "reconciler:managed-by", "value": SCOPE},
        {"key": "reconciler:spec-hash", "value": spec_hash},
    ]


# -- ProvisionedThroughput ---------------------------------------------------------------

PT_COMMITTED = "b262c55c8e625e6c051f7b3f1e236723"  # SixMonths, 2 units, support-pt
PT_HOURLY = "c63695fa42313878b48b068487b99e22"  # no commitment, 1 unit, support-pt


def test_a_throughput_hash_is_pinned() -> None:
    # sha256 of {"commitmentDuration":"SixMonths","modelUnits":2,"name":"support-pt"}
    committed = throughput(modelUnits=2, commitmentDuration="SixMonths")
    assert provisioned_throughput.spec_hash(committed) == PT_COMMITTED
    # {"commitmentDuration":null,"modelUnits":1,"name":"support-pt"}
    assert provisioned_throughput.spec_hash(throughput(modelUnits=1)) == PT_HOURLY


@pytest.mark.parametrize(
    "changed",
    [
        throughput("support-pt-2", modelUnits=1),
        throughput(modelUnits=2),
        throughput(modelUnits=1, commitmentDuration="OneMonth"),
    ],
    ids=["name", "modelUnits", "commitmentDuration"],
)
def test_each_hashed_throughput_field_moves_the_hash(changed: DeclaredResource) -> None:
    assert provisioned_throughput.spec_hash(changed) != PT_HOURLY


@pytest.mark.parametrize(
    "spec",
    [
        {"model": "another-model"},
        {"model": None, "modelArn": MODEL_ARN},
        {"tags": {"team": "search"}},
        {"deletionPolicy": "Retain"},
        {"adopt": True},
    ],
    ids=["model", "modelArn", "tags", "deletionPolicy", "adopt"],
)
def test_throughput_fields_switched_in_place_or_not_hashed_keep_the_hash(
    spec: dict[str, Any],
) -> None:
    body = {"model": "support-nova-lite", "modelUnits": 1, **spec}
    body = {k: v for k, v in body.items() if v is not None}
    assert provisioned_throughput.spec_hash(
        declare("ProvisionedThroughput", "support-pt", body)
    ) == (PT_HOURLY)


def test_a_committed_throughput_create_request_is_exact() -> None:
    declared = throughput(
        modelUnits=2,
        commitmentDuration="SixMonths",
        tags={"team": "search"},
        deletionPolicy="Retain",
    )
    assert provisioned_throughput.create_request(declared, SCOPE, MODEL_ARN) == {
        "provisionedModelName": "support-pt",
        "modelId": MODEL_ARN,
        "modelUnits": 2,
        "tags": [*own_tags(PT_COMMITTED, retain=True), {"key": "team", "value": "search"}],
        "commitmentDuration": "SixMonths",
    }


def test_an_hourly_throughput_create_request_has_no_commitment() -> None:
    assert provisioned_throughput.create_request(throughput(modelUnits=1), SCOPE, MODEL_ARN) == {
        "provisionedModelName": "support-pt",
        "modelId": MODEL_ARN,
        "modelUnits": 1,
        "tags": own_tags(PT_HOURLY),
    }


def test_a_commitment_says_what_it_buys() -> None:
    caution = provisioned_throughput.commitment
    assert caution(throughput(modelUnits=1)) is None
    assert caution(throughput(modelUnits=1, commitmentDuration="OneMonth")) == (
        "buys a OneMonth commitment of 1 model unit: "
        "billed to the end of the term, it cannot be refunded or deleted early"
    )
    assert caution(throughput(modelUnits=3, commitmentDuration="SixMonths")) == (
        "buys a SixMonths commitment of 3 model units: "
        "billed to the end of the term, it cannot be refunded or deleted early"
    )


# -- CustomModelDeployment ---------------------------------------------------------------

DEP_DESCRIBED = "f67e24d68b588224350846a550b4f102"  # "Support assistant", support-dep
DEP_PLAIN = "7a9b01902c15583a88539015dabb66f2"  # no description, support-dep


def test_a_deployment_hash_is_pinned() -> None:
    # sha256 of {"description":"Support assistant","name":"support-dep"}
    described = deployment(description="Support assistant")
    assert model_deployment.spec_hash(described) == DEP_DESCRIBED
    # {"description":null,"name":"support-dep"}
    assert model_deployment.spec_hash(deployment()) == DEP_PLAIN


@pytest.mark.parametrize(
    "changed",
    [deployment("support-dep-2"), deployment(description="Another assistant")],
    ids=["name", "description"],
)
def test_each_hashed_deployment_field_moves_the_hash(changed: DeclaredResource) -> None:
    assert model_deployment.spec_hash(changed) not in (DEP_PLAIN, DEP_DESCRIBED)


@pytest.mark.parametrize(
    "changed",
    [
        deployment(model="another-model"),
        declare("CustomModelDeployment", "support-dep", {"modelArn": MODEL_ARN}),
        deployment(tags={"team": "search"}),
        deployment(deletionPolicy="Retain"),
        deployment(adopt=True),
    ],
    ids=["model", "modelArn", "tags", "deletionPolicy", "adopt"],
)
def test_deployment_fields_switched_in_place_or_not_hashed_keep_the_hash(
    changed: DeclaredResource,
) -> None:
    assert model_deployment.spec_hash(changed) == DEP_PLAIN


def test_a_described_deployment_create_request_is_exact() -> None:
    declared = deployment(description="Support assistant", tags={"team": "search"})
    assert model_deployment.create_request(declared, SCOPE, MODEL_ARN) == {
        "modelDeploymentName": "support-dep",
        "modelArn": MODEL_ARN,
        "tags": [*own_tags(DEP_DESCRIBED), {"key": "team", "value": "search"}],
        "description": "Support assistant",
    }


def test_a_deployment_without_description_sends_none() -> None:
    declared = deployment(deletionPolicy="Retain")
    assert model_deployment.create_request(declared, SCOPE, MODEL_ARN) == {
        "modelDeploymentName": "support-dep",
        "modelArn": MODEL_ARN,
        "tags": own_tags(DEP_PLAIN, retain=True),
    }


# -- CustomModel -------------------------------------------------------------------------


def test_an_s3_model_create_request_is_exact() -> None:
    declared = model(roleArn=ROLE, modelKmsKeyArn=KMS, tags={"team": "search"})
    assert custom_model.create_request(declared, SCOPE, "") == {
        "modelName": "support-nova-lite",
        "modelSourceConfig": {"s3DataSource": {"s3Uri": S3}},
        "modelTags": [
            *own_tags(custom_model.spec_hash(declared)),
            {"key": "team", "value": "search"},
        ],
        "roleArn": ROLE,
        "modelKmsKeyArn": KMS,
    }


def test_a_package_model_create_request_is_exact() -> None:
    declared = packaged(deletionPolicy="Retain")
    # the v2 hash of a package-sourced model, pinned in test_plan_serving
    assert custom_model.create_request(declared, SCOPE, "") == {
        "modelName": "support-nova-lite",
        "customModelDataSource": {"modelPackageArnDataSource": {"modelPackageArn": PACKAGE}},
        "modelTags": own_tags("bd3dafc0b665cfbda6d82ada283ea2e8", retain=True),
    }


def test_a_model_create_request_ignores_the_serving_model_argument() -> None:
    declared = packaged(roleArn=ROLE)
    assert custom_model.create_request(declared, SCOPE, MODEL_ARN) == custom_model.create_request(
        declared, SCOPE, ""
    )


def test_the_rules_table_maps_each_kind_to_its_module() -> None:
    assert RULES[Kind.CUSTOM_MODEL] is custom_model.RULES
    assert RULES[Kind.PROVISIONED_THROUGHPUT] is provisioned_throughput.RULES
    assert RULES[Kind.CUSTOM_MODEL_DEPLOYMENT] is model_deployment.RULES
    assert provisioned_throughput.RULES.commitment is provisioned_throughput.commitment
    assert custom_model.RULES.commitment(model()) is None
