"""The Bedrock emulator, over real boto3 calls to its HTTP endpoint (and in-process for --sandbox).

Expected HTTP statuses are the Bedrock API reference's, which botocore's service model
carries: notably ConflictException is 400, not 409.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError
from moto.bedrock.models import bedrock_backends
from moto.core.base_backend import AccountSpecificBackend

from reconciler import sandbox
from reconciler.sandbox.errors import http_status
from tests.conftest import Emulator

S3 = {"s3DataSource": {"s3Uri": "s3://acme-models/alpha/"}}
OTHER_S3 = {"s3DataSource": {"s3Uri": "s3://acme-models/beta/"}}
KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::111122223333:role/BedrockModelImport"
OWNER = sandbox.DEFAULT_ACCOUNT
PARTNER = "210987654321"
IMPORTED_ARN = re.compile(
    r"arn:aws:bedrock:us-east-1:123456789012:custom-model/imported/[a-z0-9]{12}"
)
UNKNOWN_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model/imported/zzzzzzzzzzzz"
NO_RETRIES = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})


def create(client: Any, name: str, source: dict[str, Any] = S3, **extra: Any) -> str:
    arn: str = client.create_custom_model(modelName=name, modelSourceConfig=source, **extra)[
        "modelArn"
    ]
    return arn


def tags_of(n: int, prefix: str = "k") -> list[dict[str, str]]:
    return [{"key": f"{prefix}{i}", "value": str(i)} for i in range(n)]


def fails(code: str, status: int, call: Callable[..., Any], **kwargs: Any) -> ClientError:
    """The ClientError ``call(**kwargs)`` raises, checked for its code and HTTP status."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    return info.value


