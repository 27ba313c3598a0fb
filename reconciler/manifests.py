"""Find manifest files, parse them and validate them into a DesiredState.

Every problem in every file is collected and raised together as one ManifestError whose
lines read ``FILE:LINE: field.path: message``; nothing is returned unless every manifest
is valid, so an invalid checkout never reaches the planner. Called by ``cli``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.desired import (
    MAX_TAGS_PER_MODEL,
    CustomModelManifest,
    DeclaredModel,
    DesiredState,
)
from reconciler.errors import ManifestError, Problem, SourceError
from reconciler.yamlnodes import Document, YamlError, load_documents

MAX_FILE_BYTES = 1024 * 1024
MANIFEST_SUFFIXES = (".yaml", ".yml")
# Tags the reconciler adds itself: managed-by and spec-hash always, deletion-policy for Retain.
RECONCILER_TAG_COUNT = 2


def load(paths: Sequence[str]) -> DesiredState:
    """Read and validate every manifest under ``paths``; ManifestError lists every problem."""
    files = find_files(paths)
    declared: list[DeclaredModel] = []
    problems: list[Problem] = []
    for file in files:
        for item in _load_file(file):
            if isinstance(item, Problem):
                problems.append(item)
            else:
                declared.append(item)
    problems.extend(_duplicate_names(declared))
    if problems:
        raise ManifestError(problems)
    models = tuple(sorted(declared, key=lambda m: m.name))
    return DesiredState(models=models, files=tuple(str(f) for f in files))


def find_files(paths: Sequence[str]) -> list[Path]:
    """Every manifest file named by ``paths``: files as given, folders searched recursively."""
    found: dict[Path, Path] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise SourceError(f"{raw}: no such file or folder (a missing source is never empty)")
        candidates = [path] if path.is_file() else _walk(path)
        for file in candidates:
            found.setdefault(file.resolve(), file)
    return sorted(found.values())


def _walk(folder: Path) -> Iterator[Path]:
    """Follow symlinked folders, but never into one already visited (no loops)."""
    seen: set[tuple[int, int]] = set()
    for root, dirs, names in os.walk(folder, followlinks=True, onerror=_raise_source_error):
        stat = os.stat(root)
        if (stat.st_dev, stat.st_ino) in seen:
            dirs.clear()
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirs.sort()
        for name in sorted(names):
            if name.endswith(MANIFEST_SUFFIXES) and os.path.isfile(os.path.join(root, name)):
                yield Path(root, name)


def _raise_source_error(error: OSError) -> None:
    raise SourceError(f"{error.filename}: cannot be read: {error.strerror}") from error


def _load_file(file: Path) -> Iterator[DeclaredModel | Problem]:
    name = str(file)
    try:
        text = _read_text(file)
    except YamlError as e:
        yield Problem(name, e.line, "", e.message)
        return
    try:
        for document in load_documents(text):
            yield from _validate(document, name)
    except YamlError as e:
        yield Problem(name, e.line, "", e.message)


def _read_text(file: Path) -> str:
    try:
        with file.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size > MAX_FILE_BYTES:
                raise YamlError(1, f"file is larger than {MAX_FILE_BYTES // 1024} KiB; refused")
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise YamlError(1, f"cannot be read: {e.strerror}") from e
    if len(raw) > MAX_FILE_BYTES:
        raise YamlError(1, f"file is larger than {MAX_FILE_BYTES // 1024} KiB; refused")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise YamlError(line, "file is not valid UTF-8") from e


def _validate(document: Document, file: str) -> Iterator[DeclaredModel | Problem]:
    if not isinstance(document.data, dict):
        yield Problem(file, document.line, "", "a manifest must be a mapping")
        return
    too_many_tags = _tag_count_problem(document, file)
    if too_many_tags:
        yield too_many_tags
    try:
        manifest = CustomModelManifest.model_validate(document.data)
    except ValidationError as e:
        for error in e.errors():
            loc = tuple(part for part in error["loc"] if part != "[key]")
            path = ".".join(str(part) for part in loc)
            yield Problem(file, document.line_of(loc), path, _message(error))
        return
    if not too_many_tags:
        yield DeclaredModel(manifest=manifest, file=file, line=document.line)


def _tag_count_problem(document: Document, file: str) -> Problem | None:
    """The service's tag limit, counting the reconciler's own tags (checked on the raw data,
    so it is reported alongside any other problem of the document)."""
    spec = document.data.get("spec")
    tags = spec.get("tags") if isinstance(spec, dict) else None
    if not isinstance(tags, dict):
        return None
    count = len(tags) + RECONCILER_TAG_COUNT + (spec.get("deletionPolicy") == "Retain")
    if count <= MAX_TAGS_PER_MODEL:
        return None
    message = (
        f"{count} tags with the reconciler's own; the service allows {MAX_TAGS_PER_MODEL} per model"
    )
    return Problem(file, document.line_of(("spec", "tags")), "spec.tags", message)


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (is it a typo?)"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _duplicate_names(declared: Iterable[DeclaredModel]) -> Iterator[Problem]:
    first: dict[str, DeclaredModel] = {}
    for model in declared:
        earlier = first.setdefault(model.name, model)
        if earlier is not model:
            message = f"model {model.name!r} is declared twice (also at {earlier.source})"
            yield Problem(model.file, model.line, "metadata.name", message)
            yield Problem(
                earlier.file,
                earlier.line,
                "metadata.name",
                f"model {model.name!r} is declared twice (also at {model.source})",
            )
