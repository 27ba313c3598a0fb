"""Targets files: one ``Target`` document per account and region a run manages.

``load(file)`` reads and validates a targets file into ``Target`` values whose manifest
paths are resolved relative to the file; every problem is collected and raised together as
one ManifestError (``FILE:LINE: field.path: message``), as for manifests. ``select`` picks
the targets ``--target`` names. No AWS here: ``connect`` turns a target into clients and
``fleet`` runs a command over the targets. Called by ``fleet``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reconciler.desired import API_VERSION, KINDS, ROLE_ARN_PATTERN
from reconciler.errors import ManifestError, Problem, SourceError, UsageError
from reconciler.identity import SCOPE_PATTERN
from reconciler.manifests import field_message, read_manifest_text
from reconciler.yamlnodes import YamlError, load_documents

KIND = "Target"
# A target's name is a label in metrics, logs and CI job names: keep it plain.
TARGET_NAME_PATTERN = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
# The shape of an AWS region name (us-east-1, eu-central-2, us-gov-west-1, ap-southeast-7).
REGION_PATTERN = r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}"
ACCOUNT_ID_PATTERN = r"[0-9]{12}"
# sts:AssumeRole's ExternalId: 2 to 1224 of these characters.
EXTERNAL_ID_PATTERN = r"[\w+=,.@:/-]{2,1224}"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


_Text = TypeVar("_Text", str, str | None)


def _matching(value: _Text, pattern: str, what: str) -> _Text:
    if value is not None and re.fullmatch(pattern, value) is None:
        raise ValueError(f"{value!r} is not {what}")
    return value


class TargetMetadata(_Frozen):
    name: str = Field(description="The target's name: lower-case letters, digits and '-'")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        what = "1 to 63 lower-case letters, digits or '-'"
        return _matching(value, TARGET_NAME_PATTERN, what)


class TargetSpec(_Frozen):
    region: str
    accountId: str | None = None  # noqa: N815 - the manifest's spelling
    profile: str | None = Field(default=None, min_length=1)
    roleArn: str | None = None  # noqa: N815
    externalId: str | None = None  # noqa: N815
    scope: str | None = None
    paths: list[str] = Field(min_length=1)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return _matching(value, REGION_PATTERN, "an AWS region name (like us-east-1)")

    @field_validator("accountId")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return _matching(value, ACCOUNT_ID_PATTERN, "a 12-digit AWS account id (quote it)")

    @field_validator("roleArn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        return _matching(value, ROLE_ARN_PATTERN, "an IAM role ARN")

    @field_validator("externalId")
    @classmethod
    def _external_id(cls, value: str | None) -> str | None:
        return _matching(value, EXTERNAL_ID_PATTERN, "a valid external id (2 to 1224 characters)")

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str | None) -> str | None:
        what = "a scope: 1 to 256 letters, digits, spaces or ._:/=+@-"
        return _matching(value, SCOPE_PATTERN, what)

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        if any(not path.strip() for path in value):
            raise ValueError("an empty path (an unset variable?); name the manifests folder")
        return value

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> TargetSpec:
        if self.externalId is not None and self.roleArn is None:
            raise ValueError("externalId is given without roleArn; it is sent when assuming one")
        return self


class TargetDocument(_Frozen):
    apiVersion: Literal["bedrock.gitops/v1"]  # noqa: N815
    kind: Literal["Target"]
    metadata: TargetMetadata
    spec: TargetSpec


@dataclass(frozen=True)
class Target:
    """One account and region, and the manifests that describe it (paths resolved)."""

    name: str
    region: str
    paths: tuple[str, ...]
    account_id: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    scope: str | None = None
    source: str = ""

    @property
    def account_source(self) -> str:
        """Where the expected account comes from, as an error names it."""
        return f"accountId of target {self.name!r} at {self.source}"


def load(file: str) -> tuple[Target, ...]:
    """Every target of ``file``, in the file's order; ManifestError lists every problem."""
    path = Path(file)
    if not path.is_file():
        what = "is a folder, not a targets file" if path.is_dir() else "does not exist"
        raise SourceError(f"{file}: {what} (--targets names a YAML file of Target documents)")
    problems: list[Problem] = []
    targets: list[Target] = []
    for item in _documents(path):
        (problems if isinstance(item, Problem) else targets).append(item)  # type: ignore[arg-type]
    problems.extend(_duplicates(targets))
    if not targets and not problems:
        problems.append(Problem(file, 1, "", "no Target document in the targets file"))
    if problems:
        raise ManifestError(problems, found_in="the targets file")
    return tuple(targets)


def _documents(path: Path) -> Iterator[Target | Problem]:
    name = str(path)
    try:
        documents = list(load_documents(read_manifest_text(path)))
    except YamlError as e:
        yield Problem(name, e.line, "", e.message)
        return
    for document in documents:
        data = document.data
        if isinstance(data, dict) and data.get("kind") in KINDS:
            message = f"a {data['kind']} belongs among the manifests, not in a targets file"
            yield Problem(name, document.line_of(("kind",)), "kind", message)
            continue
        try:
            parsed = TargetDocument.model_validate(data)
        except ValidationError as e:
            for error in e.errors():
                loc = tuple(error["loc"])
                where = ".".join(str(part) for part in loc)
                yield Problem(name, document.line_of(loc), where, field_message(error))
            continue
        spec = parsed.spec
        yield Target(
            name=parsed.metadata.name,
            region=spec.region,
            paths=tuple(str(path.parent / p) for p in spec.paths),
            account_id=spec.accountId,
            profile=spec.profile,
            role_arn=spec.roleArn,
            external_id=spec.externalId,
            scope=spec.scope,
            source=f"{name}:{document.line}",
        )


def _duplicates(targets: Sequence[Target]) -> Iterator[Problem]:
    first: dict[str, Target] = {}
    for target in targets:
        earlier = first.setdefault(target.name, target)
        if earlier is not target:
            file, _, line = target.source.rpartition(":")
            message = f"target {target.name!r} is declared twice (also at {earlier.source})"
            yield Problem(file, int(line), "metadata.name", message)


def select(targets: Sequence[Target], names: Sequence[str]) -> tuple[Target, ...]:
    """The targets ``--target`` names (all of them without one), in the file's order."""
    if not names:
        return tuple(targets)
    known = {t.name for t in targets}
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(sorted(known))
        raise UsageError(f"--target {unknown[0]!r} is not in the targets file (it has: {listed})")
    return tuple(t for t in targets if t.name in set(names))


__all__ = ["API_VERSION", "KIND", "Target", "load", "select"]