def all_summaries(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    pages = client.get_paginator("list_custom_models").paginate(**kwargs)
    return [summary for page in pages for summary in page["modelSummaries"]]


def names(summaries: list[dict[str, Any]]) -> list[str]:
    return [summary["modelName"] for summary in summaries]


# CreateCustomModel and GetCustomModel


def test_create_answers_202_with_an_imported_model_arn(emulator: Emulator) -> None:
    response = emulator.client().create_custom_model(modelName="alpha", modelSourceConfig=S3)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert IMPORTED_ARN.fullmatch(response["modelArn"])


def test_model_is_creating_then_active_as_its_import_time_passes(emulator: Emulator) -> None:
    client = emulator.client()
    emulator.backend.import_seconds = 30.0
    arn = create(client, "alpha")
    assert client.get_custom_model(modelIdentifier=arn)["modelStatus"] == "Creating"
    emulator.backend.models[arn].creation_time -= 31
    assert client.get_custom_model(modelIdentifier=arn)["modelStatus"] == "Active"


def test_import_time_comes_from_the_environment(emulator: Emulator) -> None:
    assert emulator.backend.import_seconds == 0.2
    client = emulator.client()
    arn = create(client, "alpha")
    time.sleep(0.25)
    assert client.get_custom_model(modelIdentifier=arn)["modelStatus"] == "Active"


def test_get_describes_the_model_by_name_and_by_arn(emulator: Emulator) -> None:
    client = emulator.client()
    before = time.time()
    arn = create(client, "alpha", modelKmsKeyArn=KMS, roleArn=ROLE)
    by_name = client.get_custom_model(modelIdentifier="alpha")
    by_arn = client.get_custom_model(modelIdentifier=arn)
    for model in (by_name, by_arn):
        assert model["modelArn"] == arn
        assert model["modelName"] == "alpha"
        assert model["customizationType"] == "IMPORTED"
        assert model["modelKmsKeyArn"] == KMS
        assert before - 1 <= model["creationTime"].timestamp() <= time.time() + 1
        assert "failureMessage" not in model


def test_failed_model_reports_its_failure_message(emulator: Emulator) -> None:
    client = emulator.client()
    create(client, "alpha")
    emulator.backend.set_status("alpha", "Failed", "weights not found")
    model = client.get_custom_model(modelIdentifier="alpha")
    assert (model["modelStatus"], model["failureMessage"]) == ("Failed", "weights not found")


def test_model_tags_are_applied_with_the_create(emulator: Emulator) -> None:
    client = emulator.client()
    arn = create(client, "alpha", modelTags=[{"key": "team", "value": "search"}])
    assert client.list_tags_for_resource(resourceARN=arn)["tags"] == [
        {"key": "team", "value": "search"}
    ]


def test_a_taken_name_is_a_conflict_and_creates_nothing(emulator: Emulator) -> None:
    client = emulator.client()
    create(client, "alpha")
    assert http_status("ConflictException") == 400
    fails(
        "ConflictException",
        400,
        client.create_custom_model,
        modelName="alpha",
        modelSourceConfig=OTHER_S3,
    )
    assert names(all_summaries(client)) == ["alpha"]


def test_request_token_replay_returns_the_first_arn_even_after_delete(emulator: Emulator) -> None:
    client = emulator.client()
    request = {"modelName": "alpha", "modelSourceConfig": S3, "clientRequestToken": "t-1"}
    first = client.create_custom_model(**request)["modelArn"]
    assert client.create_custom_model(**request)["modelArn"] == first
    client.delete_custom_model(modelIdentifier=first)
    assert client.create_custom_model(**request)["modelArn"] == first
    assert all_summaries(client) == []
    assert emulator.backend.calls["CreateCustomModel"] == 3


def test_request_token_reuse_with_other_parameters_is_invalid(emulator: Emulator) -> None:
    client = emulator.client()
    create(client, "alpha", clientRequestToken="t-1")
    error = fails(
        "ValidationException",
        400,
        client.create_custom_model,
        modelName="alpha",
        modelSourceConfig=OTHER_S3,
        clientRequestToken="t-1",
    )
    assert "t-1" in str(error)
    assert len(all_summaries(client)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"modelName": "bad name!"},
        {"modelSourceConfig": {"s3DataSource": {"s3Uri": "https://example.com/x"}}},
        {"modelKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/mine"},
        {"roleArn": "not-a-role"},
        {"modelTags": [{"key": "bad{key}", "value": "v"}]},
    ],
)
def test_invalid_create_parameters_are_rejected(emulator: Emulator, change: dict[str, Any]) -> None:
    client = emulator.client()
    fails(
        "ValidationException",
        400,
        client.create_custom_model,
        **{"modelName": "alpha", "modelSourceConfig": S3, **change},
    )
    assert all_summaries(client) == []


def test_create_needs_a_model_source(emulator: Emulator) -> None:
    fails("ValidationException", 400, emulator.client().create_custom_model, modelName="alpha")


PACKAGE = {
    "modelPackageArnDataSource": {
        "modelPackageArn": "arn:aws:sagemaker:us-east-1:111122223333:model-package/alpha/3"
    }
}


def test_a_model_package_source_imports_like_s3(emulator: Emulator) -> None:
    client = emulator.client()
    emulator.backend.import_seconds = 30.0
    arn = client.create_custom_model(modelName="alpha", customModelDataSource=PACKAGE)["modelArn"]
    assert IMPORTED_ARN.fullmatch(arn)
    assert emulator.backend.models[arn].source == {"customModelDataSource": PACKAGE}
    assert client.get_custom_model(modelIdentifier=arn)["modelStatus"] == "Creating"
    emulator.backend.models[arn].creation_time -= 31
    assert client.get_custom_model(modelIdentifier=arn)["modelStatus"] == "Active"


def test_create_refuses_both_sources(emulator: Emulator) -> None:
    client = emulator.client()
    error = fails(
        "ValidationException",
        400,
        client.create_custom_model,
        modelName="alpha",
        modelSourceConfig=S3,
        customModelDataSource=PACKAGE,
    )
    assert "Exactly one of modelSourceConfig and customModelDataSource" in str(error)
    assert all_summaries(client) == []


