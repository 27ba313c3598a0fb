"""The manifest models: the service's limits copied from botocore, and their boundaries."""

from __future__ import annotations

import copy
import re
from typing import Any

import botocore.session
import pytest
from pydantic import ValidationError

from reconciler import desired
from reconciler.desired import (
    CustomModelManifest,
    check_tag_key,
    check_tag_value,
)

KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::111122223333:role/BedrockModelImport"


@pytest.fixture(scope="module")
def service_input() -> Any:
    session = botocore.session.get_session()
    model = session.get_service_model("bedrock")
    return model.operation_model("CreateCustomModel").input_shape


def _member(shape: Any, *path: str) -> Any:
    for name in path:
        shape = shape.member if name == "[]" else shape.members[name]
    return shape


def document(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "bedrock.gitops/v1",
        "kind": "CustomModel",
        "metadata": {"name": "support-nova-lite"},
        "spec": {"modelSourceConfig": {"s3DataSource": {"s3Uri": "s3://acme-models/x/"}}},
    }
    body["spec"].update(spec)
    return body


def with_name(name: str) -> dict[str, Any]:
    body = document()
    body["metadata"]["name"] = name
    return body


def with_s3(uri: str) -> dict[str, Any]:
    body = document()
    body["spec"]["modelSourceConfig"]["s3DataSource"]["s3Uri"] = uri
    return body


def refused(body: dict[str, Any]) -> list[tuple[str, ...]]:
    """The error locations of an invalid document (fails the test if it is valid)."""
    with pytest.raises(ValidationError) as caught:
        CustomModelManifest.model_validate(body)
    return [tuple(str(p) for p in e["loc"]) for e in caught.value.errors()]


def accepted(body: dict[str, Any]) -> CustomModelManifest:
    return CustomModelManifest.model_validate(copy.deepcopy(body))


# --- the constants equal botocore's service model -------------------------------------------


@pytest.mark.parametrize(
    ("path", "pattern", "min_len", "max_len"),
    [
        (("modelName",), desired.MODEL_NAME_PATTERN, 1, desired.MODEL_NAME_MAX),
        (
            ("modelSourceConfig", "s3DataSource", "s3Uri"),
            desired.S3_URI_PATTERN,
            1,
            desired.S3_URI_MAX,
        ),
        (("roleArn",), desired.ROLE_ARN_PATTERN, 0, desired.ROLE_ARN_MAX),
        (("modelKmsKeyArn",), desired.KMS_KEY_ARN_PATTERN, 1, desired.KMS_KEY_ARN_MAX),
        (("modelTags", "[]", "key"), desired.TAG_KEY_PATTERN, 1, desired.TAG_KEY_MAX),
        (("modelTags", "[]", "value"), desired.TAG_VALUE_PATTERN, 0, desired.TAG_VALUE_MAX),
    ],
    ids=["modelName", "s3Uri", "roleArn", "modelKmsKeyArn", "tag-key", "tag-value"],
)
def test_constants_match_botocore(
    service_input: Any, path: tuple[str, ...], pattern: str, min_len: int, max_len: int
) -> None:
    metadata = _member(service_input, *path).metadata
    assert metadata["pattern"] == pattern
    assert metadata["max"] == max_len
    assert metadata.get("min", 0) == min_len


def test_the_model_package_arn_pattern_is_botocores(service_input: Any) -> None:
    """The member the package source needs exists (a too-low botocore pin fails here)."""
    source = _member(service_input, "customModelDataSource")
    assert source.metadata.get("union") is True
    arn = _member(source, "modelPackageArnDataSource", "modelPackageArn").metadata
    assert arn["pattern"] == desired.MODEL_PACKAGE_ARN_PATTERN
    assert "min" not in arn
    assert "max" not in arn
    assert _member(source, "modelPackageArnDataSource").metadata["required"] == ["modelPackageArn"]


def test_model_name_is_the_only_required_service_field(service_input: Any) -> None:
    assert service_input.metadata["required"] == ["modelName"]
    assert _member(service_input, "modelSourceConfig", "s3DataSource").metadata["required"] == [
        "s3Uri"
    ]


def test_tag_limit_fits_the_service_tag_list(service_input: Any) -> None:
    tag_list = _member(service_input, "modelTags").metadata
    assert desired.MAX_TAGS_PER_MODEL == 50
    assert tag_list["max"] >= desired.MAX_TAGS_PER_MODEL
    assert tag_list.get("min", 0) == 0


