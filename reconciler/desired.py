"""The manifest format (``bedrock.gitops/v1``) as frozen pydantic models, one per kind.

``CustomModel``, ``ProvisionedThroughput`` and ``CustomModelDeployment`` documents form one
discriminated union on ``kind`` (``Manifest``).

The service's own limits on ``CreateCustomModel`` are copied here from botocore's Bedrock
service model (``tests/test_desired.py`` checks they still match it). The service model's
patterns carry no anchors, but the whole value must match, so they are applied with
``fullmatch``. No I/O here: ``manifests`` reads files and feeds these models.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from reconciler.identity import Kind, ResourceKey

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
# The service model bounds a model package ARN by its pattern alone (no min or max).
MODEL_PACKAGE_ARN_PATTERN = (
    r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]{9,16}:[0-9]{12}:model-package/[\S]{1,2048}"
)
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
# CreateProvisionedModelThroughput / CreateCustomModelDeployment input shapes.
PROVISIONED_MODEL_NAME_PATTERN = r"([0-9a-zA-Z][_-]?)+"
PROVISIONED_MODEL_NAME_MAX = 63
DEPLOYMENT_NAME_PATTERN = r"([0-9a-zA-Z][_-]?){1,63}"
DEPLOYMENT_NAME_MAX = 63
MODEL_IDENTIFIER_PATTERN = (
    r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/((imported)|"
    r"([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}))(([:][a-z0-9-]{1,63}){0,2})?/[a-z0-9]{12})|"
    r"(:foundation-model/([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})"
    r"([:][a-z0-9-]{1,63}){0,2})))|(([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})"
    r"([:][a-z0-9-]{1,63}){0,2}))|(([0-9a-zA-Z][_-]?)+)"
)
MODEL_IDENTIFIER_MAX = 2048
CUSTOM_MODEL_ARN_PATTERN = (
    r"arn:aws(|-us-gov|-cn|-iso|-iso-b):bedrock:[a-z0-9-]{1,20}:[0-9]{12}:custom-model/"
    r"(imported|[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([a-z0-9-]{1,63}[.]){0,2}[a-z0-9-]{1,63}"
    r"([:][a-z0-9-]{1,63}){0,2})/[a-z0-9]{12}"
)
CUSTOM_MODEL_ARN_MIN = 20
CUSTOM_MODEL_ARN_MAX = 1011
DESCRIPTION_PATTERN = r".*"
DESCRIPTION_MAX = 2048
COMMITMENTS = ("OneMonth", "SixMonths")
# What ``export`` writes for a model's source, which Bedrock cannot give back: refused by
# validation, so that nothing is ever declared (or adopted) with a made-up source.
SOURCE_PLACEHOLDER = "FILL-IN"
SOURCE_PLACEHOLDER_MESSAGE = "fill in the model's source (export cannot read it back)"


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


def _pattern_only(value: str, pattern: str, what: str) -> str:
    """A value the service bounds by its pattern alone."""
    if _compiled(pattern).fullmatch(value) is None:
        raise ValueError(f"{what} {value!r} does not match the service's pattern {pattern}")
    return value


TagKey = Annotated[str, AfterValidator(check_tag_key)]
TagValue = Annotated[str, AfterValidator(check_tag_value)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _tags_field() -> Any:
    return Field(
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


class S3DataSource(_Frozen):
    """Where the model weights are: an S3 prefix the import role can read."""

    s3Uri: str = Field(  # noqa: N815 - manifest field names follow the Bedrock API
        json_schema_extra=_schema(S3_URI_PATTERN, 1, S3_URI_MAX)
    )

    @field_validator("s3Uri")
    @classmethod
    def _s3_uri(cls, value: str) -> str:
        if value == SOURCE_PLACEHOLDER:
            raise ValueError(SOURCE_PLACEHOLDER_MESSAGE)
        return _check(value, S3_URI_PATTERN, S3_URI_MAX, 1, "s3Uri")


class ModelSourceConfig(_Frozen):
    """Model weights in S3."""

    s3DataSource: S3DataSource  # noqa: N815


class ModelPackageArnDataSource(_Frozen):
    """A SageMaker AI model package (of ``restricted`` type) the model is made from."""

    modelPackageArn: str = Field(  # noqa: N815
        json_schema_extra={"pattern": f"^(?:{MODEL_PACKAGE_ARN_PATTERN})$"}
    )

    @field_validator("modelPackageArn")
    @classmethod
    def _arn(cls, value: str) -> str:
        return _pattern_only(value, MODEL_PACKAGE_ARN_PATTERN, "modelPackageArn")


class CustomModelDataSource(_Frozen):
    """Model weights Bedrock resolves itself: a SageMaker AI model package."""

    modelPackageArnDataSource: ModelPackageArnDataSource  # noqa: N815


ONE_SOURCE = (
    "give exactly one of modelSourceConfig (weights in S3) or customModelDataSource "
    "(a SageMaker AI model package)"
)


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


SOURCES = ("modelSourceConfig", "customModelDataSource")


def _one_source_schema(schema: dict[str, Any]) -> None:
    """Exactly one source, written as JSON Schema (a source is never ``null``)."""
    for name in SOURCES:
        field = schema["properties"][name]
        field.update(field.pop("anyOf")[0])
        field.pop("default")
    schema["oneOf"] = [{"required": [name]} for name in SOURCES]


class Spec(_Frozen):
    """What the model is made of, and how the reconciler treats it."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, json_schema_extra=_one_source_schema
    )

    modelSourceConfig: ModelSourceConfig | None = None  # noqa: N815
    customModelDataSource: CustomModelDataSource | None = None  # noqa: N815
    roleArn: str | None = Field(  # noqa: N815
        default=None, json_schema_extra=_schema(ROLE_ARN_PATTERN, 0, ROLE_ARN_MAX)
    )
    modelKmsKeyArn: str | None = Field(  # noqa: N815
        default=None, json_schema_extra=_schema(KMS_KEY_ARN_PATTERN, 1, KMS_KEY_ARN_MAX)
    )
    tags: dict[TagKey, TagValue] = _tags_field()
    deletionPolicy: Literal["Delete", "Retain"] = "Delete"  # noqa: N815
    adopt: bool = Field(
        default=False,
        description="take over an existing resource of this name that no scope manages",
    )

    @field_validator("customModelDataSource")
    @classmethod
    def _not_both(
        cls, value: CustomModelDataSource | None, info: ValidationInfo
    ) -> CustomModelDataSource | None:
        if value is not None and info.data.get("modelSourceConfig") is not None:
            raise ValueError(ONE_SOURCE + ", not both")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Spec:
        if self.modelSourceConfig is None and self.customModelDataSource is None:
            raise ValueError(ONE_SOURCE)
        return self

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


