"""Reading the account through real boto3 clients against the HTTP emulator: the list, the
tagging index, per-model reads, the fallback between them, and confirmation."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from reconciler.aws import apis
from reconciler.aws.reader import AccountReader, TagReads
from reconciler.errors import CloudError
from reconciler.observed import TAG_MANAGED_BY, TAG_SPEC_HASH, TagSource

SCOPE = "default"

# Every read lists the serving resources beside the models: one page each when they are few.
SERVING_LISTS = {"ListProvisionedModelThroughputs": 1, "ListCustomModelDeployments": 1}


def tagging_client(emulator: Any) -> Any:
    return boto3.client(
        "resourcegroupstaggingapi",
        region_name=emulator.region,
        endpoint_url=emulator.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def reader(emulator: Any, mode: TagReads = TagReads.AUTO, **kwargs: Any) -> AccountReader:
    return AccountReader(
        emulator.client(), lambda: tagging_client(emulator), SCOPE, mode=mode, **kwargs
    )


def create(emulator: Any, name: str, **tags: str) -> str:
    response = emulator.client().create_custom_model(
        modelName=name,
        modelSourceConfig={"s3DataSource": {"s3Uri": f"s3://acme/{name}/"}},
        modelTags=[{"key": k, "value": v} for k, v in tags.items()],
    )
    return str(response["modelArn"])


def managed(scope: str = SCOPE, **tags: str) -> dict[str, str]:
    return {TAG_MANAGED_BY: scope, TAG_SPEC_HASH: "0" * 32, **tags}


@pytest.fixture
def account(emulator: Any) -> dict[str, str]:
    """Two managed models, one of another scope, one untagged: name -> ARN.

    Imports finish at once, so a model's status cannot change between two reads of a test.
    """
    emulator.backend.import_seconds = 0.0
    names = {
        "m1": managed(team="a"),
        "m2": managed(),
        "theirs": managed(scope="other"),
        "legacy": {},
    }
    arns = {name: create(emulator, name, **tags) for name, tags in names.items()}
    emulator.backend.calls.clear()
    return arns


def by_name(state: Any) -> dict[str, Any]:
    return {m.name: m for m in state.models}


def test_the_index_reads_the_scopes_tags_in_one_page(emulator: Any, account: Any) -> None:
    state = reader(emulator, TagReads.TAGGING_API).read(declared=["m1", "m2"])
    models = by_name(state)
    assert dict(emulator.backend.calls) == {
        **SERVING_LISTS,
        "ListCustomModels": 1,
        "GetResources": 1,
    }
    assert {n: m.tags_from for n, m in models.items()} == {
        "m1": TagSource.INDEX,
        "m2": TagSource.INDEX,
        "theirs": TagSource.UNREAD,
        "legacy": TagSource.UNREAD,
    }
    assert dict(models["m1"].tags) == managed(team="a")
    assert models["theirs"].tags == {} and not models["theirs"].is_managed_by(SCOPE)


def test_a_declared_name_missing_from_the_index_is_read_per_model(
    emulator: Any, account: Any
) -> None:
    models = by_name(reader(emulator).read(declared=["m1", "theirs", "legacy", "absent"]))
    assert emulator.backend.calls["ListTagsForResource"] == 2
    assert models["theirs"].tags_from is TagSource.MODEL
    assert models["theirs"].managed_by == "other"  # so the plan reports a conflict
    assert models["legacy"].tags_from is TagSource.MODEL


def test_per_model_reads_every_models_tags(emulator: Any, account: Any) -> None:
    models = by_name(reader(emulator, TagReads.PER_MODEL).read())
    assert dict(emulator.backend.calls) == {
        **SERVING_LISTS,
        "ListCustomModels": 1,
        "ListTagsForResource": 4,
    }
    assert {m.tags_from for m in models.values()} == {TagSource.MODEL}
    assert models["theirs"].managed_by == "other"


@pytest.fixture
def many(emulator: Any) -> int:
    for i in range(250):
        create(emulator, f"m{i:03d}", **managed())
    emulator.backend.calls.clear()
    return 250


def test_the_list_takes_a_thousand_models_a_page_the_index_a_hundred(
    emulator: Any, many: int
) -> None:
    state = reader(emulator).read()
    assert len(state.models) == many
    assert {m.tags_from for m in state.models} == {TagSource.INDEX}
    assert dict(emulator.backend.calls) == {
        **SERVING_LISTS,
        "ListCustomModels": 1,
        "GetResources": 3,
    }


def test_every_page_of_the_list_is_read(
    emulator: Any, many: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apis, "LIST_PAGE_SIZE", 100)
    state = reader(emulator, TagReads.PER_MODEL).read()
    assert sorted(m.name for m in state.models) == [f"m{i:03d}" for i in range(many)]
    assert emulator.backend.calls["ListCustomModels"] == 3


def test_auto_falls_back_to_per_model_once_with_one_warning(emulator: Any, account: Any) -> None:
    warnings: list[str] = []
    read = reader(emulator, warn=warnings.append)
    emulator.backend.fail_next("GetResources", "AccessDeniedException")
    first = by_name(read.read())
    second = by_name(read.read())
    assert read.mode is TagReads.PER_MODEL
    assert emulator.backend.calls["GetResources"] == 1  # not asked again
    assert emulator.backend.calls["ListTagsForResource"] == 8
    assert first == second and first["m1"].tags_from is TagSource.MODEL
    [warning] = warnings
    assert warning.startswith(
        "GetResources failed: AccessDeniedException: the credentials lack the IAM permission "
        "tag:GetResources"
    )
    assert warning.endswith("; reading each resource's tags instead (--tag-reads per-model)")


def test_tagging_api_mode_never_falls_back(emulator: Any, account: Any) -> None:
    emulator.backend.fail_next("GetResources", "AccessDeniedException")
    with pytest.raises(CloudError, match="tag:GetResources"):
        reader(emulator, TagReads.TAGGING_API).read()
    assert emulator.backend.calls["ListTagsForResource"] == 0


def test_confirm_reads_what_the_index_may_have_wrong(emulator: Any, account: Any) -> None:
    emulator.backend.freeze_tag_index()  # the index now lags behind the account
    client = emulator.client()
    client.untag_resource(resourceARN=account["m1"], tagKeys=[TAG_MANAGED_BY])
    read = reader(emulator)
    stale = read.read()
    assert by_name(stale)["m1"].is_managed_by(SCOPE)  # what the index still says
    emulator.backend.calls.clear()
    confirmed = by_name(read.confirm(stale, [account["m1"], account["legacy"]]))
    assert emulator.backend.calls["ListTagsForResource"] == 2
    assert not confirmed["m1"].is_managed_by(SCOPE)
    assert confirmed["m1"].tags_from is TagSource.MODEL
    assert by_name(stale)["m2"] == confirmed["m2"]  # untouched


def test_confirming_what_is_already_read_costs_nothing(emulator: Any, account: Any) -> None:
    read = reader(emulator, TagReads.PER_MODEL)
    state = read.read()
    emulator.backend.calls.clear()
    assert read.confirm(state, [m.arn for m in state.models]) is state
    assert sum(emulator.backend.calls.values()) == 0


def test_a_model_deleted_after_the_list_is_left_out(emulator: Any, account: Any) -> None:
    read = reader(emulator)
    state = read.read()
    emulator.client().delete_custom_model(modelIdentifier=account["m1"])
    assert "m1" not in by_name(read.confirm(state, [account["m1"]]))


def test_the_cache_spares_reads_of_known_models(emulator: Any, account: Any) -> None:
    cache: dict[str, Any] = {}
    read = reader(emulator, TagReads.PER_MODEL, cache=cache)
    read.read()
    emulator.client().delete_custom_model(modelIdentifier=account["legacy"])
    emulator.backend.calls.clear()
    read.read()
    assert emulator.backend.calls["ListTagsForResource"] == 0
    assert account["legacy"] not in cache
