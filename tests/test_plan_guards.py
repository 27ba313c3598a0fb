"""The planner's guards and reasons, word for word: the deletion budget, the empty-source
guard, the whole-plan refusals, the commitment and in-use blocks, and the reasons a plan
gives for a replace, a switch and a resource still being created.

These messages are what a reviewer reads before an apply; each test pins one exactly, and
each boundary (a share equal to the budget, a commitment ending at the read time) on both
sides.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from reconciler.errors import UnsafePlanError
from reconciler.identity import Kind
from reconciler.observed import state_of
from reconciler.plan import (
    Action,
    ActionKind,
    Plan,
    check_commitments,
    check_deletion_budget,
    check_empty_source,
    check_no_errors,
    plan,
)
from tests.builders import NOW, SCOPE, cm, desired, model_arn, observed, observed_of, pt

A = ActionKind
PT = Kind.PROVISIONED_THROUGHPUT
V1, V2, V3 = model_arn("v1"), model_arn("v2"), model_arn("v3")
DAY = 86_400.0


def budget_plan(managed: int, doomed: int, kind: Kind = Kind.CUSTOM_MODEL) -> Plan:
    """``managed`` managed resources, the first ``doomed`` of them deleted (every third
    replaced), the rest in sync."""
    actions = []
    for n in range(managed):
        verb = A.NOOP if n >= doomed else (A.REPLACE if n % 3 == 2 else A.DELETE)
        actions.append(Action(verb, f"m{n:02d}", "", resource=kind))
    return Plan(SCOPE, tuple(actions))


# -- the deletion budget -------------------------------------------------------------------


def test_the_budget_refuses_past_its_share_and_names_what_goes() -> None:
    with pytest.raises(UnsafePlanError) as refused:
        check_deletion_budget(budget_plan(10, 4))
    assert str(refused.value) == (
        "the plan deletes or replaces 4 of 10 managed models (40% > 30%): m00, m01, m02, m03; "
        "refusing. Raise --max-delete-percent or pass --force if this is intended"
    )


def test_the_budget_allows_a_share_equal_to_it_and_refuses_just_past_it() -> None:
    check_deletion_budget(budget_plan(10, 3))  # 30% is within 30%
    check_deletion_budget(budget_plan(10, 5), max_percent=50)
    with pytest.raises(UnsafePlanError, match=r"\(50% > 49%\)"):
        check_deletion_budget(budget_plan(10, 5), max_percent=49)


def test_the_budget_starts_at_ten_managed_resources() -> None:
    check_deletion_budget(budget_plan(9, 9))  # everything goes, but fewer than ten
    with pytest.raises(UnsafePlanError, match="10 of 10"):
        check_deletion_budget(budget_plan(10, 10))


def test_force_overrides_the_budget() -> None:
    check_deletion_budget(budget_plan(10, 10), force=True)


def test_the_budget_ignores_plans_that_delete_nothing() -> None:
    check_deletion_budget(budget_plan(0, 0))
    check_deletion_budget(budget_plan(40, 0), max_percent=0)


def test_the_budget_lists_ten_names_then_an_ellipsis() -> None:
    with pytest.raises(UnsafePlanError) as ten:
        check_deletion_budget(budget_plan(20, 10))
    assert ": m00, m01, m02, m03, m04, m05, m06, m07, m08, m09; refusing." in str(ten.value)
    with pytest.raises(UnsafePlanError) as eleven:
        check_deletion_budget(budget_plan(20, 11))
    assert ": m00, m01, m02, m03, m04, m05, m06, m07, m08, m09, ...; refusing." in str(eleven.value)


def test_the_budget_counts_other_kinds_as_resources() -> None:
    with pytest.raises(UnsafePlanError) as refused:
        check_deletion_budget(budget_plan(10, 4, PT))
    assert str(refused.value).startswith(
        "the plan deletes or replaces 4 of 10 managed resources (40% > 30%): "
        "ProvisionedThroughput/m00, ProvisionedThroughput/m01,"
    )


# -- the empty-source guard ----------------------------------------------------------------


def prunes(count: int) -> Plan:
    return Plan(SCOPE, tuple(Action(A.DELETE, f"m{n}", "") for n in range(count)))


def test_an_empty_source_never_prunes_and_says_why() -> None:
    with pytest.raises(UnsafePlanError) as five:
        check_empty_source(prunes(5), declared=0, allow_empty=False)
    assert str(five.value) == (
        "no manifest is declared, and the plan would remove all 5 managed models "
        "(m0, m1, m2, m3, m4); refusing. Check the checkout, or pass --allow-empty to mean it"
    )
    with pytest.raises(UnsafePlanError) as six:
        check_empty_source(prunes(6), declared=0, allow_empty=False)
    assert "all 6 managed models (m0, m1, m2, m3, m4, ...); refusing." in str(six.value)


def test_the_empty_source_guard_counts_releases_and_yields_to_allow_empty() -> None:
    releases = Plan(SCOPE, (Action(A.RELEASE, "kept", ""),))
    with pytest.raises(UnsafePlanError, match=r"all 1 managed models \(kept\)"):
        check_empty_source(releases, declared=0, allow_empty=False)
    check_empty_source(releases, declared=0, allow_empty=True)
    check_empty_source(releases, declared=1, allow_empty=False)


# -- whole-plan refusals -------------------------------------------------------------------


def test_a_plan_with_errors_is_refused_whole_listing_each() -> None:
    result = Plan(
        SCOPE,
        (
            Action(A.CONFLICT, "a", "the name is taken"),
            Action(A.CREATE, "b", "not in the account"),
            Action(A.BLOCKED, "p", "it is in use", resource=PT),
        ),
    )
    with pytest.raises(UnsafePlanError) as refused:
        check_no_errors(result)
    assert str(refused.value) == (
        "  ! conflict a: the name is taken\n"
        "  ! blocked ProvisionedThroughput/p: it is in use\n"
        "the plan holds 2 action(s) that cannot be applied (conflict or blocked); "
        "refusing the whole plan, nothing was changed"
    )


def test_a_commitment_is_refused_without_allow_commitment_listing_each() -> None:
    result = plan(
        desired(pt("p", arn=V1, commitment="OneMonth", units=2), pt("q", arn=V1)), observed(), SCOPE
    )
    with pytest.raises(UnsafePlanError) as refused:
        check_commitments(result, allowed=False)
    assert str(refused.value) == (
        "  - ProvisionedThroughput/p: buys a OneMonth commitment of 2 model units: billed to "
        "the end of the term, it cannot be refunded or deleted early\n"
        "the plan buys 1 commitment(s) that cannot be refunded; refusing. "
        "Pass --allow-commitment to buy them"
    )
    check_commitments(result, allowed=True)


def test_several_commitments_are_listed_one_per_line() -> None:
    result = plan(
        desired(pt("p", arn=V1, commitment="OneMonth"), pt("q", arn=V1, commitment="SixMonths")),
        observed(),
        SCOPE,
    )
    with pytest.raises(UnsafePlanError) as refused:
        check_commitments(result, allowed=False)
    assert str(refused.value).splitlines()[:2] == [
        "  - ProvisionedThroughput/p: buys a OneMonth commitment of 1 model unit: billed to the "
        "end of the term, it cannot be refunded or deleted early",
        "  - ProvisionedThroughput/q: buys a SixMonths commitment of 1 model unit: billed to the "
        "end of the term, it cannot be refunded or deleted early",
    ]


# -- commitments still running -------------------------------------------------------------


def committed(expires: float, commitment: str = "OneMonth") -> Action:
    """The plan's action for an undeclared throughput whose term ends at ``expires``."""
    p = pt("p", arn=V1, commitment=commitment)
    found = replace(observed_of(p, serves=V1, expires=expires), commitment=commitment)
    return plan(desired(), observed(found), SCOPE).actions[0]


