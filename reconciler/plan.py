"""The planner: ``plan(desired, observed, scope) -> Plan``, a pure function.

No boto3, no clock, no I/O: the same inputs always give the same plan, with actions in kind
order (models, throughputs, deployments), then name, so plans diff cleanly. Ownership is
decided here and only here: a resource not tagged ``reconciler:managed-by=<scope>`` is never
deleted, replaced or retagged, except that one carrying no ``managed-by`` tag at all, owned
by this account, is adopted (retagged, nothing else) when its manifest says ``spec.adopt``
and it matches the manifest on everything its kind can read back. Each kind's own facts
(spec hash, create request, what adoption compares) come from ``kinds``; the rules across
kinds live here: a model is never replaced while anything serves from it, nor deleted while
anything the plan does not move off it still does; a throughput whose commitment has not
expired is never deleted. Called by ``reconcile``; ordered into a graph by ``graph``;
executed by ``aws.executor``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from reconciler import kinds
from reconciler.budget import DEFAULT_MAX_DELETE_PERCENT
from reconciler.desired import DeclaredResource, DesiredState
from reconciler.errors import UnsafePlanError
from reconciler.identity import Kind, ResourceKey
from reconciler.kinds.base import SPEC_HASH_LENGTH
from reconciler.observed import (
    RECONCILER_TAG_KEYS,
    STATUS_CREATING,
    STATUS_FAILED,
    ObservedResource,
    ObservedState,
)

__all__ = ["SPEC_HASH_LENGTH", "Action", "ActionKind", "Plan", "desired_tags", "plan", "spec_hash"]


class ActionKind(StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    UPDATE_TAGS = "update-tags"
    UPDATE_MODEL = "update-model"
    ADOPT = "adopt"
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
        ActionKind.UPDATE_MODEL,
        ActionKind.ADOPT,
        ActionKind.DELETE,
        ActionKind.RELEASE,
    }
)
ERRORS = frozenset({ActionKind.CONFLICT, ActionKind.BLOCKED})
PRUNES = frozenset({ActionKind.DELETE, ActionKind.RELEASE})
# What the deletion budget counts, and what a budget refusal holds back.
DESTRUCTIVE = frozenset({ActionKind.DELETE, ActionKind.REPLACE})


@dataclass(frozen=True)
class WaitFor:
    """A switch already under way that an action must see complete first: ``kind`` resource
    ``arn`` (``name``) serving ``model_arn``."""

    kind: Kind
    arn: str
    name: str
    model_arn: str


@dataclass(frozen=True)
class Action:
    """One step of a plan. ``declared`` is set for every action a manifest asks for.

    For a throughput or deployment: ``model`` names the declared CustomModel it should serve
    from, ``model_arn`` is that model's ARN when it is known before the apply (None while the
    model is still to be created), and ``serves_from`` holds the model ARNs it serves from
    now. ``caution`` says what money a create or replace commits.
    """

    kind: ActionKind
    name: str
    reason: str
    arn: str | None = None
    declared: DeclaredResource | None = None
    set_tags: tuple[tuple[str, str], ...] = ()
    remove_tag_keys: tuple[str, ...] = ()
    # The model's import is still running: the service may refuse to delete it until it ends.
    importing: bool = False
    resource: Kind = Kind.CUSTOM_MODEL
    model: str | None = None
    model_arn: str | None = None
    serves_from: tuple[str, ...] = ()
    caution: str | None = None
    # A model delete waits for these switches (started by an earlier run) to complete.
    waits_for: tuple[WaitFor, ...] = ()

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.resource, self.name)

    @property
    def source(self) -> str | None:
        return self.declared.source if self.declared else None

    def moves_off(self, model_arn: str) -> bool:
        """Whether executing this action stops it serving from ``model_arn``."""
        if model_arn not in self.serves_from:
            return False
        if self.kind is ActionKind.DELETE:
            return True
        if self.kind in (ActionKind.UPDATE_MODEL, ActionKind.REPLACE):
            return self.model_arn != model_arn
        return False


@dataclass(frozen=True)
class Plan:
    """Every action needed to make the account match the manifests, in kind and name order."""

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

    @property
    def cautions(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.caution and a.kind in CHANGES)


def spec_hash(resource: DeclaredResource) -> str:
    """The spec hash of a declared resource (for a model: exactly version 1's)."""
    return kinds.spec_hash(resource)


def desired_tags(resource: DeclaredResource, scope: str) -> dict[str, str]:
    """Every tag the resource should carry: the user's and the reconciler's own."""
    return kinds.tags_for(resource, scope)


def plan(desired: DesiredState, observed: ObservedState, scope: str) -> Plan:
    """Compare the manifests with the account and list what to do, resource by resource."""
    declared = desired.by_key()
    present = observed.by_key()
    # No clock here: without a read time every commitment counts as running (the safe side).
    now = observed.read_at if observed.read_at is not None else 0.0
    context = _Context(scope, now, {}, observed.account)
    actions: list[Action] = []
    for resource in desired.resources:  # models first: serving actions refer to theirs
        action = _for_declared(resource, present.get(resource.key), context)
        if resource.kind is Kind.CUSTOM_MODEL:
            context.models[resource.name] = action
        actions.append(action)
    for key, found in present.items():
        if key not in declared and found.is_managed_by(scope):
            actions.append(_for_undeclared(found, now))
    actions = _guard_models_in_use(actions, observed)
    return Plan(scope=scope, actions=tuple(sorted(actions, key=_order)))


def _order(action: Action) -> tuple[int, str, str]:
    return (action.resource.rank, action.name, action.kind.value)


@dataclass(frozen=True)
class _Context:
    scope: str
    now: float
    models: dict[str, Action]  # the plan's action for each declared CustomModel
    account: str = ""  # the account the state was read in ("": unknown)

    def target(self, resource: DeclaredResource) -> tuple[str | None, str | None]:
        """The declared model a serving resource refers to, and its ARN when known now."""
        spec = resource.spec
        if spec.model is None:
            return None, spec.modelArn
        action = self.models.get(spec.model)
        if action is None or action.kind not in _MODEL_STAYS:
            return spec.model, None  # to be created (or replaced) first
        return spec.model, action.arn


# A model action after which the model is there, under its ARN, for what serves from it.
_MODEL_STAYS = frozenset({ActionKind.NOOP, ActionKind.UPDATE_TAGS, ActionKind.ADOPT})


def _for_declared(
    resource: DeclaredResource, found: ObservedResource | None, context: _Context
) -> Action:
    model, model_arn = (None, None)
    if resource.kind.serves:
        model, model_arn = context.target(resource)
    base = Action(
        ActionKind.NOOP,
        resource.name,
        "",
        declared=resource,
        resource=resource.kind,
        model=model,
        model_arn=model_arn,
    )
    if found is None:
        return replace(
            base, kind=ActionKind.CREATE, reason="not in the account", caution=_caution(resource)
        )
    base = replace(base, arn=found.arn, serves_from=tuple(sorted(found.serves_from)))
    if not found.is_managed_by(context.scope):
        return _not_ours(base, resource, found, context)
    stale = _replace_reason(resource, found)
    if stale:
        return _replace_or_block(base, resource, found, stale, context.now)
    tags = _tag_changes(resource, found, context.scope)
    if resource.kind.serves and _needs_switch(found, model_arn):
        return _switch(base, found, tags)
    return _retag_or_noop(base, found, tags)


ADOPT_HINT = (
    "to take it over, declare it with spec.adopt: true "
    "(or write it with `reconciler export --unmanaged`)"
)


def _not_ours(
    base: Action, resource: DeclaredResource, found: ObservedResource, context: _Context
) -> Action:
    """A conflict, or (``spec.adopt``, no scope's tag, this account's, matching) an adopt."""
    what = "model" if resource.kind is Kind.CUSTOM_MODEL else resource.kind.value
    taken = "the name is taken by a " + what
    conflict = replace(base, kind=ActionKind.CONFLICT)
    if found.managed_by is not None:
        reason = f"{taken} managed by scope {found.managed_by!r}; it is left untouched"
        return replace(conflict, reason=reason)
    if found.shared_into(context.account):
        reason = f"{taken} shared from account {found.owner}; it is left untouched"
        return replace(conflict, reason=reason)
    taken += " not managed; it is left untouched"
    if not resource.spec.adopt:
        return replace(conflict, reason=f"{taken}; {ADOPT_HINT}")
    rules = kinds.RULES[resource.kind]
    mismatches = rules.adoption_mismatches(resource, found)
    if mismatches:
        reason = f"{taken}: spec.adopt is set, but it does not match the manifest: "
        return replace(conflict, reason=reason + "; ".join(mismatches))
    return _adopt(base, resource, found, context.scope)


def _adopt(base: Action, resource: DeclaredResource, found: ObservedResource, scope: str) -> Action:
    """Take an unmanaged resource over by its tags alone: nothing is created or replaced."""
    to_set, to_remove = _tag_changes(resource, found, scope)
    changes = _tag_list(to_set, to_remove)
    parts = [f"not managed, and it matches the manifest: adopted by its tags alone ({changes})"]
    unreadable = kinds.RULES[resource.kind].unreadable(resource)
    if unreadable:
        parts.append(unreadable)
    if resource.kind.serves and _needs_switch(found, base.model_arn):
        target = base.model or base.model_arn
        parts.append(
            f"it serves {found.model_arn or 'no model'}: the next plan switches it to "
            f"{target} in place"
        )
    return replace(
        base,
        kind=ActionKind.ADOPT,
        reason="; ".join(parts),
        set_tags=to_set,
        remove_tag_keys=to_remove,
    )


def _caution(resource: DeclaredResource) -> str | None:
    return kinds.RULES[resource.kind].commitment(resource)


def _replace_reason(resource: DeclaredResource, found: ObservedResource) -> str:
    if found.status == STATUS_FAILED:
        return "the model's import failed" if resource.kind is Kind.CUSTOM_MODEL else "it Failed"
    if found.spec_hash != spec_hash(resource):
        return f"its content changed ({kinds.RULES[resource.kind].hash_fields})"
    return ""


def _replace_or_block(
    base: Action, resource: DeclaredResource, found: ObservedResource, why: str, now: float
) -> Action:
    if found.retained or resource.spec.deletionPolicy == "Retain":
        reason = f"{why}, but its deletion policy is Retain, so it is never replaced"
        return replace(base, kind=ActionKind.BLOCKED, reason=reason)
    committed = _commitment_block(found, now, "replaced")
    if committed:
        return replace(base, kind=ActionKind.BLOCKED, reason=f"{why}, but {committed}")
    if resource.kind.serves:
        why += "; serving on it stops between the delete and the create"
    return replace(
        base,
        kind=ActionKind.REPLACE,
        reason=why,
        importing=found.status == STATUS_CREATING,
        caution=_caution(resource),
    )


def _commitment_block(found: ObservedResource, now: float, verb: str) -> str:
    """Why a committed throughput cannot go yet (AWS refuses, and bills to the term's end)."""
    if found.commitment_expires is None or found.commitment_expires <= now:
        return ""
    expiry = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(found.commitment_expires))
    return (
        f"its {found.commitment or 'term'} commitment runs until {expiry}: AWS refuses to "
        f"delete it and bills to the end of the term, so it is not {verb}. Keep the manifest "
        "until then, or set deletionPolicy: Retain to release it"
    )


