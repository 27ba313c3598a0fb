"""GetResources (the Resource Groups Tagging API) in the emulator, over real boto3 clients.

The reconciler reads the tags of all its models through it in a few paginated calls, so the
emulator must page, filter, count and fail as AWS does, and lag behind Bedrock on request.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.endpoint
import pytest
from botocore.exceptions import ClientError
from moto.core.responses import BaseResponse
from moto.resourcegroupstaggingapi.responses import ResourceGroupsTaggingAPIResponse

from reconciler import sandbox
from reconciler.sandbox import Faults
from tests.conftest import Emulator

SOURCE = {"s3DataSource": {"s3Uri": "s3://acme-models/m/"}}
MANAGED_BY = "reconciler:managed-by"
CUSTOM_MODELS = ["bedrock:custom-model"]
PARTNER = "210987654321"
NO_RETRIES = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})


def tagging(emulator: Emulator, region: str | None = None, **kwargs: Any) -> Any:
    """A real Resource Groups Tagging API client for the emulator."""
    return boto3.client(
        "resourcegroupstaggingapi",
        region_name=region or emulator.region,
        endpoint_url=emulator.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        **kwargs,
    )


def make_model(backend: sandbox.EmulatedBedrockBackend, name: str, **tags: str) -> str:
    """A model made straight on the backend: much faster than over HTTP, for bulk set-ups."""
    return backend.create_custom_model(
        model_name=name,
        model_source_config=SOURCE,
        model_tags=[{"key": key, "value": value} for key, value in tags.items()],
    )


def pages(client: Any, **kwargs: Any) -> list[list[dict[str, Any]]]:
    paginator = client.get_paginator("get_resources")
    return [page["ResourceTagMappingList"] for page in paginator.paginate(**kwargs)]


def tag_map(client: Any, **kwargs: Any) -> dict[str, dict[str, str]]:
    """Every resource GetResources reports, with its tags; each must be reported once."""
    mappings = [mapping for page in pages(client, **kwargs) for mapping in page]
    by_arn = {m["ResourceARN"]: {t["Key"]: t["Value"] for t in m["Tags"]} for m in mappings}
    assert len(by_arn) == len(mappings), "a resource was reported twice"
    return by_arn


def managed_by(*values: str) -> list[dict[str, Any]]:
    return [{"Key": MANAGED_BY, "Values": list(values)}]


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's retry backoffs, recorded instead of slept (a throttle's can take seconds)."""
    delays: list[float] = []

    class Clock:
        def sleep(self, seconds: float) -> None:
            delays.append(seconds)

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

    monkeypatch.setattr(botocore.endpoint, "time", Clock())
    return delays


