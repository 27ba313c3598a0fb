"""Safe YAML parsing that keeps the line of every value and refuses hostile documents.

PyYAML's safe composer builds a node graph in which an alias is a second reference to the
same node, so composing an alias bomb is cheap; the expansion happens only when the graph is
turned into Python objects. This module does that conversion itself: it counts every node
it expands and stops as soon as the expansion is out of proportion to the document, before
memory grows. It also records the line of each field path (octoDNS does the same), accepts
only the plain YAML scalar, mapping and sequence tags, and refuses duplicate keys.
Called by ``manifests``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

Path = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Tag keys and values are strings as written: ``yes: on`` is the tag "yes" = "on", and
# ``1.10:`` the key "1.10", not YAML 1.1's True or 1.1.
_TEXT_MAPPINGS = frozenset({("spec", "tags")})
_SEQ_TAG = "tag:yaml.org,2002:seq"
# An alias may repeat a node, but expanding a document to many times its own size is an attack.
_EXPANSION_FLOOR = 2_000
_EXPANSION_RATIO = 10
# A manifest is a few dozen values; no real document comes near this many.
MAX_NODES = 100_000
# libyaml's composer builds the same nodes, with marks, many times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 32
_TOO_DEEP = f"document nested deeper than {MAX_DEPTH} levels"
# libyaml (0.2.5 and later) stops a scan past its own nesting limit with this problem.
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"


class YamlError(Exception):
    """A document cannot be turned into data; carries the 1-based line."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


@dataclass
class Document:
    """One parsed YAML document: its data and the line of each field path."""

    data: Any
    line: int
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """The line of the deepest known prefix of ``path`` (a missing field: its parent)."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return self.line


def load_documents(text: str) -> Iterator[Document]:
    """Yield every non-empty document of ``text``; raise YamlError at the first bad one."""
    try:
        for node in yaml.compose_all(text, Loader=_LOADER):
            if node is None:
                continue
            converter = _Converter()
            data = converter.convert(node, (), 0)
            if data is None:
                continue
            yield Document(data=data, line=node.start_mark.line + 1, lines=converter.lines)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        if e.problem == _LIBYAML_TOO_DEEP:
            raise YamlError(line, _TOO_DEEP) from e
        if _tab_indented(text, line):
            raise YamlError(line, "a tab in indentation; YAML indents with spaces only") from e
        raise YamlError(line, f"malformed YAML: {e.problem or e.context}") from e
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        character = chr(e.character) if isinstance(e.character, int) else e.character
        raise YamlError(line, f"malformed YAML: character {character!r} is not allowed") from e
    except yaml.YAMLError as e:
        raise YamlError(1, f"malformed YAML: {e}") from e
    except RecursionError as e:
        raise YamlError(1, _TOO_DEEP) from e


def _tab_indented(text: str, line: int) -> bool:
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return False
    row = lines[line - 1]
    return "\t" in row[: len(row) - len(row.lstrip(" \t"))]


class _Converter:
    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self._constructor = SafeConstructor()
        self._expanded = 0
        self._distinct: set[int] = set()

    def convert(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self._count(node)
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            raise YamlError(line, _TOO_DEEP)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return self._sequence(node, path, depth)
        if node.tag == _STR_TAG:
            # Most values: a string scalar is its own value (what SafeConstructor returns).
            return node.value
        if node.tag == _MERGE_TAG:
            raise YamlError(line, "merge keys (<<) are not supported; write the keys out")
        if node.tag not in _SCALAR_TAGS:
            raise YamlError(line, f"YAML tag {node.tag!r} is not allowed in a manifest")
        try:
            return self._constructor.construct_object(node, deep=True)
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError) as e:
            # PyYAML's own constructors raise plain errors for values like 2024-02-30.
            raise YamlError(line, f"value {node.value!r} is not a valid {node.tag}") from e

    def _count(self, node: yaml.Node) -> None:
        self._expanded += 1
        self._distinct.add(id(node))
        if self._expanded <= _EXPANSION_FLOOR:
            return  # within both limits (MAX_NODES is larger than the floor)
        line = node.start_mark.line + 1
        if self._expanded > MAX_NODES:
            raise YamlError(line, f"document has more than {MAX_NODES} values; refused")
        too_many = self._expanded > _EXPANSION_RATIO * len(self._distinct)
        if too_many:
            raise YamlError(line, "YAML aliases expand out of proportion (alias bomb); refused")

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        if node.tag != _MAP_TAG:
            raise YamlError(node.start_mark.line + 1, f"YAML tag {node.tag!r} is not allowed")
        result: dict[Any, Any] = {}
        as_text = path in _TEXT_MAPPINGS
        for key_node, value_node in node.value:
            key = self._text(key_node) if as_text else self.convert(key_node, path, depth + 1)
            key_line = key_node.start_mark.line + 1
            if isinstance(key, dict | list):
                raise YamlError(key_line, "a mapping key must be a plain value")
            if key in result:
                raise YamlError(key_line, f"duplicate key {key!r}")
            self.lines[(*path, key)] = key_line
            if as_text and isinstance(value_node, yaml.ScalarNode):
                result[key] = self._text(value_node)
            else:
                result[key] = self.convert(value_node, (*path, key), depth + 1)
        return result

    def _text(self, node: yaml.Node) -> Any:
        """A scalar as the user wrote it (no YAML 1.1 booleans, numbers or dates)."""
        self._count(node)
        if not isinstance(node, yaml.ScalarNode):
            raise YamlError(node.start_mark.line + 1, "a mapping key must be a plain value")
        if node.tag == _MERGE_TAG:
            raise YamlError(
                node.start_mark.line + 1, "merge keys (<<) are not supported; write the keys out"
            )
        if node.tag not in _SCALAR_TAGS:
            raise YamlError(node.start_mark.line + 1, f"YAML tag {node.tag!r} is not allowed")
        return node.value

    def _sequence(self, node: yaml.SequenceNode, path: Path, depth: int) -> list[Any]:
        if node.tag != _SEQ_TAG:
            raise YamlError(node.start_mark.line + 1, f"YAML tag {node.tag!r} is not allowed")
        items = []
        for index, item in enumerate(node.value):
            self.lines[(*path, index)] = item.start_mark.line + 1
            items.append(self.convert(item, (*path, index), depth + 1))
        return items
