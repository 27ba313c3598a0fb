"""The planner: ``plan(desired, observed, scope) -> Plan``, a pure function.

No boto3, no clock, no I/O: the same inputs always give the same plan, with actions in
name order so plans diff cleanly. Ownership is decided here and only here: a model not
tagged ``reconciler:managed-by=<scope>`` is never deleted, replaced or retagged.
The spec hash and the tags a model should carry are defined here too, because the plan
compares them. Called by ``cli`` (and ``watch``); executed by ``aws.executor``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from reconciler.desired import DeclaredModel, DesiredState
from reconciler.errors import UnsafePlanError
from reconciler.observed import (
    RECONCILER_TAG_KEYS,
    STATUS_CREATING,
    STATUS_FAILED,
    TAG_DELETION_POLICY,
    TAG_MANAGED_BY,
    TAG_SPEC_HASH,
    ObservedModel,
    ObservedState,
)

SPEC_HASH_LENGTH = 32


class ActionKind(StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    UPDATE_TAGS = "update-tags"
    DELETE = "delete"
    RELEASE = "release"
    CONFLICT = "conflict"
    BLOCKED = "blocked"
    NOOP = "noop"


CHANGES = frozenset(
    {
        ActionKind.CREATE,
        ActionKind.REPLACE,
        ActionKind.UPDATE_TAGS,
        ActionKind.DELETE,
        ActionKind.RELEASE,
    }
)
ERRORS = frozenset({ActionKind.CONFLICT, ActionKind.BLOCKED})
PRUNES = frozenset({ActionKind.DELETE, ActionKind.RELEASE})


@dataclass(frozen=True)
class Action:
    """One step of a plan. ``declared`` is set for every action a manifest asks for."""

    kind: ActionKind
    name: str
    reason: str
    arn: str | None = None
    declared: DeclaredModel | None = None
    set_tags: tuple[tuple[str, str], ...] = ()
    remove_tag_keys: tuple[str, ...] = ()
    # The model's import is still running: the service may refuse to delete it until it ends.
    importing: bool = False

    @property
    def source(self) -> str | None:
        return self.declared.source if self.declared else None


@dataclass(frozen=True)
class Plan:
    """Every action needed to make the account match the manifests, in name order."""

    scope: str
    actions: tuple[Action, ...]

    def summary(self) -> dict[str, int]:
        counts = Counter(a.kind for a in self.actions)
        return {kind.value: counts[kind] for kind in ActionKind if counts[kind]}

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind in CHANGES)

    @property
    def errors(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind in ERRORS)


def spec_hash(model: DeclaredModel) -> str:
    """Digest of what defines the model's content; roleArn and tags are deliberately left out."""
    spec = model.spec
    canonical = {
        "modelKmsKeyArn": spec.modelKmsKeyArn,
        "name": model.name,
        "s3Uri": spec.modelSourceConfig.s3DataSource.s3Uri,
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:SPEC_HASH_LENGTH]


def desired_tags(model: DeclaredModel, scope: str) -> dict[str, str]:
    """Every tag the model should carry: the user's and the reconciler's own."""
    tags = dict(model.spec.tags)
    tags[TAG_MANAGED_BY] = scope
    tags[TAG_SPEC_HASH] = spec_hash(model)
    if model.spec.deletionPolicy == "Retain":
        tags[TAG_DELETION_POLICY] = "Retain"
    return dict(sorted(tags.items()))


def plan(desired: DesiredState, observed: ObservedState, scope: str) -> Plan:
    """Compare the manifests with the account and list what to do, model by model."""
    declared = desired.by_name()
    present = observed.by_name()
    actions = [_for_declared(model, present.get(name), scope) for name, model in declared.items()]
    for name, model in present.items():
        if name not in declared and model.is_managed_by(scope):
            actions.append(_for_undeclared(model))
    return Plan(scope=scope, actions=tuple(sorted(actions, key=lambda a: (a.name, a.kind))))


def _for_declared(model: DeclaredModel, found: ObservedModel | None, scope: str) -> Action:
    if found is None:
        return Action(ActionKind.CREATE, model.name, "not in the account", declared=model)
    if not found.is_managed_by(scope):
        owner = f"managed by scope {found.managed_by!r}" if found.managed_by else "not managed"
        reason = f"the name is taken by a model {owner}; it is left untouched"
        return Action(ActionKind.CONFLICT, model.name, reason, found.arn, model)
    stale = _replace_reason(model, found)
    if stale:
        return _replace_or_block(model, found, stale)
    return _retag_or_noop(model, found, scope)