def error_of(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# TagFilters and ResourceTypeFilters


@pytest.fixture
def fleet(emulator: Emulator) -> Mapping[str, str]:
    """Models of two scopes (one with a team tag), one tagged outside them, one untagged."""
    backend = emulator.backend
    return {
        "blue": make_model(backend, "blue", **{MANAGED_BY: "blue", "team": "a"}),
        "green": make_model(backend, "green", **{MANAGED_BY: "green"}),
        "other": make_model(backend, "other", owner="ops"),
        "untagged": make_model(backend, "untagged"),
    }


def test_a_key_with_values_matches_any_of_them(
    emulator: Emulator, fleet: Mapping[str, str]
) -> None:
    client = tagging(emulator)
    assert set(tag_map(client, TagFilters=managed_by("blue"))) == {fleet["blue"]}
    both = tag_map(client, TagFilters=managed_by("blue", "green", "nobody"))
    assert set(both) == {fleet["blue"], fleet["green"]}
    assert both[fleet["blue"]] == {MANAGED_BY: "blue", "team": "a"}


def test_a_key_without_values_matches_any_value(
    emulator: Emulator, fleet: Mapping[str, str]
) -> None:
    reported = tag_map(tagging(emulator), TagFilters=[{"Key": MANAGED_BY}])
    assert set(reported) == {fleet["blue"], fleet["green"]}


def test_every_filter_must_match(emulator: Emulator, fleet: Mapping[str, str]) -> None:
    filters = [{"Key": MANAGED_BY}, {"Key": "team", "Values": ["a"]}]
    assert set(tag_map(tagging(emulator), TagFilters=filters)) == {fleet["blue"]}
    filters = [{"Key": MANAGED_BY, "Values": ["green"]}, {"Key": "team"}]
    assert tag_map(tagging(emulator), TagFilters=filters) == {}


def test_without_filters_every_tagged_model_is_reported(
    emulator: Emulator, fleet: Mapping[str, str]
) -> None:
    reported = tag_map(tagging(emulator))
    assert set(reported) == {fleet["blue"], fleet["green"], fleet["other"]}


@pytest.mark.parametrize(
    "types", [CUSTOM_MODELS, ["bedrock"], ["s3", "bedrock:custom-model"]], ids=str
)
def test_resource_types_that_name_custom_models_match(
    emulator: Emulator, fleet: Mapping[str, str], types: list[str]
) -> None:
    reported = tag_map(tagging(emulator), TagFilters=managed_by("blue"), ResourceTypeFilters=types)
    assert set(reported) == {fleet["blue"]}


@pytest.mark.parametrize(
    "types", [["bedrock:provisioned-model"], ["s3"], ["bedrock:custom"], ["ec2:instance"]], ids=str
)
def test_other_resource_types_do_not_match(
    emulator: Emulator, fleet: Mapping[str, str], types: list[str]
) -> None:
    assert tag_map(tagging(emulator), ResourceTypeFilters=types) == {}


def test_models_shared_by_another_account_are_not_reported(emulator: Emulator) -> None:
    backend = emulator.backend
    shared = backend.add_shared_model("partner-model", PARTNER)
    # Bedrock refuses to tag another account's model; the tag store is the only way here.
    backend.tagger.tag_resource(shared, [{"Key": MANAGED_BY, "Value": "blue"}])
    own = make_model(backend, "own", **{MANAGED_BY: "blue"})
    assert set(tag_map(tagging(emulator), TagFilters=managed_by("blue"))) == {own}


def test_tags_changed_through_bedrock_are_reported(emulator: Emulator) -> None:
    bedrock, client = emulator.client(), tagging(emulator)
    arn = make_model(emulator.backend, "m", **{MANAGED_BY: "blue", "stale": "yes"})
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": MANAGED_BY, "value": "green"}])
    bedrock.untag_resource(resourceARN=arn, tagKeys=["stale"])
    assert tag_map(client) == {arn: {MANAGED_BY: "green"}}
    bedrock.delete_custom_model(modelIdentifier=arn)
    assert tag_map(client) == {}


def test_each_region_reports_and_counts_its_own_models(emulator: Emulator) -> None:
    east = make_model(emulator.backend, "east", **{MANAGED_BY: "blue"})
    west_backend = sandbox.get_backend("us-west-2")
    west = make_model(west_backend, "west", **{MANAGED_BY: "blue"})
    assert set(tag_map(tagging(emulator, "us-west-2"))) == {west}
    assert set(tag_map(tagging(emulator))) == {east}
    assert west_backend.calls["GetResources"] == 1
    assert emulator.backend.calls["GetResources"] == 1


# Pagination


def test_250_models_come_in_three_pages_of_at_most_100(emulator: Emulator) -> None:
    backend = emulator.backend
    created = {
        make_model(backend, f"m{i:03}", **{MANAGED_BY: "blue", "app": "x", "index": str(i)})
        for i in range(250)
    }
    found = pages(
        tagging(emulator),
        TagFilters=managed_by("blue"),
        ResourceTypeFilters=CUSTOM_MODELS,
        ResourcesPerPage=100,
    )
    assert [len(page) for page in found] == [100, 100, 50]
    arns = [mapping["ResourceARN"] for page in found for mapping in page]
    assert len(arns) == len(set(arns)) == 250
    assert set(arns) == created
    assert all(len(mapping["Tags"]) == 3 for page in found for mapping in page)
    assert backend.calls["GetResources"] == 3


def test_tags_per_page_bounds_a_page_when_asked(emulator: Emulator) -> None:
    created = {make_model(emulator.backend, f"m{i}", a="1", b="2", c="3") for i in range(40)}
    found = pages(tagging(emulator), ResourcesPerPage=100, TagsPerPage=100)
    # moto's rule when TagsPerPage is given: a page stops before reaching that many tags.
    assert [len(page) for page in found] == [33, 7]
    assert {mapping["ResourceARN"] for page in found for mapping in page} == created


def test_deleting_models_between_pages_skips_and_repeats_nothing(emulator: Emulator) -> None:
    backend = emulator.backend
    created = {make_model(backend, f"m{i:03}", **{MANAGED_BY: "blue"}) for i in range(150)}
    client = tagging(emulator)
    first = client.get_resources(TagFilters=managed_by("blue"), ResourcesPerPage=100)
    for mapping in first["ResourceTagMappingList"][:20]:  # as a reconciler deletes its models
        backend.delete_custom_model(mapping["ResourceARN"])
    rest = client.get_resources(PaginationToken=first["PaginationToken"], ResourcesPerPage=100)
    assert rest["PaginationToken"] == ""
    arns = [m["ResourceARN"] for m in first["ResourceTagMappingList"]]
    arns += [m["ResourceARN"] for m in rest["ResourceTagMappingList"]]
    assert len(arns) == len(set(arns)) == 150
    assert set(arns) == created


@pytest.mark.parametrize(("name", "value"), [("ResourcesPerPage", 101), ("TagsPerPage", 99)])
def test_page_limits_out_of_range_are_rejected(emulator: Emulator, name: str, value: int) -> None:
    client = tagging(emulator)
    assert error_of(client.get_resources, **{name: value}) == ("InvalidParameterException", 400)


# Counting and faults


def test_every_call_is_counted_in_the_bedrock_backend(emulator: Emulator) -> None:
    client = tagging(emulator)
    client.get_resources()
    client.get_resources(TagFilters=managed_by("blue"))
    assert emulator.backend.calls["GetResources"] == 2


def test_a_queued_access_denied_reaches_boto3(emulator: Emulator) -> None:
    emulator.backend.fail_next("GetResources", "AccessDeniedException", "no tag:GetResources")
    client = tagging(emulator, config=NO_RETRIES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert error_of(client.get_resources) == ("AccessDeniedException", 400)
    assert not [w for w in caught if "does not match an error shape" in str(w.message)]
    assert client.get_resources()["ResourceTagMappingList"] == []
    assert emulator.backend.calls["GetResources"] == 2


def test_queued_throttles_are_retried_by_botocore(
    emulator: Emulator, no_backoff: list[float]
) -> None:
    # A 400 is retried in standard mode only for throttling (or a few timeout) codes.
    arn = make_model(emulator.backend, "m", **{MANAGED_BY: "blue"})
    emulator.backend.fail_next("GetResources", "ThrottlingException", times=2)
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 3})
    response = tagging(emulator, config=config).get_resources()
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert [m["ResourceARN"] for m in response["ResourceTagMappingList"]] == [arn]
    assert emulator.backend.calls["GetResources"] == 3
    assert len(no_backoff) == 2


