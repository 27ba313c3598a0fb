"""Find manifest files, parse them and validate them into a DesiredState.

Every problem in every file is collected and raised together as one ManifestError whose
lines read ``FILE:LINE: field.path: message``; nothing is returned unless every manifest
is valid, so an invalid checkout never reaches the planner. Called by ``commands`` and
``watch``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.desired import (
    KINDS,
    MAX_TAGS_PER_MODEL,
    AnyManifest,
    CustomModelManifest,
    Declared,
    DeclaredResource,
    DesiredState,
    Manifest,
    desired_state,
)
from reconciler.errors import ManifestError, Problem, SourceError, UsageError
from reconciler.identity import Kind
from reconciler.yamlnodes import Document, YamlError, load_documents

MAX_FILE_BYTES = 1024 * 1024
MANIFEST_SUFFIXES = (".yaml", ".yml")
# Tags the reconciler adds itself: managed-by and spec-hash always, deletion-policy for Retain.
RECONCILER_TAG_COUNT = 2


def load(paths: Sequence[str]) -> DesiredState:
    """Read and validate every manifest under ``paths``; ManifestError lists every problem."""
    entries = find_files(paths)
    files = [e for e in entries if isinstance(e, Path)]
    problems = [e for e in entries if isinstance(e, Problem)]
    declared: list[DeclaredResource] = []
    for file in files:
        for item in _load_file(file):
            if isinstance(item, Problem):
                problems.append(item)
            else:
                declared.append(item)
    problems.extend(_duplicate_names(declared))
    problems.extend(_dangling_references(declared))
    if problems:
        raise ManifestError(problems)
    return desired_state(declared, files=tuple(str(f) for f in files))


def find_files(paths: Sequence[str]) -> list[Path | Problem]:
    """Every manifest file named by ``paths``: files as given, folders searched recursively.

    A folder's ``*.yaml`` entry that cannot be a manifest there (unreadable, a dangling link
    or a link loop, not a regular file, a link leading out of the folder) comes back as a
    Problem, never skipped: skipping it would silently drop, and so prune, its models.
    """
    found: dict[Path, Path] = {}
    problems: list[Problem] = []
    for raw in paths:
        if not raw.strip():
            raise UsageError(
                "an empty PATH was given (an unset variable?); name the manifests folder"
            )
        path = Path(raw)
        if not path.exists():
            raise SourceError(f"{raw}: no such file or folder (a missing source is never empty)")
        entries = [(path.resolve(), path)] if path.is_file() else _walk(path)
        for entry in entries:
            if isinstance(entry, Problem):
                problems.append(entry)
            else:
                real, given = entry
                found.setdefault(real, given)
    return [*sorted(found.values()), *problems]


def _walk(folder: Path) -> Iterator[tuple[Path, Path] | Problem]:
    """(real path, path) of each manifest file in ``folder``, or the Problem with it."""
    # Symlinked folders are followed inside ``folder``, never out of it, never twice (loops).
    top = folder.resolve()
    seen: set[tuple[int, int]] = set()
    for root, dirs, names in os.walk(folder, followlinks=True, onerror=_raise_source_error):
        real = Path(os.path.realpath(root))
        if not real.is_relative_to(top):
            dirs.clear()
            message = f"a symlinked folder leading out of {folder} ({real}); refused"
            yield Problem(root, 1, "", message)
            continue
        info = os.stat(root)
        if (info.st_dev, info.st_ino) in seen:
            dirs.clear()
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(d for d in dirs if d != ".git")  # a checkout's git folder
        for name in sorted(names):
            if name.lower().endswith(MANIFEST_SUFFIXES):
                yield _entry(Path(root, name), real, folder, top)


def _entry(path: Path, real_folder: Path, folder: Path, top: Path) -> tuple[Path, Path] | Problem:
    """(real path, path) if ``path`` is a regular file inside the folder, else the Problem.

    ``real_folder`` is the real path of the folder holding ``path``: a file that is not a
    symlink is real there already, which spares resolving every component of its path.
    """
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            mode = os.stat(path).st_mode
            real = Path(os.path.realpath(path))
        else:
            real = real_folder / path.name
    except OSError as e:  # a dangling symlink, a symlink loop, no permission
        return Problem(str(path), 1, "", f"cannot be read: {e.strerror}")
    if not real.is_relative_to(top):
        return Problem(str(path), 1, "", f"a symlink leading out of {folder} ({real}); refused")
    if not stat.S_ISREG(mode):
        return Problem(str(path), 1, "", "not a regular file; refused")
    return real, path


def _raise_source_error(error: OSError) -> None:
    raise SourceError(f"{error.filename}: cannot be read: {error.strerror}") from error


def _load_file(file: Path) -> Iterator[DeclaredResource | Problem]:
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


def _validate(document: Document, file: str) -> Iterator[DeclaredResource | Problem]:
    if not isinstance(document.data, dict):
        yield Problem(file, document.line, "", "a manifest must be a mapping")
        return
    too_many_tags = _tag_count_problem(document, file)
    if too_many_tags:
        yield too_many_tags
    kind = document.data.get("kind")
    if kind == "Target":  # its fields are a target's, not a resource's: one line says so
        yield Problem(file, document.line_of(("kind",)), "kind", _kind_message(kind))
        return
    known = kind in KINDS
    try:
        if known:
            manifest: AnyManifest = Manifest.validate_python(document.data)
        else:  # every other problem is still reported, as for a CustomModel
            manifest = CustomModelManifest.model_validate(document.data)
    except ValidationError as e:
        for error in e.errors():
            # The union's tag (the kind) leads every location: it is not a field.
            loc = tuple(part for part in error["loc"][known:] if part != "[key]")
            path = ".".join(str(part) for part in loc)
            message = _kind_message(kind) if loc == ("kind",) else _message(error)
            yield Problem(file, document.line_of(loc), path, message)
        return
    if not too_many_tags:
        yield Declared(
            manifest=manifest,
            file=file,
            line=document.line,
            ref_line=document.line_of(("spec", "model")),
        )


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


def _kind_message(kind: object) -> str:
    if kind is None:
        return "required field is missing"
    message = "Input should be one of " + ", ".join(repr(k) for k in KINDS)
    if kind == "Target":
        message += "; a Target belongs in a targets file (--targets), not among manifests"
    return message


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (is it a typo?)"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _duplicate_names(declared: Iterable[DeclaredResource]) -> Iterator[Problem]:
    """Names are unique per kind (a model and a throughput may share one)."""
    first: dict[object, DeclaredResource] = {}
    for resource in declared:
        earlier = first.setdefault(resource.key, resource)
        if earlier is not resource:
            what = "model" if resource.kind is Kind.CUSTOM_MODEL else resource.kind.value
            for one, other in ((resource, earlier), (earlier, resource)):
                message = f"{what} {one.name!r} is declared twice (also at {other.source})"
                yield Problem(one.file, one.line, "metadata.name", message)


def _dangling_references(declared: Iterable[DeclaredResource]) -> Iterator[Problem]:
    """A ``spec.model`` must name a CustomModel the manifests declare."""
    resources = list(declared)
    models = {r.name for r in resources if r.kind is Kind.CUSTOM_MODEL}
    for resource in resources:
        model = resource.spec.model if resource.kind.serves else None
        if model is not None and model not in models:
            message = f"no CustomModel named {model!r} is declared"
            yield Problem(resource.file, resource.ref_line, "spec.model", message)


# What the targets file loader shares with the manifest loader.
read_manifest_text = _read_text
field_message = _message
