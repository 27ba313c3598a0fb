"""The records the sandbox keeps (custom models, idempotency tokens) and their JSON state form.

A model record also renders its API views (GetCustomModel, ListCustomModels summaries).

Status is not stored but derived when read: a model is ``Creating`` until ``import_seconds``
after its creation time, then ``Active``, unless a test pinned it. Creation time is wall-clock
epoch seconds, so a later process reading the state file agrees on how far an import got.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from reconciler.sandbox.errors import SandboxStateError

IMPORTED = "IMPORTED"
STATUSES = ("Active", "Creating", "Failed")
DEFAULT_FAILURE_MESSAGE = "The model import failed."


@dataclass
class EmulatedModel:
    """A custom model: owned by the backend's account, or shared into it by another one."""

    arn: str
    name: str
    owner_account_id: str
    creation_time: float
    customization_type: str = IMPORTED
    source: dict[str, Any] = field(default_factory=dict)
    kms_key_arn: str | None = None
    role_arn: str | None = None
    base_model_arn: str | None = None
    base_model_name: str | None = None
    job_arn: str | None = None
    job_name: str | None = None
    pinned_status: str | None = None
    failure_message: str | None = None
    in_use: bool = False
    # Further GetCustomModel members, kept for moto's fine-tuned models (hyperParameters...).
    details: dict[str, Any] = field(default_factory=dict)

    def status(self, import_seconds: float, now: float | None = None) -> str:
        """The model's status at ``now`` (default: the current time)."""
        if self.pinned_status is not None:
            return self.pinned_status
        elapsed = (time.time() if now is None else now) - self.creation_time
        return "Creating" if elapsed < import_seconds else "Active"

    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.creation_time, tz=UTC)

    def summary(self, import_seconds: float) -> dict[str, Any]:
        """The model as a ``CustomModelSummary`` of ListCustomModels."""
        view = {
            "modelArn": self.arn,
            "modelName": self.name,
            "creationTime": self.created_at(),
            "baseModelArn": self.base_model_arn,
            "baseModelName": self.base_model_name,
            "customizationType": self.customization_type,
            "ownerAccountId": self.owner_account_id,
            "modelStatus": self.status(import_seconds),
        }
        return {key: value for key, value in view.items() if value is not None}

    def description(self, import_seconds: float) -> dict[str, Any]:
        """The model as the GetCustomModel response."""
        status = self.status(import_seconds)
        view = {
            **self.details,
            "modelArn": self.arn,
            "modelName": self.name,
            "jobName": self.job_name,
            "jobArn": self.job_arn,
            "baseModelArn": self.base_model_arn,
            "customizationType": self.customization_type,
            "modelKmsKeyArn": self.kms_key_arn,
            "creationTime": self.created_at(),
            "modelStatus": status,
            "failureMessage": self.failure_message if status == "Failed" else None,
        }
        return {key: value for key, value in view.items() if value is not None}

    def to_state(self) -> dict[str, Any]:
        state = asdict(self)
        # An ISO timestamp keeps the state file readable; microseconds keep ordering exact.
        state["creation_time"] = self.created_at().isoformat()
        return state

    @classmethod
    def from_state(cls, data: Any) -> EmulatedModel:
        """Rebuild a record from ``to_state`` output; SandboxStateError if it is malformed."""
        record = expect(data, dict, "model record")
        unknown = set(record) - {f.name for f in fields(cls)}
        if unknown:
            raise SandboxStateError(f"model record has unknown fields {sorted(unknown)}")
        missing = {"arn", "name", "owner_account_id", "creation_time"} - set(record)
        if missing:
            raise SandboxStateError(f"model record lacks {sorted(missing)}")
        values = {
            name: expect(value, _FIELD_TYPES[name], f"model field {name!r}")
            for name, value in record.items()
        }
        values["creation_time"] = _parse_time(values["creation_time"])
        model = cls(**values)
        if model.pinned_status not in (None, *STATUSES):
            raise SandboxStateError(f"model {model.arn} has unknown status {model.pinned_status!r}")
        return model


@dataclass(frozen=True)
class TokenRecord:
    """What a clientRequestToken was first used for."""

    fingerprint: str
    model_arn: str


_OPTIONAL_STR = (str, type(None))
_FIELD_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "arn": str,
    "name": str,
    "owner_account_id": str,
    "creation_time": str,
    "customization_type": str,
    "source": dict,
    "kms_key_arn": _OPTIONAL_STR,
    "role_arn": _OPTIONAL_STR,
    "base_model_arn": _OPTIONAL_STR,
    "base_model_name": _OPTIONAL_STR,
    "job_arn": _OPTIONAL_STR,
    "job_name": _OPTIONAL_STR,
    "pinned_status": _OPTIONAL_STR,
    "failure_message": _OPTIONAL_STR,
    "in_use": bool,
    "details": dict,
}


def expect(value: Any, types: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it has one of ``types``, else SandboxStateError naming ``what``."""
    if not isinstance(value, types):
        raise SandboxStateError(f"{what} should be {_type_names(types)}, not {value!r:.80}")
    return value


def _type_names(types: type | tuple[type, ...]) -> str:
    names = [t.__name__ for t in (types if isinstance(types, tuple) else (types,))]
    return " or ".join("null" if name == "NoneType" else name for name in names)


def _parse_time(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise SandboxStateError(f"bad creation time {text!r}") from e
    if moment.tzinfo is None:
        raise SandboxStateError(f"creation time {text!r} has no time zone")
    return moment.timestamp()


def parse_tags(data: Any, models: Mapping[str, object]) -> dict[str, dict[str, str]]:
    """Tags by resource ARN from state; every ARN must be one of ``models``."""
    parsed: dict[str, dict[str, str]] = {}
    for arn, values in expect(data, dict, "tags").items():
        if arn not in models:
            raise SandboxStateError(f"tags for unknown model {arn}")
        pairs = expect(values, dict, f"tags of {arn}").items()
        parsed[arn] = {expect(k, str, "tag key"): expect(v, str, "tag value") for k, v in pairs}
    return parsed


def parse_tokens(data: Any) -> dict[str, TokenRecord]:
    """Idempotency tokens from state."""
    parsed: dict[str, TokenRecord] = {}
    for token, record in expect(data, dict, "tokens").items():
        entry = expect(record, dict, f"token {token}")
        if set(entry) != {"fingerprint", "model_arn"}:
            raise SandboxStateError(f"token {token} should have fingerprint and model_arn")
        parsed[token] = TokenRecord(
            expect(entry["fingerprint"], str, "token fingerprint"),
            expect(entry["model_arn"], str, "token model ARN"),
        )
    return parsed