def test_create_checks_the_model_package_arn_pattern(emulator: Emulator) -> None:
    bad = {"modelPackageArnDataSource": {"modelPackageArn": "arn:aws:s3:::bucket/key"}}
    error = fails(
        "ValidationException",
        400,
        emulator.client().create_custom_model,
        modelName="alpha",
        customModelDataSource=bad,
    )
    assert "customModelDataSource.modelPackageArnDataSource.modelPackageArn" in str(error)


def test_account_quota_limits_owned_models(emulator: Emulator) -> None:
    client = emulator.client()
    emulator.backend.model_quota = 2
    emulator.backend.add_shared_model("shared", PARTNER)
    create(client, "alpha")
    beta = create(client, "beta")
    fails(
        "ServiceQuotaExceededException",
        400,
        client.create_custom_model,
        modelName="gamma",
        modelSourceConfig=S3,
    )
    client.delete_custom_model(modelIdentifier=beta)
    create(client, "gamma")


# DeleteCustomModel


def test_delete_by_name(emulator: Emulator) -> None:
    client = emulator.client()
    create(client, "alpha")
    client.delete_custom_model(modelIdentifier="alpha")
    fails("ResourceNotFoundException", 404, client.get_custom_model, modelIdentifier="alpha")


def test_a_deleted_name_can_be_created_again_and_names_the_new_model(emulator: Emulator) -> None:
    client = emulator.client()
    first = create(client, "alpha")
    client.delete_custom_model(modelIdentifier="alpha")
    second = create(client, "alpha")
    assert second != first
    assert client.get_custom_model(modelIdentifier="alpha")["modelArn"] == second
    fails("ConflictException", 400, create, client=client, name="alpha")


def test_delete_by_arn(emulator: Emulator) -> None:
    client = emulator.client()
    arn = create(client, "alpha")
    client.delete_custom_model(modelIdentifier=arn)
    fails("ResourceNotFoundException", 404, client.get_custom_model, modelIdentifier=arn)
    assert all_summaries(client) == []


def test_delete_removes_the_tags(emulator: Emulator) -> None:
    client = emulator.client()
    arn = create(client, "alpha", modelTags=[{"key": "team", "value": "search"}])
    client.delete_custom_model(modelIdentifier=arn)
    fails("ResourceNotFoundException", 404, client.list_tags_for_resource, resourceARN=arn)
    assert emulator.backend.tagger.get_tag_dict_for_resource(arn) == {}
    again = create(client, "alpha")
    assert client.list_tags_for_resource(resourceARN=again)["tags"] == []


def test_a_model_in_use_cannot_be_deleted(emulator: Emulator) -> None:
    client = emulator.client()
    arn = create(client, "alpha")
    emulator.backend.set_in_use(arn, True)
    fails("ConflictException", 400, client.delete_custom_model, modelIdentifier=arn)
    emulator.backend.set_in_use("alpha", False)
    client.delete_custom_model(modelIdentifier="alpha")


@pytest.mark.parametrize("identifier", ["ghost", UNKNOWN_ARN])
def test_unknown_models_are_not_found(emulator: Emulator, identifier: str) -> None:
    client = emulator.client()
    fails("ResourceNotFoundException", 404, client.get_custom_model, modelIdentifier=identifier)
    fails("ResourceNotFoundException", 404, client.delete_custom_model, modelIdentifier=identifier)


# ListCustomModels


