#!/usr/bin/env python3
"""Mutation testing of the safety-critical modules, checked against a list of equivalents.

Runs mutmut (configured in ``pyproject.toml``, ``[tool.mutmut]``: ``only_mutate`` is the one
list of modules, ``pytest_add_cli_args_test_selection`` the fast unit tests run against each
mutant), then compares every mutant no test killed with ``.ci/mutation-equivalents.toml``.
Exits 1, printing each one (file, line, the mutated code, and an entry to paste if it truly
is equivalent), when a mutant survives that the list does not name, or when the list names
a mutant that no longer survives. Prints the score per module as a markdown table.

An entry is keyed by the file, the function and the mutated code (the original lines and
the mutant's), never by mutmut's running number or a line number, so it holds however the
rest of the file changes. Run from anywhere: ``.venv/bin/python .ci/mutation.py``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / ".ci" / "mutation-equivalents.toml"
WORKDIR = ROOT / "mutants"
KILLED = frozenset({"killed", "timeout", "caught by type check", "segfault"})
NOT_COUNTED = frozenset({"skipped"})
# reconciler.plan.x_plan__mutmut_3, reconciler.backoff.xǁBackoffǁready__mutmut_1
_NAME = re.compile(
    r"^(?P<module>[\w.]+?)\.x(?:_(?P<function>\w+?)|ǁ(?P<cls>\w+)ǁ(?P<method>\w+?))__mutmut_\d+$"
)


@dataclass(frozen=True)
class Mutant:
    """One mutant no test killed, as mutmut shows it.

    ``occurrence`` tells apart the same change made to identical lines of one function.
    """

    name: str
    status: str
    file: str
    function: str
    line: int
    before: str
    after: str
    occurrence: int

    @property
    def key(self) -> Key:
        return (self.file, self.function, self.before, self.after, self.occurrence)


Key = tuple[str, str, str, str, int]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.chdir(ROOT)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    problems = _config_problems(config)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    if not args.report_only:
        if not args.incremental:
            shutil.rmtree(WORKDIR, ignore_errors=True)
        if not _run_mutmut(args.jobs):
            return 2
    statuses = _statuses()
    if not statuses:
        print("mutmut made no mutants; is [tool.mutmut] only_mutate right?", file=sys.stderr)
        return 2
    survivors = _show_all([n for n, s in statuses.items() if s not in KILLED | NOT_COUNTED])
    allowed = _load_equivalents()
    print(_table(statuses, survivors, allowed))
    return _verdict(survivors, allowed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants at once")
    parser.add_argument(
        "--incremental", action="store_true", help="keep mutants/ and re-test only what changed"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="do not run mutmut; report on mutants/"
    )
    return parser


def _config_problems(config: Mapping[str, Any]) -> list[str]:
    """Every module pattern must name a file and every test path exist: no silent rot."""
    problems = [
        f"[tool.mutmut] only_mutate: {pattern!r} matches no file"
        for pattern in config.get("only_mutate", [])
        if not list(ROOT.glob(pattern))
    ]
    problems += [
        f"[tool.mutmut] pytest_add_cli_args_test_selection: {path!r} does not exist"
        for path in config.get("pytest_add_cli_args_test_selection", [])
        if not path.startswith("-") and not (ROOT / path.split("::")[0]).exists()
    ]
    return problems


def _run_mutmut(jobs: int) -> bool:
    started = time.monotonic()
    print(f"mutmut run --max-children {jobs} ...", flush=True)
    WORKDIR.mkdir(exist_ok=True)
    log = WORKDIR / "run.log"
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        print(f"{tail}\nmutmut run failed (exit {done.returncode}); log: {log}", file=sys.stderr)
        return False
    print(f"mutmut run took {time.monotonic() - started:.0f}s", flush=True)
    return True


def _env() -> dict[str, str]:
    """mutmut runs its type checker by name: put this interpreter's scripts first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _mutmut(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    return done.stdout


def _statuses() -> dict[str, str]:
    statuses = {}
    for line in _mutmut("results", "--all", "true").splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            statuses[name] = status
    return statuses


def _show_all(names: list[str]) -> list[Mutant]:
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return sorted(pool.map(_show, names), key=lambda m: (m.file, m.line, m.name))


def _show(name: str) -> Mutant:
    """The mutant as ``mutmut show`` prints it: its status, file and changed lines."""
    text = _mutmut("show", name)
    lines = text.splitlines()
    match = _NAME.match(name)
    header = next((ln for ln in lines if ln.startswith("--- ")), None)
    if match is None or header is None:
        raise SystemExit(f"cannot read mutmut's mutant {name!r}:\n{text}")
    function = match["function"] or f"{match['cls']}.{match['method']}"
    path = header[4:].strip()
    hunk = lines[lines.index(header) + 2 :]
    before = [ln[1:].strip() for ln in hunk if ln.startswith("-")]
    source = [ln.strip() for ln in (ROOT / path).read_text().splitlines()]
    start, end = _span(ROOT / path, function)
    line = _locate(source, start, end, hunk)
    occurrence = sum(source[n - 1 : n - 1 + len(before)] == before for n in range(start, line + 1))
    return Mutant(
        name=name,
        status=lines[0].rpartition(": ")[2].strip(),
        file=path,
        function=function,
        line=line,
        before="\n".join(before),
        after="\n".join(ln[1:].strip() for ln in hunk if ln.startswith("+")),
        occurrence=max(occurrence, 1),
    )


