"""Read the account: every owned resource of every kind from its list, and its tags.

``ListCustomModels``, ``ListProvisionedModelThroughputs`` and ``ListCustomModelDeployments``
run side by side, their pages followed with botocore's paginators, each page as large as
the API allows (1,000; 100 for ``GetResources``). ``isOwned=true`` keeps models shared from
other accounts out of the observed state entirely, so they can never be planned against.
The lists carry each resource's status, the model a throughput serves from and is switching
to, and commitment expiry, so no per-resource call is made. A deployment's pending update is
not in its list entry: ``describe_deployments`` reads it, and ``reconcile`` asks for that
only when a plan would delete or replace a model.

Tags come one of two ways (``TagReads``):

- ``per-model``: one ``ListTagsForResource`` per model, concurrently. Authoritative.
- ``tagging-api``: the Resource Groups Tagging API's ``GetResources``, filtered on
  ``reconciler:managed-by=<scope>`` and the three resource types, gives the tags of every
  resource of the scope in one set of pages. Its index
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

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from reconciler.aws.apis import APIS, LIST_PAGE_SIZE, RESOURCE_TYPES, describe, list_all
from reconciler.aws.errors import calling
from reconciler.aws.settings import DEFAULT_CONCURRENCY, TagReads
from reconciler.errors import AccessDeniedError, CloudError, NotFoundError
from reconciler.identity import KIND_ORDER, Kind, ResourceKey
from reconciler.observed import (
    FROM_API,
    TAG_MANAGED_BY,
    ObservedResource,
    ObservedState,
    TagSource,
    deployment_from_api,
    state_of,
)

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_resourcegroupstaggingapi import (
        ResourceGroupsTaggingAPIClient as TaggingClient,
    )


# GetResources ResourcesPerPage is documented as 1-100.
TAGGING_PAGE_SIZE = 100

__all__ = [
    "LIST_PAGE_SIZE",
    "AccountReader",
    "TagCache",
    "TagReads",
    "list_models",
    "managed_tags",
    "read_tags",
]

TagCache = dict[str, list[Mapping[str, str]]]
Tags = list[Mapping[str, str]]


@dataclass(frozen=True)
class _Listed:
    """One resource's list entry, before its tags are known."""

    kind: Kind
    summary: Mapping[str, Any]

    @property
    def arn(self) -> str:
        return str(self.summary[APIS[self.kind].arn_key])

    @property
    def key(self) -> ResourceKey:
        return self.build([], TagSource.UNREAD).key

    def build(self, tags: Iterable[Mapping[str, str]], source: TagSource) -> ObservedResource:
        return FROM_API[self.kind](self.summary, tags, source)


