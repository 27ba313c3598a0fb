"""What the account holds, as frozen data built from ``ListCustomModels`` and tag reads.

No boto3 here: ``aws.reader`` makes the calls and hands plain API dicts to ``from_api``.
Also home of the tag keys the reconciler writes, since reading them is what ownership means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

TAG_MANAGED_BY = "reconciler:managed-by"
TAG_SPEC_HASH = "reconciler:spec-hash"
TAG_DELETION_POLICY = "reconciler:deletion-policy"
RECONCILER_TAG_KEYS = (TAG_MANAGED_BY, TAG_SPEC_HASH, TAG_DELETION_POLICY)

STATUS_ACTIVE = "Active"
STATUS_CREATING = "Creating"
STATUS_FAILED = "Failed"


class TagSource(StrEnum):
    """Where a model's tags were read, so that no change is decided on a lagging index."""

    MODEL = "model"  # ListTagsForResource: authoritative
    INDEX = "index"  # the Resource Groups Tagging API: eventually consistent
    UNREAD = "unread"  # not read: not in the index of the scope's models, nor declared


@dataclass(frozen=True)
class ObservedModel:
    """One custom model owned by the account, with its tags."""

    arn: str
    name: str
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)
    owner_account_id: str = ""
    customization_type: str = ""
    tags_from: TagSource = TagSource.MODEL

    @property
    def managed_by(self) -> str | None:
        return self.tags.get(TAG_MANAGED_BY)

    @property
    def spec_hash(self) -> str | None:
        return self.tags.get(TAG_SPEC_HASH)

    @property
    def retained(self) -> bool:
        return self.tags.get(TAG_DELETION_POLICY) == "Retain"

    def is_managed_by(self, scope: str) -> bool:
        return self.managed_by == scope


@dataclass(frozen=True)
class ObservedState:
    """Every custom model the account owns in one region, sorted by name."""

    models: tuple[ObservedModel, ...]

    def by_name(self) -> dict[str, ObservedModel]:
        return {m.name: m for m in self.models}


def from_api(
    summary: Mapping[str, Any],
    tags: Iterable[Mapping[str, str]],
    tags_from: TagSource = TagSource.MODEL,
) -> ObservedModel:
    """Build an ObservedModel from a ``ListCustomModels`` summary and its ``tags`` list."""
    return ObservedModel(
        arn=str(summary["modelArn"]),
        name=str(summary["modelName"]),
        status=str(summary.get("modelStatus", STATUS_ACTIVE)),
        tags={t["key"]: t["value"] for t in tags},
        owner_account_id=str(summary.get("ownerAccountId", "")),
        customization_type=str(summary.get("customizationType", "")),
        tags_from=tags_from,
    )


def state_of(models: Iterable[ObservedModel]) -> ObservedState:
    """An ObservedState with its models in name order."""
    return ObservedState(models=tuple(sorted(models, key=lambda m: (m.name, m.arn))))