@pytest.mark.parametrize(
    ("setting", "kind", "code", "status"),
    [
        ("throttle_rate", "throttle", "ThrottledException", 400),
        ("error_rate", "error", "InternalServiceException", 500),
    ],
)
def test_random_faults_use_the_tagging_apis_own_codes(
    emulator: Emulator, setting: str, kind: str, code: str, status: int
) -> None:
    emulator.backend.faults = Faults(**{setting: 1.0}, operations=frozenset({"GetResources"}))
    client = tagging(emulator, config=NO_RETRIES)
    assert error_of(client.get_resources) == (code, status)
    assert emulator.backend.faults_injected[kind] == 1


def test_random_throttles_are_retried_as_throttles(
    emulator: Emulator, no_backoff: list[float]
) -> None:
    emulator.backend.faults = Faults(throttle_rate=1.0, operations=frozenset({"GetResources"}))
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 3})
    assert error_of(tagging(emulator, config=config).get_resources)[0] == "ThrottledException"
    assert emulator.backend.calls["GetResources"] == 3


# The lagging tag index


def test_a_frozen_index_answers_from_its_snapshot_until_thawed(emulator: Emulator) -> None:
    backend, bedrock, client = emulator.backend, emulator.client(), tagging(emulator)
    doomed = make_model(backend, "doomed", **{MANAGED_BY: "blue"})
    changed = make_model(backend, "changed", **{MANAGED_BY: "blue", "v": "1"})
    backend.freeze_tag_index()
    bedrock.delete_custom_model(modelIdentifier=doomed)
    bedrock.tag_resource(resourceARN=changed, tags=[{"key": "v", "value": "2"}])
    fresh = make_model(backend, "fresh", **{MANAGED_BY: "blue"})
    stale = {doomed: {MANAGED_BY: "blue"}, changed: {MANAGED_BY: "blue", "v": "1"}}
    assert tag_map(client, TagFilters=managed_by("blue")) == stale
    backend.thaw_tag_index()
    live = {changed: {MANAGED_BY: "blue", "v": "2"}, fresh: {MANAGED_BY: "blue"}}
    assert tag_map(client, TagFilters=managed_by("blue")) == live


