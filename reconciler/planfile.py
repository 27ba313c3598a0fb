"""Saved plans: ``plan --out FILE`` and ``apply --plan FILE``.

A saved plan holds the exact actions to execute (with the manifests they came from) and a
snapshot of the part of the account it was computed from: every resource managed by the
scope and every resource holding a declared name (their ARNs, statuses and tags), and the
declared names it found absent. ``apply --plan`` re-reads the account and refuses, saying
what changed, when that snapshot no longer holds; then it plans again from the manifests
saved in the file and the account as read now, and refuses unless that plan is exactly the
saved one (``check_rederived``). A file is an artifact that travels between CI jobs and can
be altered: its actions are never trusted, only compared. What is executed is the plan made
now, so every destructive action is decided on tags read from the resource itself. The
guards (``--force``, ``--allow-empty`` ...) come from the command line, never from the file.
The file is versioned JSON, readable by people. No I/O beyond the file itself; called by
``commands``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler import __version__
from reconciler.desired import Declared, DeclaredResource, DesiredState, Manifest, desired_state
from reconciler.errors import StalePlanError, UsageError
from reconciler.identity import Kind, Place, ResourceKey
from reconciler.observed import STATUS_FAILED, ObservedState
from reconciler.plan import Action, ActionKind, Plan

FORMAT = "bedrock-reconciler/plan"
TARGETS_FORMAT = "bedrock-reconciler/targets-plan"
VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SavedModel(_Strict):
    arn: str
    status: str
    tags: dict[str, str]


class SavedAction(_Strict):
    action: ActionKind
    kind: Kind = Kind.CUSTOM_MODEL
    name: str
    arn: str | None
    reason: str
    source: str | None
    manifest: dict[str, Any] | None = None
    set_tags: dict[str, str] = {}
    remove_tag_keys: list[str] = []
    importing: bool = False
    model: str | None = None
    model_arn: str | None = None

    def decision(self) -> tuple[Any, ...]:
        """What the action does, without the words that explain it (a reason may name a
        status that moved on, as an import finishing)."""
        return (
            self.action,
            self.kind,
            self.name,
            self.arn,
            self.manifest,
            self.source,
            self.set_tags,
            self.remove_tag_keys,
            self.model,
            self.model_arn,
        )


class Snapshot(_Strict):
    models: dict[str, SavedModel]
    absent: list[str]


class PlanFile(_Strict):
    format: Literal["bedrock-reconciler/plan"]
    version: Literal[1]
    created_by: str
    scope: str
    region: str
    account: str | None = None
    manifests: dict[str, Any]
    declared: int
    observed: Snapshot
    actions: list[SavedAction]
    summary: dict[str, int]


class TargetsPlanFile(_Strict):
    format: Literal["bedrock-reconciler/targets-plan"]
    version: Literal[1]
    created_by: str
    targets: dict[str, PlanFile]


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from a file, ready to check against the account and execute.

    ``desired`` is rebuilt from the manifests the file saved; ``actions`` are the file's, to
    be compared with the plan made again, never executed as they are.
    """

    plan: Plan
    region: str
    account: str | None
    declared: int
    snapshot: Snapshot
    names: frozenset[ResourceKey]
    desired: DesiredState
    actions: tuple[SavedAction, ...]


def _label(key: ResourceKey) -> str:
    """How a snapshot keys a resource: a model by its bare name, as version 1 did."""
    return key.name if key.kind is Kind.CUSTOM_MODEL else str(key)


def snapshot(observed: ObservedState, scope: str, names: Iterable[ResourceKey]) -> Snapshot:
    """The part of the account a plan relies on."""
    wanted = {_label(k) for k in names}
    models = {
        _label(r.key): SavedModel(arn=r.arn, status=r.status, tags=dict(sorted(r.tags.items())))
        for r in observed.resources
        if r.is_managed_by(scope) or _label(r.key) in wanted
    }
    return Snapshot(models=models, absent=sorted(wanted - models.keys()))


