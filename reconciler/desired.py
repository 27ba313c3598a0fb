"""The manifest format (``bedrock.gitops/v1`` ``CustomModel``) as frozen pydantic models.

The service's own limits on ``CreateCustomModel`` are copied here from botocore's Bedrock
service model (``tests/test_desired.py`` checks they still match it). The service model's
patterns carry no anchors, but the whole value must match, so they are applied with
``fullmatch``. No I/O here: ``manifests`` reads files and feeds these models.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

API_VERSION = "bedrock.gitops/v1"
KIND = "CustomModel"

# botocore bedrock service model, CreateCustomModel input shapes.
MODEL_NAME_PATTERN = r"([0-9a-zA-Z][_-]?){1,63}"
MODEL_NAME_MAX = 63
S3_URI_PATTERN = (
    r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]"
    r"(?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?"
)
S3_URI_MAX = 1024
ROLE_ARN_PATTERN = r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+"
ROLE_ARN_MAX = 2048
KMS_KEY_ARN_PATTERN = r"arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:key/[a-zA-Z0-9-]{36}"
KMS_KEY_ARN_MAX = 2048
TAG_KEY_PATTERN = r"[a-zA-Z0-9\s._:/=+@-]*"
TAG_KEY_MAX = 128
TAG_VALUE_PATTERN = TAG_KEY_PATTERN
TAG_VALUE_MAX = 256
# The service refuses more than 50 tags on one model; the reconciler's own count too.
MAX_TAGS_PER_MODEL = 50
RESERVED_TAG_PREFIXES = ("aws:", "reconciler:")


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # ASCII: the service's patterns are Java regexes, where \s is only [ \t\n\x0B\f\r].
    return re.compile(pattern, flags=re.ASCII)


def _check(value: str, pattern: str, max_len: int, min_len: int, what: str) -> str:
    if not min_len <= len(value) <= max_len:
        raise ValueError(f"{what} must be {min_len} to {max_len} characters, got {len(value)}")
    if _compiled(pattern).fullmatch(value) is None:
        raise ValueError(f"{what} {value!r} does not match the service's pattern {pattern}")
    return value


def check_tag_key(key: str) -> str:
    """Validate one tag key against the service's constraints and the reserved prefixes."""
    _check(key, TAG_KEY_PATTERN, TAG_KEY_MAX, 1, "tag key")
    if key.lower().startswith(RESERVED_TAG_PREFIXES):
        raise ValueError(f"tag key {key!r} is reserved (keys starting with aws: or reconciler:)")
    return key


def check_tag_value(value: str) -> str:
    """Validate one tag value against the service's constraints."""
    return _check(value, TAG_VALUE_PATTERN, TAG_VALUE_MAX, 0, "tag value")


def _schema(pattern: str, min_len: int, max_len: int) -> dict[str, Any]:
    """The service's constraint as JSON Schema, so editors flag what ``validate`` would."""
    return {"pattern": f"^(?:{pattern})$", "minLength": min_len, "maxLength": max_len}


TagKey = Annotated[str, AfterValidator(check_tag_key)]
TagValue = Annotated[str, AfterValidator(check_tag_value)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class S3DataSource(_Frozen):
    """Where the model weights are: an S3 prefix the import role can read."""

    s3Uri: str = Field(  # noqa: N815 - manifest field names follow the Bedrock API
        json_schema_extra=_schema(S3_URI_PATTERN, 1, S3_URI_MAX)
    )

    @field_validator("s3Uri")
    @classmethod
    def _s3_uri(cls, value: str) -> str:
        return _check(value, S3_URI_PATTERN, S3_URI_MAX, 1, "s3Uri")


class ModelSourceConfig(_Frozen):
    """The source of the model's weights (only S3 exists today)."""

    s3DataSource: S3DataSource  # noqa: N815


class Metadata(_Frozen):
    """Identity of the declared model."""

    name: str = Field(
        description="The Bedrock modelName",
        json_schema_extra=_schema(MODEL_NAME_PATTERN, 1, MODEL_NAME_MAX),
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check(value, MODEL_NAME_PATTERN, MODEL_NAME_MAX, 1, "name")


class Spec(_Frozen):
    """What the model is made of, and how the reconciler treats it."""

    modelSourceConfig: ModelSourceConfig  # noqa: N815
    roleArn: str | None = Field(  # noqa: N815
        default=None, json_schema_extra=_schema(ROLE_ARN_PATTERN, 0, ROLE_ARN_MAX)
    )
    modelKmsKeyArn: str | None = Field(  # noqa: N815
        default=None, json_schema_extra=_schema(KMS_KEY_ARN_PATTERN, 1, KMS_KEY_ARN_MAX)
    )
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict,
        json_schema_extra={
            # The reconciler adds two tags of its own (three with Retain).
            "maxProperties": MAX_TAGS_PER_MODEL - 2,
            "propertyNames": {
                **_schema(TAG_KEY_PATTERN, 1, TAG_KEY_MAX),
                "not": {"pattern": "^([aA][wW][sS]|[rR][eE][cC][oO][nN][cC][iI][lL][eE][rR]):"},
            },
            "additionalProperties": {
                "type": "string",
                **_schema(TAG_VALUE_PATTERN, 0, TAG_VALUE_MAX),
            },
        },
    )
    deletionPolicy: Literal["Delete", "Retain"] = "Delete"  # noqa: N815

    @field_validator("roleArn")
    @classmethod
    def _role_arn(cls, value: str | None) -> str | None:
        return (
            None if value is None else _check(value, ROLE_ARN_PATTERN, ROLE_ARN_MAX, 0, "roleArn")
        )

    @field_validator("modelKmsKeyArn")
    @classmethod
    def _kms(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _check(value, KMS_KEY_ARN_PATTERN, KMS_KEY_ARN_MAX, 1, "modelKmsKeyArn")


class CustomModelManifest(_Frozen):
    """One ``CustomModel`` manifest document."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        title="CustomModel",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    apiVersion: Literal["bedrock.gitops/v1"]  # noqa: N815
    kind: Literal["CustomModel"]
    metadata: Metadata
    spec: Spec


@dataclass(frozen=True)
class DeclaredModel:
    """A validated manifest and where it was declared."""

    manifest: CustomModelManifest
    file: str
    line: int

    @property
    def name(self) -> str:
        return self.manifest.metadata.name

    @property
    def spec(self) -> Spec:
        return self.manifest.spec

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class DesiredState:
    """Every model the manifests declare, sorted by name."""

    models: tuple[DeclaredModel, ...]
    files: tuple[str, ...] = ()

    def by_name(self) -> dict[str, DeclaredModel]:
        return {m.name: m for m in self.models}
