"""The order a plan runs in: its actions as a dependency graph, pure.

An action waits for another when it needs that one done *and ready*:

- a throughput or deployment that is created, replaced or switched onto a model the same
  plan creates (or replaces) waits for that model to be ``Active``;
- a model delete waits for every throughput and deployment the plan moves off the model:
  a switch must be complete (the resource serves the new model again), a delete done.

Everything else is independent. The executor runs the graph in waves
(``graphlib.TopologicalSorter``), checks each gate between waves, and skips the dependents
of an action that failed or was deferred. Called by ``aws.executor``; property-tested over
every order it admits (``tests/test_graph.py``).
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from reconciler.identity import Kind
from reconciler.plan import Action, ActionKind, Plan

# What a serving resource does that needs the model it will serve from to be Active.
SERVING_ONTO = frozenset({ActionKind.CREATE, ActionKind.REPLACE, ActionKind.UPDATE_MODEL})


class Gate(StrEnum):
    """What must hold of a finished action before its dependent may start."""

    DONE = "done"  # the call succeeded (a delete)
    READY = "ready"  # the resource is ready: a model Active, a switch complete


@dataclass(frozen=True)
class Edge:
    """``action`` (an index into the plan) waits for ``after`` to pass ``gate``."""

    after: int
    gate: Gate


def dependencies(plan: Plan) -> dict[int, tuple[Edge, ...]]:
    """Every action's edges, by index in ``plan.actions`` (an action with none maps to ())."""
    actions = plan.actions
    model_actions = {
        a.name: i
        for i, a in enumerate(actions)
        if a.resource is Kind.CUSTOM_MODEL and a.kind in (ActionKind.CREATE, ActionKind.REPLACE)
    }
    edges: dict[int, tuple[Edge, ...]] = {}
    for index, action in enumerate(actions):
        edges[index] = _serving_edges(action, model_actions) + _delete_edges(action, actions)
    return edges


def _serving_edges(action: Action, model_actions: Mapping[str, int]) -> tuple[Edge, ...]:
    if not action.resource.serves or action.kind not in SERVING_ONTO or action.model is None:
        return ()
    creator = model_actions.get(action.model)
    return () if creator is None else (Edge(creator, Gate.READY),)


def _delete_edges(action: Action, actions: tuple[Action, ...]) -> tuple[Edge, ...]:
    arn = action.arn
    if action.resource is not Kind.CUSTOM_MODEL or action.kind is not ActionKind.DELETE or not arn:
        return ()
    return tuple(
        Edge(i, Gate.READY if user.kind is ActionKind.UPDATE_MODEL else Gate.DONE)
        for i, user in enumerate(actions)
        if user.resource.serves and user.moves_off(arn)
    )


def waves(plan: Plan) -> list[tuple[int, ...]]:
    """The graph's generations: every action of a wave depends only on earlier waves."""
    sorter = graphlib.TopologicalSorter(
        {i: [e.after for e in edges] for i, edges in dependencies(plan).items()}
    )
    sorter.prepare()
    result = []
    while sorter.is_active():
        ready = tuple(sorted(sorter.get_ready()))
        result.append(ready)
        sorter.done(*ready)
    return result
