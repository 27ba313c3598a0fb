"""The planner's rules for throughputs and deployments, and the rules across kinds.

One table row per line of the plan-actions table: ``update-model``, a throughput
``replace`` (and its warning), ``blocked`` for a committed throughput, ``blocked`` for a
model in use, a model ``delete`` ordered after the switch, and the commitment caution.
"""

from __future__ import annotations

import pytest

from reconciler.errors import UnsafePlanError
from reconciler.identity import Kind, ResourceKey
from reconciler.plan import ActionKind, check_commitments, check_deletion_budget, plan
from tests.builders import (
    FOUNDATION,
    NOW,
    OTHER,
    SCOPE,
    cm,
    dep,
    desired,
    model_arn,
    observed,
    observed_of,
    pt,
)

A = ActionKind
PT = Kind.PROVISIONED_THROUGHPUT
CMD = Kind.CUSTOM_MODEL_DEPLOYMENT
V1, V2 = model_arn("v1"), model_arn("v2")


def actions(result):  # type: ignore[no-untyped-def]
    return {(a.resource, a.name): a for a in result.actions}


def test_a_throughput_on_a_new_model_is_created_after_it() -> None:
    result = plan(desired(cm("v1"), pt("p", model="v1")), observed(), SCOPE)
    got = actions(result)
    assert got[(PT, "p")].kind is A.CREATE
    assert got[(PT, "p")].model == "v1"
    assert got[(PT, "p")].model_arn is None  # known only once v1 exists
    assert [a.resource for a in result.actions] == [Kind.CUSTOM_MODEL, PT]


def test_in_sync_throughput_and_deployment_are_noops() -> None:
    v1, p, d = cm("v1"), pt("p", model="v1"), dep("d", model="v1", description="x")
    result = plan(
        desired(v1, p, d),
        observed(observed_of(v1), observed_of(p, serves=V1), observed_of(d, serves=V1)),
        SCOPE,
    )
    assert {a.kind for a in result.actions} == {A.NOOP}


def test_rollout_switches_in_place_and_deletes_the_old_model() -> None:
    v1, v2 = cm("v1"), cm("v2")
    p = pt("p", model="v2")
    result = plan(
        desired(v2, p),
        observed(observed_of(v1), observed_of(v2), observed_of(pt("p", model="v1"), serves=V1)),
        SCOPE,
    )
    got = actions(result)
    switch = got[(PT, "p")]
    assert switch.kind is A.UPDATE_MODEL
    assert switch.model_arn == V2
    assert switch.serves_from == (V1,)
    assert "serving continues" in switch.reason
    assert got[(Kind.CUSTOM_MODEL, "v1")].kind is A.DELETE


def test_rollout_to_a_model_still_to_be_created() -> None:
    v1 = cm("v1")
    result = plan(
        desired(cm("v2"), pt("p", model="v2")),
        observed(observed_of(v1), observed_of(pt("p", model="v1"), serves=V1)),
        SCOPE,
    )
    got = actions(result)
    assert got[(Kind.CUSTOM_MODEL, "v2")].kind is A.CREATE
    assert got[(PT, "p")].kind is A.UPDATE_MODEL
    assert got[(PT, "p")].model_arn is None
    assert got[(Kind.CUSTOM_MODEL, "v1")].kind is A.DELETE


def test_a_switch_under_way_to_the_declared_model_is_in_sync() -> None:
    v1, v2 = cm("v1"), cm("v2")
    p = pt("p", model="v2")
    result = plan(
        desired(v2, p),
        observed(observed_of(v1), observed_of(v2), observed_of(p, serves=V1, switching_to=V2)),
        SCOPE,
    )
    got = actions(result)
    assert got[(PT, "p")].kind is A.NOOP
    assert "in progress" in got[(PT, "p")].reason
    # v1 is still served from until the switch completes: its delete waits for it.
    delete = got[(Kind.CUSTOM_MODEL, "v1")]
    assert delete.kind is A.DELETE
    [wait] = delete.waits_for
    assert (wait.kind, wait.name, wait.model_arn) == (PT, "p", V2)


def test_deployment_update_model() -> None:
    v1, v2 = cm("v1"), cm("v2")
    result = plan(
        desired(v1, v2, dep("d", model="v2")),
        observed(observed_of(v1), observed_of(v2), observed_of(dep("d", model="v1"), serves=V1)),
        SCOPE,
    )
    assert actions(result)[(CMD, "d")].kind is A.UPDATE_MODEL


