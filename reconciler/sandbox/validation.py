"""Server-side input validation, driven by botocore's Bedrock service model.

botocore validates types, required members and minimum lengths on the client; Bedrock also
enforces maximum lengths, value ranges, enums and regular expressions on the server and
answers ``ValidationException`` listing every violation. This module reproduces that.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import botocore.session

from reconciler.sandbox.errors import ValidationException

# Identifier and ARN patterns are skipped: moto's own models (customization jobs) have ARNs
# Bedrock would never issue, and an unknown identifier still gets ResourceNotFoundException.
_UNCHECKED_PATTERNS = frozenset({"ModelIdentifier", "TaggableResourcesArn"})
_NOT_NULL = "Member must not be null"


@functools.cache
def _service_model() -> Any:
    return botocore.session.get_session().get_service_model("bedrock")


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def validate_input(operation: str, params: Mapping[str, Any]) -> None:
    """Raise ValidationException if ``params`` break the operation's input constraints."""
    shape = _service_model().operation_model(operation).input_shape
    problems = list(_violations(shape, params, ""))
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {noun} detected: " + "; ".join(problems))


def _violations(shape: Any, value: Any, path: str) -> Iterator[str]:
    if value is None:
        return
    kind = shape.type_name
    if kind == "structure":
        yield from _structure_violations(shape, value, path)
    elif kind == "list":
        yield from _length_violations(shape, value, path)
        for index, item in enumerate(value, start=1):
            yield from _violations(shape.member, item, f"{path}.{index}.member")
    elif kind == "string":
        yield from _string_violations(shape, value, path)
    elif kind in ("integer", "long"):
        yield from _range_violations(shape, value, path)


def _structure_violations(shape: Any, value: Mapping[str, Any], path: str) -> Iterator[str]:
    prefix = f"{path}." if path else ""
    for name in shape.required_members:
        if value.get(name) is None:
            yield f"Value null at '{prefix}{name}' failed to satisfy constraint: {_NOT_NULL}"
    # URI and querystring members arrive parsed into the same mapping as body members.
    for name, member in shape.members.items():
        yield from _violations(member, value.get(name), f"{prefix}{name}")


def _string_violations(shape: Any, value: str, path: str) -> Iterator[str]:
    yield from _length_violations(shape, value, path)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        yield _constraint(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
    pattern = shape.metadata.get("pattern")
    checked = pattern and shape.name not in _UNCHECKED_PATTERNS
    if checked and not _compiled(pattern).fullmatch(value):
        yield _constraint(
            value, path, f"Member must satisfy regular expression pattern: ^{pattern}$"
        )


def _length_violations(shape: Any, value: Any, path: str) -> Iterator[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        yield _constraint(value, path, f"Member must have length greater than or equal to {low}")
    if high is not None and len(value) > high:
        yield _constraint(value, path, f"Member must have length less than or equal to {high}")


def _range_violations(shape: Any, value: int, path: str) -> Iterator[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        yield _constraint(value, path, f"Member must have value greater than or equal to {low}")
    if high is not None and value > high:
        yield _constraint(value, path, f"Member must have value less than or equal to {high}")


def _constraint(value: Any, path: str, rule: str) -> str:
    shown = value if isinstance(value, (str, int)) else "[...]"
    return f"Value '{shown}' at '{path}' failed to satisfy constraint: {rule}"