def test_a_frozen_empty_index_stays_empty(emulator: Emulator) -> None:
    emulator.backend.freeze_tag_index()
    make_model(emulator.backend, "late", **{MANAGED_BY: "blue"})
    assert tag_map(tagging(emulator)) == {}


def test_reset_thaws_the_index(emulator: Emulator) -> None:
    emulator.backend.freeze_tag_index()
    sandbox.reset_state()
    arn = make_model(emulator.backend, "after-reset", **{MANAGED_BY: "blue"})
    assert set(tag_map(tagging(emulator))) == {arn}


def test_a_frozen_index_is_not_saved_in_the_state(emulator: Emulator) -> None:
    make_model(emulator.backend, "m", **{MANAGED_BY: "blue"})
    saved = sandbox.dump_state()
    emulator.backend.freeze_tag_index()
    assert sandbox.dump_state() == saved


# In process, and install()


def test_get_resources_works_in_process(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with sandbox.running(state, "us-east-1"):
        bedrock = boto3.client("bedrock")
        arn = bedrock.create_custom_model(
            modelName="m", modelSourceConfig=SOURCE, modelTags=[{"key": MANAGED_BY, "value": "s"}]
        )["modelArn"]
        client = boto3.client("resourcegroupstaggingapi")
        assert tag_map(client, TagFilters=managed_by("s"), ResourceTypeFilters=CUSTOM_MODELS) == {
            arn: {MANAGED_BY: "s"}
        }
        assert sandbox.get_backend("us-east-1").calls["GetResources"] == 1
    # A later process reads the saved models' tags through GetResources too.
    with sandbox.running(state, "us-east-1"):
        sandbox.get_backend("us-east-1").fail_next("GetResources", "AccessDeniedException")
        client = boto3.client("resourcegroupstaggingapi")
        assert error_of(client.get_resources)[0] == "AccessDeniedException"
        assert set(tag_map(client, TagFilters=managed_by("s"))) == {arn}


def test_install_restores_the_tagging_handlers(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.install()
    assert sandbox.is_installed()
    monkeypatch.setattr(ResourceGroupsTaggingAPIResponse, "call_action", BaseResponse.call_action)
    assert not sandbox.is_installed()
    sandbox.install()
    assert sandbox.is_installed()