def test_throughput_units_change_is_a_replace_that_warns() -> None:
    v1 = cm("v1")
    result = plan(
        desired(v1, pt("p", model="v1", units=2)),
        observed(observed_of(v1), observed_of(pt("p", model="v1", units=1), serves=V1)),
        SCOPE,
    )
    action = actions(result)[(PT, "p")]
    assert action.kind is A.REPLACE
    assert "serving on it stops" in action.reason


def test_failed_throughput_is_replaced() -> None:
    v1, p = cm("v1"), pt("p", model="v1")
    result = plan(
        desired(v1, p), observed(observed_of(v1), observed_of(p, serves=V1, status="Failed")), SCOPE
    )
    assert actions(result)[(PT, "p")].kind is A.REPLACE


@pytest.mark.parametrize("declared", [True, False], ids=["replace", "delete"])
def test_committed_throughput_is_blocked_until_expiry(declared: bool) -> None:
    old = pt("p", arn=FOUNDATION, units=1, commitment="OneMonth")
    new = pt("p", arn=FOUNDATION, units=2, commitment="OneMonth")
    found = observed_of(old, serves=FOUNDATION, expires=NOW + 86400)
    result = plan(desired(new) if declared else desired(), observed(found), SCOPE)
    action = actions(result)[(PT, "p")]
    assert action.kind is A.BLOCKED
    assert "2027-01-16" in action.reason  # the expiry date, named
    assert "deletionPolicy: Retain" in action.reason


def test_an_expired_commitment_may_go() -> None:
    old = pt("p", arn=FOUNDATION, commitment="OneMonth")
    found = observed_of(old, serves=FOUNDATION, expires=NOW - 1)
    assert actions(plan(desired(), observed(found), SCOPE))[(PT, "p")].kind is A.DELETE


def test_without_a_read_time_every_commitment_counts_as_running() -> None:
    old = pt("p", arn=FOUNDATION, commitment="OneMonth")
    found = observed_of(old, serves=FOUNDATION, expires=NOW - 1)
    from reconciler.observed import state_of

    result = plan(desired(), state_of([found]), SCOPE)
    assert actions(result)[(PT, "p")].kind is A.BLOCKED


def test_a_committed_throughput_can_be_released() -> None:
    old = pt("p", arn=FOUNDATION, commitment="OneMonth", policy="Retain")
    found = observed_of(old, serves=FOUNDATION, expires=NOW + 86400)
    assert actions(plan(desired(), observed(found), SCOPE))[(PT, "p")].kind is A.RELEASE


def test_a_model_in_use_is_never_replaced() -> None:
    old, new = cm("v1"), cm("v1", s3="s3://acme/v1-retrained/")
    user = observed_of(pt("p", model="v1"), serves=V1)
    result = plan(desired(new, pt("p", model="v1")), observed(observed_of(old), user), SCOPE)
    action = actions(result)[(Kind.CUSTOM_MODEL, "v1")]
    assert action.kind is A.BLOCKED
    assert "ProvisionedThroughput/p" in action.reason
    assert "new model name" in action.reason


def test_a_model_used_by_an_unmanaged_throughput_is_not_deleted() -> None:
    v1 = cm("v1")
    stranger = observed_of(pt("p", model="v1"), scope=None, serves=V1)
    result = plan(desired(), observed(observed_of(v1), stranger), SCOPE)
    action = actions(result)[(Kind.CUSTOM_MODEL, "v1")]
    assert action.kind is A.BLOCKED
    assert "ProvisionedThroughput/p" in action.reason


def test_a_model_used_by_another_scopes_deployment_is_not_deleted() -> None:
    v1 = cm("v1")
    other = observed_of(dep("d", model="v1"), scope=OTHER, serves=V1)
    result = plan(desired(), observed(observed_of(v1), other), SCOPE)
    assert actions(result)[(Kind.CUSTOM_MODEL, "v1")].kind is A.BLOCKED