def test_pages_of_max_results_cover_every_model_once(emulator: Emulator) -> None:
    client = emulator.client()
    created = [create(client, f"model-{i}") for i in range(7)]
    seen: list[str] = []
    sizes: list[int] = []
    token: str | None = None
    for _ in range(5):  # bounded, so a token that never ends fails instead of hanging
        page = client.list_custom_models(maxResults=3, **({"nextToken": token} if token else {}))
        sizes.append(len(page["modelSummaries"]))
        seen += [summary["modelArn"] for summary in page["modelSummaries"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert sizes == [3, 3, 1]
    assert seen == list(reversed(created))  # newest first by default


def test_deleting_between_pages_keeps_the_token_valid(emulator: Emulator) -> None:
    client = emulator.client()
    for i in range(4):
        create(client, f"model-{i}")
    first = client.list_custom_models(maxResults=2, sortOrder="Ascending")
    for summary in first["modelSummaries"]:
        client.delete_custom_model(modelIdentifier=summary["modelArn"])
    rest = client.list_custom_models(
        maxResults=2, sortOrder="Ascending", nextToken=first["nextToken"]
    )
    assert names(rest["modelSummaries"]) == ["model-2", "model-3"]
    assert "nextToken" not in rest


def test_bad_or_foreign_page_tokens_are_invalid(emulator: Emulator) -> None:
    client = emulator.client()
    for i in range(3):
        create(client, f"model-{i}")
    token = client.list_custom_models(maxResults=1)["nextToken"]
    fails("ValidationException", 400, client.list_custom_models, nextToken="garbage")
    fails(
        "ValidationException", 400, client.list_custom_models, nextToken=token, nameContains="model"
    )


def test_max_results_above_the_limit_is_invalid(emulator: Emulator) -> None:
    fails("ValidationException", 400, emulator.client().list_custom_models, maxResults=1001)


def test_sort_order_ascending(emulator: Emulator) -> None:
    client = emulator.client()
    for name in ("first", "second", "third"):
        create(client, name)
    assert names(all_summaries(client, sortOrder="Ascending")) == ["first", "second", "third"]
    assert names(all_summaries(client, sortBy="CreationTime")) == ["third", "second", "first"]


def test_name_contains_filters_on_the_model_name(emulator: Emulator) -> None:
    client = emulator.client()
    create(client, "search-reranker")
    create(client, "support-bot")
    assert names(all_summaries(client, nameContains="rerank")) == ["search-reranker"]
    assert names(all_summaries(client, nameContains="nothing")) == []


def test_summaries_carry_owner_status_and_type(emulator: Emulator) -> None:
    client = emulator.client()
    arn = create(client, "alpha")
    [summary] = all_summaries(client)
    assert summary["modelArn"] == arn
    assert summary["ownerAccountId"] == OWNER
    assert summary["customizationType"] == "IMPORTED"
    assert summary["modelStatus"] in ("Creating", "Active")
    assert isinstance(summary["creationTime"].timestamp(), float)


def test_shared_models_are_listed_unless_is_owned(emulator: Emulator) -> None:
    client = emulator.client()
    own = create(client, "alpha")
    shared = emulator.backend.add_shared_model("alpha", PARTNER)
    assert shared.split(":")[4] == PARTNER
    owners = {s["modelArn"]: s["ownerAccountId"] for s in all_summaries(client)}
    assert owners == {own: OWNER, shared: PARTNER}
    assert [s["modelArn"] for s in all_summaries(client, isOwned=True)] == [own]
    assert client.get_custom_model(modelIdentifier="alpha")["modelArn"] == own
    assert client.get_custom_model(modelIdentifier=shared)["modelStatus"] == "Active"
    fails("AccessDeniedException", 403, client.delete_custom_model, modelIdentifier=shared)


def test_model_status_filter(emulator: Emulator) -> None:
    client = emulator.client()
    emulator.backend.import_seconds = 30.0
    create(client, "creating")
    create(client, "broken")
    create(client, "ready")
    emulator.backend.set_status("broken", "Failed")
    emulator.backend.set_status("ready", "Active")
    assert names(all_summaries(client, modelStatus="Creating")) == ["creating"]
    assert names(all_summaries(client, modelStatus="Failed")) == ["broken"]
    assert names(all_summaries(client, modelStatus="Active")) == ["ready"]


# Tags


def test_tag_untag_and_list(emulator: Emulator) -> None:
    client = emulator.client()
    arn = create(client, "alpha", modelTags=[{"key": "a", "value": "1"}])
    client.tag_resource(
        resourceARN=arn, tags=[{"key": "b", "value": "2"}, {"key": "a", "value": "9"}]
    )
    tags = client.list_tags_for_resource(resourceARN=arn)["tags"]
    assert sorted((t["key"], t["value"]) for t in tags) == [("a", "9"), ("b", "2")]
    client.untag_resource(resourceARN=arn, tagKeys=["a", "missing"])
    assert client.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "b", "value": "2"}]