def expiry(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def test_a_running_commitment_blocks_the_delete_and_says_until_when() -> None:
    action = committed(NOW + DAY)
    assert action.kind is A.BLOCKED
    assert action.reason == (
        f"no manifest declares it, but its OneMonth commitment runs until {expiry(NOW + DAY)}: "
        "AWS refuses to delete it and bills to the end of the term, so it is not deleted. "
        "Keep the manifest until then, or set deletionPolicy: Retain to release it"
    )
    assert expiry(NOW + DAY) == "2027-01-16 08:00 UTC"


def test_a_commitment_ending_at_the_read_time_no_longer_blocks() -> None:
    assert committed(NOW).kind is A.DELETE
    assert committed(NOW + 1).kind is A.BLOCKED


def test_a_commitment_of_unknown_length_is_called_a_term() -> None:
    assert "its term commitment runs until" in committed(NOW + DAY, commitment="").reason


def test_without_a_read_time_every_commitment_counts_as_running() -> None:
    p = pt("p", arn=V1, commitment="OneMonth")
    found = observed_of(p, serves=V1, expires=0.5)
    assert plan(desired(), state_of([found]), SCOPE).actions[0].kind is A.BLOCKED
    assert plan(desired(), state_of([found], read_at=1.0), SCOPE).actions[0].kind is A.DELETE


def test_a_running_commitment_blocks_a_replace_too() -> None:
    p = pt("p", arn=V1, commitment="OneMonth")
    found = observed_of(p, serves=V1, expires=NOW + DAY)
    action = plan(desired(pt("p", arn=V1, commitment="OneMonth", units=3)), observed(found), SCOPE)
    assert action.actions[0].kind is A.BLOCKED
    assert action.actions[0].reason.startswith(
        "its content changed (modelUnits, commitmentDuration or name), but its OneMonth "
        f"commitment runs until {expiry(NOW + DAY)}: AWS refuses to delete it and bills to the "
        "end of the term, so it is not replaced. "
    )


# -- replaces ------------------------------------------------------------------------------


def test_a_failed_throughput_is_replaced_with_a_warning_and_its_caution() -> None:
    p = pt("p", arn=V1, commitment="OneMonth")
    result = plan(desired(p), observed(observed_of(p, serves=V1, status="Failed")), SCOPE)
    action = result.actions[0]
    assert action.kind is A.REPLACE
    assert action.reason == "it Failed; serving on it stops between the delete and the create"
    assert action.caution == plan(desired(p), observed(), SCOPE).actions[0].caution
    assert action.caution is not None and action.caution.startswith("buys a OneMonth commitment")
    assert not action.importing


def test_a_failed_model_import_is_replaced() -> None:
    m = cm("m")
    action = plan(desired(m), observed(observed_of(m, status="Failed")), SCOPE).actions[0]
    assert (action.kind, action.reason, action.caution) == (
        A.REPLACE,
        "the model's import failed",
        None,
    )


def test_a_replace_or_delete_of_a_model_still_importing_says_so() -> None:
    m = cm("m")
    importing = observed_of(m, status="Creating")
    changed = plan(desired(cm("m", s3="s3://acme/other/")), observed(importing), SCOPE)
    assert changed.actions[0].kind is A.REPLACE and changed.actions[0].importing
    gone = plan(desired(), observed(importing), SCOPE)
    assert gone.actions[0].kind is A.DELETE and gone.actions[0].importing
    active = observed_of(m)
    assert (
        not plan(desired(cm("m", s3="s3://acme/other/")), observed(active), SCOPE)
        .actions[0]
        .importing
    )
    assert not plan(desired(), observed(active), SCOPE).actions[0].importing


# -- switches and resources in progress ----------------------------------------------------


def test_a_switch_says_from_what_to_what_and_which_tags_change() -> None:
    declared = pt("p", model="v2", tags={"team": "a"})
    found = observed_of(pt("p", model="v2"), serves=V1)
    found = replace(found, tags={**found.tags, "old": "x"})
    v2 = cm("v2")
    result = plan(desired(v2, declared), observed(observed_of(v2), found), SCOPE)
    switch = result.actions[1]
    assert switch.kind is A.UPDATE_MODEL
    assert switch.reason == (
        f"it serves {V1}; switching to v2 in place (serving continues); "
        "tags differ: set team; remove old"
    )
    assert (switch.set_tags, switch.remove_tag_keys) == ((("team", "a"),), ("old",))


def test_a_switch_with_only_tags_to_set_says_so() -> None:
    found = observed_of(pt("p", arn=V1), serves="")
    switch = plan(desired(pt("p", arn=V2, tags={"team": "a"})), observed(found), SCOPE)
    assert switch.actions[0].reason == (
        f"it serves no model; switching to {V2} in place (serving continues); tags differ: set team"
    )
    untagged = plan(desired(pt("p", arn=V2)), observed(found), SCOPE)
    assert untagged.actions[0].reason == (
        f"it serves no model; switching to {V2} in place (serving continues)"
    )
    assert untagged.actions[0].set_tags == untagged.actions[0].remove_tag_keys == ()


def test_what_is_still_being_created_is_in_sync_and_says_so() -> None:
    m, p = cm("m"), pt("p", arn=V1)
    result = plan(
        desired(m, p),
        observed(observed_of(m, status="Creating"), observed_of(p, serves=V1, status="Creating")),
        SCOPE,
    )
    assert [(a.kind, a.reason) for a in result.actions] == [
        (A.NOOP, "import in progress"),
        (A.NOOP, "being created"),
    ]


# -- models in use -------------------------------------------------------------------------


def test_a_model_in_use_is_not_deleted_and_the_reason_names_every_user() -> None:
    v1 = cm("v1")
    users = [observed_of(pt(n, model="v1"), serves=V1, scope="other") for n in ("q", "p")]
    result = plan(desired(), observed(observed_of(v1), *users), SCOPE)
    assert result.actions[0].kind is A.BLOCKED
    assert result.actions[0].reason == (
        "no manifest declares it any more, but it is in use by ProvisionedThroughput/p, "
        "ProvisionedThroughput/q, so it is not deleted; point them at another model, or remove "
        "them, first"
    )


def test_a_model_in_use_is_not_replaced_and_the_reason_says_how_to_roll_out() -> None:
    v1, p = cm("v1"), pt("p", model="v1")
    result = plan(
        desired(cm("v1", s3="s3://acme/new/"), p),
        observed(observed_of(v1), observed_of(p, serves=V1)),
        SCOPE,
    )
    assert result.actions[0].kind is A.BLOCKED
    assert result.actions[0].reason == (
        "its content changed (source, modelKmsKeyArn or name), but it "
        "is in use by ProvisionedThroughput/p, so it is not replaced; declare the new weights "
        "under a new model name and point the serving resources at it"
    )


def test_a_delete_waits_only_for_switches_off_the_model_already_under_way() -> None:
    v1, v2 = cm("v1"), cm("v2")
    # Switching off v1 to v3 since an earlier run, but the manifest now asks for v2: the
    # plan switches it again (update-model), so the delete orders after that action rather
    # than waiting for the earlier switch.
    p = pt("p", model="v2")
    moving = observed_of(p, serves=V1, switching_to=V3)
    result = plan(desired(v2, p), observed(observed_of(v1), observed_of(v2), moving), SCOPE)
    by_name = {a.name: a for a in result.actions}
    assert by_name["p"].kind is A.UPDATE_MODEL
    assert (by_name["v1"].kind, by_name["v1"].waits_for) == (A.DELETE, ())
    # In sync with v2 and switching to it: the delete waits for that switch.
    settling = observed_of(p, serves=V1, switching_to=V2)
    result = plan(desired(v2, p), observed(observed_of(v1), observed_of(v2), settling), SCOPE)
    waits = {a.name: a for a in result.actions}["v1"].waits_for
    assert [(w.name, w.model_arn) for w in waits] == [("p", V2)]


def test_only_a_delete_or_replace_moves_a_resource_off_its_model() -> None:
    for verb in (A.NOOP, A.CREATE, A.UPDATE_TAGS, A.RELEASE, A.BLOCKED):
        assert not Action(verb, "p", "", resource=PT, serves_from=(V1,)).moves_off(V1)
    assert Action(A.DELETE, "p", "", resource=PT, serves_from=(V1,)).moves_off(V1)
    assert not Action(A.DELETE, "p", "", resource=PT, serves_from=(V1,)).moves_off(V2)
    switch = Action(A.UPDATE_MODEL, "p", "", resource=PT, serves_from=(V1,), model_arn=V2)
    assert switch.moves_off(V1)
    assert not replace(switch, model_arn=V1).moves_off(V1)
