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
from reconciler.observed import ObservedModel, ObservedState, from_api, state_of

PAGE_SIZE = 100


def read_account(client: Any, concurrency: int = 8) -> ObservedState:
    """The owned custom models of the client's account and region, with their tags."""
    summaries = list_models(client)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        models = list(pool.map(lambda s: _with_tags(client, s), summaries))
    return state_of(models)


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


def _with_tags(client: Any, summary: Mapping[str, Any]) -> ObservedModel:
    return from_api(summary, read_tags(client, summary["modelArn"], summary["modelName"]))
