"""``status`` rows as an aligned text table, a JSON document and a Markdown table; strings only.

The rows come from ``status.status_rows`` (pure data); this module only formats them: ages
as ``3d4h`` or ``12m04s``, times as UTC, the Markdown cells escaped as ``render`` escapes
the plan's. Called by ``commands``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from reconciler.identity import Place, ResourceKey
from reconciler.render import md_cell, md_code
from reconciler.status import StatusRow

HEADINGS = ("KIND", "NAME", "STATUS", "AGE", "SERVES", "EXPIRES", "DECLARED", "IN SYNC", "MANAGED")
NONE = "-"


def format_age(seconds: float | None) -> str:
    """The two largest units: ``45s``, ``12m04s``, ``4h05m``, ``3d4h``; ``-`` when unknown."""
    if seconds is None:
        return NONE
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_time(when: float | None) -> str:
    """A POSIX time as ``2026-12-03 20:01 UTC``; ``-`` when there is none."""
    if when is None:
        return NONE
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def status_text(
    rows: Sequence[StatusRow], scope: str, place: Place, missing: Sequence[ResourceKey] = ()
) -> str:
    """A heading, one aligned line per row, what is declared but absent, and a summary."""
    lines = [f"Status for scope {scope!r} in {place}:"]
    table = [HEADINGS, *(_cells(row, scope) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADINGS))]
    if rows:
        lines += [
            "  " + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in table
        ]
    else:
        lines.append("  (no resources managed by this scope)")
    if missing:
        lines.append(f"  not in the account: {', '.join(str(k) for k in missing)}")
    lines.append(_summary(rows, missing))
    return "\n".join(lines) + "\n"


def status_json(
    rows: Sequence[StatusRow], scope: str, place: Place, missing: Sequence[ResourceKey] = ()
) -> str:
    """The rows as one JSON document: ``scope``, ``account``, ``region``, ``resources``
    and ``missing`` (what the manifests declare that the account does not hold)."""
    document = {
        "scope": scope,
        "account": place.account or None,
        "region": place.region,
        "resources": [_row_dict(row) for row in rows],
        "missing": [str(k) for k in missing],
    }
    return json.dumps(document, indent=2) + "\n"


def status_markdown(
    rows: Sequence[StatusRow], scope: str, place: Place, missing: Sequence[ResourceKey] = ()
) -> str:
    """The rows as a Markdown table, for a pull-request comment or a step summary."""
    lines = [
        f"### Bedrock custom models: status for scope `{scope}` in `{place}`",
        "",
        f"**{_summary(rows, missing).removeprefix('Status: ').rstrip('.')}**",
        "",
    ]
    if rows:
        lines.append("| " + " | ".join(h.lower() for h in HEADINGS) + " |")
        lines.append("|" + "---|" * len(HEADINGS))
        for row in rows:
            kind, name, *rest = _cells(row, scope)
            lines.append("| " + " | ".join([kind, md_code(name), *map(md_cell, rest)]) + " |")
    if missing:
        lines += ["", "Not in the account: " + ", ".join(md_code(str(k)) for k in missing)]
    return "\n".join(lines) + "\n"


def _cells(row: StatusRow, scope: str) -> tuple[str, ...]:
    return (
        row.kind.value,
        row.name,
        row.status or NONE,
        format_age(row.age),
        _serves(row),
        format_time(row.commitment_expires),
        _yes_no(row.declared),
        _in_sync(row),
        _managed(row, scope),
    )


def _serves(row: StatusRow) -> str:
    if row.kind.serves:
        serving = f"-> {row.serves_from or NONE}"
        return f"{serving} (switching to {row.switching_to})" if row.switching_to else serving
    if row.served_by:
        return "<- " + ", ".join(str(k) for k in row.served_by)
    return NONE


def _in_sync(row: StatusRow) -> str:
    """``yes``, ``-`` without manifests, or ``no: <what the plan would do>``."""
    if row.in_sync is False and row.change:
        return f"no: {row.change}"
    return _yes_no(row.in_sync)


def _yes_no(value: bool | None) -> str:
    return NONE if value is None else ("yes" if value else "no")


def _managed(row: StatusRow, scope: str) -> str:
    if row.managed_by == scope:
        return "yes"
    return f"scope {row.managed_by!r}" if row.managed_by else "no"


def _summary(rows: Sequence[StatusRow], missing: Sequence[ResourceKey]) -> str:
    parts = [f"{len(rows)} resource{'s' * (len(rows) != 1)}"]
    in_sync = sum(r.in_sync is True for r in rows)
    pending = sum(r.in_sync is False for r in rows)
    if in_sync or pending:
        parts.append(f"{in_sync} in sync, {pending} not in sync")
    if missing:
        parts.append(f"{len(missing)} declared but not in the account")
    return "Status: " + ", ".join(parts) + "."


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row_dict(row: StatusRow) -> dict[str, Any]:
    return {
        "kind": row.kind.value,
        "name": row.name,
        "arn": row.arn,
        "status": row.status,
        "created": _iso(row.created),
        "ageSeconds": None if row.age is None else int(row.age),
        "age": format_age(row.age),
        "servesFrom": row.serves_from or None,
        "switchingTo": row.switching_to or None,
        "servedBy": [str(k) for k in row.served_by],
        "commitmentExpires": _iso(row.commitment_expires),
        "declared": row.declared,
        "inSync": row.in_sync,
        "change": row.change,
        "managedBy": row.managed_by,
        "source": row.source,
    }