def dumps(plan: Plan, where: Place | str, desired: DesiredState, observed: ObservedState) -> str:
    """The saved-plan document for ``plan``."""
    names = [r.key for r in desired.resources]
    document = PlanFile(
        format=FORMAT,
        version=VERSION,
        created_by=f"bedrock-reconciler {__version__}",
        scope=plan.scope,
        region=Place.of(where).region,
        account=Place.of(where).account or None,
        manifests={"files": list(desired.files), "digest": _digest(desired)},
        declared=len(desired.resources),
        observed=snapshot(observed, plan.scope, names),
        actions=[_saved_action(a) for a in plan.actions],
        summary=plan.summary(),
    )
    return json.dumps(document.model_dump(mode="json"), indent=2) + "\n"


def load(path: Path) -> SavedPlan:
    """Read a saved plan; a file that is not one is a clear error."""
    raw = _read(path)
    if _format_of(raw) == TARGETS_FORMAT:
        raise UsageError(
            f"{path} is a plan of several targets (plan --targets); apply it with the same "
            "--targets FILE"
        )
    try:
        return _saved(PlanFile.model_validate_json(raw))
    except (ValidationError, ValueError) as e:
        raise UsageError(f"{path}: not a saved plan of this version ({_first_error(e)})") from e


def dumps_targets(plans: Mapping[str, str]) -> str:
    """One file for the plans of several targets: each target's saved-plan document
    (``dumps``) under its name."""
    document = {
        "format": TARGETS_FORMAT,
        "version": VERSION,
        "created_by": f"bedrock-reconciler {__version__}",
        "targets": {name: json.loads(text) for name, text in plans.items()},
    }
    return json.dumps(document, indent=2) + "\n"


def load_targets(path: Path) -> dict[str, SavedPlan]:
    """Read a saved plan of several targets: each target's saved plan, by target name."""
    raw = _read(path)
    if _format_of(raw) == FORMAT:
        raise UsageError(
            f"{path} is the plan of one account (plan without --targets); apply it without "
            "--targets"
        )
    try:
        document = TargetsPlanFile.model_validate_json(raw)
        return {name: _saved(plan) for name, plan in document.targets.items()}
    except (ValidationError, ValueError) as e:
        raise UsageError(
            f"{path}: not a saved targets plan of this version ({_first_error(e)})"
        ) from e


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read the plan file: {e.strerror}") from e


def _format_of(raw: bytes) -> object:
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document.get("format") if isinstance(document, dict) else None


def _saved(document: PlanFile) -> SavedPlan:
    actions = tuple(_action(a) for a in document.actions)
    declared = [a.declared for a in actions if a.declared is not None]
    absent = frozenset(ResourceKey.parse(n) for n in document.observed.absent)
    return SavedPlan(
        plan=Plan(scope=document.scope, actions=actions),
        region=document.region,
        account=document.account,
        declared=document.declared,
        snapshot=document.observed,
        names=frozenset(d.key for d in declared) | absent,
        desired=desired_state(declared, files=tuple(document.manifests.get("files", []))),
        actions=tuple(document.actions),
    )


def check_rederived(saved: SavedPlan, fresh: Plan) -> None:
    """Refuse unless the plan made now from the saved manifests is exactly the saved one.

    An action added to the file, an ARN or an action kind changed in it, a manifest edited:
    each is a difference, listed, and nothing is changed.
    """
    now = [_saved_action(a) for a in fresh.actions]
    before = {(a.kind, a.name): a for a in saved.actions}
    after = {(a.kind, a.name): a for a in now}
    changes = []
    if len(saved.actions) != len(before) or saved.declared != len(saved.desired.resources):
        changes.append("the file lists one resource twice, or a manifest is missing from it")
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0].rank, k[1])):
        old, new = before.get(key), after.get(key)
        label = _label(ResourceKey(*key))
        if new is None:
            assert old is not None
            changes.append(
                f"{label}: the file holds a {old.action.value} that planning now does not"
            )
        elif old is None:
            changes.append(f"{label}: planning now gives a {new.action.value} the file lacks")
        elif old.decision() != new.decision():
            changes.append(f"{label}: the file says {_said(old)}, planning now says {_said(new)}")
    if changes:
        listed = "\n".join(f"  - {c}" for c in changes)
        raise StalePlanError(
            f"{listed}\nthe saved plan does not match the plan made again from its own "
            f"manifests and the account ({len(changes)} difference(s)): the file was altered "
            "or the account moved; nothing was changed. Make a new plan"
        )