@pytest.mark.parametrize("key", ["aws:x", "AWS:x", "Aws:team", "reconciler:x", "Reconciler:x"])
def test_reserved_prefixes_are_refused_in_any_case(key: str) -> None:
    locations = refused(document(tags={key: "v"}))
    assert locations == [("spec", "tags", key, "[key]")]


@pytest.mark.parametrize("key", ["awsx:x", "aws", "my-aws:x", "reconcilerx:y", "x:reconciler:"])
def test_near_misses_of_the_reserved_prefixes_are_accepted(key: str) -> None:
    assert accepted(document(tags={key: "v"})).spec.tags == {key: "v"}


# --- boundaries ------------------------------------------------------------------------------


def test_a_valid_document_with_every_field() -> None:
    manifest = accepted(
        document(roleArn=ROLE, modelKmsKeyArn=KMS, tags={"team": "a"}, deletionPolicy="Retain")
    )
    assert manifest.metadata.name == "support-nova-lite"
    assert manifest.spec.roleArn == ROLE
    assert manifest.spec.modelKmsKeyArn == KMS
    assert dict(manifest.spec.tags) == {"team": "a"}
    assert manifest.spec.deletionPolicy == "Retain"


def test_defaults() -> None:
    spec = accepted(document()).spec
    assert spec.deletionPolicy == "Delete"
    assert dict(spec.tags) == {}
    assert spec.roleArn is None
    assert spec.modelKmsKeyArn is None


@pytest.mark.parametrize(
    "name",
    ["a", "a" * 63, "a-b", "a_b", "A1-b2_c3", "0a", "a-", ("ab-" * 21)],
    ids=["one", "63", "dash", "underscore", "mixed", "digit-first", "trailing-dash", "63-dashes"],
)
def test_valid_names(name: str) -> None:
    assert accepted(with_name(name)).metadata.name == name


@pytest.mark.parametrize(
    "name",
    ["", "a" * 64, "a--b", "a-_b", "-a", "_a", "a b", "a.b", "a/b", "ä", "a\n", "ab-" * 21 + "c"],
    ids=[
        "empty",
        "64",
        "double-dash",
        "dash-underscore",
        "leading-dash",
        "leading-underscore",
        "space",
        "dot",
        "slash",
        "non-ascii",
        "trailing-newline",
        "64-with-dashes",
    ],
)
def test_invalid_names(name: str) -> None:
    assert refused(with_name(name)) == [("metadata", "name")]


@pytest.mark.parametrize(
    "uri",
    [
        "s3://abc",
        "s3://acme-models",
        "s3://acme-models/",
        "s3://acme.models/a/b/c.bin",
        "s3://acme-models/Dir_1/(x)!*'",
        "s3://" + "a" * 63 + "/",
    ],
    ids=["short-bucket", "bucket", "bucket-slash", "deep", "punctuation", "63-char-bucket"],
)
def test_valid_s3_uris(uri: str) -> None:
    assert accepted(with_s3(uri)).spec.modelSourceConfig.s3DataSource.s3Uri == uri


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "s3://acme-models/x/ ",
        " s3://acme-models/x/",
        "s3://acme-models/x/\n",
        "https://acme-models/x/",
        "s3://Acme/x/",
        "s3://ab",
        "s3://" + "a" * 64 + "/",
        "s3://acme-models//x",
        "s3://acme-models/a b/",
        "s3://acme-models/" + "a" * 1010,
    ],
    ids=[
        "empty",
        "trailing-space",
        "leading-space",
        "trailing-newline",
        "https",
        "uppercase-bucket",
        "bucket-too-short",
        "bucket-too-long",
        "empty-segment",
        "space-in-key",
        "over-1024",
    ],
)
def test_invalid_s3_uris(uri: str) -> None:
    assert refused(with_s3(uri)) == [("spec", "modelSourceConfig", "s3DataSource", "s3Uri")]


def test_s3_uri_of_exactly_1024_is_accepted() -> None:
    uri = "s3://acme-models/" + "a" * (1024 - len("s3://acme-models/"))
    assert len(uri) == 1024
    assert accepted(with_s3(uri)).spec.modelSourceConfig.s3DataSource.s3Uri == uri
    assert refused(with_s3(uri + "a")) == [("spec", "modelSourceConfig", "s3DataSource", "s3Uri")]


