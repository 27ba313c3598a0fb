"""What the account holds, as frozen data built from the list APIs and tag reads.

No boto3 here: ``aws.reader`` makes the calls and hands plain API dicts to the ``*_from_api``
builders (``ListCustomModels``, ``ListProvisionedModelThroughputs``,
``ListCustomModelDeployments`` summaries). Also home of the tag keys the reconciler writes,
since reading them is what ownership means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from reconciler.identity import Kind, ResourceKey

TAG_MANAGED_BY = "reconciler:managed-by"
TAG_SPEC_HASH = "reconciler:spec-hash"
TAG_DELETION_POLICY = "reconciler:deletion-policy"
RECONCILER_TAG_KEYS = (TAG_MANAGED_BY, TAG_SPEC_HASH, TAG_DELETION_POLICY)

STATUS_ACTIVE = "Active"
STATUS_CREATING = "Creating"
STATUS_FAILED = "Failed"
STATUS_IN_SERVICE = "InService"
STATUS_UPDATING = "Updating"

# The status each kind reaches when it is ready to serve.
READY_STATUS = {
    Kind.CUSTOM_MODEL: STATUS_ACTIVE,
    Kind.PROVISIONED_THROUGHPUT: STATUS_IN_SERVICE,
    Kind.CUSTOM_MODEL_DEPLOYMENT: STATUS_ACTIVE,
}


class TagSource(StrEnum):
    """Where a resource's tags were read, so that no change is decided on a lagging index."""

    MODEL = "model"  # ListTagsForResource: authoritative
    INDEX = "index"  # the Resource Groups Tagging API: eventually consistent
    UNREAD = "unread"  # not read: not in the index of the scope's resources, nor declared


@dataclass(frozen=True)
class ObservedResource:
    """One resource the account owns, with its tags.

    ``model_arn`` is the model a throughput or deployment serves from now; ``next_model_arn``
    the one it is switching to (a throughput's ``desiredModelArn``, or a deployment's pending
    update), empty when no switch is under way. ``commitment_expires`` is a POSIX time.
    ``kms_key_arn`` (a model's) and ``description`` (a deployment's) are only in the Get
    answers, so they are empty unless the resource was described.
    """

    arn: str
    name: str
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)
    owner_account_id: str = ""
    customization_type: str = ""
    tags_from: TagSource = TagSource.MODEL
    kind: Kind = Kind.CUSTOM_MODEL
    model_arn: str = ""
    next_model_arn: str = ""
    model_units: int = 0
    commitment: str = ""
    commitment_expires: float | None = None
    base_model_arn: str = ""
    created: float | None = None
    failure_message: str = ""
    kms_key_arn: str = ""
    description: str = ""

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.name)

    @property
    def managed_by(self) -> str | None:
        return self.tags.get(TAG_MANAGED_BY)

    @property
    def spec_hash(self) -> str | None:
        return self.tags.get(TAG_SPEC_HASH)

    @property
    def retained(self) -> bool:
        return self.tags.get(TAG_DELETION_POLICY) == "Retain"

    @property
    def ready(self) -> bool:
        """Serving (or, for a model, Active) with no switch under way."""
        return self.status == READY_STATUS[self.kind] and not self.switching

    @property
    def switching(self) -> bool:
        return bool(self.next_model_arn) and self.next_model_arn != self.model_arn

    @property
    def serves_from(self) -> frozenset[str]:
        """Every model ARN this resource serves from or is switching to."""
        return frozenset(a for a in (self.model_arn, self.next_model_arn) if a)

    def is_managed_by(self, scope: str) -> bool:
        return self.managed_by == scope

    @property
    def owner(self) -> str:
        """The account that owns it: ``ownerAccountId``, else the account in its ARN."""
        if self.owner_account_id:
            return self.owner_account_id
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 4 else ""

    def shared_into(self, account: str) -> bool:
        """Whether it is another account's (a model shared with ``account``); an unknown
        ``account`` (empty) is taken to be the owner's."""
        return bool(account) and bool(self.owner) and self.owner != account


ObservedModel = ObservedResource


