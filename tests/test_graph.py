"""The apply graph: table tests of its edges, and the property that no order it admits ever
deletes a model while a throughput or deployment still serves from it.

The account is modelled as a small state machine (models; serving resources with the model
they serve from). Hypothesis draws an account, manifests, and one execution order among
all the graph admits (each step any action whose dependencies are done); every prefix of
that execution is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.graph import Edge, Gate, dependencies, waves
from reconciler.identity import Kind
from reconciler.plan import Action, ActionKind, Plan, plan
from tests.builders import (
    FOUNDATION,
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
from tests.properties import examples

A = ActionKind
TOUCHING = frozenset({A.REPLACE, A.UPDATE_TAGS, A.UPDATE_MODEL, A.DELETE, A.RELEASE})
MODELS = ("m1", "m2", "m3")
SERVING = (
    ("p1", Kind.PROVISIONED_THROUGHPUT),
    ("p2", Kind.PROVISIONED_THROUGHPUT),
    ("d1", Kind.CUSTOM_MODEL_DEPLOYMENT),
)


def index_of(result: Plan, kind: Kind, name: str) -> int:
    return next(i for i, a in enumerate(result.actions) if a.resource is kind and a.name == name)


def test_rollout_edges_and_waves() -> None:
    v1 = cm("v1")
    result = plan(
        desired(cm("v2"), pt("p", model="v2")),
        observed(observed_of(v1), observed_of(pt("p", model="v1"), serves=model_arn("v1"))),
        SCOPE,
    )
    create_v2 = index_of(result, Kind.CUSTOM_MODEL, "v2")
    delete_v1 = index_of(result, Kind.CUSTOM_MODEL, "v1")
    switch = index_of(result, Kind.PROVISIONED_THROUGHPUT, "p")
    edges = dependencies(result)
    assert edges[switch] == (Edge(create_v2, Gate.READY),)
    assert edges[delete_v1] == (Edge(switch, Gate.READY),)
    assert edges[create_v2] == ()
    assert waves(result) == [(create_v2,), (switch,), (delete_v1,)]


def test_a_throughput_delete_comes_before_its_models() -> None:
    v1, p = cm("v1"), pt("p", model="v1")
    result = plan(
        desired(), observed(observed_of(v1), observed_of(p, serves=model_arn("v1"))), SCOPE
    )
    model, throughput = (
        index_of(result, Kind.CUSTOM_MODEL, "v1"),
        index_of(result, Kind.PROVISIONED_THROUGHPUT, "p"),
    )
    assert dependencies(result)[model] == (Edge(throughput, Gate.DONE),)


def test_independent_actions_share_the_first_wave() -> None:
    result = plan(desired(cm("a"), cm("b"), pt("p", arn=FOUNDATION)), observed(), SCOPE)
    assert waves(result) == [(0, 1, 2)]


@dataclass
class Account:
    """Models by ARN; serving resources by (kind, name) -> the model ARNs they serve from."""

    models: set[str] = field(default_factory=set)
    serving: dict[tuple[Kind, str], frozenset[str]] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)  # model name -> new ARN

    def in_use(self, arn: str) -> list[tuple[Kind, str]]:
        return [key for key, uses in self.serving.items() if arn in uses]

    def run(self, action: Action) -> None:
        key = (action.resource, action.name)
        if action.resource is Kind.CUSTOM_MODEL:
            if action.kind in (A.DELETE, A.REPLACE):
                assert not self.in_use(action.arn or ""), (action, self.in_use(action.arn or ""))
                self.models.discard(action.arn or "")
            if action.kind in (A.CREATE, A.REPLACE):
                arn = f"new-{action.name}"
                self.models.add(arn)
                self.created[action.name] = arn
            return
        target = action.model_arn or self.created.get(action.model or "", "")
        if action.kind in (A.CREATE, A.REPLACE, A.UPDATE_MODEL):
            assert target, action
            assert target in self.models or target == FOUNDATION, (action, target)
            self.serving[key] = frozenset({target})
        elif action.kind is A.DELETE:
            del self.serving[key]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[object, object, list[int]]:
    models, found = [], []
    for name in MODELS:
        state = draw(st.sampled_from(["absent", "managed", "stale", "unmanaged", "other"]))
        declared = draw(st.booleans())
        version = cm(name)
        if declared:
            models.append(cm(name, s3="s3://acme/retrained/") if state == "stale" else version)
        if state != "absent":
            scope = {"unmanaged": None, "other": OTHER}.get(state, SCOPE)
            found.append(observed_of(version, scope=scope))
    existing = [m.arn for m in found]
    declared_names = [m.name for m in models]
    serving = []
    for name, kind in SERVING:
        make = pt if kind is Kind.PROVISIONED_THROUGHPUT else dep
        if draw(st.booleans()) and existing:
            serves = draw(st.sampled_from(existing))
            switching = draw(st.sampled_from(["", *existing]))
            scope = draw(st.sampled_from([SCOPE, SCOPE, None, OTHER]))
            found.append(
                observed_of(
                    make(name, arn=model_arn("m1")),
                    scope=scope,
                    serves=serves,
                    switching_to=switching,
                )
            )
        if draw(st.booleans()):
            choices = [("model", n) for n in declared_names] + [("arn", a) for a in existing]
            if not choices:
                continue
            how, ref = draw(st.sampled_from(choices))
            serving.append(make(name, model=ref) if how == "model" else make(name, arn=ref))
    order_seed = draw(st.lists(st.integers(0, 10), min_size=12, max_size=12))
    return desired(*models, *serving), observed(*found), order_seed


@settings(max_examples=examples(400), deadline=None)
@given(scenarios())
def test_no_admitted_order_deletes_a_model_in_use(
    scenario: tuple[object, object, list[int]],
) -> None:
    wanted, found, seed = scenario
    result = plan(wanted, found, SCOPE)  # type: ignore[arg-type]
    # Nothing without this scope's tag is ever deleted, replaced, switched or retagged.
    by_arn = found.by_arn()  # type: ignore[attr-defined]
    for action in result.actions:
        if action.kind in TOUCHING:
            assert by_arn[action.arn].is_managed_by(SCOPE), action
    if result.errors:
        return  # never applied, not even in part
    account = Account(
        models={r.arn for r in found.models},  # type: ignore[attr-defined]
        serving={(r.kind, r.name): r.serves_from for r in found.resources if r.kind.serves},  # type: ignore[attr-defined]
    )
    edges = {i: {e.after for e in es} for i, es in dependencies(result).items()}
    done: set[int] = set()
    step = 0
    while len(done) < len(result.actions):
        ready = sorted(i for i in edges if i not in done and edges[i] <= done)
        assert ready, "the graph has a cycle"
        pick = ready[seed[step % len(seed)] % len(ready)]
        action = result.actions[pick]
        for wait in action.waits_for:  # the executor holds the action until the switch is done
            account.serving[(wait.kind, wait.name)] = frozenset({wait.model_arn})
        account.run(action)  # every prefix: the in-use check is inside
        done.add(pick)
        step += 1
    for key, uses in account.serving.items():
        for arn in uses:
            assert arn in account.models or arn == FOUNDATION or not arn.startswith("new-"), key


def test_only_model_creates_and_replaces_gate_what_serves_from_them() -> None:
    m = model_arn("m")
    # A throughput created on a model in sync, and a throughput named like the model,
    # created: no edge (nothing the throughput waits for is in the plan).
    result = Plan(
        SCOPE,
        (
            Action(A.NOOP, "m", "in sync", arn=m),
            Action(A.CREATE, "m", "", resource=Kind.PROVISIONED_THROUGHPUT, model="x"),
            Action(A.CREATE, "p", "", resource=Kind.PROVISIONED_THROUGHPUT, model="m"),
        ),
    )
    assert dependencies(result) == {0: (), 1: (), 2: ()}


def test_a_serving_resource_left_as_it_is_waits_for_nothing() -> None:
    result = Plan(
        SCOPE,
        (
            Action(A.CREATE, "m", "not in the account"),
            Action(A.NOOP, "p", "", resource=Kind.PROVISIONED_THROUGHPUT, model="m"),
            Action(A.UPDATE_TAGS, "d", "", resource=Kind.CUSTOM_MODEL_DEPLOYMENT, model="m"),
            Action(A.CREATE, "q", "", resource=Kind.PROVISIONED_THROUGHPUT, model="m"),
        ),
    )
    assert dependencies(result) == {0: (), 1: (), 2: (), 3: (Edge(0, Gate.READY),)}


def test_only_a_model_delete_waits_for_what_moves_off_the_model() -> None:
    v1, v2 = model_arn("v1"), model_arn("v2")
    switch = Action(
        A.UPDATE_MODEL,
        "p",
        "",
        resource=Kind.PROVISIONED_THROUGHPUT,
        serves_from=(v1,),
        model_arn=v2,
    )
    unrelated = Action(A.CREATE, "q", "", resource=Kind.PROVISIONED_THROUGHPUT, model_arn=v2)
    replaced = Action(A.REPLACE, "v1", "", arn=v1)
    deleted = Action(A.DELETE, "v1", "", arn=v1)
    throughput_gone = Action(A.DELETE, "r", "", arn=v1, resource=Kind.PROVISIONED_THROUGHPUT)
    assert dependencies(Plan(SCOPE, (replaced, switch, unrelated)))[0] == ()
    assert dependencies(Plan(SCOPE, (throughput_gone, switch, unrelated)))[0] == ()
    assert dependencies(Plan(SCOPE, (deleted, switch, unrelated)))[0] == (Edge(1, Gate.READY),)
