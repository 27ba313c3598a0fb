"""The per-kind API table against botocore's Bedrock service model: every operation, method,
parameter and answer key it names exists (the calls made through it are dispatched by name,
which the type stubs cannot check)."""

from __future__ import annotations

import boto3
import pytest

from reconciler.aws.apis import APIS
from reconciler.identity import Kind

CLIENT = boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="y")  # fmt: skip
MODEL = CLIENT.meta.service_model


@pytest.mark.parametrize("kind", list(Kind))
def test_every_name_in_the_table_is_the_service_models(kind: Kind) -> None:
    api = APIS[kind]
    for operation, method in (
        (api.list_op, api.list_method),
        (api.create_op, api.create_method),
        (api.delete_op, api.delete_method),
        (api.get_op, api.get_method),
        *([(api.update_op, api.update_method)] if api.update_op else []),
    ):
        assert operation in MODEL.operation_names
        assert CLIENT.meta.method_to_api_mapping[method] == operation
    assert CLIENT.can_paginate(api.list_method)
    assert api.list_key in MODEL.operation_model(api.list_op).output_shape.members
    assert api.arn_key in MODEL.operation_model(api.create_op).output_shape.members
    for operation in (api.delete_op, api.get_op):
        assert api.id_param in MODEL.operation_model(operation).input_shape.members
    assert set(api.list_params) <= set(MODEL.operation_model(api.list_op).input_shape.members)
    if api.update_op:
        members = MODEL.operation_model(api.update_op).input_shape.members
        assert {api.id_param, api.update_model_param} <= set(members)
