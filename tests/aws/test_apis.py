"""The per-kind API table against botocore's Bedrock service model.

Every operation name and answer key the table gives exists; each of its calls, made through a
real client whose sends are answered here, sends exactly the operation the table names it by,
with parameters botocore's own validation accepts. (mypy checks the calls' parameter names
against the stubs; this checks the names the table reports errors under against what is
really sent.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from reconciler.aws import apis, creates
from reconciler.aws.apis import APIS, LIST_PAGE_SIZE
from reconciler.desired import DeclaredResource
from reconciler.identity import Kind
from reconciler.kinds import RULES
from tests.builders import cm, dep, model_arn, pt, serving_arn

CLIENT = boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="y")  # fmt: skip
MODEL = CLIENT.meta.service_model
SCOPE = "default"
MODEL_ARN = model_arn("base")
DECLARED: Mapping[Kind, DeclaredResource] = {
    Kind.CUSTOM_MODEL: cm("alpha"),
    Kind.PROVISIONED_THROUGHPUT: pt("alpha-prod", arn=MODEL_ARN),
    Kind.CUSTOM_MODEL_DEPLOYMENT: dep("alpha-chat", arn=MODEL_ARN, description="chat"),
}


def arn_of(kind: Kind) -> str:
    return MODEL_ARN if kind is Kind.CUSTOM_MODEL else serving_arn(kind, "alpha")


@pytest.mark.parametrize("kind", list(Kind))
def test_every_name_in_the_table_is_the_service_models(kind: Kind) -> None:
    api = APIS[kind]
    operations = [api.list_op, api.get_op, api.delete_op, api.create_op]
    for operation in [*operations, *([api.update_op] if api.update_op else [])]:
        assert operation in MODEL.operation_names
    assert (api.update is None) == (api.update_op == "")
    assert (api.create is None) == (kind is Kind.CUSTOM_MODEL)  # models: ``creates``
    [summaries] = [
        shape
        for shape in MODEL.operation_model(api.list_op).output_shape.members.values()
        if shape.type_name == "list"
    ]
    assert api.arn_key in summaries.member.members
    assert api.arn_key in MODEL.operation_model(api.create_op).output_shape.members


class Recording:
    """A real Bedrock client whose every call is recorded (operation, parameters as given)
    after botocore validated them, and answered with ``{arn_key: ARN}`` instead of sent."""

    def __init__(self, kind: Kind) -> None:
        self.client = boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x",
                                   aws_secret_access_key="y")  # fmt: skip
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.arn_key, self.arn = APIS[kind].arn_key, arn_of(kind)
        events = self.client.meta.events
        events.register("before-parameter-build.bedrock", self._record)
        events.register("before-call.bedrock", self._answer)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.sent.append((model.name, dict(params)))

    def _answer(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        item = {self.arn_key: self.arn}
        members = model.output_shape.members if model.output_shape else {}
        lists = [name for name, shape in members.items() if shape.type_name == "list"]
        if model.name.startswith("List"):
            return AWSResponse(None, 200, {}, None), {lists[0]: [item]}
        return AWSResponse(None, 200, {}, None), item if self.arn_key in members else {}

    @property
    def operations(self) -> list[str]:
        return [operation for operation, _ in self.sent]


@pytest.mark.parametrize("kind", list(Kind))
def test_list_get_and_delete_send_the_operations_the_table_names(kind: Kind) -> None:
    api, recording = APIS[kind], Recording(kind)
    client, arn = recording.client, recording.arn
    assert apis.list_all(client, kind) == [{api.arn_key: arn}]
    assert apis.describe(client, kind, arn, "alpha") == {api.arn_key: arn}
    apis.delete(client, kind, arn, "alpha")
    assert recording.operations == [api.list_op, api.get_op, api.delete_op]
    listed, got, deleted = (params for _, params in recording.sent)
    owned = {"isOwned": True} if kind is Kind.CUSTOM_MODEL else {}
    assert listed == {**owned, "maxResults": LIST_PAGE_SIZE}
    assert list(got.values()) == [arn] and got == deleted


@pytest.mark.parametrize("kind", [k for k in Kind if k.serves])
def test_serving_creates_and_switches_send_the_operations_the_table_names(kind: Kind) -> None:
    api, recording = APIS[kind], Recording(kind)
    client, arn, declared = recording.client, recording.arn, DECLARED[kind]
    assert apis.create_serving(client, declared, SCOPE, MODEL_ARN) == arn
    apis.update_model(client, kind, arn, "alpha", model_arn("next"))
    assert recording.operations == [api.create_op, api.get_op, api.update_op]
    request = RULES[kind].create_request(declared, SCOPE, MODEL_ARN)
    token = apis.request_token(request)
    assert recording.sent[0][1] == {**request, "clientRequestToken": token}
    assert sorted(recording.sent[2][1].values()) == sorted([arn, model_arn("next")])


def test_a_model_create_sends_the_operation_the_table_names() -> None:
    recording = Recording(Kind.CUSTOM_MODEL)
    declared = DECLARED[Kind.CUSTOM_MODEL]
    sent = creates.send(recording.client, declared, SCOPE)
    assert sent.arn == recording.arn
    assert recording.operations == [APIS[Kind.CUSTOM_MODEL].create_op]
    request = creates.create_request(declared, SCOPE)
    token = apis.request_token(request)
    assert recording.sent[0][1] == {**request, "clientRequestToken": token}
