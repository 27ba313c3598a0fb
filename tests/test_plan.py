"""The planner as a pure function: table tests for every action, and hypothesis properties."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.desired import CustomModelManifest, DeclaredModel, DesiredState
from reconciler.errors import UnsafePlanError
from reconciler.observed import (
    RECONCILER_TAG_KEYS,
    TAG_DELETION_POLICY,
    TAG_MANAGED_BY,
    TAG_SPEC_HASH,
    ObservedModel,
    ObservedState,
    state_of,
)
from reconciler.plan import (
    ActionKind,
    Plan,
    check_empty_source,
    desired_tags,
    plan,
    spec_hash,
)
from tests.properties import examples

SCOPE = "team-a"
OTHER = "team-b"
KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KMS2 = "arn:aws:kms:us-east-1:111122223333:key/ffffffff-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::111122223333:role/BedrockModelImport"
ROLE2 = "arn:aws:iam::111122223333:role/Other"

CREATE = ActionKind.CREATE
REPLACE = ActionKind.REPLACE
UPDATE_TAGS = ActionKind.UPDATE_TAGS
DELETE = ActionKind.DELETE
RELEASE = ActionKind.RELEASE
CONFLICT = ActionKind.CONFLICT
BLOCKED = ActionKind.BLOCKED
NOOP = ActionKind.NOOP

# Anything a manifest could ask the reconciler to do to a model it does not own.
TOUCHING = frozenset({REPLACE, UPDATE_TAGS, DELETE, RELEASE})


def declared(
    name: str = "m",
    *,
    s3: str | None = None,
    package: str | None = None,
    kms: str | None = None,
    role: str | None = None,
    tags: Mapping[str, str] | None = None,
    policy: str = "Delete",
    line: int = 1,
) -> DeclaredModel:
    spec: dict[str, Any] = {"tags": dict(tags or {}), "deletionPolicy": policy}
    if package:
        spec["customModelDataSource"] = {"modelPackageArnDataSource": {"modelPackageArn": package}}
    else:
        spec["modelSourceConfig"] = {"s3DataSource": {"s3Uri": s3 or f"s3://acme-models/{name}/"}}
    if kms:
        spec["modelKmsKeyArn"] = kms
    if role:
        spec["roleArn"] = role
    manifest = CustomModelManifest.model_validate(
        {
            "apiVersion": "bedrock.gitops/v1",
            "kind": "CustomModel",
            "metadata": {"name": name},
            "spec": spec,
        }
    )
    return DeclaredModel(manifest=manifest, file=f"manifests/{name}.yaml", line=line)


def arn(name: str, suffix: str = "0") -> str:
    return f"arn:aws:bedrock:us-east-1:111122223333:custom-model/imported/{name}{suffix}"


def model(
    name: str, tags: Mapping[str, str] | None = None, status: str = "Active"
) -> ObservedModel:
    return ObservedModel(arn=arn(name), name=name, status=status, tags=dict(tags or {}))


def managed(
    of: DeclaredModel,
    *,
    status: str = "Active",
    scope: str = SCOPE,
    drop: tuple[str, ...] = (),
    extra: Mapping[str, str] | None = None,
) -> ObservedModel:
    """The model ``of`` as the reconciler would have created it, plus or minus some tags."""
    tags = desired_tags(of, scope)
    tags.update(extra or {})
    for key in drop:
        tags.pop(key, None)
    return model(of.name, tags, status)


def desired(*models: DeclaredModel) -> DesiredState:
    return DesiredState(resources=tuple(sorted(models, key=lambda m: m.name)))


def observed(*models: ObservedModel) -> ObservedState:
    return state_of(models)


def only(result: Plan) -> Any:
    [action] = result.actions
    return action


# --- table tests -----------------------------------------------------------------------------

M = declared("m", tags={"team": "a"})
M_RETAIN = declared("m", tags={"team": "a"}, policy="Retain")
M_NEW_S3 = declared("m", s3="s3://acme-models/m/v2/", tags={"team": "a"})
M_NEW_S3_RETAIN = declared("m", s3="s3://acme-models/m/v2/", tags={"team": "a"}, policy="Retain")
M_KMS = declared("m", kms=KMS, tags={"team": "a"})
M_NEW_ROLE = declared("m", role=ROLE2, tags={"team": "a"})
M_NO_TAGS = declared("m")
M_TWO_TAGS = declared("m", tags={"team": "a", "env": "prod"})
M_TEAM_B = declared("m", tags={"team": "b"})
PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/m/3"
M_PACKAGE = declared("m", package=PACKAGE, tags={"team": "a"})
M_PACKAGE_V4 = declared("m", package=PACKAGE.replace("/3", "/4"), tags={"team": "a"})
CHANGED = "its content changed (source, modelKmsKeyArn or name)"


@dataclass(frozen=True)
class Case:
    desired: tuple[DeclaredModel, ...]
    observed: tuple[ObservedModel, ...]
    kind: ActionKind
    reason: str
    set_tags: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()
    extra: dict[str, ActionKind] = field(default_factory=dict)


CASES = {
    "create-absent": Case((M,), (), CREATE, "not in the account"),
    "create-next-to-unrelated": Case(
        (M,), (model("other", {"x": "y"}),), CREATE, "not in the account"
    ),
    "replace-s3-changed": Case(
        (M_NEW_S3,), (managed(M),), REPLACE, "its content changed (source, modelKmsKeyArn or name)"
    ),
    "noop-package": Case((M_PACKAGE,), (managed(M_PACKAGE),), NOOP, "in sync"),
    "replace-s3-to-package": Case((M_PACKAGE,), (managed(M),), REPLACE, CHANGED),
    "replace-package-to-s3": Case((M,), (managed(M_PACKAGE),), REPLACE, CHANGED),
    "replace-package-changed": Case((M_PACKAGE_V4,), (managed(M_PACKAGE),), REPLACE, CHANGED),
    "replace-kms-added": Case(
        (M_KMS,), (managed(M),), REPLACE, "its content changed (source, modelKmsKeyArn or name)"
    ),
    "replace-kms-changed": Case(
        (declared("m", kms=KMS2, tags={"team": "a"}),),
        (managed(M_KMS),),
        REPLACE,
        "its content changed (source, modelKmsKeyArn or name)",
    ),
    "replace-hash-missing": Case(
        (M,),
        (managed(M, drop=(TAG_SPEC_HASH,)),),
        REPLACE,
        "its content changed (source, modelKmsKeyArn or name)",
    ),
    "replace-failed-same-hash": Case(
        (M,), (managed(M, status="Failed"),), REPLACE, "the model's import failed"
    ),
    "replace-creating-wrong-hash": Case(
        (M_NEW_S3,),
        (managed(M, status="Creating"),),
        REPLACE,
        "its content changed (source, modelKmsKeyArn or name)",
    ),
    "update-tags-added": Case(
        (M_TWO_TAGS,),
        (managed(M),),
        UPDATE_TAGS,
        "tags differ: set env",
        set_tags=(("env", "prod"),),
    ),
    "update-tags-changed": Case(
        (M_TEAM_B,),
        (managed(M),),
        UPDATE_TAGS,
        "tags differ: set team",
        set_tags=(("team", "b"),),
    ),
    "update-tags-removed": Case(
        (M,),
        (managed(M_TWO_TAGS),),
        UPDATE_TAGS,
        "tags differ: remove env",
        remove=("env",),
    ),
    "update-tags-all-removed": Case(
        (M_NO_TAGS,),
        (managed(M_TWO_TAGS),),
        UPDATE_TAGS,
        "tags differ: remove env, team",
        remove=("env", "team"),
    ),
    "update-tags-set-and-remove": Case(
        (declared("m", tags={"team": "b", "owner": "x"}),),
        (managed(M_TWO_TAGS),),
        UPDATE_TAGS,
        "tags differ: set owner, team; remove env",
        set_tags=(("owner", "x"), ("team", "b")),
        remove=("env",),
    ),
    "update-tags-delete-to-retain": Case(
        (M_RETAIN,),
        (managed(M),),
        UPDATE_TAGS,
        f"tags differ: set {TAG_DELETION_POLICY}",
        set_tags=((TAG_DELETION_POLICY, "Retain"),),
    ),
    "update-tags-retain-to-delete": Case(
        (M,),
        (managed(M_RETAIN),),
        UPDATE_TAGS,
        f"tags differ: remove {TAG_DELETION_POLICY}",
        remove=(TAG_DELETION_POLICY,),
    ),
    "update-tags-bad-policy-value": Case(
        (M_RETAIN,),
        (managed(M, extra={TAG_DELETION_POLICY: "x"}),),
        UPDATE_TAGS,
        f"tags differ: set {TAG_DELETION_POLICY}",
        set_tags=((TAG_DELETION_POLICY, "Retain"),),
    ),
    "update-tags-stray-delete-policy-tag": Case(
        (M,),
        (managed(M, extra={TAG_DELETION_POLICY: "Delete"}),),
        UPDATE_TAGS,
        f"tags differ: remove {TAG_DELETION_POLICY}",
        remove=(TAG_DELETION_POLICY,),
    ),
    "update-tags-unknown-user-tag": Case(
        (M,),
        (managed(M, extra={"stray": "1", "Reconciler:x": "2"}),),
        UPDATE_TAGS,
        "tags differ: remove Reconciler:x, stray",
        remove=("Reconciler:x", "stray"),
    ),
    "update-tags-while-creating": Case(
        (M_TEAM_B,),
        (managed(M, status="Creating"),),
        UPDATE_TAGS,
        "tags differ: set team",
        set_tags=(("team", "b"),),
    ),
    "delete-undeclared": Case((), (managed(M),), DELETE, "no manifest declares it any more"),
    "delete-undeclared-failed": Case(
        (), (managed(M, status="Failed"),), DELETE, "no manifest declares it any more"
    ),
    "delete-undeclared-policy-not-retain": Case(
        (),
        (managed(M, extra={TAG_DELETION_POLICY: "retain"}),),
        DELETE,
        "no manifest declares it any more",
    ),
    "release-undeclared-retain": Case(
        (),
        (managed(M_RETAIN, extra={"extra:x": "keep"}),),
        RELEASE,
        "no manifest declares it; deletion policy Retain: kept, reconciler tags removed",
        remove=(TAG_MANAGED_BY, TAG_SPEC_HASH, TAG_DELETION_POLICY),
    ),
    "release-without-hash": Case(
        (),
        (managed(M_RETAIN, drop=(TAG_SPEC_HASH,)),),
        RELEASE,
        "no manifest declares it; deletion policy Retain: kept, reconciler tags removed",
        remove=(TAG_MANAGED_BY, TAG_DELETION_POLICY),
    ),
    "conflict-unmanaged": Case(
        (M,),
        (model("m", {"team": "a"}),),
        CONFLICT,
        "the name is taken by a model not managed; it is left untouched; to take it over, "
        "declare it with spec.adopt: true (or write it with `reconciler export --unmanaged`)",
    ),
    "conflict-other-scope": Case(
        (M,),
        (managed(M, scope=OTHER),),
        CONFLICT,
        f"the name is taken by a model managed by scope {OTHER!r}; it is left untouched",
    ),
    "conflict-other-scope-retain": Case(
        (M_NEW_S3,),
        (managed(M_RETAIN, scope=OTHER, status="Failed"),),
        CONFLICT,
        f"the name is taken by a model managed by scope {OTHER!r}; it is left untouched",
    ),
    "blocked-retain-in-manifest": Case(
        (M_NEW_S3_RETAIN,),
        (managed(M),),
        BLOCKED,
        "its content changed (source, modelKmsKeyArn or name), but its deletion policy is "
        "Retain, so it is never replaced",
    ),
    "blocked-retain-on-model": Case(
        (M_NEW_S3,),
        (managed(M_RETAIN),),
        BLOCKED,
        "its content changed (source, modelKmsKeyArn or name), but its deletion policy is "
        "Retain, so it is never replaced",
    ),
    "blocked-failed-retain": Case(
        (M_RETAIN,),
        (managed(M_RETAIN, status="Failed"),),
        BLOCKED,
        "the model's import failed, but its deletion policy is Retain, so it is never replaced",
    ),
    "noop-in-sync": Case((M,), (managed(M),), NOOP, "in sync"),
    "noop-in-sync-retain": Case((M_RETAIN,), (managed(M_RETAIN),), NOOP, "in sync"),
    "noop-creating": Case((M,), (managed(M, status="Creating"),), NOOP, "import in progress"),
    "noop-role-changed": Case((M_NEW_ROLE,), (managed(M),), NOOP, "in sync"),
    "noop-unknown-reconciler-tag-kept": Case(
        (M,), (managed(M, extra={"reconciler:owner": "ci", "reconciler:x": "y"}),), NOOP, "in sync"
    ),
    "noop-next-to-unmanaged-and-other-scope": Case(
        (M,),
        (
            managed(M),
            model("loose", {"team": "a"}),
            managed(declared("theirs"), scope=OTHER),
            managed(declared("theirs-retained", policy="Retain"), scope=OTHER),
        ),
        NOOP,
        "in sync",
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_action_table(case: Case) -> None:
    result = plan(desired(*case.desired), observed(*case.observed), SCOPE)
    action = only(result)
    assert action.kind is case.kind
    assert action.name == "m"
    assert action.reason == case.reason
    assert action.set_tags == case.set_tags
    assert action.remove_tag_keys == case.remove
    present = {m.name: m for m in case.observed}
    assert action.arn == (present["m"].arn if "m" in present else None)
    if case.desired:
        assert action.declared is case.desired[0]
        assert action.source == "manifests/m.yaml:1"
    else:
        assert action.declared is None
        assert action.source is None
    assert result.scope == SCOPE
    assert result.summary() == {case.kind.value: 1}


@pytest.mark.parametrize(
    "found",
    [
        model("x"),
        model("x", {"team": "a"}),
        model("x", {TAG_MANAGED_BY: OTHER, TAG_SPEC_HASH: "0" * 32}),
        model("x", {TAG_MANAGED_BY: OTHER, TAG_DELETION_POLICY: "Retain"}),
        model("x", {TAG_MANAGED_BY: SCOPE.upper()}),
        model("x", {TAG_MANAGED_BY: ""}),
        model("x", {TAG_SPEC_HASH: "0" * 32, TAG_DELETION_POLICY: "Retain"}),
        model("x", {"Reconciler:managed-by": SCOPE}),
        model("x", status="Failed"),
    ],
    ids=[
        "no-tags",
        "user-tags",
        "other-scope",
        "other-scope-retain",
        "scope-case",
        "empty-scope",
        "hash-but-no-owner",
        "owner-key-case",
        "failed",
    ],
)
def test_undeclared_models_not_managed_by_the_scope_never_appear(found: ObservedModel) -> None:
    result = plan(desired(declared("a")), observed(found), SCOPE)
    assert [(a.name, a.kind) for a in result.actions] == [("a", CREATE)]


def test_release_removes_only_the_reconcilers_tags() -> None:
    found = managed(M_RETAIN, extra={"owner": "me", "reconciler:custom": "x"})
    action = only(plan(desired(), observed(found), SCOPE))
    assert action.kind is RELEASE
    assert action.set_tags == ()
    assert set(action.remove_tag_keys) == set(RECONCILER_TAG_KEYS)
    kept = {k: v for k, v in found.tags.items() if k not in action.remove_tag_keys}
    assert kept == {"team": "a", "owner": "me", "reconciler:custom": "x"}


def test_update_tags_keeps_the_reconcilers_own_and_unknown_reconciler_tags() -> None:
    found = managed(M, extra={"reconciler:future": "1", "stray": "x"})
    action = only(plan(desired(M_TEAM_B), observed(found), SCOPE))
    assert action.kind is UPDATE_TAGS
    assert action.set_tags == (("team", "b"),)
    assert action.remove_tag_keys == ("stray",)
    assert TAG_MANAGED_BY not in action.remove_tag_keys
    assert TAG_SPEC_HASH not in action.remove_tag_keys
    assert "reconciler:future" not in action.remove_tag_keys


def test_aws_system_tags_on_a_managed_model_are_left_alone() -> None:
    found = managed(M, extra={"aws:cloudformation:stack-name": "s"})
    action = only(plan(desired(M), observed(found), SCOPE))
    assert (action.kind, action.remove_tag_keys) == (NOOP, ())


def test_a_model_without_our_managed_by_tag_is_a_conflict_not_a_retag() -> None:
    # Without this scope's managed-by tag the model is not ours: a conflict, never a retag.
    found = managed(M, drop=(TAG_MANAGED_BY,))
    assert only(plan(desired(M), observed(found), SCOPE)).kind is CONFLICT


def test_every_kind_in_one_plan_sorted_by_name_with_summary() -> None:
    d = desired(
        declared("c-create"),
        declared("r-replace", s3="s3://acme-models/new/"),
        declared("u-update", tags={"team": "new"}),
        declared("x-conflict"),
        declared("b-blocked", s3="s3://acme-models/new/", policy="Retain"),
        declared("n-noop"),
        declared("n-noop2"),
    )
    o = observed(
        managed(declared("r-replace")),
        managed(declared("u-update")),
        model("x-conflict"),
        managed(declared("b-blocked", policy="Retain")),
        managed(declared("n-noop")),
        managed(declared("n-noop2"), status="Creating"),
        managed(declared("d-delete")),
        managed(declared("e-release", policy="Retain")),
        model("z-unmanaged"),
        managed(declared("y-other"), scope=OTHER),
    )
    result = plan(d, o, SCOPE)
    assert [(a.name, a.kind) for a in result.actions] == [
        ("b-blocked", BLOCKED),
        ("c-create", CREATE),
        ("d-delete", DELETE),
        ("e-release", RELEASE),
        ("n-noop", NOOP),
        ("n-noop2", NOOP),
        ("r-replace", REPLACE),
        ("u-update", UPDATE_TAGS),
        ("x-conflict", CONFLICT),
    ]
    assert result.summary() == {
        "create": 1,
        "replace": 1,
        "update-tags": 1,
        "delete": 1,
        "release": 1,
        "conflict": 1,
        "blocked": 1,
        "noop": 2,
    }
    # Summary keys follow ActionKind's order; update-model is for throughputs and deployments,
    # adopt for manifests that ask for it (tests/test_plan_adopt.py).
    assert list(result.summary()) == [
        k.value for k in ActionKind if k not in (ActionKind.UPDATE_MODEL, ActionKind.ADOPT)
    ]
    assert [a.name for a in result.changes] == [
        "c-create",
        "d-delete",
        "e-release",
        "r-replace",
        "u-update",
    ]
    assert [a.name for a in result.errors] == ["b-blocked", "x-conflict"]


def test_empty_plan() -> None:
    result = plan(desired(), observed(model("loose")), SCOPE)
    assert result == Plan(scope=SCOPE, actions=())
    assert result.summary() == {}
    assert result.changes == ()
    assert result.errors == ()


def test_a_different_scope_sees_the_other_side() -> None:
    theirs = managed(M, scope=OTHER)
    assert only(plan(desired(), observed(theirs), OTHER)).kind is DELETE
    assert plan(desired(), observed(theirs), SCOPE).actions == ()


# --- spec hash and desired tags --------------------------------------------------------------


def test_spec_hash_is_long_hex_and_stable() -> None:
    digest = spec_hash(M)
    assert re.fullmatch(r"[0-9a-f]{16,}", digest)
    assert spec_hash(declared("m", tags={"team": "a"})) == digest
    # Where it is declared does not matter.
    assert spec_hash(replace(M, file="elsewhere.yaml", line=99)) == digest


@pytest.mark.parametrize(
    "other",
    [
        declared("m", role=ROLE),
        declared("m", role=ROLE2),
        declared("m"),
        declared("m", tags={"team": "b", "env": "x"}),
        declared("m", tags={"team": "a"}, policy="Retain"),
    ],
    ids=["role-added", "role-other", "tags-removed", "tags-changed", "policy-retain"],
)
def test_role_tags_and_policy_never_change_the_hash(other: DeclaredModel) -> None:
    assert spec_hash(other) == spec_hash(M)


@pytest.mark.parametrize(
    "other",
    [
        declared("n", s3="s3://acme-models/m/", tags={"team": "a"}),
        declared("m", s3="s3://acme-models/m", tags={"team": "a"}),
        declared("m", s3="s3://acme-models/m/v2/", tags={"team": "a"}),
        declared("m", kms=KMS, tags={"team": "a"}),
    ],
    ids=["name", "s3-trailing-slash", "s3-path", "kms"],
)
def test_name_s3_and_kms_change_the_hash(other: DeclaredModel) -> None:
    assert spec_hash(other) != spec_hash(M)


def test_kms_keys_hash_differently() -> None:
    assert spec_hash(declared("m", kms=KMS)) != spec_hash(declared("m", kms=KMS2))


def test_desired_tags() -> None:
    assert desired_tags(M, SCOPE) == {
        "reconciler:managed-by": SCOPE,
        "reconciler:spec-hash": spec_hash(M),
        "team": "a",
    }
    assert desired_tags(M_RETAIN, "s") == {
        "reconciler:deletion-policy": "Retain",
        "reconciler:managed-by": "s",
        "reconciler:spec-hash": spec_hash(M),
        "team": "a",
    }
    assert list(desired_tags(M_RETAIN, "s")) == sorted(desired_tags(M_RETAIN, "s"))


# --- empty-source guard ----------------------------------------------------------------------


def test_empty_source_refuses_to_prune_everything() -> None:
    d = desired()
    o = observed(
        managed(declared("a")),
        managed(declared("b", policy="Retain")),
        managed(declared("c")),
        managed(declared("d")),
        managed(declared("e")),
        managed(declared("f")),
    )
    result = plan(d, o, SCOPE)
    with pytest.raises(UnsafePlanError) as caught:
        check_empty_source(result, len(d.models), allow_empty=False)
    message = str(caught.value)
    assert "no manifest is declared" in message
    assert "remove all 6 managed models (a, b, c, d, e, ...)" in message
    assert "--allow-empty" in message


def test_empty_source_with_only_a_release_is_refused() -> None:
    d = desired()
    result = plan(d, observed(managed(declared("keep", policy="Retain"))), SCOPE)
    with pytest.raises(UnsafePlanError, match=r"remove all 1 managed models \(keep\)"):
        check_empty_source(result, len(d.models), allow_empty=False)


def test_empty_source_passes_with_allow_empty() -> None:
    d = desired()
    result = plan(d, observed(managed(declared("a"))), SCOPE)
    check_empty_source(result, len(d.models), allow_empty=True)  # does not raise


def test_empty_source_passes_when_nothing_would_be_removed() -> None:
    d = desired()
    result = plan(d, observed(model("unmanaged"), managed(declared("x"), scope=OTHER)), SCOPE)
    assert result.actions == ()
    check_empty_source(result, len(d.models), allow_empty=False)  # does not raise


def test_a_declared_source_may_prune() -> None:
    d = desired(declared("keep"))
    result = plan(d, observed(managed(declared("keep")), managed(declared("gone"))), SCOPE)
    assert [a.kind for a in result.actions] == [DELETE, NOOP]
    check_empty_source(result, len(d.models), allow_empty=False)  # does not raise


# --- hypothesis properties -------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f", "a-1", "b_2"])
USER_KEYS = st.sampled_from(["team", "env", "Team", "owner"])
USER_VALUES = st.sampled_from(["a", "b", ""])
S3 = st.sampled_from(["s3://acme-models/x/", "s3://acme-models/y", "s3://other-bucket/z/"])
KMS_KEYS = st.sampled_from([None, KMS, KMS2])
ROLES = st.sampled_from([None, ROLE, ROLE2])
POLICIES = st.sampled_from(["Delete", "Retain"])
USER_TAGS = st.dictionaries(USER_KEYS, USER_VALUES, max_size=3)


@st.composite
def declared_models(draw: st.DrawFn, name: str) -> DeclaredModel:
    return declared(
        name,
        s3=draw(S3),
        kms=draw(KMS_KEYS),
        role=draw(ROLES),
        tags=draw(USER_TAGS),
        policy=draw(POLICIES),
    )


@st.composite
def observed_tags(draw: st.DrawFn, like: DeclaredModel) -> dict[str, str]:
    """Tags as the reconciler would have written them for ``like``, or anything else."""
    owner = draw(st.sampled_from([SCOPE, SCOPE, SCOPE, OTHER, None]))
    if draw(st.booleans()):
        tags = desired_tags(like, owner or SCOPE)
    else:
        tags = draw(USER_TAGS)
        tags[TAG_SPEC_HASH] = draw(st.sampled_from([spec_hash(like), "f" * 32]))
    if owner is None:
        tags.pop(TAG_MANAGED_BY, None)
    else:
        tags[TAG_MANAGED_BY] = owner
    if draw(st.integers(0, 5)) == 0:
        tags.pop(TAG_SPEC_HASH)
    policy = draw(st.sampled_from(["keep", "keep", "keep", "Retain", "Delete", "drop"]))
    if policy == "drop":
        tags.pop(TAG_DELETION_POLICY, None)
    elif policy != "keep":
        tags[TAG_DELETION_POLICY] = policy
    if draw(st.integers(0, 3)) == 0:
        tags.update(draw(st.dictionaries(USER_KEYS, USER_VALUES, max_size=1)))
    if draw(st.integers(0, 3)) == 0:
        tags["reconciler:future"] = "x"
    return tags


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[DesiredState, ObservedState]:
    declared_names = sorted(draw(st.sets(NAMES, max_size=6)))
    wanted = {name: draw(declared_models(name)) for name in declared_names}
    present = draw(st.sets(NAMES, max_size=4))
    if declared_names:
        present |= draw(st.sets(st.sampled_from(declared_names)))
    found = []
    for name in sorted(present):
        # Usually as declared now; sometimes as declared before (another s3Uri, policy...).
        like = wanted.get(name) if draw(st.integers(0, 2)) else None
        tags = draw(observed_tags(like or draw(declared_models(name))))
        status = draw(st.sampled_from(["Active", "Active", "Active", "Creating", "Failed"]))
        found.append(ObservedModel(arn=arn(name), name=name, status=status, tags=tags))
    return DesiredState(resources=tuple(wanted.values())), state_of(found)


def simulate(result: Plan, before: ObservedState, scope: str) -> ObservedState:
    """What the account looks like after every action succeeded."""
    models = before.by_name()
    for action in result.actions:
        current = models.get(action.name)
        if action.kind is CREATE:
            assert current is None
            assert action.declared is not None
            tags = desired_tags(action.declared, scope)
            models[action.name] = ObservedModel(
                arn(action.name, "new"), action.name, "Active", tags
            )
        elif action.kind is REPLACE:
            assert current is not None
            assert action.declared is not None
            assert action.arn == current.arn
            tags = desired_tags(action.declared, scope)
            models[action.name] = ObservedModel(arn(action.name, "v2"), action.name, "Active", tags)
        elif action.kind in (UPDATE_TAGS, RELEASE):
            assert current is not None
            tags = dict(current.tags)
            tags.update(action.set_tags)
            for key in action.remove_tag_keys:
                del tags[key]
            models[action.name] = replace(current, tags=tags)
        elif action.kind is DELETE:
            assert current is not None
            del models[action.name]
    return state_of(models.values())


@settings(max_examples=examples(200), deadline=None)
@given(scenarios())
def test_nothing_without_our_managed_by_tag_is_ever_touched(
    scenario: tuple[DesiredState, ObservedState],
) -> None:
    wanted, found = scenario
    present = found.by_name()
    result = plan(wanted, found, SCOPE)
    for action in result.actions:
        model_ = present.get(action.name)
        ours = model_ is not None and model_.managed_by == SCOPE
        if action.kind in TOUCHING or action.kind is BLOCKED:
            assert ours, action
        if model_ is not None and not ours:
            # Only a conflict may name it (it is declared; undeclared, it is absent).
            assert action.kind is CONFLICT, action
        if action.kind is CREATE:
            assert model_ is None
        retain = (model_ is not None and model_.retained) or (
            action.declared is not None and action.declared.spec.deletionPolicy == "Retain"
        )
        if retain:
            # Whatever the manifests say, a Retain model is never deleted or replaced.
            assert action.kind not in (DELETE, REPLACE), action
        if action.kind is RELEASE:
            assert set(action.remove_tag_keys) <= set(RECONCILER_TAG_KEYS)
            assert action.set_tags == ()
        if action.kind is UPDATE_TAGS:
            assert action.declared is not None
            wanted_tags = desired_tags(action.declared, SCOPE)
            assert set(action.set_tags) <= set(wanted_tags.items())
            for key in action.remove_tag_keys:
                assert key not in wanted_tags
                assert key in RECONCILER_TAG_KEYS or not key.startswith("reconciler:")


@settings(max_examples=examples(200), deadline=None)
@given(scenarios())
def test_applying_the_plan_then_planning_again_is_clean(
    scenario: tuple[DesiredState, ObservedState],
) -> None:
    wanted, found = scenario
    first = plan(wanted, found, SCOPE)
    after = simulate(first, found, SCOPE)
    second = plan(wanted, after, SCOPE)
    assert {a.kind for a in second.actions} <= {NOOP, CONFLICT, BLOCKED}, second
    stuck_before = {a.name: a.kind for a in first.actions if a.kind in (CONFLICT, BLOCKED)}
    stuck_after = {a.name: a.kind for a in second.actions if a.kind in (CONFLICT, BLOCKED)}
    assert stuck_after == stuck_before
    assert second.changes == ()
    # Models that were not ours are exactly as they were.
    before = found.by_name()
    for name, model_ in after.by_name().items():
        if name in before and before[name].managed_by != SCOPE:
            assert model_ == before[name]
    assert plan(wanted, simulate(second, after, SCOPE), SCOPE) == second


@settings(max_examples=examples(200), deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_plan_is_deterministic_and_sorted(
    scenario: tuple[DesiredState, ObservedState], rng: Any
) -> None:
    wanted, found = scenario
    result = plan(wanted, found, SCOPE)
    assert plan(wanted, found, SCOPE) == result
    shuffled_models = list(found.models)
    rng.shuffle(shuffled_models)
    shuffled_declared = list(wanted.models)
    rng.shuffle(shuffled_declared)
    again = plan(
        DesiredState(resources=tuple(shuffled_declared)),
        ObservedState(resources=tuple(shuffled_models)),
        SCOPE,
    )
    assert again == result
    names = [a.name for a in result.actions]
    assert names == sorted(names)
    assert len(names) == len(set(names))


@settings(max_examples=examples(200), deadline=None)
@given(scenarios())
def test_every_declared_name_appears_exactly_once(
    scenario: tuple[DesiredState, ObservedState],
) -> None:
    wanted, found = scenario
    result = plan(wanted, found, SCOPE)
    names = [a.name for a in result.actions]
    for model_ in wanted.models:
        assert names.count(model_.name) == 1
    declared_names = {m.name for m in wanted.models}
    ours = {m.name for m in found.models if m.managed_by == SCOPE}
    assert set(names) == declared_names | ours
    for action in result.actions:
        assert (action.declared is not None) == (action.name in declared_names)
    assert sum(result.summary().values()) == len(result.actions)
