"""Read the account: every owned custom model from ``ListCustomModels``, and its tags.

Pages are followed with botocore's paginator, each as large as the API allows (1,000 models
a page for ``ListCustomModels``, 100 for ``GetResources``): every page is one more call
made one after the other. ``isOwned=true`` keeps models shared from other accounts out of
the observed state entirely, so they can never be planned against. The list already
carries each model's status, so no ``GetCustomModel`` is made.

Tags come one of two ways (``TagReads``):

- ``per-model``: one ``ListTagsForResource`` per model, concurrently. Authoritative.
- ``tagging-api``: the Resource Groups Tagging API's ``GetResources``, filtered on
  ``reconciler:managed-by=<scope>``, gives the tags of every model of the scope. Its index
  lags behind Bedrock (seconds to minutes), so what it says is a hint: a listed model it
  does not know is read per model when a manifest declares its name (it may be ours, just
  created, or a conflict), and otherwise left unread (``TagSource.UNREAD``: not ours, never
  touched). ``confirm`` re-reads per model whatever a plan would change, so no change is
  ever decided on the index alone.
- ``auto`` (the default): ``tagging-api``, falling back to ``per-model`` for good, with one
  warning, if the tagging API refuses or fails (no ``tag:GetResources`` permission, an
  endpoint without that API).

Called by ``reconcile``; clients come from ``aws.client``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from reconciler.aws.errors import calling
from reconciler.aws.settings import DEFAULT_CONCURRENCY, TagReads
from reconciler.errors import CloudError
from reconciler.observed import (
    TAG_MANAGED_BY,
    ObservedModel,
    ObservedState,
    TagSource,
    from_api,
    state_of,
)

# The largest pages each API serves (botocore's service models: ListCustomModels maxResults
# 1-1000; GetResources ResourcesPerPage is documented as 1-100).
LIST_PAGE_SIZE = 1000
TAGGING_PAGE_SIZE = 100
RESOURCE_TYPE = "bedrock:custom-model"

__all__ = ["AccountReader", "TagCache", "TagReads", "list_models", "managed_tags", "read_tags"]

TagCache = dict[str, list[Mapping[str, str]]]
Tags = list[Mapping[str, str]]


class AccountReader:
    """Reads one account's custom models and their tags for one scope.

    ``bedrock`` is a Bedrock client; ``tagging`` a factory for the tagging API client (made
    only if used). ``cache`` (ARN -> tags; ARNs are immutable) spares per-model reads of
    models already known; the caller empties it whenever tags may have changed out of band.
    ``warn`` is told, once, when ``auto`` falls back to per-model reads.
    """

    def __init__(  # noqa: PLR0917
        self,
        bedrock: Any,
        tagging: Callable[[], Any],
        scope: str,
        mode: TagReads = TagReads.AUTO,
        concurrency: int = DEFAULT_CONCURRENCY,
        cache: TagCache | None = None,
        warn: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.bedrock = bedrock
        self._tagging = tagging
        self.scope = scope
        self.mode = mode
        self.concurrency = max(1, concurrency)
        self.cache = cache
        self._warn = warn

    def read(self, declared: Collection[str] = ()) -> ObservedState:
        """Every owned model with its tags; ``declared``: the names the manifests declare."""
        if self.mode is TagReads.PER_MODEL:
            return self._read_per_model(list_models(self.bedrock))
        with ThreadPoolExecutor(max_workers=2) as pool:
            listing = pool.submit(list_models, self.bedrock)
            indexed = pool.submit(managed_tags, self._tagging, self.scope)
            summaries = listing.result()  # when the list fails, that is the error to report
            try:
                index = indexed.result()
            except CloudError as e:
                if self.mode is TagReads.TAGGING_API:
                    raise
                self.mode = TagReads.PER_MODEL
                self._warn(f"{e}; reading each model's tags instead (--tag-reads per-model)")
                return self._read_per_model(summaries)
        return self._read_with_index(summaries, index, frozenset(declared))

    def confirm(self, observed: ObservedState, arns: Iterable[str]) -> ObservedState:
        """``observed`` with the tags of ``arns`` read per model (authoritative)."""
        wanted = set(arns)
        doubtful = [
            m for m in observed.models if m.arn in wanted and m.tags_from is not TagSource.MODEL
        ]
        if not doubtful:
            return observed
        read = dict(zip((m.arn for m in doubtful), self._read_tags(doubtful), strict=True))
        models = []
        for model in observed.models:
            if model.arn not in read:
                models.append(model)
            elif (tags := read[model.arn]) is not None:  # None: deleted since it was listed
                models.append(replace(model, tags=_tag_dict(tags), tags_from=TagSource.MODEL))
        return state_of(models)

    def _read_with_index(
        self, summaries: list[Mapping[str, Any]], index: dict[str, Tags], declared: frozenset[str]
    ) -> ObservedState:
        models = []
        unindexed = []
        for summary in summaries:
            arn = summary["modelArn"]
            if arn in index:
                models.append(from_api(summary, index[arn], TagSource.INDEX))
            elif summary["modelName"] in declared:
                unindexed.append(from_api(summary, [], TagSource.UNREAD))
            else:
                models.append(from_api(summary, [], TagSource.UNREAD))
        confirmed = self.confirm(state_of(unindexed), [m.arn for m in unindexed])
        return state_of([*models, *confirmed.models])

    def _read_per_model(self, summaries: list[Mapping[str, Any]]) -> ObservedState:
        known = self.cache if self.cache is not None else {}
        unknown = [
            from_api(s, [], TagSource.UNREAD) for s in summaries if s["modelArn"] not in known
        ]
        for model, tags in zip(unknown, self._read_tags(unknown), strict=True):
            if tags is not None:
                known[model.arn] = tags
        if self.cache is not None:
            listed = {s["modelArn"] for s in summaries}
            for arn in [a for a in self.cache if a not in listed]:
                del self.cache[arn]
        return state_of(
            from_api(s, known[s["modelArn"]], TagSource.MODEL)
            for s in summaries
            if s["modelArn"] in known
        )

    def _read_tags(self, models: list[ObservedModel]) -> list[Tags | None]:
        """Each model's tags, concurrently; None for a model deleted since it was listed."""
        if not models:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(models))) as pool:
            return list(pool.map(lambda m: read_tags(self.bedrock, m.arn, m.name), models))


