"""Read the account: every owned custom model from ``ListCustomModels``, and its tags.

Pages are followed with botocore's paginator; ``isOwned=true`` keeps models shared from
other accounts out of the observed state entirely, so they can never be planned against.
Tags are read concurrently (one ``ListTagsForResource`` per model, the only API that has
them); the list already carries each model's status, so no ``GetCustomModel`` is made.
Called by ``cli``.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reconciler.aws.errors import calling
from reconciler.observed import ObservedState, from_api, state_of

PAGE_SIZE = 100


TagCache = dict[str, list[Mapping[str, str]]]


def read_account(client: Any, concurrency: int = 8, cache: TagCache | None = None) -> ObservedState:
    """The owned custom models of the client's account and region, with their tags.

    With a ``cache`` (ARN -> tags; ARNs are immutable), only models not in it have their tags
    read; the cache is updated and forgets models that are gone. The caller empties it
    whenever tags may have changed out of band (a full resync).
    """
    summaries = list_models(client)
    known = cache if cache is not None else {}
    missing = [s for s in summaries if s["modelArn"] not in known]
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        fetched = pool.map(lambda s: read_tags(client, s["modelArn"], s["modelName"]), missing)
        for summary, tags in zip(missing, fetched, strict=True):
            known[summary["modelArn"]] = tags
    if cache is not None:
        listed = {s["modelArn"] for s in summaries}
        for arn in [a for a in cache if a not in listed]:
            del cache[arn]
    return state_of(from_api(s, known[s["modelArn"]]) for s in summaries)


def list_models(client: Any) -> list[Mapping[str, Any]]:
    """Every model summary the account owns, across all pages."""
    with calling("ListCustomModels"):
        paginator = client.get_paginator("list_custom_models")
        pages = paginator.paginate(isOwned=True, PaginationConfig={"PageSize": PAGE_SIZE})
        return [summary for page in pages for summary in page.get("modelSummaries", [])]


def read_tags(client: Any, arn: str, name: str) -> list[Mapping[str, str]]:
    """The tags of one model."""
    with calling("ListTagsForResource", name):
        tags: list[Mapping[str, str]] = client.list_tags_for_resource(resourceARN=arn)["tags"]
        return tags
