"""Adoption in the planner, pure: which unmanaged resource a ``spec.adopt`` manifest takes
over (an ``adopt`` action of tag changes alone), which stays a conflict and why, and that
applying the adoption leaves a clean plan. Also how the other pure layers treat the action:
the graph, the saved plan, the renderers and the diagram."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import graph, planfile
from reconciler.desired import DeclaredResource
from reconciler.diagram import serving_markdown
from reconciler.errors import StalePlanError
from reconciler.identity import Kind, Place
from reconciler.observed import (
    TAG_DELETION_POLICY,
    TAG_MANAGED_BY,
    TAG_SPEC_HASH,
    ObservedResource,
    ObservedState,
    state_of,
)
from reconciler.plan import (
    CHANGES,
    DESTRUCTIVE,
    ActionKind,
    Plan,
    check_deletion_budget,
    desired_tags,
    plan,
    spec_hash,
)
from reconciler.render import plan_json, plan_markdown, plan_text
from tests.builders import (
    ACCOUNT,
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
CM = Kind.CUSTOM_MODEL
PT = Kind.PROVISIONED_THROUGHPUT
CMD = Kind.CUSTOM_MODEL_DEPLOYMENT
KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KMS2 = "arn:aws:kms:us-east-1:111122223333:key/00000000-12ab-34cd-56ef-1234567890ab"
PARTNER = "210987654321"
HINT = (
    "to take it over, declare it with spec.adopt: true "
    "(or write it with `reconciler export --unmanaged`)"
)
V1, V2 = model_arn("v1"), model_arn("v2")


def loose(
    resource: DeclaredResource, tags: dict[str, str] | None = None, **fields: object
) -> ObservedResource:
    """``resource`` as someone made it by hand: as declared, no reconciler tag at all."""
    found = observed_of(resource, scope=None)
    return replace(found, tags=dict(tags or {}), **fields)  # type: ignore[arg-type]


def one(result: Plan, kind: Kind, name: str):  # type: ignore[no-untyped-def]
    [action] = [a for a in result.actions if a.resource is kind and a.name == name]
    return action


def applied(result: Plan, before: ObservedState) -> ObservedState:
    """The account after every tag change of the plan's adopts and retags succeeded."""
    resources = []
    for found in before.resources:
        action = next((a for a in result.actions if a.arn == found.arn), None)
        if action is None or action.kind not in (A.ADOPT, A.UPDATE_TAGS):
            resources.append(found)
            continue
        tags = dict(found.tags) | dict(action.set_tags)
        for key in action.remove_tag_keys:
            del tags[key]
        resources.append(replace(found, tags=tags))
    return state_of(resources, before.read_at, before.account)


# --- what is adopted ---------------------------------------------------------------------


def test_an_unmanaged_matching_model_is_adopted_by_tags_alone() -> None:
    m = cm("m", tags={"team": "a"}, adopt=True)
    found = loose(m, {"team": "old", "ticket": "OPS-1", "aws:cloudformation:stack-name": "s"})
    action = one(plan(desired(m), observed(found), SCOPE), CM, "m")
    assert action.kind is A.ADOPT
    assert action.arn == found.arn
    wanted = desired_tags(m, SCOPE)
    assert dict(action.set_tags) == wanted  # the create's tags, each differing one
    assert wanted[TAG_SPEC_HASH] == spec_hash(m)  # the manifest's source, recorded
    assert action.remove_tag_keys == ("ticket",)  # never an aws: key
    assert action.reason == (
        "not managed, and it matches the manifest: adopted by its tags alone (set "
        f"{TAG_MANAGED_BY}, {TAG_SPEC_HASH}, team; remove ticket); its source (s3Uri) cannot "
        "be read back from Bedrock: the manifest's is taken on trust and recorded in the "
        "spec-hash tag"
    )


def test_a_retained_adoption_sets_the_retain_tag_too() -> None:
    m = cm("m", policy="Retain", adopt=True)
    action = one(plan(desired(m), observed(loose(m)), SCOPE), CM, "m")
    assert (TAG_DELETION_POLICY, "Retain") in action.set_tags


