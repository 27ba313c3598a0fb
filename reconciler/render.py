"""Plans and apply reports as text for people and JSON for tools; returns strings only.

Renderers are separate functions, not methods on the plan (octoDNS keeps them apart too),
so the plan stays plain data. Colour is the caller's decision: ``cli`` passes
``color=True`` only when stdout is a terminal and ``NO_COLOR`` is unset or empty.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from reconciler.diagram import serving_markdown
from reconciler.identity import Kind, Place
from reconciler.plan import DESTRUCTIVE as _DESTRUCTIVE
from reconciler.plan import ERRORS, Action, ActionKind, Plan, label
from reconciler.report import ActionResult, ApplyReport, Outcome

MARKERS = {
    ActionKind.CREATE: "+",
    ActionKind.REPLACE: "-/+",
    ActionKind.UPDATE_TAGS: "~",
    ActionKind.UPDATE_MODEL: "~>",
    ActionKind.ADOPT: "<+",
    ActionKind.DELETE: "-",
    ActionKind.RELEASE: "~",
    ActionKind.CONFLICT: "!",
    ActionKind.BLOCKED: "!",
    ActionKind.NOOP: "=",
}
_COLORS = {
    ActionKind.CREATE: "32",
    ActionKind.REPLACE: "1;31",
    ActionKind.UPDATE_TAGS: "33",
    ActionKind.UPDATE_MODEL: "36",
    ActionKind.ADOPT: "35",
    ActionKind.DELETE: "31",
    ActionKind.RELEASE: "33",
    ActionKind.CONFLICT: "1;31",
    ActionKind.BLOCKED: "1;31",
    ActionKind.NOOP: "2",
}


def plan_text(plan: Plan, region: Place | str, color: bool = False, show_noop: bool = False) -> str:
    """One line per change and error action, one for what is in sync (``show_noop``: one
    line per resource in sync instead), then a summary line."""
    header = f"Plan for scope {plan.scope!r} in {region}:"
    shown = [a for a in plan.actions if show_noop or a.kind is not ActionKind.NOOP]
    lines = [header] + [_action_line(a, color) for a in shown]
    lines += _in_sync_line(len(plan.actions) - len(shown), color)
    if not plan.actions:
        lines.append("  (no models declared or managed)")
    lines += [f"  CAUTION {a.key}: {a.caution}" for a in plan.cautions]
    lines.append(summary_line("Plan", plan.summary()))
    return "\n".join(lines) + "\n"


def report_text(
    report: ApplyReport, region: Place | str, color: bool = False, show_noop: bool = False
) -> str:
    """One line per action with its result (what was in sync folded into one line unless
    ``show_noop``), then a summary of results."""
    lines = [f"Apply for scope {report.plan.scope!r} in {region}:"]
    shown = [r for r in report.results if show_noop or r.action.kind is not ActionKind.NOOP]
    for result in shown:
        lines.append(f"{_action_line(result.action, color)} -> {_result_text(result)}")
    lines += _in_sync_line(len(report.results) - len(shown), color)
    lines.append(summary_line("Apply", report.plan.summary()))
    lines.append("Results: " + ", ".join(f"{n} {o}" for o, n in result_counts(report).items()))
    return "\n".join(lines) + "\n"


def result_counts(report: ApplyReport) -> dict[str, int]:
    """Changes done, resources in sync (a noop is not something done), failed, skipped."""
    in_sync = sum(r.action.kind is ActionKind.NOOP for r in report.results)
    outcomes = Counter(r.outcome for r in report.results if r.action.kind is not ActionKind.NOOP)
    return {
        "done": outcomes[Outcome.DONE],
        "in sync": in_sync,
        "failed": outcomes[Outcome.FAILED],
        "skipped": outcomes[Outcome.SKIPPED],
    }


def plan_json(plan: Plan, region: Place | str) -> str:
    """The plan as one JSON document."""
    return json.dumps(plan_document(plan, region), indent=2) + "\n"


def report_json(report: ApplyReport, region: Place | str) -> str:
    """The apply report as one JSON document: the plan's fields plus result and error."""
    return json.dumps(report_document(report, region), indent=2) + "\n"


