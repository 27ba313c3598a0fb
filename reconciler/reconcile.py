"""Read the account and plan against it: the step ``plan``, ``apply`` and ``watch`` share.

Tags read from the tagging index are a hint (``aws.reader``): the first plan shows which
resources would change, their tags are then read per model, and the plan is made again on
those. Only changes pay for authoritative reads; a plan of models in sync costs the list
pages and the index pages. One round is enough: confirming changes only the actions of the
models confirmed, which are then decided on what they really carry. An unmanaged resource a
manifest asks to adopt is also described (a model's KMS key, a deployment's description are
only in the Get answers), so an adoption is decided on everything the API gives back.
Called by ``commands`` and ``watch``.
"""

from __future__ import annotations

from reconciler.aws.reader import AccountReader
from reconciler.desired import DesiredState
from reconciler.identity import Kind
from reconciler.observed import ObservedState
from reconciler.plan import ActionKind, Plan, plan
from reconciler.planfile import SavedPlan


def read_and_plan(
    reader: AccountReader, desired: DesiredState, scope: str
) -> tuple[Plan, ObservedState]:
    """The plan for ``desired``, every change decided on authoritative tags."""
    observed = reader.read([r.key for r in desired.resources])
    return decide(reader, desired, observed, scope)


def decide(
    reader: AccountReader, desired: DesiredState, observed: ObservedState, scope: str
) -> tuple[Plan, ObservedState]:
    """Plan, then read per resource the tags of whatever the plan would change (and, when a
    model would go, each deployment's pending update; what an adoption compares), and plan
    again on those."""
    first = plan(desired, observed, scope)
    changing = [a.arn for a in first.actions if a.arn and a.kind is not ActionKind.NOOP]
    confirmed = reader.confirm(observed, changing)
    adopting = _adoption_targets(first, confirmed)
    if adopting:
        confirmed = reader.describe_models(confirmed, adopting)
    if _removes_a_model(first):
        # Whether a deployment is moving onto or off a model is only in its Get.
        confirmed = reader.describe_deployments(confirmed)
    elif adopting:
        confirmed = reader.describe_deployments(confirmed, adopting)
    if confirmed is observed:
        return first, observed
    return plan(desired, confirmed, scope), confirmed


def _adoption_targets(planned: Plan, observed: ObservedState) -> frozenset[str]:
    """The ARNs of the resources, held by no scope, that a manifest asks to adopt."""
    present = observed.by_arn()
    return frozenset(
        a.arn
        for a in planned.actions
        if a.arn
        and a.declared is not None
        and a.declared.spec.adopt
        and a.kind in (ActionKind.ADOPT, ActionKind.CONFLICT)
        and a.arn in present
        and present[a.arn].managed_by is None
    )


def _removes_a_model(planned: Plan) -> bool:
    return any(
        a.resource is Kind.CUSTOM_MODEL and a.kind in (ActionKind.DELETE, ActionKind.REPLACE)
        for a in planned.actions
    )


def read_for_saved(reader: AccountReader, saved: SavedPlan) -> ObservedState:
    """The account as a saved plan's freshness check needs it: what it changes, confirmed."""
    observed = reader.read(saved.names)
    changing = [a.arn for a in saved.plan.actions if a.arn and a.kind is not ActionKind.NOOP]
    return reader.confirm(observed, changing)


def rederive(reader: AccountReader, saved: SavedPlan, observed: ObservedState, scope: str) -> Plan:
    """The plan made again now from the manifests a saved plan holds, every change decided
    on tags read from the resource itself (never on the file's word, nor the index's)."""
    return decide(reader, saved.desired, observed, scope)[0]