class ThroughputMetadata(_Frozen):
    """Identity of a declared Provisioned Throughput: its ``provisionedModelName``."""

    name: str = Field(
        description="The provisionedModelName",
        json_schema_extra=_schema(PROVISIONED_MODEL_NAME_PATTERN, 1, PROVISIONED_MODEL_NAME_MAX),
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check(value, PROVISIONED_MODEL_NAME_PATTERN, PROVISIONED_MODEL_NAME_MAX, 1, "name")


class DeploymentMetadata(_Frozen):
    """Identity of a declared custom model deployment: its ``modelDeploymentName``."""

    name: str = Field(
        description="The modelDeploymentName",
        json_schema_extra=_schema(DEPLOYMENT_NAME_PATTERN, 1, DEPLOYMENT_NAME_MAX),
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check(value, DEPLOYMENT_NAME_PATTERN, DEPLOYMENT_NAME_MAX, 1, "name")


class _ServingSpec(_Frozen):
    """What every serving resource declares: the model it serves from, tags, policy."""

    model: str | None = Field(
        default=None,
        description="metadata.name of a CustomModel declared in the manifests",
        json_schema_extra=_schema(MODEL_NAME_PATTERN, 1, MODEL_NAME_MAX),
    )
    tags: dict[TagKey, TagValue] = _tags_field()
    deletionPolicy: Literal["Delete", "Retain"] = "Delete"  # noqa: N815
    adopt: bool = Field(
        default=False,
        description="take over an existing resource of this name that no scope manages",
    )

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _check(value, MODEL_NAME_PATTERN, MODEL_NAME_MAX, 1, "model")

    @model_validator(mode="after")
    def _one_model(self) -> _ServingSpec:
        if (self.model is None) == (getattr(self, "modelArn", None) is None):
            raise ValueError("give exactly one of model (a declared CustomModel) or modelArn")
        return self


class ThroughputSpec(_ServingSpec):
    """A Provisioned Throughput: model units, an optional commitment, the model served."""

    modelArn: str | None = Field(  # noqa: N815
        default=None,
        description="a model this repository does not declare (foundation or custom model)",
        json_schema_extra=_schema(MODEL_IDENTIFIER_PATTERN, 1, MODEL_IDENTIFIER_MAX),
    )
    modelUnits: int = Field(ge=1)  # noqa: N815
    commitmentDuration: Literal["OneMonth", "SixMonths"] | None = None  # noqa: N815

    @field_validator("modelArn")
    @classmethod
    def _model_arn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _check(value, MODEL_IDENTIFIER_PATTERN, MODEL_IDENTIFIER_MAX, 1, "modelArn")


class DeploymentSpec(_ServingSpec):
    """An on-demand custom model deployment: the custom model served, a description."""

    modelArn: str | None = Field(  # noqa: N815
        default=None,
        description="a custom model this repository does not declare",
        json_schema_extra=_schema(
            CUSTOM_MODEL_ARN_PATTERN, CUSTOM_MODEL_ARN_MIN, CUSTOM_MODEL_ARN_MAX
        ),
    )
    description: str | None = Field(
        default=None, json_schema_extra=_schema(DESCRIPTION_PATTERN, 1, DESCRIPTION_MAX)
    )

    @field_validator("modelArn")
    @classmethod
    def _model_arn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _check(
            value, CUSTOM_MODEL_ARN_PATTERN, CUSTOM_MODEL_ARN_MAX, CUSTOM_MODEL_ARN_MIN, "modelArn"
        )

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _check(value, DESCRIPTION_PATTERN, DESCRIPTION_MAX, 1, "description")


_DOCUMENT_CONFIG = ConfigDict(
    extra="forbid",
    frozen=True,
    strict=True,
    json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
)


class ProvisionedThroughputManifest(_Frozen):
    """One ``ProvisionedThroughput`` manifest document."""

    model_config = ConfigDict(**_DOCUMENT_CONFIG, title="ProvisionedThroughput")

    apiVersion: Literal["bedrock.gitops/v1"]  # noqa: N815
    kind: Literal["ProvisionedThroughput"]
    metadata: ThroughputMetadata
    spec: ThroughputSpec


class CustomModelDeploymentManifest(_Frozen):
    """One ``CustomModelDeployment`` manifest document."""

    model_config = ConfigDict(**_DOCUMENT_CONFIG, title="CustomModelDeployment")

    apiVersion: Literal["bedrock.gitops/v1"]  # noqa: N815
    kind: Literal["CustomModelDeployment"]
    metadata: DeploymentMetadata
    spec: DeploymentSpec


AnyManifest = CustomModelManifest | ProvisionedThroughputManifest | CustomModelDeploymentManifest
ServingManifest = ProvisionedThroughputManifest | CustomModelDeploymentManifest
KINDS = tuple(k.value for k in Kind)
MANIFEST_TYPES: dict[Kind, type[AnyManifest]] = {
    Kind.CUSTOM_MODEL: CustomModelManifest,
    Kind.PROVISIONED_THROUGHPUT: ProvisionedThroughputManifest,
    Kind.CUSTOM_MODEL_DEPLOYMENT: CustomModelDeploymentManifest,
}
Manifest: TypeAdapter[AnyManifest] = TypeAdapter(
    Annotated[AnyManifest, Field(discriminator="kind")]
)


def json_schema() -> dict[str, Any]:
    """The manifests' JSON Schema: each kind's document, chosen by ``kind``.

    pydantic writes the union as ``oneOf`` with an OpenAPI discriminator, which JSON Schema
    validators (and editors) ignore, so a mistake reads "not valid under any of the given
    schemas"; ``if kind is K then K's schema`` points at the field instead.
    """
    union = Manifest.json_schema()
    branches = []
    for kind, ref in union["discriminator"]["mapping"].items():
        branches.append(
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": ref},
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "bedrock.gitops/v1 manifest",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"kind": {"enum": list(KINDS)}},
        "allOf": branches,
        "$defs": union["$defs"],
    }


M_co = TypeVar("M_co", bound=AnyManifest, covariant=True)


@dataclass(frozen=True)
class Declared(Generic[M_co]):
    """A validated manifest and where it was declared.

    ``ref_line`` is the line of ``spec.model`` (a reference to a declared CustomModel).
    """

    manifest: M_co
    file: str
    line: int
    ref_line: int = 0

    @property
    def kind(self) -> Kind:
        return Kind(self.manifest.kind)

    @property
    def name(self) -> str:
        return self.manifest.metadata.name

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.name)

    @property
    def spec(self) -> Any:
        """The manifest's spec (each kind's own type: narrow through ``manifest``)."""
        return self.manifest.spec

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


DeclaredModel = Declared[CustomModelManifest]
DeclaredResource = Declared[AnyManifest]


@dataclass(frozen=True)
class DesiredState:
    """Every resource the manifests declare, in kind order, then name."""

    resources: tuple[DeclaredResource, ...]
    files: tuple[str, ...] = ()

    @property
    def models(self) -> tuple[DeclaredModel, ...]:
        """The declared CustomModels."""
        return tuple(
            r  # type: ignore[misc]
            for r in self.resources
            if r.kind is Kind.CUSTOM_MODEL
        )

    def by_key(self) -> dict[ResourceKey, DeclaredResource]:
        return {r.key: r for r in self.resources}

    def by_name(self) -> dict[str, DeclaredModel]:
        """The declared CustomModels by name."""
        return {m.name: m for m in self.models}


def desired_state(resources: Any, files: tuple[str, ...] = ()) -> DesiredState:
    """A DesiredState with its resources in kind order, then name."""
    ordered = tuple(sorted(resources, key=lambda r: r.key.order))
    return DesiredState(resources=ordered, files=files)