class AccountReader:
    """Reads one account's resources and their tags for one scope.

    ``bedrock`` is a Bedrock client; ``tagging`` a factory for the tagging API client (made
    only if used). ``cache`` (ARN -> tags; ARNs are immutable) spares per-model reads of
    models already known; the caller empties it whenever tags may have changed out of band.
    ``warn`` is told, once, when ``auto`` falls back to per-model reads. ``account`` (the
    credentials' account, when known) is recorded on every state read.
    """

    def __init__(  # noqa: PLR0917
        self,
        bedrock: BedrockClient,
        tagging: Callable[[], TaggingClient | None],
        scope: str,
        mode: TagReads = TagReads.AUTO,
        concurrency: int = DEFAULT_CONCURRENCY,
        cache: TagCache | None = None,
        warn: Callable[[str], None] = lambda _: None,
        account: str = "",
    ) -> None:
        self.bedrock = bedrock
        self._tagging = tagging
        self.scope = scope
        self.mode = mode
        self.concurrency = max(1, concurrency)
        self.cache = cache
        self._warn = warn
        self.account = account

    def read(self, declared: Collection[ResourceKey | str] = ()) -> ObservedState:
        """Every owned resource with its tags; ``declared``: the keys the manifests declare
        (a bare name is a CustomModel's)."""
        keys = frozenset(
            k if isinstance(k, ResourceKey) else ResourceKey.parse(k) for k in declared
        )
        read_at = time.time()
        with ThreadPoolExecutor(max_workers=len(KIND_ORDER) + 1) as pool:
            lists = {k: pool.submit(self._list, k, keys) for k in KIND_ORDER}
            indexed = None
            if self.mode is not TagReads.PER_MODEL:
                indexed = pool.submit(managed_tags, self._tagging, self.scope)
            # When a list fails, that is the error to report.
            listed = [_Listed(k, s) for k in KIND_ORDER for s in lists[k].result()]
            index = self._index(indexed)
        if index is None:
            state = self._read_per_model(listed)
        else:
            state = self._read_with_index(listed, index, keys)
        return replace(state, read_at=read_at, account=self.account)

    def _list(self, kind: Kind, declared: frozenset[ResourceKey]) -> list[Mapping[str, Any]]:
        try:
            return list_all(self.bedrock, kind)
        except AccessDeniedError as e:
            # A role made for models alone: what it cannot see it never changes, and the
            # service itself refuses to delete a model something serves from.
            if kind is Kind.CUSTOM_MODEL or any(k.kind is kind for k in declared):
                raise
            self._warn(f"{e}; no {kind.value} is declared, so none is read")
            return []

    def _index(self, indexed: Any) -> dict[str, Tags] | None:
        if indexed is None:
            return None
        try:
            index: dict[str, Tags] = indexed.result()
        except CloudError as e:
            if self.mode is TagReads.TAGGING_API:
                raise
            self.mode = TagReads.PER_MODEL
            self._warn(f"{e}; reading each resource's tags instead (--tag-reads per-model)")
            return None
        return index

    def describe_deployments(
        self, observed: ObservedState, only: Collection[str] | None = None
    ) -> ObservedState:
        """``observed`` with each deployment's pending update and description read (one Get
        per deployment; ``only``: just those of these ARNs)."""
        deployments = _chosen(observed.of_kind(Kind.CUSTOM_MODEL_DEPLOYMENT), only)
        if not deployments:
            return observed
        fresh = {
            d.arn: replace(deployment_from_api(a, [], d.tags_from), tags=d.tags)
            for d, a in self._describe(deployments)
        }
        return _with(observed, Kind.CUSTOM_MODEL_DEPLOYMENT, fresh, {d.arn for d in deployments})

    def describe_models(
        self, observed: ObservedState, only: Collection[str] | None = None
    ) -> ObservedState:
        """``observed`` with each model's KMS key read (one Get per model: the list has none;
        ``only``: just those of these ARNs)."""
        models = _chosen(observed.models, only)
        if not models:
            return observed
        fresh = {
            m.arn: replace(m, kms_key_arn=str(a.get("modelKmsKeyArn", "")))
            for m, a in self._describe(models)
        }
        return _with(observed, Kind.CUSTOM_MODEL, fresh, {m.arn for m in models})

    def _describe(
        self, resources: tuple[ObservedResource, ...]
    ) -> list[tuple[ObservedResource, Mapping[str, Any]]]:
        """Each resource with its Get answer, concurrently; one deleted since is left out."""
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(resources))) as pool:
            answers = list(
                pool.map(lambda r: describe(self.bedrock, r.kind, r.arn, r.name), resources)
            )
        return [(r, a) for r, a in zip(resources, answers, strict=True) if a is not None]

    def confirm(self, observed: ObservedState, arns: Iterable[str]) -> ObservedState:
        """``observed`` with the tags of ``arns`` read per model (authoritative)."""
        wanted = set(arns)
        doubtful = [
            r for r in observed.resources if r.arn in wanted and r.tags_from is not TagSource.MODEL
        ]
        if not doubtful:
            return observed
        read = dict(zip((r.arn for r in doubtful), self._read_tags(doubtful), strict=True))
        resources = []
        for resource in observed.resources:
            if resource.arn not in read:
                resources.append(resource)
            elif (tags := read[resource.arn]) is not None:  # None: deleted since it was listed
                resources.append(replace(resource, tags=_tag_dict(tags), tags_from=TagSource.MODEL))
        return state_of(resources, observed.read_at, observed.account)

    def _read_with_index(
        self, listed: list[_Listed], index: dict[str, Tags], declared: frozenset[ResourceKey]
    ) -> ObservedState:
        resources = []
        unindexed = []
        for entry in listed:
            if entry.arn in index:
                resources.append(entry.build(index[entry.arn], TagSource.INDEX))
            elif entry.key in declared:
                unindexed.append(entry.build([], TagSource.UNREAD))
            else:
                resources.append(entry.build([], TagSource.UNREAD))
        confirmed = self.confirm(state_of(unindexed), [r.arn for r in unindexed])
        return state_of([*resources, *confirmed.resources])

    def _read_per_model(self, listed: list[_Listed]) -> ObservedState:
        known = self.cache if self.cache is not None else {}
        unknown = [e.build([], TagSource.UNREAD) for e in listed if e.arn not in known]
        for resource, tags in zip(unknown, self._read_tags(unknown), strict=True):
            if tags is not None:
                known[resource.arn] = tags
        if self.cache is not None:
            arns = {e.arn for e in listed}
            for arn in [a for a in self.cache if a not in arns]:
                del self.cache[arn]
        return state_of(e.build(known[e.arn], TagSource.MODEL) for e in listed if e.arn in known)

    def _read_tags(self, resources: list[ObservedResource]) -> list[Tags | None]:
        """Each resource's tags, concurrently; None for one deleted since it was listed."""
        if not resources:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(resources))) as pool:
            return list(pool.map(lambda r: read_tags(self.bedrock, r.arn, r.name), resources))