def test_a_model_package_sourced_adoption_says_its_package_cannot_be_read() -> None:
    package = "arn:aws:sagemaker:us-east-1:111122223333:model-package/chat/1"
    m = cm("m", package=package, adopt=True)
    action = one(plan(desired(m), observed(loose(m)), SCOPE), CM, "m")
    assert action.kind is A.ADOPT
    assert "its source (modelPackageArn) cannot be read back from Bedrock" in action.reason


@pytest.mark.parametrize("made", ["IMPORTED", "imported", ""])
def test_a_model_create_custom_model_made_is_adopted(made: str) -> None:
    """ListCustomModels names them IMPORTED (its docs say ``imported``); unknown counts."""
    m = cm("m", adopt=True)
    found = loose(m, customization_type=made)
    assert one(plan(desired(m), observed(found), SCOPE), CM, "m").kind is A.ADOPT


def test_a_model_with_the_manifests_kms_key_is_adopted() -> None:
    m = cm("m", kms=KMS, adopt=True)
    action = one(plan(desired(m), observed(loose(m, kms_key_arn=KMS)), SCOPE), CM, "m")
    assert action.kind is A.ADOPT


def test_a_throughput_and_a_deployment_are_adopted() -> None:
    v1 = cm("v1")
    p = pt("p", model="v1", units=2, commitment="OneMonth", adopt=True)
    d = dep("d", model="v1", description="bot", adopt=True)
    state = observed(
        observed_of(v1),
        loose(p, model_arn=V1, next_model_arn=V1),
        loose(d, {"x": "1"}, model_arn=V1, description="bot"),
    )
    result = plan(desired(v1, p, d), state, SCOPE)
    assert [(a.resource, a.kind) for a in result.actions] == [
        (CM, A.NOOP),
        (PT, A.ADOPT),
        (CMD, A.ADOPT),
    ]
    assert one(result, CMD, "d").remove_tag_keys == ("x",)
    assert "cannot be read back" not in one(result, PT, "p").reason
    assert {a.kind for a in plan(desired(v1, p, d), applied(result, state), SCOPE).actions} == {
        A.NOOP
    }


def test_a_throughput_on_another_model_is_adopted_and_switched_by_the_next_plan() -> None:
    v1, v2 = cm("v1"), cm("v2")
    p = pt("p", model="v2", adopt=True)
    state = observed(observed_of(v1), observed_of(v2), loose(p, model_arn=V1, next_model_arn=V1))
    first = one(plan(desired(v1, v2, p), state, SCOPE), PT, "p")
    assert first.kind is A.ADOPT
    assert first.reason.endswith(f"; it serves {V1}: the next plan switches it to v2 in place")
    after = plan(desired(v1, v2, p), applied(plan(desired(v1, v2, p), state, SCOPE), state), SCOPE)
    assert [(a.resource, a.kind) for a in after.actions] == [
        (CM, A.NOOP),
        (CM, A.NOOP),
        (PT, A.UPDATE_MODEL),
    ]


def test_a_throughput_on_an_adopted_model_is_created_on_it_in_the_same_plan() -> None:
    m = cm("m", adopt=True)
    p = pt("p", model="m")
    result = plan(desired(m, p), observed(loose(m)), SCOPE)
    create = one(result, PT, "p")
    assert (one(result, CM, "m").kind, create.kind) == (A.ADOPT, A.CREATE)
    assert create.model_arn == model_arn("m")  # known now, as for a model in sync
    assert graph.dependencies(result) == {0: (), 1: ()}  # nothing to wait for but readiness


def test_a_throughput_on_a_conflicting_model_waits_for_an_arn_it_will_not_get() -> None:
    m, p = cm("m"), pt("p", model="m")
    result = plan(desired(m, p), observed(loose(m)), SCOPE)
    assert one(result, CM, "m").kind is A.CONFLICT
    assert one(result, PT, "p").model_arn is None


