"""The mutation check's own bookkeeping (.ci/mutation.py): its configuration is checked,
its allow-list entries round-trip, and a surviving mutant that is not listed fails it."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_check", ROOT / ".ci" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check = load_check()


def mutant(before: str = "a = 1", after: str = "a = 2", status: str = "survived") -> object:
    return check.Mutant(
        name="reconciler.plan.x_plan__mutmut_1",
        status=status,
        file="reconciler/plan.py",
        function="plan",
        line=10,
        before=before,
        after=after,
        occurrence=1,
    )


def test_the_configuration_names_real_modules_and_tests() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert check._config_problems(config) == []
    assert check._config_problems({"only_mutate": ["reconciler/nope.py"]}) == [
        "[tool.mutmut] only_mutate: 'reconciler/nope.py' matches no file"
    ]


def test_every_listed_equivalent_has_a_reason() -> None:
    entries = tomllib.loads(check.EQUIVALENTS.read_text())["equivalent"]
    assert entries
    assert all(e["reason"].strip() and e["reason"] != "..." for e in entries)
    assert all("\n" not in e["reason"].strip() for e in entries), "one line each"


def test_an_unlisted_survivor_fails_and_prints_an_entry_that_reads_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    survivor = mutant(before='s = "x\\n"', after="s = None")
    assert check._verdict([survivor], {}) == 1
    printed = capsys.readouterr().out
    entry = printed[printed.index("[[equivalent]]") :]
    [read] = tomllib.loads(entry)["equivalent"]
    assert (read["file"], read["function"], read["before"], read["after"], 1) == survivor.key


def test_a_listed_survivor_passes_and_a_stale_entry_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    survivor = mutant()
    assert check._verdict([survivor], {survivor.key: "equivalent"}) == 0
    assert check._verdict([], {survivor.key: "equivalent"}) == 1
    assert "stale entry" in capsys.readouterr().out


def test_the_score_counts_mypy_and_equivalents_apart() -> None:
    statuses = {
        "reconciler.plan.x_plan__mutmut_1": "killed",
        "reconciler.plan.x_plan__mutmut_2": "caught by type check",
        "reconciler.plan.x_plan__mutmut_3": "survived",
        "reconciler.plan.x_plan__mutmut_4": "no tests",
    }
    survivor = check.Mutant(**{**mutant().__dict__, "name": "reconciler.plan.x_plan__mutmut_3"})
    table = check._table(statuses, [survivor], {survivor.key: "equivalent"})
    assert "| `reconciler.plan` | 4 | 1 | 1 | 1 | 1 | 66.7% |" in table.splitlines()