def test_model_and_its_throughput_both_undeclared_are_both_deleted() -> None:
    v1, p = cm("v1"), pt("p", model="v1")
    result = plan(desired(), observed(observed_of(v1), observed_of(p, serves=V1)), SCOPE)
    got = actions(result)
    assert got[(Kind.CUSTOM_MODEL, "v1")].kind is A.DELETE
    assert got[(PT, "p")].kind is A.DELETE


def test_a_retained_throughput_keeps_its_model() -> None:
    v1, p = cm("v1"), pt("p", model="v1", policy="Retain")
    result = plan(desired(), observed(observed_of(v1), observed_of(p, serves=V1)), SCOPE)
    got = actions(result)
    assert got[(PT, "p")].kind is A.RELEASE
    assert got[(Kind.CUSTOM_MODEL, "v1")].kind is A.BLOCKED


def test_a_name_held_by_an_unmanaged_throughput_is_a_conflict() -> None:
    v1, p = cm("v1"), pt("p", model="v1")
    result = plan(
        desired(v1, p), observed(observed_of(v1), observed_of(p, scope=None, serves=V1)), SCOPE
    )
    action = actions(result)[(PT, "p")]
    assert action.kind is A.CONFLICT
    assert "ProvisionedThroughput not managed" in action.reason


def test_a_model_and_a_throughput_may_share_a_name() -> None:
    m, p = cm("support"), pt("support", model="support")
    result = plan(desired(m, p), observed(), SCOPE)
    assert [(a.key, a.kind) for a in result.actions] == [
        (ResourceKey(Kind.CUSTOM_MODEL, "support"), A.CREATE),
        (ResourceKey(PT, "support"), A.CREATE),
    ]


def test_commitment_creates_carry_a_caution_and_are_refused_without_the_flag() -> None:
    result = plan(
        desired(pt("p", arn=FOUNDATION, units=2, commitment="SixMonths")), observed(), SCOPE
    )
    [action] = result.actions
    assert action.caution is not None
    assert "SixMonths" in action.caution and "2 model units" in action.caution
    with pytest.raises(UnsafePlanError, match=r"ProvisionedThroughput/p.*SixMonths"):
        check_commitments(result, allowed=False)
    check_commitments(result, allowed=True)


def test_hourly_throughputs_need_no_flag() -> None:
    result = plan(desired(pt("p", arn=FOUNDATION)), observed(), SCOPE)
    assert result.cautions == ()
    check_commitments(result, allowed=False)


def test_the_deletion_budget_counts_every_kind() -> None:
    models = [cm(f"m{i}") for i in range(6)]
    throughputs = [pt(f"p{i}", arn=FOUNDATION) for i in range(6)]
    found = [observed_of(m) for m in models] + [
        observed_of(p, serves=FOUNDATION) for p in throughputs
    ]
    result = plan(desired(*models), observed(*found), SCOPE)  # deletes the 6 throughputs
    with pytest.raises(UnsafePlanError, match="6 of 12 managed resources"):
        check_deletion_budget(result)


def test_a_tag_change_on_a_switch_rides_along() -> None:
    v1, v2 = cm("v1"), cm("v2")
    result = plan(
        desired(v1, v2, pt("p", model="v2", tags={"team": "new"})),
        observed(observed_of(v1), observed_of(v2), observed_of(pt("p", model="v1"), serves=V1)),
        SCOPE,
    )
    action = actions(result)[(PT, "p")]
    assert action.kind is A.UPDATE_MODEL
    assert ("team", "new") in action.set_tags


def test_model_hash_is_unchanged_by_kinds() -> None:
    """The v1 spec hash of a model, fixed: upgrading never replaces an existing model."""
    from reconciler.plan import spec_hash

    assert spec_hash(cm("support-nova-lite", s3="s3://acme-models/support-nova-lite/")) == (
        "6b7e025c241f9761c1154019def6ed31"  # computed by version 1
    )


def test_a_package_sourced_model_hash_is_pinned() -> None:
    """The hash covers the package ARN in place of the s3Uri; it must never drift either."""
    from reconciler.plan import spec_hash

    package = "arn:aws:sagemaker:us-east-1:111122223333:model-package/support-nova/3"
    # sha256 of {"modelKmsKeyArn":null,"modelPackageArn":...,"name":"support-nova-lite"}
    assert spec_hash(cm("support-nova-lite", package=package)) == "bd3dafc0b665cfbda6d82ada283ea2e8"