# --- what stays a conflict -----------------------------------------------------------------


MISMATCHES = {
    "kms in the account only": (
        cm("m", adopt=True),
        {"kms_key_arn": KMS},
        [f"modelKmsKeyArn: account has {KMS}, manifest has none"],
    ),
    "kms in the manifest only": (
        cm("m", kms=KMS, adopt=True),
        {},
        [f"modelKmsKeyArn: account has none, manifest has {KMS}"],
    ),
    "another kms key": (
        cm("m", kms=KMS, adopt=True),
        {"kms_key_arn": KMS2},
        [f"modelKmsKeyArn: account has {KMS2}, manifest has {KMS}"],
    ),
    "failed import": (
        cm("m", adopt=True),
        {"status": "Failed"},
        ["status: account has Failed, manifest has a model that imported"],
    ),
    "a fine-tuned model": (
        cm("m", adopt=True),
        {"customization_type": "FINE_TUNING"},
        [
            "customizationType: account has FINE_TUNING, "
            "manifest has IMPORTED (a model CreateCustomModel made)"
        ],
    ),
    "kms and failed, every one listed": (
        cm("m", adopt=True),
        {"status": "Failed", "kms_key_arn": KMS},
        [
            f"modelKmsKeyArn: account has {KMS}, manifest has none",
            "status: account has Failed, manifest has a model that imported",
        ],
    ),
    "model units": (
        pt("m", arn=V1, units=2, adopt=True),
        {"model_units": 1},
        ["modelUnits: account has 1, manifest has 2"],
    ),
    "commitment in the account only": (
        pt("m", arn=V1, adopt=True),
        {"commitment": "SixMonths"},
        ["commitmentDuration: account has SixMonths, manifest has none"],
    ),
    "units and commitment": (
        pt("m", arn=V1, units=3, commitment="OneMonth", adopt=True),
        {"model_units": 1, "commitment": ""},
        [
            "modelUnits: account has 1, manifest has 3",
            "commitmentDuration: account has none, manifest has OneMonth",
        ],
    ),
    "description": (
        dep("m", arn=V1, description="new bot", adopt=True),
        {"description": "old bot"},
        ["description: account has old bot, manifest has new bot"],
    ),
    "description in the account only": (
        dep("m", arn=V1, adopt=True),
        {"description": "old bot"},
        ["description: account has old bot, manifest has none"],
    ),
}


@pytest.mark.parametrize("case", list(MISMATCHES.values()), ids=list(MISMATCHES))
def test_a_mismatch_stays_a_conflict_listing_every_difference(
    case: tuple[DeclaredResource, dict[str, object], list[str]],
) -> None:
    resource, fields, expected = case
    found = loose(resource, **fields)
    if resource.kind.serves:
        found = replace(found, model_arn=V1)
    action = one(plan(desired(resource), observed(found), SCOPE), resource.kind, "m")
    assert action.kind is A.CONFLICT
    what = "model" if resource.kind is CM else resource.kind.value
    assert action.reason == (
        f"the name is taken by a {what} not managed; it is left untouched: spec.adopt is set, "
        "but it does not match the manifest: " + "; ".join(expected)
    )
    assert (action.set_tags, action.remove_tag_keys) == ((), ())


@pytest.mark.parametrize("kind", [CM, PT, CMD])
def test_without_adopt_it_is_a_conflict_that_says_how_to_adopt(kind: Kind) -> None:
    resource = {CM: cm("m"), PT: pt("m", arn=V1), CMD: dep("m", arn=V1)}[kind]
    action = one(plan(desired(resource), observed(loose(resource)), SCOPE), kind, "m")
    assert action.kind is A.CONFLICT
    assert action.reason.endswith(f"not managed; it is left untouched; {HINT}")


