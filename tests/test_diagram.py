"""The serving-graph diagram: which plans get one, its nodes, classes and edges, its bound,
and labels no name can break out of. Mermaid itself parses these in tests/test_examples.py."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pytest

from reconciler.diagram import (
    CLASS_STYLES,
    MAX_NODES,
    escape,
    flowchart,
    serving_markdown,
    short_arn,
)
from reconciler.identity import Kind
from reconciler.plan import Action, ActionKind, Plan, plan
from reconciler.render import plan_markdown, report_markdown
from reconciler.report import ActionResult, ApplyReport, Outcome
from tests.builders import SCOPE, cm, dep, desired, model_arn, observed, observed_of, pt

A = ActionKind
PT = Kind.PROVISIONED_THROUGHPUT
CMD = Kind.CUSTOM_MODEL_DEPLOYMENT
V1, V2 = model_arn("v1"), model_arn("v2")
EXTERNAL = model_arn("elsewhere")
NODE = re.compile(r'  (n\d+)(\(\["|\[")(.*)("\]\)|"\]):::(\w+)')
EDGE = re.compile(r"  (n\d+) (-->|-\. was \.->) (n\d+)")
HOSTILE = (
    'x"]; click n0 call alert(1) %%',
    "<img src=x onerror=alert(1)>",
    "```\n# heading [link](javascript:alert(1))",
    "a#quot;b&amp;c;d|e{f}g(h)i`j*k_l",
    "classDef new fill:#f00\nn9 --> n0",
    "ünïcødé — 模型 🚀",
    "-->",
)


@dataclass(frozen=True)
class Drawn:
    """A flowchart read back: node label, shape and class by name; edges by name."""

    nodes: dict[str, tuple[str, str]]  # name -> (shape, class)
    labels: dict[str, str]  # id -> decoded name
    edges: set[tuple[str, str, str]]  # (from, "serves" | "was", to)


def read(source: str) -> Drawn:
    lines = source.splitlines()
    assert lines[0] == "flowchart LR"
    labels, nodes, edges = {}, {}, set()
    for line in lines[1:]:
        if match := NODE.fullmatch(line):
            ident, opening, label, _, style = match.groups()
            name = html.unescape(re.sub(r"#(\d+);", r"&#\1;", label.split("<br/>")[0]))
            labels[ident] = name
            nodes[name] = ("model" if opening == '(["' else "server", style)
        elif match := EDGE.fullmatch(line):
            source_id, arrow, target = match.groups()
            kind = "serves" if arrow == "-->" else "was"
            edges.add((labels[source_id], kind, labels[target]))
        else:
            assert line.startswith("  classDef "), line
    return Drawn(nodes, labels, edges)


def drawn(result: Plan) -> Drawn:
    source = flowchart(result)
    assert source is not None
    return read(source)


def rollout() -> Plan:
    """Throughput p switched from v1 to v2 (v2 new), v1 deleted."""
    return plan(
        desired(cm("v2"), pt("p", model="v2")),
        observed(observed_of(cm("v1")), observed_of(pt("p", model="v1"), serves=V1)),
        SCOPE,
    )


def test_a_rollout_draws_the_switch_from_the_old_model_to_the_new() -> None:
    got = drawn(rollout())
    assert got.nodes == {
        "v1": ("model", "deleted"),
        "v2": ("model", "new"),
        "p": ("server", "switching"),
    }
    assert got.edges == {("p", "serves", "v2"), ("p", "was", "v1")}
    assert list(got.labels) == ["n0", "n1", "n2"]


GRAPH_CASES = {
    "a new model and a throughput on it": (
        desired(cm("v1"), pt("p", model="v1")),
        observed(),
        {"v1": ("model", "new"), "p": ("server", "new")},
        {("p", "serves", "v1")},
    ),
    "a switch onto a model already there, which stays": (
        desired(cm("v1"), cm("v2"), pt("p", model="v2")),
        observed(
            observed_of(cm("v1")),
            observed_of(cm("v2")),
            observed_of(pt("p", model="v1"), serves=V1),
        ),
        {"v1": ("model", "unchanged"), "v2": ("model", "unchanged"), "p": ("server", "switching")},
        {("p", "serves", "v2"), ("p", "was", "v1")},
    ),
    "a deployment deleted, off a model that stays": (
        desired(cm("v1")),
        observed(observed_of(cm("v1")), observed_of(dep("d", model="v1"), serves=V1)),
        {"v1": ("model", "unchanged"), "d": ("server", "deleted")},
        {("d", "was", "v1")},
    ),
    "a throughput replaced (its units changed)": (
        desired(cm("v1"), pt("p", model="v1", units=2)),
        observed(observed_of(cm("v1")), observed_of(pt("p", model="v1"), serves=V1)),
        {"v1": ("model", "unchanged"), "p": ("server", "replaced")},
        {("p", "serves", "v1")},
    ),
    "a model served by ARN, not managed here: its short ARN": (
        desired(dep("d", arn=EXTERNAL)),
        observed(),
        {"d": ("server", "new"), short_arn(EXTERNAL): ("model", "external")},
        {("d", "serves", short_arn(EXTERNAL))},
    ),
    "a new model alone": (desired(cm("v3")), observed(), {"v3": ("model", "new")}, set()),
}


@pytest.mark.parametrize(
    ("wanted", "found", "nodes", "edges"), GRAPH_CASES.values(), ids=list(GRAPH_CASES)
)
def test_graph_changes_are_drawn(wanted, found, nodes, edges) -> None:  # type: ignore[no-untyped-def]
    got = drawn(plan(wanted, found, SCOPE))
    assert got.nodes == nodes
    assert got.edges == edges


def test_a_short_arn_is_the_resource_part() -> None:
    assert short_arn(EXTERNAL) == "custom-model/imported/000elsewhere"
    assert short_arn("not-an-arn") == "not-an-arn"


NO_GRAPH_CHANGES = {
    "all in sync": (
        desired(cm("v1"), pt("p", model="v1")),
        observed(observed_of(cm("v1")), observed_of(pt("p", model="v1"), serves=V1)),
    ),
    "only tags change, nothing serving": (
        desired(cm("v1", tags={"team": "new"})),
        observed(observed_of(cm("v1", tags={"team": "old"}))),
    ),
    "only tags change on a throughput": (
        desired(cm("v1"), pt("p", model="v1", tags={"team": "new"})),
        observed(observed_of(cm("v1")), observed_of(pt("p", model="v1"), serves=V1)),
    ),
    "nothing declared or managed": (desired(), observed()),
}


@pytest.mark.parametrize(("wanted", "found"), NO_GRAPH_CHANGES.values(), ids=list(NO_GRAPH_CHANGES))
def test_a_plan_without_graph_changes_has_no_diagram(wanted, found) -> None:  # type: ignore[no-untyped-def]
    result = plan(wanted, found, SCOPE)
    assert flowchart(result) is None
    assert serving_markdown(result) == []
    assert "mermaid" not in plan_markdown(result, "us-east-1")


def creates(count: int) -> Plan:
    actions = tuple(
        Action(A.CREATE, f"p-{i:03}", "not in the account", resource=PT, model="v1")
        for i in range(count)
    )
    return Plan(SCOPE, (Action(A.NOOP, "v1", "in sync", arn=V1), *actions))


@pytest.mark.parametrize(
    ("count", "drawn_nodes"), [(MAX_NODES - 1, MAX_NODES), (MAX_NODES, None), (500, None)]
)
def test_a_large_plan_gets_a_summary_line_not_a_diagram(
    count: int, drawn_nodes: int | None
) -> None:
    result = creates(count)
    source = flowchart(result)
    lines = serving_markdown(result)
    if drawn_nodes is not None:  # the throughputs plus their one model
        assert source is not None and len(read(source).nodes) == drawn_nodes
        assert lines[0] == "```mermaid"
        return
    assert source is None
    assert lines == [
        f"_Serving graph not drawn: {count} resources change, more than a {MAX_NODES}-node "
        f"diagram shows ({count} create throughput)._",
        "",
    ]
    assert len(plan_markdown(result, "us-east-1")) < 200 * (count + 10)


def hostile_arn(name: str) -> str:
    return f"arn:aws:bedrock:us-east-1:111122223333:custom-model/{name}"


def hostile_plan(name: str) -> Plan:
    arn = hostile_arn(name)
    return Plan(
        SCOPE,
        (
            Action(A.DELETE, name, "gone", arn=model_arn("h")),
            Action(A.CREATE, name, "new", resource=PT, model_arn=arn),
            Action(A.DELETE, name + "2", "gone", arn="x", resource=CMD, serves_from=(arn,)),
        ),
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_inside_their_labels(name: str) -> None:
    source = flowchart(hostile_plan(name))
    assert source is not None
    lines = source.splitlines()
    assert len(lines) == 1 + 4 + 2 + len(CLASS_STYLES)  # header, nodes, edges, classes
    for line in lines[1:]:
        assert NODE.fullmatch(line) or EDGE.fullmatch(line) or line.startswith("  classDef ")
    labels = [m.group(3) for m in map(NODE.fullmatch, lines) if m]
    for label in labels:
        assert re.fullmatch(r"[A-Za-z0-9 ._/:+=,@#;<>·-]*", label), label
        assert "<" not in label.replace("<br/>", "")
    got = read(source)
    assert name in got.nodes and name + "2" in got.nodes
    assert got.edges == {
        (name, "serves", short_arn(hostile_arn(name))),
        (name + "2", "was", short_arn(hostile_arn(name))),
    }
    assert "`" not in "\n".join(serving_markdown(hostile_plan(name))[1:-2])


def test_escape_keeps_safe_text_and_codes_the_rest() -> None:
    assert escape("chat-v2_x.1 a/b:c") == "chat-v2_x.1 a/b:c"
    assert escape('"#;') == "#34;#35;#59;"
    assert escape("\n") == "#10;"


def test_a_long_name_is_clipped() -> None:
    source = flowchart(Plan(SCOPE, (Action(A.CREATE, "m" * 200, "new"),)))
    assert source is not None
    (label,) = [m.group(3) for m in map(NODE.fullmatch, source.splitlines()) if m]
    assert label.startswith("m" * 59 + "#8230;<br/>")


def test_plan_and_apply_markdown_hold_the_diagram_before_the_table() -> None:
    result = rollout()
    text = plan_markdown(result, "us-east-1")
    assert text.index("```mermaid\nflowchart LR\n") < text.index("| | action |")
    report = ApplyReport(result, tuple(ActionResult(a, Outcome.DONE) for a in result.actions))
    applied = report_markdown(report, "us-east-1")
    assert flowchart(result) in applied
    assert applied.index("```mermaid") < applied.index("| | action |")


def test_an_apply_report_draws_what_was_not_done() -> None:
    result = rollout()
    results = {
        "v2": Outcome.DONE,
        "p": Outcome.FAILED,
        "v1": Outcome.SKIPPED,
    }
    report = ApplyReport(result, tuple(ActionResult(a, results[a.name]) for a in result.actions))
    (source,) = re.findall(r"```mermaid\n(.*?)```", report_markdown(report, "us-east-1"), re.S)
    got = read(source)
    assert got.nodes == {
        "v1": ("model", "unchanged"),
        "v2": ("model", "new"),
        "p": ("server", "failed"),
    }
    assert "v1<br/>model · to be deleted, skipped" in source
    assert "p<br/>throughput · switching, failed" in source
    assert got.edges == {("p", "serves", "v2"), ("p", "was", "v1")}