def list_models(client: BedrockClient) -> list[Mapping[str, Any]]:
    """Every model summary the account owns, across all pages."""
    return list_all(client, Kind.CUSTOM_MODEL)


def read_tags(client: BedrockClient, arn: str, name: str) -> Tags | None:
    """The tags of one resource; None when it no longer exists."""
    try:
        with calling("ListTagsForResource", name):
            tags = client.list_tags_for_resource(resourceARN=arn)["tags"]
            return [{"key": t["key"], "value": t["value"]} for t in tags]
    except NotFoundError:
        return None


def managed_tags(tagging: Callable[[], TaggingClient | None], scope: str) -> dict[str, Tags]:
    """ARN -> tags (Bedrock's ``key``/``value`` shape) of every resource of ``scope``, of
    every kind; ``tagging`` makes the tagging API client."""
    with calling("GetResources"):
        client = tagging()
        if client is None:
            raise CloudError("GetResources failed: no Resource Groups Tagging API client")
        pages = client.get_paginator("get_resources").paginate(
            TagFilters=[{"Key": TAG_MANAGED_BY, "Values": [scope]}],
            ResourceTypeFilters=list(RESOURCE_TYPES),
            PaginationConfig={"PageSize": TAGGING_PAGE_SIZE},  # ResourcesPerPage
        )
        return {
            mapping["ResourceARN"]: [
                {"key": tag["Key"], "value": tag["Value"]} for tag in mapping.get("Tags", [])
            ]
            for page in pages
            for mapping in page.get("ResourceTagMappingList", [])
        }


def _with(
    observed: ObservedState,
    kind: Kind,
    fresh: Mapping[str, ObservedResource],
    asked: Collection[str],
) -> ObservedState:
    """``observed`` with its resources of ``kind`` in ``asked`` replaced by ``fresh`` (by
    ARN); one asked for and not in ``fresh`` no longer exists."""
    kept = [
        fresh.get(r.arn, r)
        for r in observed.resources
        if r.kind is not kind or r.arn in fresh or r.arn not in asked
    ]
    return state_of(kept, observed.read_at, observed.account)


def _chosen(
    resources: tuple[ObservedResource, ...], only: Collection[str] | None
) -> tuple[ObservedResource, ...]:
    return resources if only is None else tuple(r for r in resources if r.arn in only)


def _tag_dict(tags: Tags) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags}