@pytest.mark.parametrize("kind", [CM, PT, CMD])
def test_another_scopes_resource_is_never_adopted(kind: Kind) -> None:
    resource = {
        CM: cm("m", adopt=True),
        PT: pt("m", arn=V1, adopt=True),
        CMD: dep("m", arn=V1, adopt=True),
    }[kind]
    found = observed_of(resource, scope=OTHER, serves=V1 if kind.serves else "")
    action = one(plan(desired(resource), observed(found), SCOPE), kind, "m")
    assert action.kind is A.CONFLICT
    assert action.reason.endswith(f"managed by scope {OTHER!r}; it is left untouched")


def test_an_empty_managed_by_tag_is_another_scope_not_an_adoption() -> None:
    m = cm("m", adopt=True)
    action = one(plan(desired(m), observed(loose(m, {TAG_MANAGED_BY: ""})), SCOPE), CM, "m")
    assert action.kind is A.CONFLICT


def test_a_shared_model_is_never_adopted() -> None:
    m = cm("m", adopt=True)
    shared = loose(m, arn=model_arn("m").replace(ACCOUNT, PARTNER), owner_account_id=PARTNER)
    state = replace(observed(shared), account=ACCOUNT)
    action = one(plan(desired(m), state, SCOPE), CM, "m")
    assert action.kind is A.CONFLICT
    assert action.reason == (
        f"the name is taken by a model shared from account {PARTNER}; it is left untouched"
    )
    own = replace(observed(loose(m, owner_account_id=ACCOUNT)), account=ACCOUNT)
    assert one(plan(desired(m), own, SCOPE), CM, "m").kind is A.ADOPT


# --- the action among the others -------------------------------------------------------------


def test_adopt_is_a_change_never_destructive_nor_counted_by_the_deletion_budget() -> None:
    assert A.ADOPT in CHANGES
    assert A.ADOPT not in DESTRUCTIVE
    names = [f"m{i:02d}" for i in range(12)]
    adopts = [cm(n, adopt=True) for n in names]
    result = plan(desired(*adopts), observed(*(loose(m) for m in adopts)), SCOPE)
    assert result.summary() == {"adopt": 12}
    assert len(result.changes) == 12
    check_deletion_budget(result, max_percent=0.0)  # nothing deleted: nothing refused


def test_renderers_show_the_adoption() -> None:
    m, p = cm("m", adopt=True), pt("p", model="m")
    result = plan(desired(m, p), observed(loose(m)), SCOPE)
    text = plan_text(result, "us-east-1")
    assert "  <+ adopt        m: not managed, and it matches the manifest" in text
    assert text.endswith("Plan: 1 create, 1 adopt.\n")
    colored = plan_text(result, "us-east-1", color=True)
    assert "\x1b[35m<+ adopt       \x1b[0m" in colored
    markdown = plan_markdown(result, "us-east-1")
    assert "| 🟣 | adopt | `m` | not managed, and it matches the manifest" in markdown
    assert "**1 create · 1 adopt**" in markdown
    assert '"action": "adopt"' in plan_json(result, "us-east-1")


def test_the_diagram_draws_an_adopted_model_as_unchanged() -> None:
    m, p = cm("m", adopt=True), pt("p", model="m")
    drawn = "\n".join(serving_markdown(plan(desired(m, p), observed(loose(m)), SCOPE)))
    assert 'n0["p<br/>throughput · new"]:::new' in drawn
    assert 'n1(["m<br/>model · unchanged"]):::unchanged' in drawn
    alone = plan(desired(m), observed(loose(m)), SCOPE)
    assert serving_markdown(alone) == []  # an adoption alone changes no serving