def list_models(client: Any) -> list[Mapping[str, Any]]:
    """Every model summary the account owns, across all pages."""
    with calling("ListCustomModels"):
        paginator = client.get_paginator("list_custom_models")
        pages = paginator.paginate(isOwned=True, PaginationConfig={"PageSize": LIST_PAGE_SIZE})
        return [summary for page in pages for summary in page.get("modelSummaries", [])]


def read_tags(client: Any, arn: str, name: str) -> Tags | None:
    """The tags of one model; None when it no longer exists."""
    try:
        with calling("ListTagsForResource", name):
            tags: Tags = client.list_tags_for_resource(resourceARN=arn)["tags"]
            return tags
    except CloudError as e:
        if e.code == "ResourceNotFoundException":
            return None
        raise


def managed_tags(tagging: Callable[[], Any], scope: str) -> dict[str, Tags]:
    """ARN -> tags (Bedrock's ``key``/``value`` shape) of every custom model of ``scope``;
    ``tagging`` makes the tagging API client."""
    with calling("GetResources"):
        paginator = tagging().get_paginator("get_resources")
        pages = paginator.paginate(
            TagFilters=[{"Key": TAG_MANAGED_BY, "Values": [scope]}],
            ResourceTypeFilters=[RESOURCE_TYPE],
            ResourcesPerPage=TAGGING_PAGE_SIZE,
        )
        return {
            mapping["ResourceARN"]: [
                {"key": tag["Key"], "value": tag["Value"]} for tag in mapping.get("Tags", [])
            ]
            for page in pages
            for mapping in page.get("ResourceTagMappingList", [])
        }


def _tag_dict(tags: Tags) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags}
