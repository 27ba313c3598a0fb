"""The import contract (``[tool.importlinter]`` in pyproject.toml) covers every module.

import-linter checks only the modules a contract names, so a new module left out of the
layers, or out of the boto3/botocore/moto ban, would be unconstrained without anyone
noticing. These tests fail until it is placed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reconciler"
# Where boto3, botocore and moto may be imported: the AWS edge and the emulator.
EDGES = {"reconciler.aws", "reconciler.sandbox"}


def contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = config["tool"]["importlinter"]["contracts"]
    return {str(c["name"]): c for c in found}


def top_level_modules() -> set[str]:
    """``reconciler.x`` for every module and subpackage directly under the package."""
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    return {f"reconciler.{name}" for name in names}


def in_layers(layers: list[str]) -> set[str]:
    return {m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}


def contract_of(kind: str) -> dict[str, object]:
    [found] = [c for name, c in contracts().items() if name.startswith(kind)]
    return found


def test_every_module_has_a_layer() -> None:
    layers = contract_of("Layers")["layers"]
    assert isinstance(layers, list)
    assert top_level_modules() - in_layers(layers) == set()
    assert in_layers(layers) - top_level_modules() == set(), "a layer names no module"


def test_every_module_outside_the_edges_is_banned_from_boto3() -> None:
    banned = contract_of("boto3")
    assert banned["forbidden_modules"] == ["boto3", "botocore", "moto"]
    sources = banned["source_modules"]
    assert isinstance(sources, list)
    assert set(sources) == top_level_modules() - EDGES - {"reconciler.__main__"}