@dataclass(frozen=True)
class ObservedState:
    """Every resource the account owns in one region, in kind order, then name.

    ``read_at`` is when it was read (POSIX time), so the pure planner can tell whether a
    commitment has expired without a clock of its own. ``account`` is the account it was
    read in (empty when unknown), so the planner tells a model shared from another account
    from this account's own.
    """

    resources: tuple[ObservedResource, ...]
    read_at: float | None = None
    account: str = ""

    @property
    def models(self) -> tuple[ObservedResource, ...]:
        return self.of_kind(Kind.CUSTOM_MODEL)

    def of_kind(self, kind: Kind) -> tuple[ObservedResource, ...]:
        return tuple(r for r in self.resources if r.kind is kind)

    def by_key(self) -> dict[ResourceKey, ObservedResource]:
        return {r.key: r for r in self.resources}

    def by_name(self) -> dict[str, ObservedResource]:
        """The CustomModels by name."""
        return {m.name: m for m in self.models}

    def by_arn(self) -> dict[str, ObservedResource]:
        return {r.arn: r for r in self.resources}

    def users_of(self, model_arn: str) -> tuple[ObservedResource, ...]:
        """Every throughput or deployment that serves from (or is switching to) a model."""
        return self._users.get(model_arn, ())

    @cached_property
    def _users(self) -> dict[str, tuple[ObservedResource, ...]]:
        # Built once: asked for every model, a scan each time would make a plan quadratic.
        users: dict[str, list[ObservedResource]] = {}
        for resource in self.resources:
            for arn in sorted(resource.serves_from):
                users.setdefault(arn, []).append(resource)
        return {arn: tuple(found) for arn, found in users.items()}


def _tags(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags}


def _time(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def from_api(
    summary: Mapping[str, Any],
    tags: Iterable[Mapping[str, str]],
    tags_from: TagSource = TagSource.MODEL,
) -> ObservedResource:
    """Build an ObservedResource from a ``ListCustomModels`` summary and its ``tags`` list."""
    return ObservedResource(
        arn=str(summary["modelArn"]),
        name=str(summary.get("modelName", "")),
        status=str(summary.get("modelStatus", STATUS_ACTIVE)),
        tags=_tags(tags),
        owner_account_id=str(summary.get("ownerAccountId", "")),
        customization_type=str(summary.get("customizationType", "")),
        tags_from=tags_from,
        base_model_arn=str(summary.get("baseModelArn", "")),
        created=_time(summary.get("creationTime")),
        failure_message=str(summary.get("failureMessage", "")),
        kms_key_arn=str(summary.get("modelKmsKeyArn", "")),
    )


def throughput_from_api(
    summary: Mapping[str, Any],
    tags: Iterable[Mapping[str, str]],
    tags_from: TagSource = TagSource.MODEL,
) -> ObservedResource:
    """From a ``ListProvisionedModelThroughputs`` summary (or a Get answer)."""
    model_arn = str(summary.get("modelArn", ""))
    return ObservedResource(
        kind=Kind.PROVISIONED_THROUGHPUT,
        arn=str(summary["provisionedModelArn"]),
        name=str(summary["provisionedModelName"]),
        status=str(summary.get("status", "")),
        tags=_tags(tags),
        tags_from=tags_from,
        model_arn=model_arn,
        next_model_arn=str(summary.get("desiredModelArn", model_arn)),
        model_units=int(summary.get("modelUnits", 0)),
        commitment=str(summary.get("commitmentDuration", "") or ""),
        commitment_expires=_time(summary.get("commitmentExpirationTime")),
        base_model_arn=str(summary.get("foundationModelArn", "")),
        created=_time(summary.get("creationTime")),
    )


def deployment_from_api(
    summary: Mapping[str, Any],
    tags: Iterable[Mapping[str, str]],
    tags_from: TagSource = TagSource.MODEL,
) -> ObservedResource:
    """From a ``ListCustomModelDeployments`` summary or a ``GetCustomModelDeployment``
    answer (whose ``updateDetails`` names the model an update is moving to)."""
    update = summary.get("updateDetails") or {}
    return ObservedResource(
        kind=Kind.CUSTOM_MODEL_DEPLOYMENT,
        arn=str(summary["customModelDeploymentArn"]),
        name=str(summary.get("customModelDeploymentName") or summary["modelDeploymentName"]),
        status=str(summary.get("status", "")),
        tags=_tags(tags),
        tags_from=tags_from,
        model_arn=str(summary.get("modelArn", "")),
        next_model_arn=str(update.get("modelArn", "")) if _pending(update) else "",
        created=_time(summary.get("createdAt")),
        failure_message=str(summary.get("failureMessage", "")),
        description=str(summary.get("description") or ""),
    )


def _pending(update: Mapping[str, Any]) -> bool:
    return str(update.get("updateStatus", "")) not in ("", "UpdateCompleted", "UpdateFailed")


FROM_API = {
    Kind.CUSTOM_MODEL: from_api,
    Kind.PROVISIONED_THROUGHPUT: throughput_from_api,
    Kind.CUSTOM_MODEL_DEPLOYMENT: deployment_from_api,
}


def state_of(
    resources: Iterable[ObservedResource], read_at: float | None = None, account: str = ""
) -> ObservedState:
    """An ObservedState with its resources in kind order, then name."""
    ordered = sorted(resources, key=lambda r: (r.kind.rank, r.name, r.arn))
    return ObservedState(resources=tuple(ordered), read_at=read_at, account=account)