def plan_document(plan: Plan, region: Place | str) -> dict[str, Any]:
    """What ``plan_json`` prints, as data (a target's entry in a targets document)."""
    return _document(plan, region, [_action_dict(a) for a in plan.actions])


def report_document(report: ApplyReport, region: Place | str) -> dict[str, Any]:
    """What ``report_json`` prints, as data."""
    return _document(report.plan, region, [_result_dict(r) for r in report.results])


def _document(plan: Plan, region: Place | str, actions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "scope": plan.scope,
        "account": Place.of(region).account or None,
        "region": Place.of(region).region,
        "actions": list(actions),
        "summary": plan.summary(),
    }


def _action_dict(action: Action) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "action": action.kind.value,
        "kind": action.resource.value,
        "name": action.name,
        "arn": action.arn,
        "reason": action.reason,
        "source": action.source,
    }
    if action.resource.serves:
        entry["model"] = action.model
        entry["modelArn"] = action.model_arn
    if action.caution:
        entry["caution"] = action.caution
    return entry


def _result_dict(result: ActionResult) -> dict[str, Any]:
    entry = _action_dict(result.action)
    entry["arn"] = result.arn or result.action.arn
    entry["result"] = result.outcome.value
    entry["error"] = result.error
    return entry


def _action_line(action: Action, color: bool) -> str:
    marker = f"{MARKERS[action.kind]} {action.kind.value}"
    marker = f"{marker:<15}"
    if color:
        marker = f"\x1b[{_COLORS[action.kind]}m{marker}\x1b[0m"
    where = f" [{action.source}]" if action.source else ""
    return f"  {marker} {label(action)}: {action.reason}{where}"


def _in_sync_line(count: int, color: bool) -> list[str]:
    if not count:
        return []
    marker = f"{MARKERS[ActionKind.NOOP]} {count} in sync"
    return [f"  \x1b[{_COLORS[ActionKind.NOOP]}m{marker}\x1b[0m" if color else f"  {marker}"]


def _result_text(result: ActionResult) -> str:
    if result.error:
        return f"{result.outcome.value}: {result.error}"
    return result.outcome.value


def summary_line(title: str, summary: dict[str, int]) -> str:
    if not summary:
        return f"{title}: nothing to do."
    return f"{title}: " + ", ".join(f"{count} {kind}" for kind, count in summary.items()) + "."


_MD_ICONS = {
    ActionKind.CREATE: "🟢",
    ActionKind.REPLACE: "🔴",
    ActionKind.UPDATE_TAGS: "🟡",
    ActionKind.UPDATE_MODEL: "🔵",
    ActionKind.ADOPT: "🟣",
    ActionKind.DELETE: "🔴",
    ActionKind.RELEASE: "🟡",
    ActionKind.CONFLICT: "⛔",
    ActionKind.BLOCKED: "⛔",
    ActionKind.NOOP: "⚪",
}


def plan_markdown(plan: Plan, region: Place | str) -> str:
    """The plan as a Markdown report for a pull-request comment or a step summary."""
    return _markdown("Plan", plan, region, [(a, None) for a in plan.actions])


def report_markdown(report: ApplyReport, region: Place | str) -> str:
    """The apply report as Markdown: the plan's table with a result column."""
    rows = [(r.action, r) for r in report.results]
    return _markdown("Apply", report.plan, region, rows)