def _said(action: SavedAction) -> str:
    return f"{action.action.value} (arn {action.arn})"


def check_fresh(saved: SavedPlan, observed: ObservedState, scope: str, where: Place | str) -> None:
    """Refuse, naming every difference, when the account or target moved since the plan."""
    place = Place.of(where)
    changes = []
    if saved.plan.scope != scope:
        changes.append(f"the plan is for scope {saved.plan.scope!r}, not {scope!r}")
    if saved.region != place.region:
        changes.append(f"the plan is for region {saved.region}, not {place.region}")
    if saved.account is None:
        changes.append(
            f"the plan records no account (an earlier version made it, or it was edited), "
            f"so it cannot be checked against account {place.account}"
        )
    elif saved.account != place.account:
        changes.append(f"the plan is for account {saved.account}, not {place.account}")
    if not changes:
        changes = diff(saved.snapshot, snapshot(observed, scope, saved.names))
    if changes:
        listed = "\n".join(f"  - {c}" for c in changes)
        raise StalePlanError(
            f"{listed}\nthe saved plan is stale ({len(changes)} change(s) since it was made); "
            "nothing was changed. Make a new plan"
        )


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs between two snapshots, one line per change, in name order."""
    changes = []
    for name in sorted(before.models.keys() | after.models.keys()):
        old, new = before.models.get(name), after.models.get(name)
        if old is None and new is not None:
            was = "absent" if name in before.absent else "not managed"
            changes.append(f"{name}: was {was}, now exists ({new.arn})")
        elif old is not None and new is None:
            changes.append(f"{name}: {old.arn} is gone (deleted or no longer managed)")
        elif old is not None and new is not None:
            changes.extend(f"{name}: {c}" for c in _model_changes(old, new))
    return changes


def _model_changes(old: SavedModel, new: SavedModel) -> list[str]:
    changes = []
    if old.arn != new.arn:
        changes.append(f"replaced ({old.arn} -> {new.arn})")
    # Creating -> Active is the import finishing, not a change a reviewer needs to see again.
    if (old.status == STATUS_FAILED) != (new.status == STATUS_FAILED):
        changes.append(f"status {old.status} -> {new.status}")
    changes.extend(_tag_changes(old.tags, new.tags))
    return changes


def _tag_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            changes.append(f"tag {key}: {old.get(key)!r} -> {new.get(key)!r}")
    return changes


def _saved_action(action: Action) -> SavedAction:
    declared = action.declared
    return SavedAction(
        action=action.kind,
        kind=action.resource,
        name=action.name,
        arn=action.arn,
        reason=action.reason,
        source=action.source,
        manifest=declared.manifest.model_dump(mode="json", exclude_none=True) if declared else None,
        set_tags=dict(action.set_tags),
        remove_tag_keys=list(action.remove_tag_keys),
        importing=action.importing,
        model=action.model,
        model_arn=action.model_arn,
    )


def _action(saved: SavedAction) -> Action:
    declared: DeclaredResource | None = None
    if saved.manifest is not None:
        manifest = Manifest.validate_python(saved.manifest)
        if manifest.kind != saved.kind or manifest.metadata.name != saved.name:
            raise ValueError(f"{saved.kind}/{saved.name}: its manifest names another resource")
        file, _, line = (saved.source or ":0").rpartition(":")
        declared = Declared(manifest=manifest, file=file, line=int(line or 0))
    return Action(
        kind=saved.action,
        resource=saved.kind,
        name=saved.name,
        reason=saved.reason,
        arn=saved.arn,
        declared=declared,
        set_tags=tuple(saved.set_tags.items()),
        remove_tag_keys=tuple(saved.remove_tag_keys),
        importing=saved.importing,
        model=saved.model,
        model_arn=saved.model_arn,
    )


def _first_error(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return ".".join(str(p) for p in first["loc"]) + f": {first['msg']}"
    return str(error)


def _digest(desired: DesiredState) -> str:
    manifests = [m.manifest.model_dump(mode="json") for m in desired.resources]
    encoded = json.dumps(manifests, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()