@pytest.mark.parametrize(
    ("kms", "ok"),
    [
        (KMS, True),
        ("arn:aws:kms:us-east-1:111122223333:key/" + "a" * 36, True),
        ("arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + "1" * 36, True),
        ("arn:aws:kms:us-east-1:111122223333:key/" + "a" * 35, False),
        ("arn:aws:kms:us-east-1:111122223333:key/" + "a" * 37, False),
        ("arn:aws:kms:us-east-1:11112222333:key/" + "a" * 36, False),
        ("arn:aws:kms:us-east-1:111122223333:alias/" + "a" * 36, False),
        ("", False),
    ],
    ids=["example", "36", "gov-partition", "35", "37", "11-digit-account", "alias", "empty"],
)
def test_kms_key_arn(kms: str, ok: bool) -> None:
    body = document(modelKmsKeyArn=kms)
    if ok:
        assert accepted(body).spec.modelKmsKeyArn == kms
    else:
        assert refused(body) == [("spec", "modelKmsKeyArn")]


@pytest.mark.parametrize(
    ("role", "ok"),
    [
        (ROLE, True),
        ("arn:aws:iam:::role/x", True),
        ("arn:aws-cn:iam::111122223333:role/path/x", True),
        ("arn:aws:iam::111122223333:user/x", False),
        ("arn:aws:iam::111122223333:role/", False),
        ("arn:aws:iam::111122223333:role/x\ny", False),
        ("", False),
    ],
    ids=["example", "no-account", "china", "user", "no-role-name", "newline", "empty"],
)
def test_role_arn(role: str, ok: bool) -> None:
    body = document(roleArn=role)
    if ok:
        assert accepted(body).spec.roleArn == role
    else:
        assert refused(body) == [("spec", "roleArn")]


def test_tag_key_lengths() -> None:
    assert check_tag_key("k" * 128) == "k" * 128
    with pytest.raises(ValueError, match="1 to 128 characters, got 129"):
        check_tag_key("k" * 129)
    with pytest.raises(ValueError, match="1 to 128 characters, got 0"):
        check_tag_key("")
    assert accepted(document(tags={"k" * 128: "v"})).spec.tags == {"k" * 128: "v"}
    assert refused(document(tags={"k" * 129: "v"})) == [("spec", "tags", "k" * 129, "[key]")]


def test_tag_value_lengths() -> None:
    assert check_tag_value("v" * 256) == "v" * 256
    assert check_tag_value("") == ""
    with pytest.raises(ValueError, match="0 to 256 characters, got 257"):
        check_tag_value("v" * 257)
    assert accepted(document(tags={"k": "v" * 256})).spec.tags == {"k": "v" * 256}
    assert refused(document(tags={"k": "v" * 257})) == [("spec", "tags", "k")]


@pytest.mark.parametrize(
    "key",
    [
        "aws:x",
        "AWS:x",
        "Aws:cloudformation",
        "reconciler:managed-by",
        "Reconciler:x",
        "RECONCILER:",
    ],
)
def test_reserved_tag_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        check_tag_key(key)
    assert refused(document(tags={key: "v"})) == [("spec", "tags", key, "[key]")]


@pytest.mark.parametrize("key", ["awsx", "aws", "reconciler", "my:aws:x", "team reconciler:x"])
def test_keys_that_only_contain_a_reserved_word_are_accepted(key: str) -> None:
    assert check_tag_key(key) == key


@pytest.mark.parametrize(
    "value",
    ["a b", "a.b_c:d/e=f+g@h-i", "", "tab\there"],
    ids=["space", "punctuation", "empty", "tab"],
)
def test_valid_tag_values(value: str) -> None:
    assert accepted(document(tags={"k": value})).spec.tags == {"k": value}


@pytest.mark.parametrize("value", ["a,b", "a;b", "é", "a*b", "a#b"])
def test_invalid_tag_values(value: str) -> None:
    assert refused(document(tags={"k": value})) == [("spec", "tags", "k")]


def test_tag_values_must_be_strings_not_numbers() -> None:
    assert refused(document(tags={"k": 1})) == [("spec", "tags", "k")]


def test_whole_value_must_match_not_a_prefix() -> None:
    # re.search or re.match would accept each of these: the valid part is a prefix.
    assert refused(with_name("abc!")) == [("metadata", "name")]
    assert refused(with_s3("s3://acme-models/x/ ")) == [
        ("spec", "modelSourceConfig", "s3DataSource", "s3Uri")
    ]
    assert refused(document(modelKmsKeyArn=KMS + "x")) == [("spec", "modelKmsKeyArn")]
    assert refused(document(tags={"k!": "v"})) == [("spec", "tags", "k!", "[key]")]
    # ... while the bare patterns do find a match inside them.
    assert re.search(desired.MODEL_NAME_PATTERN, "abc!") is not None
    assert re.match(desired.S3_URI_PATTERN, "s3://acme-models/x/ ") is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [("apiVersion", "bedrock.gitops/v2"), ("kind", "Model"), ("apiVersion", 1)],
)
def test_wrong_api_version_or_kind(field: str, value: Any) -> None:
    body = document()
    body[field] = value
    assert refused(body) == [(field,)]


