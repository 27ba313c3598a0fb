"""The rows ``status`` shows: ``status_rows(observed, scope, desired) -> tuple[StatusRow, ...]``.

A pure function, like the planner: no boto3, no clock, no I/O. A row is shown for every
resource the scope manages, and for every other resource that holds a name the manifests
declare (a conflict the plan would report). Ages are measured against ``observed.read_at``,
never a clock. A declared resource is ``in_sync`` when the plan (``plan.plan``, the same
pure planner ``plan`` and ``apply`` run) has nothing to do for it; otherwise ``change``
names what the plan would do (``update-tags``, ``update-model``, ``replace``, ``conflict``,
``adopt``...). Both, and ``declared``, are None when no manifests were given. Called by
``commands``; rendered by ``statusview``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.desired import DeclaredResource, DesiredState
from reconciler.identity import Kind, ResourceKey
from reconciler.observed import ObservedResource, ObservedState
from reconciler.plan import Action, ActionKind, plan


@dataclass(frozen=True)
class StatusRow:
    """One resource as ``status`` shows it.

    ``serves_from`` and ``switching_to`` name the model a throughput or deployment serves
    from and is switching to (the model's name when the account owns it, else its ARN);
    ``served_by`` lists what serves from a model. ``age`` is in seconds at the read time.
    """

    kind: Kind
    name: str
    arn: str
    status: str
    created: float | None = None
    age: float | None = None
    serves_from: str = ""
    switching_to: str = ""
    served_by: tuple[ResourceKey, ...] = ()
    commitment_expires: float | None = None
    declared: bool | None = None
    in_sync: bool | None = None
    change: str | None = None
    managed_by: str | None = None
    source: str | None = None

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.name)


def status_rows(
    observed: ObservedState, scope: str, desired: DesiredState | None = None
) -> tuple[StatusRow, ...]:
    """One row per resource ``scope`` manages or a manifest names, in kind order, then name."""
    declared = desired.by_key() if desired is not None else {}
    planned = {a.key: a for a in plan(desired, observed, scope).actions} if desired else {}
    shown = [r for r in observed.resources if r.is_managed_by(scope) or r.key in declared]
    by_arn = observed.by_arn()
    rows = (
        _row(
            r,
            observed,
            by_arn,
            declared=declared.get(r.key),
            action=planned.get(r.key),
            manifests=desired is not None,
        )
        for r in shown
    )
    return tuple(sorted(rows, key=lambda row: (*row.key.order, row.arn)))


def not_in_account(
    observed: ObservedState, desired: DesiredState | None
) -> tuple[ResourceKey, ...]:
    """What the manifests declare that the account does not hold (``apply`` would create)."""
    if desired is None:
        return ()
    present = observed.by_key()
    return tuple(r.key for r in desired.resources if r.key not in present)


def _row(
    found: ObservedResource,
    observed: ObservedState,
    by_arn: Mapping[str, ObservedResource],
    *,
    declared: DeclaredResource | None,
    action: Action | None,
    manifests: bool,
) -> StatusRow:
    in_sync = change = None
    if declared is not None and action is not None:
        in_sync = action.kind is ActionKind.NOOP
        change = None if in_sync else action.kind.value
    return StatusRow(
        kind=found.kind,
        name=found.name,
        arn=found.arn,
        status=found.status,
        created=found.created,
        age=_age(found.created, observed.read_at),
        serves_from=_model_name(found.model_arn, by_arn) if found.kind.serves else "",
        switching_to=_model_name(found.next_model_arn, by_arn) if found.switching else "",
        served_by=_served_by(found, observed),
        commitment_expires=found.commitment_expires,
        declared=(declared is not None) if manifests else None,
        in_sync=in_sync,
        change=change,
        managed_by=found.managed_by,
        source=declared.source if declared is not None else None,
    )


def _age(created: float | None, read_at: float | None) -> float | None:
    if created is None or read_at is None:
        return None
    return max(0.0, read_at - created)


def _model_name(arn: str, by_arn: Mapping[str, ObservedResource]) -> str:
    """A model of the account by its name; anything else (a base model) by its ARN."""
    model = by_arn.get(arn)
    if model is not None and model.kind is Kind.CUSTOM_MODEL:
        return model.name
    return arn


def _served_by(found: ObservedResource, observed: ObservedState) -> tuple[ResourceKey, ...]:
    if found.kind is not Kind.CUSTOM_MODEL:
        return ()
    users = observed.users_of(found.arn)
    return tuple(sorted({u.key for u in users}, key=lambda k: k.order))