def test_tag_operations_on_unknown_arns_are_not_found(emulator: Emulator) -> None:
    client = emulator.client()
    fails(
        "ResourceNotFoundException",
        404,
        client.tag_resource,
        resourceARN=UNKNOWN_ARN,
        tags=tags_of(1),
    )
    fails(
        "ResourceNotFoundException",
        404,
        client.untag_resource,
        resourceARN=UNKNOWN_ARN,
        tagKeys=["k"],
    )
    fails("ResourceNotFoundException", 404, client.list_tags_for_resource, resourceARN=UNKNOWN_ARN)


def test_more_than_50_tags_on_create_are_refused(emulator: Emulator) -> None:
    client = emulator.client()
    fails(
        "TooManyTagsException",
        400,
        client.create_custom_model,
        modelName="alpha",
        modelSourceConfig=S3,
        modelTags=tags_of(51),
    )
    assert all_summaries(client) == []
    create(client, "alpha", modelTags=tags_of(50))


def test_tagging_beyond_50_tags_is_refused(emulator: Emulator) -> None:
    client = emulator.client()
    arn = create(client, "alpha", modelTags=tags_of(49))
    client.tag_resource(resourceARN=arn, tags=tags_of(49) + tags_of(1, prefix="new"))
    error = fails(
        "TooManyTagsException",
        400,
        client.tag_resource,
        resourceARN=arn,
        tags=tags_of(1, prefix="more"),
    )
    assert error.response["resourceName"] == arn
    assert len(client.list_tags_for_resource(resourceARN=arn)["tags"]) == 50


# Call counting and injected faults


def test_calls_are_counted_per_operation(emulator: Emulator) -> None:
    client = emulator.client()
    assert sum(emulator.backend.calls.values()) == 0
    arn = create(client, "alpha")
    client.get_custom_model(modelIdentifier=arn)
    client.get_custom_model(modelIdentifier=arn)
    fails("ResourceNotFoundException", 404, client.get_custom_model, modelIdentifier="ghost")
    assert emulator.backend.calls == {"CreateCustomModel": 1, "GetCustomModel": 3}


@pytest.mark.parametrize(
    ("code", "status"), [("ThrottlingException", 429), ("AccessDeniedException", 403)]
)
def test_injected_faults_come_back_as_aws_errors(
    emulator: Emulator, code: str, status: int
) -> None:
    client = emulator.client(config=NO_RETRIES)
    emulator.backend.fail_next("CreateCustomModel", code)
    fails(code, status, client.create_custom_model, modelName="alpha", modelSourceConfig=S3)
    assert all_summaries(client) == []
    create(client, "alpha")


def test_throttling_is_retried_by_botocore(emulator: Emulator) -> None:
    client = emulator.client(
        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 3})
    )
    emulator.backend.fail_next("ListCustomModels", "ThrottlingException")
    assert client.list_custom_models()["modelSummaries"] == []
    assert emulator.backend.calls["ListCustomModels"] == 2


# moto's own Bedrock operations still work


def test_moto_customization_jobs_still_work_and_their_models_are_listed(emulator: Emulator) -> None:
    client = emulator.client()
    job = client.create_model_customization_job(
        jobName="tune",
        customModelName="tuned",
        roleArn=ROLE,
        baseModelIdentifier="amazon.titan-text-express-v1",
        trainingDataConfig={"s3Uri": "s3://acme-data/train/"},
        outputDataConfig={"s3Uri": "s3://acme-data/out/"},
        hyperParameters={"epochCount": "1"},
    )
    assert client.get_model_customization_job(jobIdentifier="tune")["jobArn"] == job["jobArn"]
    tuned = client.get_custom_model(modelIdentifier="tuned")
    assert (tuned["customizationType"], tuned["modelStatus"]) == ("FINE_TUNING", "Active")
    assert tuned["hyperParameters"] == {"epochCount": "1"}
    assert names(all_summaries(client)) == ["tuned"]
    client.delete_custom_model(modelIdentifier="tuned")
    assert all_summaries(client) == []