def _replace_reason(model: DeclaredModel, found: ObservedModel) -> str:
    if found.status == STATUS_FAILED:
        return "the model's import failed"
    if found.spec_hash != spec_hash(model):
        return "its content changed (s3Uri, modelKmsKeyArn or name)"
    return ""


def _replace_or_block(model: DeclaredModel, found: ObservedModel, why: str) -> Action:
    if found.retained or model.spec.deletionPolicy == "Retain":
        reason = f"{why}, but its deletion policy is Retain, so it is never replaced"
        return Action(ActionKind.BLOCKED, model.name, reason, found.arn, model)
    return Action(
        ActionKind.REPLACE, model.name, why, found.arn, model, importing=_importing(found)
    )


def _retag_or_noop(model: DeclaredModel, found: ObservedModel, scope: str) -> Action:
    wanted = desired_tags(model, scope)
    to_set = tuple((k, v) for k, v in wanted.items() if found.tags.get(k) != v)
    unknown = [k for k in found.tags if k not in wanted]
    # Only the user's tags and the reconciler's known keys are ours to remove; aws: tags are
    # the system's (the service refuses to remove them).
    to_remove = tuple(sorted(k for k in unknown if _removable(k)))
    if to_set or to_remove:
        reason = _tag_reason(to_set, to_remove)
        return Action(
            ActionKind.UPDATE_TAGS, model.name, reason, found.arn, model, to_set, to_remove
        )
    reason = "import in progress" if found.status == STATUS_CREATING else "in sync"
    return Action(ActionKind.NOOP, model.name, reason, found.arn, model)


def _removable(key: str) -> bool:
    if key.lower().startswith("aws:"):
        return False
    return not key.startswith("reconciler:") or key in RECONCILER_TAG_KEYS


def _tag_reason(to_set: tuple[tuple[str, str], ...], to_remove: tuple[str, ...]) -> str:
    parts = []
    if to_set:
        parts.append("set " + ", ".join(k for k, _ in to_set))
    if to_remove:
        parts.append("remove " + ", ".join(to_remove))
    return "tags differ: " + "; ".join(parts)


def _for_undeclared(found: ObservedModel) -> Action:
    if found.retained:
        reason = "no manifest declares it; deletion policy Retain: kept, reconciler tags removed"
        keys = tuple(k for k in RECONCILER_TAG_KEYS if k in found.tags)
        return Action(ActionKind.RELEASE, found.name, reason, found.arn, remove_tag_keys=keys)
    reason = "no manifest declares it any more"
    return Action(ActionKind.DELETE, found.name, reason, found.arn, importing=_importing(found))


def _importing(found: ObservedModel) -> bool:
    return found.status == STATUS_CREATING


DEFAULT_MAX_DELETE_PERCENT = 30.0
BUDGET_MIN_MANAGED = 10
_MANAGED = frozenset(
    {
        ActionKind.REPLACE,
        ActionKind.UPDATE_TAGS,
        ActionKind.DELETE,
        ActionKind.RELEASE,
        ActionKind.BLOCKED,
        ActionKind.NOOP,
    }
)
_DESTRUCTIVE = frozenset({ActionKind.DELETE, ActionKind.REPLACE})


def check_deletion_budget(
    result: Plan, max_percent: float = DEFAULT_MAX_DELETE_PERCENT, force: bool = False
) -> None:
    """Refuse a plan that deletes or replaces too large a share of the managed models.

    Applies once at least BUDGET_MIN_MANAGED models are managed, as octoDNS does for records.
    """
    managed = sum(a.kind in _MANAGED for a in result.actions)
    doomed = [a.name for a in result.actions if a.kind in _DESTRUCTIVE]
    if force or managed < BUDGET_MIN_MANAGED or not doomed:
        return
    share = 100.0 * len(doomed) / managed
    if share <= max_percent:
        return
    names = ", ".join(doomed[:10]) + (", ..." if len(doomed) > 10 else "")
    raise UnsafePlanError(
        f"the plan deletes or replaces {len(doomed)} of {managed} managed models "
        f"({share:.0f}% > {max_percent:g}%): {names}; refusing. "
        "Raise --max-delete-percent or pass --force if this is intended"
    )


def check_empty_source(result: Plan, declared: int, allow_empty: bool) -> None:
    """Refuse to prune every managed model because the manifest source came up empty."""
    prunes = [a for a in result.actions if a.kind in PRUNES]
    if declared or not prunes or allow_empty:
        return
    names = ", ".join(a.name for a in prunes[:5]) + (", ..." if len(prunes) > 5 else "")
    raise UnsafePlanError(
        f"no manifest is declared, and the plan would remove all {len(prunes)} managed "
        f"models ({names}); refusing. Check the checkout, or pass --allow-empty to mean it"
    )