def _tag_changes(
    resource: DeclaredResource, found: ObservedResource, scope: str
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    wanted = desired_tags(resource, scope)
    to_set = tuple((k, v) for k, v in wanted.items() if found.tags.get(k) != v)
    unknown = [k for k in found.tags if k not in wanted]
    # Only the user's tags and the reconciler's known keys are ours to remove; aws: tags are
    # the system's (the service refuses to remove them).
    to_remove = tuple(sorted(k for k in unknown if _removable(k)))
    return to_set, to_remove


def _needs_switch(found: ObservedResource, model_arn: str | None) -> bool:
    if model_arn is None:
        return True  # the model it should serve is still to be created
    if found.switching:
        return found.next_model_arn != model_arn
    return found.model_arn != model_arn


def _switch(
    base: Action,
    found: ObservedResource,
    tags: tuple[tuple[tuple[str, str], ...], tuple[str, ...]],
) -> Action:
    target = base.model or base.model_arn
    now = f"serves {found.model_arn}" if found.model_arn else "serves no model"
    reason = f"it {now}; switching to {target} in place (serving continues)"
    if tags[0] or tags[1]:
        reason += "; " + _tag_reason(*tags)
    return replace(
        base,
        kind=ActionKind.UPDATE_MODEL,
        reason=reason,
        set_tags=tags[0],
        remove_tag_keys=tags[1],
    )


def _retag_or_noop(
    base: Action,
    found: ObservedResource,
    tags: tuple[tuple[tuple[str, str], ...], tuple[str, ...]],
) -> Action:
    to_set, to_remove = tags
    if to_set or to_remove:
        reason = _tag_reason(to_set, to_remove)
        return replace(
            base,
            kind=ActionKind.UPDATE_TAGS,
            reason=reason,
            set_tags=to_set,
            remove_tag_keys=to_remove,
        )
    return replace(base, kind=ActionKind.NOOP, reason=_in_sync(found))


def _in_sync(found: ObservedResource) -> str:
    if found.status == STATUS_CREATING:
        return "import in progress" if found.kind is Kind.CUSTOM_MODEL else "being created"
    if found.switching:
        return f"switch to {found.next_model_arn} in progress"
    return "in sync"


def _removable(key: str) -> bool:
    if key.lower().startswith("aws:"):
        return False
    return not key.startswith("reconciler:") or key in RECONCILER_TAG_KEYS


def _tag_reason(to_set: tuple[tuple[str, str], ...], to_remove: tuple[str, ...]) -> str:
    return "tags differ: " + _tag_list(to_set, to_remove)


def _tag_list(to_set: tuple[tuple[str, str], ...], to_remove: tuple[str, ...]) -> str:
    parts = []
    if to_set:
        parts.append("set " + ", ".join(k for k, _ in to_set))
    if to_remove:
        parts.append("remove " + ", ".join(to_remove))
    return "; ".join(parts)


def _for_undeclared(found: ObservedResource, now: float) -> Action:
    base = Action(
        ActionKind.DELETE,
        found.name,
        "no manifest declares it any more",
        found.arn,
        resource=found.kind,
        serves_from=tuple(sorted(found.serves_from)),
    )
    if found.retained:
        reason = "no manifest declares it; deletion policy Retain: kept, reconciler tags removed"
        keys = tuple(k for k in RECONCILER_TAG_KEYS if k in found.tags)
        return replace(base, kind=ActionKind.RELEASE, reason=reason, remove_tag_keys=keys)
    committed = _commitment_block(found, now, "deleted")
    if committed:
        return replace(
            base, kind=ActionKind.BLOCKED, reason=f"no manifest declares it, but {committed}"
        )
    return replace(base, importing=found.status == STATUS_CREATING)


def _guard_models_in_use(actions: list[Action], observed: ObservedState) -> list[Action]:
    """Block a model replace while anything serves from the model, and a model delete while
    anything the plan does not move off it still serves from it, or the plan points
    something at it (a ``modelArn`` naming a model no manifest declares any more)."""
    by_key = {a.key: a for a in actions}
    onto: dict[str, list[Action]] = {}
    for a in actions:
        if a.resource.serves and a.kind in _SERVING_ONTO and a.model_arn:
            onto.setdefault(a.model_arn, []).append(a)
    return [_guard_one(a, observed, by_key, onto) for a in actions]


_SERVING_ONTO = frozenset({ActionKind.CREATE, ActionKind.REPLACE, ActionKind.UPDATE_MODEL})


def _guard_one(
    action: Action,
    observed: ObservedState,
    by_key: dict[ResourceKey, Action],
    onto: dict[str, list[Action]],
) -> Action:
    if action.resource is not Kind.CUSTOM_MODEL or not action.arn:
        return action
    if action.kind not in DESTRUCTIVE:
        return action
    users = observed.users_of(action.arn)
    asked = [f"{a.key} (as the manifests ask)" for a in onto.get(action.arn, ())]
    if action.kind is ActionKind.REPLACE and (users or asked):
        return _in_use(action, [str(u.key) for u in users] + asked, "replaced")
    leaving = [u for u in users if _leaving(u, by_key.get(u.key), action.arn)]
    staying = [
        str(u.key) for u in users if u not in leaving and not _moved(by_key.get(u.key), action.arn)
    ]
    staying += asked
    if staying:
        return _in_use(action, staying, "deleted")
    return replace(
        action, waits_for=tuple(WaitFor(u.kind, u.arn, u.name, u.next_model_arn) for u in leaving)
    )


def _leaving(user: ObservedResource, action: Action | None, model_arn: str) -> bool:
    """A managed user in sync whose switch off the model, started earlier, is under way."""
    in_sync = action is not None and action.kind is ActionKind.NOOP
    return in_sync and user.switching and user.model_arn == model_arn


def _moved(action: Action | None, model_arn: str) -> bool:
    return action is not None and action.moves_off(model_arn)


def _in_use(action: Action, users: Iterable[str], verb: str) -> Action:
    names = ", ".join(sorted(set(users)))
    recipe = (
        "declare the new weights under a new model name and point the serving resources at it"
        if verb == "replaced"
        else "point them at another model, or remove them, first"
    )
    reason = f"{action.reason}, but it is in use by {names}, so it is not {verb}; {recipe}"
    return replace(action, kind=ActionKind.BLOCKED, reason=reason)


BUDGET_MIN_MANAGED = 10
_MANAGED = frozenset(
    {
        ActionKind.REPLACE,
        ActionKind.UPDATE_TAGS,
        ActionKind.UPDATE_MODEL,
        ActionKind.DELETE,
        ActionKind.RELEASE,
        ActionKind.BLOCKED,
        ActionKind.NOOP,
    }
)


def check_deletion_budget(
    result: Plan, max_percent: float = DEFAULT_MAX_DELETE_PERCENT, force: bool = False
) -> None:
    """Refuse a plan that deletes or replaces too large a share of the managed resources.

    Applies once at least BUDGET_MIN_MANAGED resources are managed, as octoDNS does for records.
    """
    managed = sum(a.kind in _MANAGED for a in result.actions)
    doomed = [str(label(a)) for a in result.actions if a.kind in DESTRUCTIVE]
    if force or managed < BUDGET_MIN_MANAGED or not doomed:
        return
    share = 100.0 * len(doomed) / managed
    if share <= max_percent:
        return
    names = ", ".join(doomed[:10]) + (", ..." if len(doomed) > 10 else "")
    raise UnsafePlanError(
        f"the plan deletes or replaces {len(doomed)} of {managed} managed {_noun(result)} "
        f"({share:.0f}% > {max_percent:g}%): {names}; refusing. "
        "Raise --max-delete-percent or pass --force if this is intended"
    )


def check_empty_source(result: Plan, declared: int, allow_empty: bool) -> None:
    """Refuse to prune every managed resource because the manifest source came up empty."""
    prunes = [a for a in result.actions if a.kind in PRUNES]
    if declared or not prunes or allow_empty:
        return
    names = ", ".join(label(a) for a in prunes[:5]) + (", ..." if len(prunes) > 5 else "")
    raise UnsafePlanError(
        f"no manifest is declared, and the plan would remove all {len(prunes)} managed "
        f"{_noun(result)} ({names}); refusing. Check the checkout, or pass --allow-empty to mean it"
    )


def check_no_errors(result: Plan) -> None:
    """Refuse, whole, a plan holding a conflict or blocked action: it is never partly applied
    (its deletes could run while the create meant to replace them cannot)."""
    if not result.errors:
        return
    listed = "\n".join(f"  ! {a.kind.value} {label(a)}: {a.reason}" for a in result.errors)
    raise UnsafePlanError(
        f"{listed}\nthe plan holds {len(result.errors)} action(s) that cannot be applied "
        "(conflict or blocked); refusing the whole plan, nothing was changed"
    )


def check_commitments(result: Plan, allowed: bool) -> None:
    """Refuse a plan that buys a commitment unless ``--allow-commitment`` says to."""
    cautions = result.cautions
    if allowed or not cautions:
        return
    listed = "\n".join(f"  - {label(a)}: {a.caution}" for a in cautions)
    raise UnsafePlanError(
        f"{listed}\nthe plan buys {len(cautions)} commitment(s) that cannot be refunded; "
        "refusing. Pass --allow-commitment to buy them"
    )


def _noun(result: Plan) -> str:
    """What a plan's guard messages call what they count (models alone: as version 1 did)."""
    only_models = all(a.resource is Kind.CUSTOM_MODEL for a in result.actions)
    return "models" if only_models else "resources"


def label(action: Action) -> str:
    """A bare name for a model (as version 1 printed it), ``Kind/name`` for the others."""
    return action.name if action.resource is Kind.CUSTOM_MODEL else str(action.key)