def test_a_saved_adoption_round_trips_and_rederives(tmp_path: Path) -> None:
    m, p = cm("m", tags={"team": "a"}, adopt=True), pt("p", model="m", adopt=True)
    state = observed(
        loose(m, {"ticket": "1"}), loose(p, model_arn=model_arn("m"), next_model_arn=model_arn("m"))
    )
    result = plan(desired(m, p), state, SCOPE)
    place = Place("us-east-1", ACCOUNT)
    path = tmp_path / "plan.json"
    path.write_text(planfile.dumps(result, place, desired(m, p), state))
    saved = planfile.load(path)
    assert [(a.kind, a.set_tags, a.remove_tag_keys) for a in saved.plan.actions] == [
        (a.kind, a.set_tags, a.remove_tag_keys) for a in result.actions
    ]
    assert saved.snapshot.models["m"].tags == {"ticket": "1"}  # the target's tags
    planfile.check_rederived(saved, plan(saved.desired, state, SCOPE))
    planfile.check_fresh(saved, state, SCOPE, place)
    claimed = replace(state.resources[0], tags={"ticket": "1", TAG_MANAGED_BY: OTHER})
    moved = replace(state, resources=(claimed, *state.resources[1:]))
    with pytest.raises(StalePlanError, match=f"m: tag {TAG_MANAGED_BY}: None -> '{OTHER}'"):
        planfile.check_fresh(saved, moved, SCOPE, place)


# --- properties ---------------------------------------------------------------------------


TAG_KEYS = st.sampled_from(["team", "ticket", "aws:cloudformation:stack-name", "reconciler:x"])


@st.composite
def adoption_scenarios(draw: st.DrawFn) -> tuple[DeclaredResource, ObservedResource]:
    kms = draw(st.sampled_from([None, KMS]))
    m = cm("m", kms=kms, tags=draw(st.dictionaries(st.just("team"), st.just("a"))), adopt=True)
    owner = draw(st.sampled_from([None, None, SCOPE, OTHER]))
    tags = draw(st.dictionaries(TAG_KEYS, st.sampled_from(["a", "b"]), max_size=3))
    if owner is not None:
        tags[TAG_MANAGED_BY] = owner
    status = draw(st.sampled_from(["Active", "Creating", "Failed"]))
    found = loose(m, tags, status=status, kms_key_arn=draw(st.sampled_from(["", KMS])))
    return m, found


@settings(max_examples=150, deadline=None)
@given(adoption_scenarios())
def test_only_untagged_matching_resources_are_adopted_and_then_clean(
    scenario: tuple[DeclaredResource, ObservedResource],
) -> None:
    m, found = scenario
    state = observed(found)
    action = one(plan(desired(m), state, SCOPE), CM, "m")
    matches = found.status != "Failed" and found.kms_key_arn == (m.spec.modelKmsKeyArn or "")
    assert (action.kind is A.ADOPT) == (found.managed_by is None and matches)
    if action.kind is not A.ADOPT:
        return
    assert not any(k.startswith("aws:") for k in action.remove_tag_keys)
    after = applied(plan(desired(m), state, SCOPE), state)
    assert after.resources[0].tags.get("aws:cloudformation:stack-name") == found.tags.get(
        "aws:cloudformation:stack-name"
    )
    assert {a.kind for a in plan(desired(m), after, SCOPE).actions} == {A.NOOP}


def test_an_adopted_throughput_says_whether_the_next_plan_switches_it() -> None:
    v2 = cm("v2")
    p = pt("p", model="v2", adopt=True)
    v2_arn = observed_of(v2).arn
    on_it = observed(observed_of(v2), loose(p, model_arn=v2_arn, next_model_arn=v2_arn))
    same = one(plan(desired(v2, p), on_it, SCOPE), PT, "p")
    assert same.kind is A.ADOPT and "switches" not in same.reason
    nothing = observed(observed_of(v2), loose(p, model_arn="", next_model_arn=""))
    idle = one(plan(desired(v2, p), nothing, SCOPE), PT, "p")
    assert idle.reason.endswith("; it serves no model: the next plan switches it to v2 in place")


def test_a_deployment_without_a_description_on_either_side_is_adopted() -> None:
    d = dep("d", arn=V1, adopt=True)
    result = plan(desired(d), observed(loose(d, model_arn=V1, description="")), SCOPE)
    assert one(result, CMD, "d").kind is A.ADOPT