def test_deletion_policy_is_case_sensitive() -> None:
    assert refused(document(deletionPolicy="retain")) == [("spec", "deletionPolicy")]


def test_unknown_fields_are_refused_at_every_level() -> None:
    body = document(tag={"a": "b"})
    body["metadata"]["namespace"] = "x"
    body["spec"]["modelSourceConfig"]["s3DataSource"]["bucket"] = "x"
    body["status"] = {}
    assert sorted(refused(body)) == [
        ("metadata", "namespace"),
        ("spec", "modelSourceConfig", "s3DataSource", "bucket"),
        ("spec", "tag"),
        ("status",),
    ]


def test_manifests_are_frozen() -> None:
    manifest = accepted(document())
    with pytest.raises(ValidationError):
        manifest.metadata.name = "other"  # type: ignore[misc]


# --- the model's source --------------------------------------------------------------------

PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/support-nova/3"


def with_package(arn: str = PACKAGE) -> dict[str, Any]:
    body = document()
    body["spec"] = {
        "customModelDataSource": {"modelPackageArnDataSource": {"modelPackageArn": arn}}
    }
    return body


def test_a_model_package_is_a_source() -> None:
    spec = accepted(with_package()).spec
    assert spec.modelSourceConfig is None
    assert spec.customModelDataSource is not None
    assert spec.customModelDataSource.modelPackageArnDataSource.modelPackageArn == PACKAGE


@pytest.mark.parametrize(
    "arn",
    [
        PACKAGE,
        "arn:aws-us-gov:sagemaker:us-gov-west-1:111122223333:model-package/a",
        "arn:aws:sagemaker:eu-central-1:111122223333:model-package/group/" + "x" * 2040,
    ],
)
def test_valid_model_package_arns(arn: str) -> None:
    accepted(with_package(arn))


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "arn:aws:sagemaker:us-east-1:111122223333:model/support-nova",
        "arn:aws:sagemaker:us-east-1:1111:model-package/support-nova/3",
        "arn:aws:s3:::acme-models/support-nova",
        "arn:aws:sagemaker:us-east-1:111122223333:model-package/has space",
        "arn:aws:sagemaker:us-east-1:111122223333:model-package/" + "x" * 2049,
    ],
)
def test_invalid_model_package_arns(arn: str) -> None:
    assert refused(with_package(arn)) == [
        ("spec", "customModelDataSource", "modelPackageArnDataSource", "modelPackageArn")
    ]


def test_both_sources_are_refused_at_the_second() -> None:
    body = with_package()
    body["spec"]["modelSourceConfig"] = {"s3DataSource": {"s3Uri": "s3://acme-models/x/"}}
    with pytest.raises(ValidationError) as caught:
        CustomModelManifest.model_validate(body)
    (error,) = caught.value.errors()
    assert error["loc"] == ("spec", "customModelDataSource")
    assert "exactly one of modelSourceConfig" in error["msg"]
    assert "not both" in error["msg"]


@pytest.mark.parametrize("spec", [{}, {"modelSourceConfig": None}, {"customModelDataSource": None}])
def test_no_source_is_refused_at_the_spec(spec: dict[str, Any]) -> None:
    body = document()
    body["spec"] = spec
    with pytest.raises(ValidationError) as caught:
        CustomModelManifest.model_validate(body)
    (error,) = caught.value.errors()
    assert error["loc"] == ("spec",)
    assert "exactly one of modelSourceConfig" in error["msg"]


def test_an_unknown_package_source_field_is_refused() -> None:
    body = with_package()
    body["spec"]["customModelDataSource"]["s3DataSource"] = {"s3Uri": "s3://acme-models/x/"}
    assert refused(body) == [("spec", "customModelDataSource", "s3DataSource")]


