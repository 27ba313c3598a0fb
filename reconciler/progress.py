"""Progress while ``apply --wait`` waits: a status line on stderr, never on stdout.

``summary`` turns one poll's answers into the line's text: counts by state for each kind,
the slowest resource still waiting and how long it has waited. ``Reporter`` is the
``readiness.Observer`` that writes it: on a terminal one line redrawn in place (``\\r`` and
erase, coloured unless told not to), elsewhere one plain line at every change of state and
otherwise every ``interval`` seconds, with no escape codes at all. Time comes with each
update, so tests drive it with a fake clock. Wired by ``commands`` for ``apply --wait``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.aws.readiness import Answer, Gate, State
from reconciler.identity import KIND_ORDER, Kind
from reconciler.observed import READY_STATUS, STATUS_FAILED


class Stream(Protocol):
    """Where progress lines go (stderr, or a target's prefixed view of it)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


DEFAULT_INTERVAL = 60.0
ERASE = "\r\x1b[K"
_RESET = "\x1b[0m"
_STYLES = {"ready": "\x1b[32m", "waiting": "\x1b[33m", "failed": "\x1b[31m"}
_PLURAL = {
    Kind.CUSTOM_MODEL: "models",
    Kind.PROVISIONED_THROUGHPUT: "throughputs",
    Kind.CUSTOM_MODEL_DEPLOYMENT: "deployments",
}

# A piece of the line and its style ("" for none, else a key of _STYLES).
Part = tuple[str, str]


@dataclass(frozen=True)
class Waited:
    """One resource waited for, as the line shows it."""

    kind: Kind
    name: str
    state: State
    label: str  # its status as shown: Active, Creating, Failed, switching ...
    seconds: float  # how long it has been waited for


def waited(gate: Gate, answer: Answer, seconds: float) -> Waited:
    """What the line says of one gate's answer."""
    if answer.state is State.READY:
        label = READY_STATUS[gate.kind]
    elif answer.state is State.FAILED:
        label = STATUS_FAILED
    elif not answer.status:
        label = "not listed yet"
    elif answer.status == READY_STATUS[gate.kind]:
        label = "switching"  # ready, still serving the model it is moving off
    else:
        label = answer.status
    return Waited(gate.kind, gate.name, answer.state, label, seconds)


def summary(resources: Sequence[Waited], seconds: float) -> list[Part]:
    """``waiting 00:12:04: 2 of 3 models Active, 1 Creating (v2, 12m04s)``, one clause a kind."""
    pending = [r for r in resources if r.state is State.WAITING]
    slowest = min(pending, key=lambda r: (-r.seconds, r.kind.rank, r.name), default=None)
    parts: list[Part] = [(f"{'waiting' if pending else 'waited'} {clock_text(seconds)}: ", "")]
    for kind in KIND_ORDER:
        mine = [r for r in resources if r.kind is kind]
        if not mine:
            continue
        if len(parts) > 1:
            parts.append(("; ", ""))
        ready = sum(r.state is State.READY for r in mine)
        count = f"{ready} of {len(mine)} {_PLURAL[kind]} {READY_STATUS[kind]}"
        parts.append((count, "ready" if ready else ""))
        for label, group in _groups(r for r in mine if r.state is not State.READY):
            style = "failed" if group[0].state is State.FAILED else "waiting"
            parts += [(", ", ""), (f"{len(group)} {label}", style)]
            if slowest in group:
                assert slowest is not None
                parts.append((f" ({slowest.name}, {elapsed_text(slowest.seconds)})", ""))
    return parts


def _groups(resources: Iterable[Waited]) -> list[tuple[str, list[Waited]]]:
    """By label: the waiting ones in name order, the failed ones last."""
    groups: dict[str, list[Waited]] = {}
    for r in resources:
        groups.setdefault(r.label, []).append(r)
    return sorted(groups.items(), key=lambda g: (g[1][0].state is State.FAILED, g[0]))


def clock_text(seconds: float) -> str:
    """``00:12:04``."""
    whole = int(max(0.0, seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def elapsed_text(seconds: float) -> str:
    """``45s``, ``12m04s``, ``1h02m03s``."""
    whole = int(max(0.0, seconds))
    hours, minutes, secs = whole // 3600, whole // 60 % 60, whole % 60
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def plain(parts: Sequence[Part]) -> str:
    return "".join(text for text, _ in parts)


def coloured(parts: Sequence[Part]) -> str:
    return "".join(f"{_STYLES[s]}{text}{_RESET}" if s else text for text, s in parts)


def truncated(parts: Sequence[Part], width: int) -> list[Part]:
    """The parts cut to ``width`` characters of text (a wrapped line cannot be redrawn)."""
    kept: list[Part] = []
    room = max(1, width)
    for text, style in parts:
        if room <= 0:
            break
        kept.append((text[:room], style))
        room -= len(text)
    return kept


class Reporter:
    """Shows each poll of a wait on ``stream`` (stderr); implements ``readiness.Observer``.

    ``terminal``: redraw one line in place, coloured if ``color``, cut to ``width``; else
    write a plain line when any resource's state changes, otherwise every ``interval``
    seconds. ``started`` (on the clock the updates come with) is when the wait began; by
    default, the first update. Call ``finish`` before anything else is written to the
    terminal.
    """

    def __init__(
        self,
        stream: Stream,
        *,
        terminal: bool,
        color: bool = True,
        interval: float = DEFAULT_INTERVAL,
        started: float | None = None,
        width: int = 80,
    ) -> None:
        self.stream = stream
        self.terminal = terminal
        self.color = color
        self.interval = interval
        self.started = started
        self.width = width
        self._since: dict[tuple[Kind, str], float] = {}
        self._shown: tuple[tuple[Kind, str, str], ...] | None = None
        self._shown_at = 0.0
        self._drawn = False

    def update(self, states: Mapping[Gate, Answer], now: float) -> None:
        if self.started is None:
            self.started = now
        resources = self._resources(states, now)
        parts = summary(resources, now - self.started)
        if self.terminal:
            self._draw(parts)
            return
        shown = tuple(sorted((r.kind, r.name, r.label) for r in resources))
        if shown != self._shown or now - self._shown_at >= self.interval:
            self.stream.write(plain(parts) + "\n")
            self.stream.flush()
            self._shown, self._shown_at = shown, now

    def finish(self) -> None:
        """End the redrawn line, so what follows starts on a line of its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _resources(self, states: Mapping[Gate, Answer], now: float) -> list[Waited]:
        found: dict[tuple[Kind, str], Waited] = {}
        for gate, answer in states.items():
            key = (gate.kind, gate.name)
            since = self._since.setdefault(key, now)
            found[key] = waited(gate, answer, now - since)
        return list(found.values())

    def _draw(self, parts: Sequence[Part]) -> None:
        cut = truncated(parts, self.width - 1)
        self.stream.write(ERASE + (coloured(cut) if self.color else plain(cut)))
        self.stream.flush()
        self._drawn = True