def _span(path: Path, function: str) -> tuple[int, int]:
    """First and last line of ``function`` (``Class.method`` for a method) in ``path``."""
    scope: Iterable[ast.stmt] = ast.parse(path.read_text()).body
    node: ast.stmt | None = None
    for part in function.split("."):
        node = next((n for n in scope if getattr(n, "name", None) == part), None)
        if node is None:
            raise SystemExit(f"{path}: no function {function!r}, yet mutmut mutated it")
        scope = getattr(node, "body", [])
    assert node is not None
    return node.lineno, node.end_lineno or node.lineno


def _locate(source: list[str], start: int, end: int, hunk: list[str]) -> int:
    """The file line of the hunk's first removed line: where the hunk's original side (its
    context and removed lines) sits in the function, nearest where mutmut says it is."""
    old = [ln[1:].strip() for ln in hunk if not ln.startswith(("+", "@@"))]
    first = next((i for i, ln in enumerate(hunk) if ln.startswith("-")), 0)
    first -= sum(ln.startswith(("+", "@@")) for ln in hunk[:first])
    said = re.match(r"@@ -(\d+)", hunk[0]) if hunk else None
    expected = start + (int(said[1]) - 1 if said else 0) + first
    places = [n for n in range(start, end + 1) if source[n - 1 : n - 1 + len(old)] == old]
    return min((n + first for n in places), key=lambda n: abs(n - expected), default=expected)


def _load_equivalents() -> dict[Key, str]:
    entries = tomllib.loads(EQUIVALENTS.read_text()).get("equivalent", [])
    return {
        (e["file"], e["function"], e["before"], e["after"], e.get("occurrence", 1)): e["reason"]
        for e in entries
    }


def _table(statuses: Mapping[str, str], survivors: list[Mutant], allowed: Mapping[Key, str]) -> str:
    """Per module: mutants, killed by a test, rejected by mypy, equivalent, surviving, score.

    The score is the share of mutants caught (by a test or by mypy) among the ones that are
    not equivalent.
    """
    counts: dict[str, Counter[str]] = {}
    for name, status in statuses.items():
        if status not in NOT_COUNTED:
            counts.setdefault(_module(name), Counter())[status] += 1
    for mutant in survivors:
        if mutant.key in allowed:
            counts[_module(mutant.name)]["equivalent"] += 1
    rows = [
        "| Module | Mutants | Killed by a test | Rejected by mypy | Equivalent | Survived "
        "| Score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module, count in [*sorted(counts.items()), ("all", sum(counts.values(), Counter()))]:
        total = count.total() - count["equivalent"]
        typed = count["caught by type check"]
        killed = sum(count[s] for s in KILLED) - typed
        equivalent = count["equivalent"]
        survived = total - killed - typed - equivalent
        score = 100.0 * (killed + typed) / max(1, total - equivalent)
        label = f"`{module}`" if module != "all" else "all"
        rows.append(
            f"| {label} | {total} | {killed} | {typed} | {equivalent} | {survived} | {score:.1f}% |"
        )
    return "\n".join(rows)


def _module(name: str) -> str:
    return name.split(".x", 1)[0]


def _verdict(survivors: list[Mutant], allowed: Mapping[Key, str]) -> int:
    unlisted = [m for m in survivors if m.key not in allowed]
    stale = sorted(set(allowed) - {m.key for m in survivors})
    for mutant in unlisted:
        print(f"\n{mutant.file}:{mutant.line}: in {mutant.function}: {mutant.status}")
        print("".join(f"  - {ln}\n" for ln in mutant.before.splitlines()), end="")
        print("".join(f"  + {ln}\n" for ln in mutant.after.splitlines()), end="")
        print(f"  (mutmut show {mutant.name})")
    if unlisted:
        print(
            f"\n{len(unlisted)} mutant(s) survived. Add a test that kills each; only a mutant "
            f"no test can tell from the original goes in {EQUIVALENTS.relative_to(ROOT)}:"
        )
        print("".join(_entry(m) for m in unlisted))
    for file, function, before, after, _ in stale:
        print(
            f"\nstale entry in {EQUIVALENTS.relative_to(ROOT)} ({file}, {function}): no such "
            f"surviving mutant any more; remove it:\n  - {before}\n  + {after}"
        )
    return 1 if unlisted or stale else 0


def _entry(mutant: Mutant) -> str:
    def quoted(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    return (
        "\n[[equivalent]]\n"
        f"file = {quoted(mutant.file)}\n"
        f"function = {quoted(mutant.function)}\n"
        f"before = {quoted(mutant.before)}\n"
        f"after = {quoted(mutant.after)}\n"
        + (f"occurrence = {mutant.occurrence}\n" if mutant.occurrence > 1 else "")
        + 'reason = "..."\n'
    )


if __name__ == "__main__":
    sys.exit(main())