def test_install_is_idempotent(emulator: Emulator) -> None:
    sandbox.install()
    sandbox.install()
    assert sandbox.is_installed()
    create(emulator.client(), "alpha")
    assert emulator.backend.calls["CreateCustomModel"] == 1


def test_a_bad_import_time_setting_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.ENV_IMPORT_SECONDS, "soon")
    with pytest.raises(sandbox.SandboxError, match=sandbox.ENV_IMPORT_SECONDS):
        sandbox.install()


# State


def populate(emulator: Emulator) -> dict[str, str]:
    """A sandbox with one of everything the state must keep."""
    client = emulator.client()
    arns = {
        "tagged": create(client, "tagged", modelTags=[{"key": "team", "value": "search"}]),
        "used": create(client, "used", clientRequestToken="tok-used", modelKmsKeyArn=KMS),
        "broken": create(client, "broken"),
        "gone": create(client, "gone", clientRequestToken="tok-gone"),
    }
    client.delete_custom_model(modelIdentifier="gone")
    emulator.backend.set_in_use("used", True)
    emulator.backend.set_status("broken", "Failed", "bad weights")
    arns["shared"] = emulator.backend.add_shared_model("shared", PARTNER)
    return arns


def test_state_round_trips_through_json(emulator: Emulator) -> None:
    arns = populate(emulator)
    state = json.loads(json.dumps(sandbox.dump_state()))
    sandbox.reset_state()
    assert all_summaries(emulator.client()) == []
    sandbox.load_state(state)
    assert sandbox.dump_state() == state
    client = emulator.client()
    assert {s["modelName"] for s in all_summaries(client)} == {"tagged", "used", "broken", "shared"}
    assert client.list_tags_for_resource(resourceARN=arns["tagged"])["tags"] == [
        {"key": "team", "value": "search"}
    ]
    assert client.get_custom_model(modelIdentifier="broken")["failureMessage"] == "bad weights"
    fails("ConflictException", 400, client.delete_custom_model, modelIdentifier="used")
    replay = create(client, "gone", clientRequestToken="tok-gone")
    assert replay == arns["gone"]
    assert all_summaries(client, isOwned=True, nameContains="gone") == []


def test_duplicate_models_in_state_are_refused(emulator: Emulator) -> None:
    create(emulator.client(), "alpha")
    state = sandbox.dump_state()
    models = state["backends"][0]["models"]
    models.append({**models[0], "arn": models[0]["arn"][:-1] + "0"})
    with pytest.raises(sandbox.SandboxStateError, match="one owned name"):
        sandbox.load_state(state)


@pytest.mark.parametrize(
    "state",
    [
        [],
        {"version": 99, "backends": []},
        {"version": 1},
        {"version": 1, "backends": [{"account_id": OWNER}]},
        {"version": 1, "backends": [{"account_id": OWNER, "region": "mars-north-1"}]},
        {"version": 1, "backends": [{"account_id": OWNER, "region": "us-east-1", "models": [{}]}]},
        {
            "version": 1,
            "backends": [
                {
                    "account_id": OWNER,
                    "region": "us-east-1",
                    "models": [
                        {"arn": "a", "name": "n", "owner_account_id": OWNER, "creation_time": "x"}
                    ],
                }
            ],
        },
        {
            "version": 1,
            "backends": [{"account_id": OWNER, "region": "us-east-1", "tags": {"a": {"k": "v"}}}],
        },
        {
            "version": 1,
            "backends": [{"account_id": OWNER, "region": "us-east-1", "tokens": {"t": 1}}],
        },
    ],
)
def test_malformed_state_is_refused_and_changes_nothing(emulator: Emulator, state: Any) -> None:
    create(emulator.client(), "alpha")
    before = sandbox.dump_state()
    with pytest.raises(sandbox.SandboxStateError):
        sandbox.load_state(state)
    assert sandbox.dump_state() == before


# running(): the in-process sandbox behind --sandbox