def _markdown(
    title: str,
    plan: Plan,
    region: Place | str,
    rows: Sequence[tuple[Action, ActionResult | None]],
) -> str:
    summary = plan.summary()
    counts = " · ".join(f"{n} {kind}" for kind, n in summary.items()) or "nothing to do"
    lines = [
        f"### Bedrock custom models: {title.lower()} for scope `{plan.scope}` in `{region}`",
        "",
        f"**{counts}**",
        "",
    ]
    with_result = title == "Apply"
    lines += _report_warnings(rows) if with_result else _markdown_warnings(plan)
    not_done = {a.key: r.outcome.value for a, r in rows if r and r.outcome is not Outcome.DONE}
    lines += serving_markdown(plan, not_done=not_done)
    changed = [(a, r) for a, r in rows if a.kind is not ActionKind.NOOP]
    unchanged = [(a, r) for a, r in rows if a.kind is ActionKind.NOOP]
    if changed:
        lines += _markdown_table(changed, with_result)
    if unchanged:
        lines += ["", f"<details><summary>{len(unchanged)} in sync</summary>", ""]
        lines += _markdown_table(unchanged, with_result)
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _markdown_warnings(plan: Plan) -> list[str]:
    lines = []
    destructive = [a for a in plan.actions if a.kind in _DESTRUCTIVE]
    if destructive:
        names = ", ".join(md_code(label(a)) for a in destructive)
        noun = (
            "model(s)"
            if all(a.resource is Kind.CUSTOM_MODEL for a in destructive)
            else "resource(s)"
        )
        lines += [
            "> [!CAUTION]",
            f"> **{len(destructive)} {noun} will be deleted or replaced:** {names}",
            "",
        ]
    if plan.cautions:
        lines += ["> [!CAUTION]", f"> **{len(plan.cautions)} commitment(s) would be bought:**"]
        lines += [f"> - {md_code(str(a.key))} {a.caution}" for a in plan.cautions]
        lines.append("")
    if plan.errors:
        names = ", ".join(md_code(label(a)) for a in plan.errors)
        lines += [
            "> [!WARNING]",
            f"> **{len(plan.errors)} action(s) cannot be applied** (conflict or blocked): {names}",
            "",
        ]
    return lines


def _report_warnings(rows: Sequence[tuple[Action, ActionResult | None]]) -> list[str]:
    """What an apply did that a reviewer must see: what it deleted or replaced, what it
    bought, what it could not do (a plan says what it would do, a report what was done)."""
    done = [a for a, r in rows if r is not None and r.outcome is Outcome.DONE]
    lines = []
    destructive = [a for a in done if a.kind in _DESTRUCTIVE]
    if destructive:
        names = ", ".join(md_code(label(a)) for a in destructive)
        lines += ["> [!CAUTION]", f"> **{len(destructive)} deleted or replaced:** {names}", ""]
    bought = [a for a in done if a.caution]
    if bought:
        lines += ["> [!CAUTION]", f"> **{len(bought)} commitment(s) bought:**"]
        lines += [f"> - {md_code(str(a.key))} {a.caution}" for a in bought]
        lines.append("")
    failed = [a for a, r in rows if r is not None and r.outcome is Outcome.FAILED]
    if failed:
        names = ", ".join(md_code(label(a)) for a in failed)
        lines += ["> [!WARNING]", f"> **{len(failed)} action(s) failed:** {names}", ""]
    return lines


def _markdown_table(
    rows: Sequence[tuple[Action, ActionResult | None]], with_result: bool
) -> list[str]:
    header = "| | action | resource | reason | declared at |"
    rule = "|---|---|---|---|---|"
    if with_result:
        header += " result |"
        rule += "---|"
    lines = [header, rule]
    for action, result in rows:
        kind = action.kind.value
        if action.kind in _DESTRUCTIVE or action.kind in ERRORS:
            kind = f"**{kind}**"
        source = md_code(action.source) if action.source else "—"
        cells = [
            _MD_ICONS[action.kind],
            kind,
            md_code(label(action)),
            md_cell(action.reason),
            source,
        ]
        if with_result:
            cells.append(md_cell(_result_text(result)) if result else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def md_cell(text: str) -> str:
    """Text safe in a table cell: a ``|`` would end the cell, a newline the row."""
    return " ".join(text.replace("|", "\\|").splitlines())


def md_code(text: str) -> str:
    """``text`` as a code span in a table cell, whatever backticks or pipes it holds."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{md_cell(text)}{pad}{fence}"