# --- JSON schema -----------------------------------------------------------------------------


def test_json_schema_forbids_extra_fields_and_lists_required_ones() -> None:
    schema = CustomModelManifest.model_json_schema()
    assert schema["title"] == "CustomModel"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert sorted(schema["required"]) == ["apiVersion", "kind", "metadata", "spec"]
    assert schema["properties"]["apiVersion"]["const"] == "bedrock.gitops/v1"
    assert schema["properties"]["kind"]["const"] == "CustomModel"
    defs = schema["$defs"]
    assert set(defs) == {
        "Metadata",
        "Spec",
        "ModelSourceConfig",
        "S3DataSource",
        "CustomModelDataSource",
        "ModelPackageArnDataSource",
    }
    for name, definition in defs.items():
        assert definition["additionalProperties"] is False, name
    assert defs["Metadata"]["required"] == ["name"]
    assert "required" not in defs["Spec"]
    assert defs["Spec"]["oneOf"] == [
        {"required": ["modelSourceConfig"]},
        {"required": ["customModelDataSource"]},
    ]
    assert defs["ModelSourceConfig"]["required"] == ["s3DataSource"]
    assert defs["CustomModelDataSource"]["required"] == ["modelPackageArnDataSource"]
    assert defs["ModelPackageArnDataSource"]["required"] == ["modelPackageArn"]
    assert defs["S3DataSource"]["required"] == ["s3Uri"]
    policy = defs["Spec"]["properties"]["deletionPolicy"]
    assert policy["enum"] == ["Delete", "Retain"]
    assert policy["default"] == "Delete"


# --- spec.adopt and the export placeholder ---------------------------------------------------


def _serving_documents(**spec: Any) -> list[dict[str, Any]]:
    served = "arn:aws:bedrock:us-east-1:111122223333:custom-model/imported/abcdefghijkl"
    return [
        {
            "apiVersion": "bedrock.gitops/v1",
            "kind": "ProvisionedThroughput",
            "metadata": {"name": "p"},
            "spec": {"modelArn": served, "modelUnits": 1, **spec},
        },
        {
            "apiVersion": "bedrock.gitops/v1",
            "kind": "CustomModelDeployment",
            "metadata": {"name": "d"},
            "spec": {"modelArn": served, **spec},
        },
    ]


def test_adopt_is_a_bool_defaulting_to_false_on_every_kind() -> None:
    for body in [document(), *_serving_documents()]:
        assert desired.Manifest.validate_python(body).spec.adopt is False
    for body in [document(adopt=True), *_serving_documents(adopt=True)]:
        assert desired.Manifest.validate_python(body).spec.adopt is True
    for body in [document(adopt="yes"), *_serving_documents(adopt=1)]:
        with pytest.raises(ValidationError) as caught:
            desired.Manifest.validate_python(body)
        assert [e["loc"][-1] for e in caught.value.errors()] == ["adopt"]


def test_adopt_never_changes_the_spec_hash() -> None:
    from reconciler.desired import Declared
    from reconciler.kinds import spec_hash

    for plain, adopted in zip(
        [document(), *_serving_documents()],
        [document(adopt=True), *_serving_documents(adopt=True)],
        strict=True,
    ):
        hashes = {
            spec_hash(Declared(manifest=desired.Manifest.validate_python(body), file="f", line=1))
            for body in (plain, adopted)
        }
        assert len(hashes) == 1, plain["kind"]


def test_adopt_is_in_the_json_schema_of_every_kind() -> None:
    defs = desired.json_schema()["$defs"]
    for spec in ("Spec", "ThroughputSpec", "DeploymentSpec"):
        assert defs[spec]["properties"]["adopt"]["type"] == "boolean", spec
        assert defs[spec]["properties"]["adopt"]["default"] is False, spec


def test_the_export_placeholder_is_refused_with_its_own_message() -> None:
    with pytest.raises(ValidationError) as caught:
        CustomModelManifest.model_validate(with_s3(desired.SOURCE_PLACEHOLDER))
    (error,) = caught.value.errors()
    assert error["loc"] == ("spec", "modelSourceConfig", "s3DataSource", "s3Uri")
    assert error["msg"] == f"Value error, {desired.SOURCE_PLACEHOLDER_MESSAGE}"