def test_running_persists_across_two_uses_of_the_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "deep" / "folder" / "sandbox.json"
    with sandbox.running(state_file, "us-east-1"):
        client = boto3.client("bedrock", region_name="us-east-1")
        arn = create(client, "alpha", modelTags=[{"key": "team", "value": "search"}])
    assert json.loads(state_file.read_text())["backends"][0]["models"][0]["arn"] == arn
    with sandbox.running(state_file, "us-east-1"):
        client = boto3.client("bedrock", region_name="us-east-1")
        assert names(all_summaries(client)) == ["alpha"]
        assert client.list_tags_for_resource(resourceARN=arn)["tags"] == [
            {"key": "team", "value": "search"}
        ]
        client.delete_custom_model(modelIdentifier=arn)
    with sandbox.running(state_file, "us-east-1"):
        assert all_summaries(boto3.client("bedrock", region_name="us-east-1")) == []
    assert sorted(p.name for p in state_file.parent.iterdir()) == [
        "sandbox.json",
        "sandbox.json.lock",
    ]


def test_running_needs_no_user_credentials_and_ignores_user_endpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", "http://127.0.0.1:9")
    with sandbox.running(tmp_path / "state.json", "eu-central-1"):
        client = boto3.client("bedrock")
        assert client.meta.region_name == "eu-central-1"
        arn = create(client, "alpha")
    assert ":eu-central-1:" in arn
    assert "AWS_ACCESS_KEY_ID" not in os.environ


def test_running_ignores_a_broken_user_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    # moto caches the boto3 session it lists regions with; start from a fresh one.
    getattr(AccountSpecificBackend.get_session, "__func__").cache_clear()  # noqa: B009
    bedrock_backends.clear()
    with sandbox.running(tmp_path / "state.json", "us-east-1"):
        assert IMPORTED_ARN.fullmatch(create(boto3.client("bedrock"), "alpha"))


def test_running_saves_even_when_the_block_fails(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    with pytest.raises(RuntimeError), sandbox.running(state_file, "us-east-1"):
        create(boto3.client("bedrock", region_name="us-east-1"), "alpha")
        raise RuntimeError("apply failed half way")
    assert len(json.loads(state_file.read_text())["backends"][0]["models"]) == 1


@pytest.mark.parametrize("content", ["{not json", '{"version": 1, "backends": 7}', "\xff"])
def test_a_corrupt_state_file_raises_sandbox_state_error(tmp_path: Path, content: str) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text(content, encoding="latin-1")
    with pytest.raises(sandbox.SandboxStateError), sandbox.running(state_file, "us-east-1"):
        pytest.fail("the block must not run")
    assert state_file.read_text(encoding="latin-1") == content


def test_an_unusable_state_folder_raises_sandbox_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with (
        pytest.raises(sandbox.SandboxStateError, match="cannot create"),
        sandbox.running(blocker / "state.json", "us-east-1"),
    ):
        pytest.fail("the block must not run")


def test_running_refuses_a_region_without_bedrock(tmp_path: Path) -> None:
    with (
        pytest.raises(sandbox.SandboxError, match="mars-north-1"),
        sandbox.running(tmp_path / "state.json", "mars-north-1"),
    ):
        pytest.fail("the block must not run")


def test_running_holds_an_exclusive_lock_beside_the_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    lock_file = tmp_path / "state.json.lock"

    def lock_is_free() -> bool:
        with lock_file.open("a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return True

    with sandbox.running(state_file, "us-east-1"):
        assert not lock_is_free()
    assert lock_is_free()


def test_two_sandbox_runs_on_one_file_serialise(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    order: list[str] = []
    inside = threading.Event()

    def second_run() -> None:
        inside.wait()
        with sandbox.running(state_file, "us-east-1"):
            order.append("second")

    thread = threading.Thread(target=second_run)
    thread.start()
    with sandbox.running(state_file, "us-east-1"):
        inside.set()
        time.sleep(0.2)
        order.append("first")
    thread.join(timeout=5)
    assert order == ["first", "second"]
