"""A run over several targets as text, Markdown and JSON: one section per target, a total.

Each target's section is exactly what a run of that target alone prints (``render``), under
a line naming the target; a target that failed shows its error instead. The JSON document is
``{"targets": [...], "summary": {...}}``, where each entry has the fields of a single
target's document plus ``target`` and ``error``. Returns strings only; called by ``fleet``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler import render
from reconciler.identity import Place
from reconciler.plan import Plan
from reconciler.report import ApplyReport


@dataclass(frozen=True)
class Section:
    """One target's part of a run: its plan or apply report, or the error that stopped it."""

    target: str
    scope: str
    region: str
    place: Place | None = None
    plan: Plan | None = None
    report: ApplyReport | None = None
    error: str | None = None

    @property
    def where(self) -> Place:
        return self.place or Place(region=self.region)

    @property
    def shown(self) -> Plan | None:
        return self.report.plan if self.report is not None else self.plan


def totals(sections: Sequence[Section]) -> dict[str, int]:
    """Every target's summary added up, with how many targets ran and how many failed."""
    counts: Counter[str] = Counter()
    for section in sections:
        if section.shown is not None:
            counts.update(section.shown.summary())
    failed = sum(s.error is not None for s in sections)
    return {"targets": len(sections), "failed": failed, **counts}


def _total_line(title: str, sections: Sequence[Section]) -> str:
    summary = totals(sections)
    count, failed = summary.pop("targets"), summary.pop("failed")
    noun = "target" if count == 1 else "targets"
    failures = f", {failed} failed" if failed else ""
    return render.summary_line(f"Total over {count} {noun}{failures}", summary)


def text(
    sections: Sequence[Section], title: str, color: bool = False, show_noop: bool = False
) -> str:
    parts = []
    for s in sections:
        head = f"== target {s.target} =="
        if s.error is not None:
            body = f"{title} for scope {s.scope!r} in {s.where}: failed\n  error: {s.error}\n"
        elif s.report is not None:
            body = render.report_text(s.report, s.where, color=color, show_noop=show_noop)
        else:
            assert s.plan is not None
            body = render.plan_text(s.plan, s.where, color=color, show_noop=show_noop)
        parts.append(f"{head}\n{body}")
    return "\n".join(parts) + "\n" + _total_line(title, sections) + "\n"


def markdown(sections: Sequence[Section], title: str) -> str:
    parts = []
    for s in sections:
        head = f"## Target `{s.target}`\n\n"
        if s.error is not None:
            body = (
                f"### Bedrock custom models: {title.lower()} for scope `{s.scope}` in "
                f"`{s.where}` failed\n\n```\n{s.error}\n```\n"
            )
        elif s.report is not None:
            body = render.report_markdown(s.report, s.where)
        else:
            assert s.plan is not None
            body = render.plan_markdown(s.plan, s.where)
        parts.append(head + body)
    return "\n".join(parts) + f"\n**{_total_line(title, sections)}**\n"


def document(sections: Sequence[Section]) -> dict[str, Any]:
    entries = []
    for s in sections:
        if s.report is not None:
            entry = render.report_document(s.report, s.where)
        elif s.plan is not None:
            entry = render.plan_document(s.plan, s.where)
        else:
            entry = {
                "scope": s.scope,
                "account": s.where.account or None,
                "region": s.where.region,
                "actions": [],
                "summary": {},
            }
        entries.append({"target": s.target, **entry, "error": s.error})
    return {"targets": entries, "summary": totals(sections)}


def json_text(sections: Sequence[Section]) -> str:
    return json.dumps(document(sections), indent=2) + "\n"
