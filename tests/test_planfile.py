"""Saved plans as pure data: the document, reading it back, and the freshness checks
(``check_fresh`` against the account, ``check_rederived`` against the plan made again)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import __version__, planfile
from reconciler.desired import CustomModelManifest, DeclaredModel, desired_state
from reconciler.errors import StalePlanError, UsageError
from reconciler.identity import Kind, Place, ResourceKey
from reconciler.observed import (
    RECONCILER_TAG_KEYS,
    TAG_MANAGED_BY,
    ObservedModel,
    ObservedState,
    state_of,
)
from reconciler.plan import Action, ActionKind, Plan, desired_tags, plan
from reconciler.planfile import SavedModel, Snapshot
from tests.builders import dep, observed_of, pt

SCOPE = "team-a"
REGION = "us-east-1"
ACCOUNT = "111122223333"
WHERE = Place(REGION, ACCOUNT)
KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def key(name: str) -> ResourceKey:
    return ResourceKey(Kind.CUSTOM_MODEL, name)


def declared(name: str, *, s3: str = "", policy: str = "Delete", line: int = 1) -> DeclaredModel:
    manifest = CustomModelManifest.model_validate(
        {
            "apiVersion": "bedrock.gitops/v1",
            "kind": "CustomModel",
            "metadata": {"name": name},
            "spec": {
                "modelSourceConfig": {"s3DataSource": {"s3Uri": s3 or f"s3://acme/{name}/"}},
                "modelKmsKeyArn": KMS,
                "tags": {"team": "a"},
                "deletionPolicy": policy,
            },
        }
    )
    return DeclaredModel(manifest=manifest, file=f"manifests/{name}.yaml", line=line)


def arn(name: str, suffix: str = "0") -> str:
    return f"arn:aws:bedrock:us-east-1:111122223333:custom-model/imported/{name}{suffix}"


def found(
    name: str, tags: dict[str, str], status: str = "Active", suffix: str = "0"
) -> ObservedModel:
    return ObservedModel(arn=arn(name, suffix), name=name, status=status, tags=tags)


def ours(of: DeclaredModel, **changes: Any) -> ObservedModel:
    """``of`` as the reconciler made it in the account."""
    return found(of.name, desired_tags(of, SCOPE), **changes)


# A plan with one action of each kind that reaches the account.
ALPHA = declared("alpha", line=3)  # to create
BETA = declared("beta")  # tags drifted: update-tags
GAMMA = declared("gamma", s3="s3://acme/gamma-2/")  # content changed, still importing: replace
DESIRED = desired_state((ALPHA, BETA, GAMMA), files=("manifests/a.yaml", "manifests/b.yaml"))
OBSERVED = state_of(
    [
        found("beta", {**desired_tags(BETA, SCOPE), "old": "x", "team": "b"}),
        ours(declared("gamma"), status="Creating"),
        ours(declared("gone")),  # undeclared: delete
        ours(declared("kept", policy="Retain")),  # undeclared, Retain: release
        found("other", {TAG_MANAGED_BY: "team-b"}),  # another scope's: not in the snapshot
        found("stray", {}),  # nobody's: not in the snapshot
    ]
)
PLAN = plan(DESIRED, OBSERVED, SCOPE)


def saved(tmp_path: Path, document: str | None = None) -> planfile.SavedPlan:
    path = tmp_path / "plan.json"
    path.write_text(
        planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED) if document is None else document
    )
    return planfile.load(path)


def test_the_plan_has_one_action_of_each_kind() -> None:
    assert [(a.name, a.kind) for a in PLAN.actions] == [
        ("alpha", ActionKind.CREATE),
        ("beta", ActionKind.UPDATE_TAGS),
        ("gamma", ActionKind.REPLACE),
        ("gone", ActionKind.DELETE),
        ("kept", ActionKind.RELEASE),
    ]


def test_a_saved_plan_reads_back_as_the_same_plan(tmp_path: Path) -> None:
    back = saved(tmp_path)
    assert back.plan == PLAN
    assert back.plan.actions[2].importing is True
    assert (back.region, back.declared) == (REGION, 3)
    assert back.names == {key("alpha"), key("beta"), key("gamma")}
    assert back.account == ACCOUNT
    assert back.snapshot == planfile.snapshot(OBSERVED, SCOPE, map(key, ["alpha", "beta", "gamma"]))


def test_the_document() -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    manifests = [m.manifest.model_dump(mode="json") for m in DESIRED.models]
    digest = hashlib.sha256(
        json.dumps(manifests, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert {k: v for k, v in document.items() if k not in ("observed", "actions")} == {
        "format": "bedrock-reconciler/plan",
        "version": 1,
        "created_by": f"bedrock-reconciler {__version__}",
        "scope": SCOPE,
        "region": REGION,
        "account": ACCOUNT,
        "manifests": {"files": ["manifests/a.yaml", "manifests/b.yaml"], "digest": digest},
        "declared": 3,
        "summary": {"create": 1, "replace": 1, "update-tags": 1, "delete": 1, "release": 1},
    }
    assert sorted(document["observed"]["models"]) == ["beta", "gamma", "gone", "kept"]
    assert document["observed"]["absent"] == ["alpha"]
    beta = document["observed"]["models"]["beta"]
    assert beta["arn"] == arn("beta") and beta["status"] == "Active"
    assert list(beta["tags"]) == sorted(beta["tags"])
    alpha, beta_action, gamma, gone, kept = document["actions"]
    assert alpha["source"] == "manifests/alpha.yaml:3"
    assert alpha["manifest"] == ALPHA.manifest.model_dump(mode="json", exclude_none=True)
    assert (alpha["arn"], alpha["reason"]) == (None, "not in the account")
    assert beta_action["set_tags"] == {"team": "a"} and beta_action["remove_tag_keys"] == ["old"]
    assert gamma["importing"] is True and gamma["arn"] == arn("gamma")
    assert (gone["action"], gone["manifest"], gone["source"]) == ("delete", None, None)
    assert kept["remove_tag_keys"] == list(RECONCILER_TAG_KEYS)


def test_the_digest_changes_with_any_manifest() -> None:
    def digest(models: tuple[DeclaredModel, ...]) -> str:
        text = planfile.dumps(PLAN, WHERE, desired_state(models), OBSERVED)
        return str(json.loads(text)["manifests"]["digest"])

    assert digest((ALPHA, BETA)) == digest((ALPHA, BETA))
    assert digest((ALPHA, BETA)) != digest((ALPHA, declared("beta", s3="s3://acme/b2/")))
    assert digest((ALPHA, BETA)) != digest((ALPHA,))


def test_the_snapshot_holds_the_scopes_models_and_the_declared_names() -> None:
    taken = found("alpha", {TAG_MANAGED_BY: "team-b"})
    snap = planfile.snapshot(
        state_of([*OBSERVED.models, taken]), SCOPE, [key("alpha"), key("absent")]
    )
    assert sorted(snap.models) == ["alpha", "beta", "gamma", "gone", "kept"]
    assert snap.models["alpha"] == SavedModel(
        arn=arn("alpha"), status="Active", tags={TAG_MANAGED_BY: "team-b"}
    )
    assert snap.absent == ["absent"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "not a saved plan of this version (: Invalid JSON: EOF while parsing an object"),
        ('{"format": "x"}', "not a saved plan of this version (format: Input should be"),
    ],
)
def test_a_file_that_is_not_a_saved_plan(tmp_path: Path, document: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        saved(tmp_path, document)
    assert str(caught.value).startswith(f"{tmp_path / 'plan.json'}: {message}")


def test_a_wrong_version_is_named(tmp_path: Path) -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["version"] = 2
    with pytest.raises(UsageError) as caught:
        saved(tmp_path, json.dumps(document))
    assert str(caught.value) == (
        f"{tmp_path / 'plan.json'}: not a saved plan of this version (version: Input should be 1)"
    )


def test_a_bad_source_line_is_not_a_saved_plan(tmp_path: Path) -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["actions"][0]["source"] = "manifests/alpha.yaml:three"
    with pytest.raises(UsageError) as caught:
        saved(tmp_path, json.dumps(document))
    assert str(caught.value) == (
        f"{tmp_path / 'plan.json'}: not a saved plan of this version "
        "(invalid literal for int() with base 10: 'three')"
    )


def test_a_source_without_a_line_reads_as_line_zero(tmp_path: Path) -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["actions"][0]["source"] = None
    [alpha, *_] = saved(tmp_path, json.dumps(document)).plan.actions
    assert alpha.declared is not None
    assert (alpha.declared.file, alpha.declared.line) == ("", 0)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        planfile.load(tmp_path / "nope.json")
    assert str(caught.value) == (
        f"{tmp_path / 'nope.json'}: cannot read the plan file: No such file or directory"
    )


# --- the freshness check ---------------------------------------------------------------------


def stale_changes(tmp_path: Path, observed: ObservedState, scope: str, where: Place | str) -> str:
    with pytest.raises(StalePlanError) as caught:
        planfile.check_fresh(saved(tmp_path), observed, scope, where)
    return str(caught.value)


def test_an_unchanged_account_is_fresh(tmp_path: Path) -> None:
    planfile.check_fresh(saved(tmp_path), OBSERVED, SCOPE, WHERE)  # does not raise


def test_models_outside_the_snapshot_may_change(tmp_path: Path) -> None:
    moved = [m for m in OBSERVED.models if m.name not in ("other", "stray")]
    moved += [found("stray", {"x": "y"}, suffix="9"), found("new", {TAG_MANAGED_BY: "team-b"})]
    planfile.check_fresh(saved(tmp_path), state_of(moved), SCOPE, WHERE)  # does not raise


def test_an_import_finishing_is_not_a_change(tmp_path: Path) -> None:
    finished = [ours(declared("gamma")) if m.name == "gamma" else m for m in OBSERVED.models]
    planfile.check_fresh(saved(tmp_path), state_of(finished), SCOPE, WHERE)  # does not raise


def test_another_scope_is_refused_without_reading_the_account(tmp_path: Path) -> None:
    message = stale_changes(tmp_path, ObservedState(resources=()), "team-b", WHERE)
    assert message == (
        "  - the plan is for scope 'team-a', not 'team-b'\n"
        "the saved plan is stale (1 change(s) since it was made); nothing was changed. "
        "Make a new plan"
    )


def test_another_region_is_refused(tmp_path: Path) -> None:
    message = stale_changes(tmp_path, OBSERVED, SCOPE, Place("eu-west-1", ACCOUNT))
    assert message.startswith(
        "  - the plan is for region us-east-1, not eu-west-1\n"
        "the saved plan is stale (1 change(s) since it was made)"
    )


def test_scope_and_region_are_both_named(tmp_path: Path) -> None:
    message = stale_changes(tmp_path, OBSERVED, "team-b", Place("eu-west-1", ACCOUNT))
    assert message.splitlines()[:2] == [
        "  - the plan is for scope 'team-a', not 'team-b'",
        "  - the plan is for region us-east-1, not eu-west-1",
    ]
    assert "(2 change(s) since it was made)" in message


def test_every_change_to_the_snapshot_is_named_in_name_order(tmp_path: Path) -> None:
    now = {m.name: m for m in OBSERVED.models}
    now["alpha"] = found("alpha", {})  # declared absent, now exists
    now["beta"] = found("beta", {**now["beta"].tags, "old": "y", "new": "z"}, suffix="1")
    now["gamma"] = ours(declared("gamma"), status="Failed")
    del now["gone"]
    now["newly-ours"] = found("newly-ours", {TAG_MANAGED_BY: SCOPE})
    message = stale_changes(tmp_path, state_of(now.values()), SCOPE, WHERE)
    assert message.splitlines() == [
        f"  - alpha: was absent, now exists ({arn('alpha')})",
        f"  - beta: replaced ({arn('beta')} -> {arn('beta', '1')})",
        "  - beta: tag new: None -> 'z'",
        "  - beta: tag old: 'x' -> 'y'",
        "  - gamma: status Creating -> Failed",
        f"  - gone: {arn('gone')} is gone (deleted or no longer managed)",
        f"  - newly-ours: was not managed, now exists ({arn('newly-ours')})",
        "the saved plan is stale (7 change(s) since it was made); nothing was changed. "
        "Make a new plan",
    ]


def test_a_failed_model_recovering_is_a_change() -> None:
    tags = {TAG_MANAGED_BY: SCOPE}
    before = Snapshot(models={"m": SavedModel(arn="a", status="Failed", tags=tags)}, absent=[])
    after = Snapshot(models={"m": SavedModel(arn="a", status="Creating", tags=tags)}, absent=[])
    assert planfile.diff(before, after) == ["m: status Failed -> Creating"]
    assert planfile.diff(after, after) == []


def test_a_removed_tag_is_a_change() -> None:
    old = Snapshot(models={"m": SavedModel(arn="a", status="Active", tags={"k": "v"})}, absent=[])
    new = Snapshot(models={"m": SavedModel(arn="a", status="Active", tags={})}, absent=[])
    assert planfile.diff(old, new) == ["m: tag k: 'v' -> None"]


def test_an_empty_plan_round_trips(tmp_path: Path) -> None:
    empty = Plan(scope=SCOPE, actions=())
    path = tmp_path / "plan.json"
    path.write_text(planfile.dumps(empty, WHERE, desired_state(()), OBSERVED))
    back = planfile.load(path)
    assert back.plan == empty and back.declared == 0 and back.names == frozenset()


def test_another_account_is_refused_naming_both(tmp_path: Path) -> None:
    message = stale_changes(tmp_path, OBSERVED, SCOPE, Place(REGION, "444455556666"))
    assert message.splitlines()[0] == (f"  - the plan is for account {ACCOUNT}, not 444455556666")
    assert "(1 change(s) since it was made)" in message


def test_a_plan_that_records_no_account_is_refused(tmp_path: Path) -> None:
    """An older plan file, or one whose account was removed, cannot prove where it was made:
    applied in any account it would be the hole the account check closes."""
    path = tmp_path / "v1.json"
    path.write_text(planfile.dumps(PLAN, REGION, DESIRED, OBSERVED))
    old = planfile.load(path)
    assert old.account is None
    with pytest.raises(StalePlanError) as e:
        planfile.check_fresh(old, OBSERVED, SCOPE, WHERE)
    assert str(e.value).splitlines()[0] == (
        "  - the plan records no account (an earlier version made it, or it was edited), "
        f"so it cannot be checked against account {ACCOUNT}"
    )


def test_scope_region_and_account_are_all_named(tmp_path: Path) -> None:
    message = stale_changes(tmp_path, OBSERVED, "team-b", Place("eu-west-1", "444455556666"))
    assert message.splitlines()[:3] == [
        "  - the plan is for scope 'team-a', not 'team-b'",
        "  - the plan is for region us-east-1, not eu-west-1",
        f"  - the plan is for account {ACCOUNT}, not 444455556666",
    ]
    assert "(3 change(s) since it was made)" in message


# --- planning again from the saved manifests ---------------------------------------------------


def rederive_changes(back: planfile.SavedPlan, fresh: Plan) -> list[str]:
    with pytest.raises(StalePlanError) as caught:
        planfile.check_rederived(back, fresh)
    lines = str(caught.value).splitlines()
    assert lines[-1].startswith(
        f"the saved plan does not match the plan made again from its own manifests and the "
        f"account ({len(lines) - 1} difference(s)): the file was altered or the account moved; "
        "nothing was changed. Make a new plan"
    )
    return lines[:-1]


def test_the_same_plan_made_again_matches(tmp_path: Path) -> None:
    back = saved(tmp_path)
    planfile.check_rederived(back, plan(back.desired, OBSERVED, SCOPE))  # does not raise


def test_a_reason_that_moved_on_is_not_a_difference(tmp_path: Path) -> None:
    back = saved(tmp_path)
    reworded = Plan(
        scope=SCOPE,
        actions=tuple(Action(**{**a.__dict__, "reason": "said otherwise"}) for a in PLAN.actions),
    )
    planfile.check_rederived(back, reworded)  # does not raise


def test_an_action_the_file_adds_or_lacks_is_named(tmp_path: Path) -> None:
    back = saved(tmp_path)
    fewer = Plan(scope=SCOPE, actions=PLAN.actions[1:])
    assert rederive_changes(back, fewer) == [
        "  - alpha: the file holds a create that planning now does not"
    ]
    document = json.loads(planfile.dumps(fewer, WHERE, DESIRED, OBSERVED))
    document["declared"] = 3
    path = tmp_path / "fewer.json"
    path.write_text(json.dumps(document))
    assert rederive_changes(planfile.load(path), PLAN) == [
        "  - the file lists one resource twice, or a manifest is missing from it",
        "  - alpha: planning now gives a create the file lacks",
    ]


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        (
            "action",
            "delete",
            "the file says delete (arn None), planning now says create (arn None)",
        ),
        ("arn", "arn:x", "the file says create (arn arn:x), planning now says create (arn None)"),
        ("set_tags", {"team": "z"}, "the file says create (arn None), planning now says create"),
        ("model", "other", "the file says create (arn None), planning now says create"),
        ("model_arn", "arn:m", "the file says create (arn None), planning now says create"),
        ("remove_tag_keys", ["k"], "the file says create (arn None), planning now says create"),
        ("source", "manifests/alpha.yaml:9", "the file says create"),
    ],
)
def test_every_part_of_an_action_is_compared(
    tmp_path: Path, field: str, value: Any, said: str
) -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["actions"][0][field] = value
    (tmp_path / "plan.json").write_text(json.dumps(document))
    back = planfile.load(tmp_path / "plan.json")
    [change] = rederive_changes(back, PLAN)
    assert change.startswith(f"  - alpha: {said}")


def test_a_changed_manifest_is_a_difference(tmp_path: Path) -> None:
    back = saved(tmp_path)
    edited = desired_state((ALPHA, BETA, declared("gamma", s3="s3://acme/gamma-3/")))
    changes = rederive_changes(back, plan(edited, OBSERVED, SCOPE))
    assert changes == [
        f"  - gamma: the file says replace (arn {arn('gamma')}), planning now says replace "
        f"(arn {arn('gamma')})"
    ]


def test_a_resource_listed_twice_or_a_manifest_missing_is_a_difference(tmp_path: Path) -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["actions"].append(document["actions"][0])
    (tmp_path / "twice.json").write_text(json.dumps(document))
    twice = planfile.load(tmp_path / "twice.json")
    assert rederive_changes(twice, PLAN) == [
        "  - the file lists one resource twice, or a manifest is missing from it"
    ]
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["declared"] = 4
    (tmp_path / "missing.json").write_text(json.dumps(document))
    missing = planfile.load(tmp_path / "missing.json")
    assert rederive_changes(missing, PLAN)[0] == (
        "  - the file lists one resource twice, or a manifest is missing from it"
    )


def test_a_manifest_naming_another_resource_is_not_a_saved_plan(tmp_path: Path) -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["actions"][0]["name"] = "zeta"
    with pytest.raises(UsageError) as caught:
        saved(tmp_path, json.dumps(document))
    assert str(caught.value).endswith(
        "not a saved plan of this version (CustomModel/zeta: its manifest names another resource)"
    )


def test_serving_resources_are_keyed_by_kind_and_name(tmp_path: Path) -> None:
    throughput = pt("support-prod", model="alpha")
    desired = desired_state((ALPHA, throughput))
    held = observed_of(throughput, scope=None)  # an unmanaged holder of the declared name
    state = state_of([*OBSERVED.resources, held])
    snap = planfile.snapshot(
        state,
        SCOPE,
        [r.key for r in desired.resources] + [ResourceKey(Kind.CUSTOM_MODEL_DEPLOYMENT, "chat")],
    )
    assert "ProvisionedThroughput/support-prod" in snap.models
    assert snap.absent == ["CustomModelDeployment/chat", "alpha"]
    path = tmp_path / "serving.json"
    path.write_text(planfile.dumps(plan(desired, state, SCOPE), WHERE, desired, state))
    back = planfile.load(path)
    assert ResourceKey(Kind.PROVISIONED_THROUGHPUT, "support-prod") in back.names
    assert back.snapshot.models["ProvisionedThroughput/support-prod"].arn == held.arn


def serving_plan() -> tuple[Plan, Any]:
    """A plan creating a throughput on a declared model and a deployment on an ARN."""
    desired = desired_state(
        (ALPHA, BETA, GAMMA, pt("p", model="beta"), dep("d", arn=arn("ext", "000000000"))),
        files=DESIRED.files,
    )
    return plan(desired, OBSERVED, SCOPE), desired


def test_a_serving_plan_reads_back_with_its_kinds_and_models(tmp_path: Path) -> None:
    serving, desired = serving_plan()
    by_name = {a.name: a for a in serving.actions}
    assert (by_name["p"].resource, by_name["p"].model, by_name["p"].model_arn) == (
        Kind.PROVISIONED_THROUGHPUT,
        "beta",
        arn("beta"),
    )
    assert (by_name["d"].resource, by_name["d"].model_arn) == (
        Kind.CUSTOM_MODEL_DEPLOYMENT,
        arn("ext", "000000000"),
    )
    path = tmp_path / "serving.json"
    path.write_text(planfile.dumps(serving, WHERE, desired, OBSERVED))
    back = planfile.load(path)

    def parts(a: Action) -> tuple[Any, ...]:  # a reference's line is for validation only
        manifest = a.declared.manifest if a.declared else None
        return (a.kind, a.resource, a.name, a.arn, a.model, a.model_arn, manifest, a.set_tags)

    assert [parts(a) for a in back.plan.actions] == [parts(a) for a in serving.actions]
    assert back.desired.files == ("manifests/a.yaml", "manifests/b.yaml")


def test_the_file_is_indented_for_review() -> None:
    text = planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED)
    assert text.startswith('{\n  "format": "bedrock-reconciler/plan",\n  "version": 1,\n')
    assert text.endswith("}\n")


def test_differences_are_listed_in_kind_order_then_name(tmp_path: Path) -> None:
    serving, _ = serving_plan()
    assert rederive_changes(saved(tmp_path), serving) == [
        "  - ProvisionedThroughput/p: planning now gives a create the file lacks",
        "  - CustomModelDeployment/d: planning now gives a create the file lacks",
    ]


@pytest.mark.parametrize(
    ("source", "file", "line"),
    [
        ("manifests/a:b.yaml:3", "manifests/a:b.yaml", 3),  # the line follows the last colon
        ("manifests/alpha.yaml:", "manifests/alpha.yaml", 0),
    ],
)
def test_a_source_is_split_at_its_last_colon(
    tmp_path: Path, source: str, file: str, line: int
) -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["actions"][0]["source"] = source
    [alpha, *_] = saved(tmp_path, json.dumps(document)).plan.actions
    assert alpha.declared is not None
    assert (alpha.declared.file, alpha.declared.line) == (file, line)


def test_a_bad_field_deep_in_the_file_is_named_by_its_path(tmp_path: Path) -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["actions"][1]["action"] = "explode"
    with pytest.raises(UsageError) as caught:
        saved(tmp_path, json.dumps(document))
    assert str(caught.value).startswith(
        f"{tmp_path / 'plan.json'}: not a saved plan of this version (actions.1.action: "
        "Input should be "
    )


# --- the plan of several targets ---------------------------------------------------------------


def targets_file(tmp_path: Path, document: str | None = None) -> Path:
    path = tmp_path / "targets-plan.json"
    one = planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED)
    empty = planfile.dumps(Plan(scope=SCOPE, actions=()), "eu-west-1", desired_state(()), OBSERVED)
    path.write_text(
        planfile.dumps_targets({"prod": one, "dev": empty}) if document is None else document
    )
    return path


def test_a_targets_plan_reads_back_target_by_target(tmp_path: Path) -> None:
    back = planfile.load_targets(targets_file(tmp_path))
    assert list(back) == ["prod", "dev"]
    assert back["prod"].plan == PLAN
    assert (back["prod"].region, back["prod"].account) == (REGION, ACCOUNT)
    assert (back["dev"].region, back["dev"].account, back["dev"].plan.actions) == (
        "eu-west-1",
        None,
        (),
    )


def test_the_targets_document() -> None:
    one = planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED)
    text = planfile.dumps_targets({"prod": one})
    assert json.loads(text) == {
        "format": "bedrock-reconciler/targets-plan",
        "version": 1,
        "created_by": f"bedrock-reconciler {__version__}",
        "targets": {"prod": json.loads(one)},
    }
    assert text.startswith('{\n  "format": "bedrock-reconciler/targets-plan",\n  "version": 1,\n')
    assert text.endswith("}\n")


def test_a_targets_plan_is_not_a_plan_of_one_account(tmp_path: Path) -> None:
    path = targets_file(tmp_path)
    with pytest.raises(UsageError) as caught:
        planfile.load(path)
    assert str(caught.value) == (
        f"{path} is a plan of several targets (plan --targets); apply it with the same "
        "--targets FILE"
    )


def test_a_plan_of_one_account_is_not_a_targets_plan(tmp_path: Path) -> None:
    path = targets_file(tmp_path, planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    with pytest.raises(UsageError) as caught:
        planfile.load_targets(path)
    assert str(caught.value) == (
        f"{path} is the plan of one account (plan without --targets); apply it without --targets"
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", ": Invalid JSON: EOF while parsing an object"),
        ("[]", ": Input should be an object"),
        ('{"format": "x"}', "format: Input should be 'bedrock-reconciler/targets-plan'"),
    ],
)
def test_a_file_that_is_not_a_targets_plan(tmp_path: Path, document: str, message: str) -> None:
    path = targets_file(tmp_path, document)
    with pytest.raises(UsageError) as caught:
        planfile.load_targets(path)
    assert str(caught.value).startswith(
        f"{path}: not a saved targets plan of this version ({message}"
    )


def test_a_bad_target_in_a_targets_plan_is_named(tmp_path: Path) -> None:
    document = json.loads(planfile.dumps(PLAN, WHERE, DESIRED, OBSERVED))
    document["actions"][0]["source"] = "manifests/alpha.yaml:three"
    text = planfile.dumps_targets({"prod": json.dumps(document)})
    path = targets_file(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        planfile.load_targets(path)
    assert str(caught.value) == (
        f"{path}: not a saved targets plan of this version "
        "(invalid literal for int() with base 10: 'three')"
    )


def test_a_missing_targets_plan(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        planfile.load_targets(tmp_path / "nope.json")
    assert str(caught.value) == (
        f"{tmp_path / 'nope.json'}: cannot read the plan file: No such file or directory"
    )


@pytest.mark.parametrize(
    "document", ["[]", '["bedrock-reconciler/targets-plan"]', '"bedrock-reconciler/targets-plan"']
)
def test_a_document_that_is_no_object_is_not_a_saved_plan(tmp_path: Path, document: str) -> None:
    with pytest.raises(UsageError) as caught:
        saved(tmp_path, document)
    assert str(caught.value).startswith(
        f"{tmp_path / 'plan.json'}: not a saved plan of this version ("
    )
