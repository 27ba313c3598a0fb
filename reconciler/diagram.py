"""The serving graph a plan changes, as a Mermaid flowchart for the Markdown outputs.

Pure: takes a ``Plan`` and returns text. Drawn only when the plan changes the serving graph
(a create, delete, replace or model switch); the nodes are the resources those actions touch
plus the models they serve from, an edge runs from each server to its model (dashed, "was",
to the model a switch moves it off). Node ids come from a counter, never from names; every
label is escaped to letters, digits and a few safe marks, the rest as Mermaid entity codes,
so no name can close a label, a fence or start HTML. A plan touching more than ``max_nodes``
resources gets one summary line instead. Called by ``render`` for plans and apply reports;
a report passes the actions that were not done (skipped or failed), drawn as such.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from reconciler.identity import Kind, ResourceKey
from reconciler.plan import Action, ActionKind, Plan

MAX_NODES = 40
MAX_LABEL = 60
# What changes the serving graph: a resource appearing, going, or serving another model.
GRAPH_CHANGES = frozenset(
    {ActionKind.CREATE, ActionKind.DELETE, ActionKind.REPLACE, ActionKind.UPDATE_MODEL}
)
_CLASSES = {
    ActionKind.CREATE: "new",
    ActionKind.DELETE: "deleted",
    ActionKind.REPLACE: "replaced",
    ActionKind.UPDATE_MODEL: "switching",
}
CLASS_STYLES = {
    "new": "fill:#dafbe1,stroke:#1a7f37,color:#0d3117",
    "deleted": "fill:#ffebe9,stroke:#cf222e,color:#4c0b0f,stroke-dasharray:5 3",
    "replaced": "fill:#fff1e5,stroke:#bc4c00,color:#3d1a00",
    "switching": "fill:#ddf4ff,stroke:#0969da,color:#0a2a4d",
    "unchanged": "fill:#f6f8fa,stroke:#8c959f,color:#24292f",
    "external": "fill:#ffffff,stroke:#8c959f,color:#57606a,stroke-dasharray:2 2",
    "failed": "fill:#ffebe9,stroke:#82071e,color:#4c0b0f,stroke-width:3px",
}
# What an apply report says of an action not done: its outcome (skipped, failed).
NotDone = Mapping[ResourceKey, str]
_KIND_WORDS = {
    Kind.CUSTOM_MODEL: "model",
    Kind.PROVISIONED_THROUGHPUT: "throughput",
    Kind.CUSTOM_MODEL_DEPLOYMENT: "deployment",
}
_SAFE = re.compile(r"[A-Za-z0-9 ._/:+=,@-]")


def escape(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label: anything but letters, digits and
    ``._/:+=,@-`` and space becomes an entity code (``#35;``), shown as the character."""
    return "".join(c if _SAFE.fullmatch(c) else f"#{ord(c)};" for c in text)


def short_arn(arn: str) -> str:
    """The resource part of an ARN (``custom-model/base/id``); the text itself otherwise."""
    parts = arn.split(":", 5)
    return parts[5] if len(parts) == 6 and parts[0] == "arn" else arn


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


@dataclass(frozen=True)
class _Node:
    name: str
    kind: Kind
    style: str
    state: str


@dataclass
class _Graph:
    """Nodes in order of first appearance (their index is their id), and edges between them."""

    nodes: dict[tuple[str, str], _Node] = field(default_factory=dict)
    edges: list[tuple[int, int, bool]] = field(default_factory=list)  # (from, to, was)

    def add(self, key: tuple[str, str], node: _Node) -> int:
        self.nodes.setdefault(key, node)
        return list(self.nodes).index(key)

    def link(self, source: int, target: int, was: bool) -> None:
        if (source, target, was) not in self.edges:
            self.edges.append((source, target, was))


def touched(plan: Plan) -> tuple[Action, ...]:
    """The actions that change the serving graph."""
    return tuple(a for a in plan.actions if a.kind in GRAPH_CHANGES)


def _build(plan: Plan, changes: tuple[Action, ...], not_done: NotDone) -> _Graph:
    models = {a.name: a for a in plan.actions if a.resource is Kind.CUSTOM_MODEL}
    by_arn = {a.arn: a for a in models.values() if a.arn}
    graph = _Graph()

    def model_node(name: str | None, arn: str | None) -> int:
        found = models.get(name) if name else by_arn.get(arn or "")
        if found is not None:
            return graph.add((found.resource.value, found.name), _node_of(found, not_done))
        node = _Node(short_arn(arn or "?"), Kind.CUSTOM_MODEL, "external", "not managed here")
        return graph.add(("arn", arn or "?"), node)

    for action in changes:
        index = graph.add((action.resource.value, action.name), _node_of(action, not_done))
        if not action.resource.serves:
            continue
        target = None
        if action.model or action.model_arn:  # a delete has neither: only its old edges
            target = model_node(action.model, action.model_arn)
            graph.link(index, target, was=False)
        for arn in action.serves_from:
            old = model_node(None, arn)
            if old != target:
                graph.link(index, old, was=True)
    return graph


def _node_of(action: Action, not_done: NotDone) -> _Node:
    style = _CLASSES.get(action.kind, "unchanged")
    state = {"new": "new", "deleted": "to be deleted", "replaced": "replaced"}.get(style, style)
    node = _Node(action.name, action.resource, style, state)
    outcome = not_done.get(action.key) if style != "unchanged" else None
    if outcome is None:
        return node
    return replace(
        node, style="failed" if outcome == "failed" else "unchanged", state=f"{state}, {outcome}"
    )


def flowchart(
    plan: Plan, max_nodes: int = MAX_NODES, not_done: NotDone | None = None
) -> str | None:
    """The Mermaid source of the plan's serving graph; None when the plan does not change
    it or the graph has more than ``max_nodes`` nodes. ``not_done``: an apply report's
    actions that were skipped or failed, by key, with that outcome."""
    changes = touched(plan)
    if not changes:
        return None
    graph = _build(plan, changes, not_done or {})
    if len(graph.nodes) > max_nodes:
        return None
    lines = ["flowchart LR"]
    for index, node in enumerate(graph.nodes.values()):
        label = f"{escape(_clip(node.name))}<br/>{_KIND_WORDS[node.kind]} · {node.state}"
        shape = ('(["', '"])') if node.kind is Kind.CUSTOM_MODEL else ('["', '"]')
        lines.append(f"  n{index}{shape[0]}{label}{shape[1]}:::{node.style}")
    for source, target, was in graph.edges:
        lines.append(f"  n{source} -. was .-> n{target}" if was else f"  n{source} --> n{target}")
    lines += [f"  classDef {name} {style}" for name, style in CLASS_STYLES.items()]
    return "\n".join(lines) + "\n"


def serving_markdown(
    plan: Plan, max_nodes: int = MAX_NODES, not_done: NotDone | None = None
) -> list[str]:
    """Markdown lines for the serving graph: a ``mermaid`` block, one summary line when the
    graph is too large to draw, nothing when the plan does not change it."""
    changes = touched(plan)
    if not changes:
        return []
    source = flowchart(plan, max_nodes, not_done)
    if source is None:
        counts = Counter(f"{a.kind.value} {_KIND_WORDS[a.resource]}" for a in changes)
        listed = " · ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        return [
            f"_Serving graph not drawn: {len(changes)} resources change, more than a "
            f"{max_nodes}-node diagram shows ({listed})._",
            "",
        ]
    return ["```mermaid", *source.splitlines(), "```", ""]
