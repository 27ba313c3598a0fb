"""The HTTP handlers of the serving operations (Provisioned Throughput, custom model
deployments), installed on moto's ``BedrockResponse`` by ``wire.install``.

moto's Bedrock has none of these operations; its catch-all route sends them to the
response class, which calls the snake_case method of the botocore operation it matched.
Lists page like the API (``maxResults`` 1-1000, an opaque ``nextToken``) and filter on the
members the service model names. Called through ``wire``; the records are ``serving``'s.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from reconciler.sandbox.errors import ValidationException
from reconciler.sandbox.serving import ServingStore


def _store(response: Any) -> ServingStore:
    from reconciler.sandbox.wire import _backend

    return _backend(response).serving


def _params(response: Any, operation: str) -> dict[str, Any]:
    from reconciler.sandbox.wire import _params as parse

    return parse(response, operation)


def _locked(response: Any) -> Any:
    from reconciler.sandbox.wire import _backend

    return _backend(response).lock


def _page(items: Sequence[dict[str, Any]], params: dict[str, Any], key: str) -> dict[str, Any]:
    size = params.get("maxResults") or 1000
    if not 1 <= size <= 1000:
        raise ValidationException("maxResults must be between 1 and 1000.")
    start = 0
    if params.get("nextToken"):
        try:
            start = int(json.loads(base64.urlsafe_b64decode(params["nextToken"]))["start"])
        except (ValueError, KeyError, TypeError):
            raise ValidationException("Invalid pagination token.") from None
    body: dict[str, Any] = {key: list(items[start : start + size])}
    if start + size < len(items):
        token = json.dumps({"start": start + size}).encode()
        body["nextToken"] = base64.urlsafe_b64encode(token).decode()
    return body


def _filtered(items: list[dict[str, Any]], params: dict[str, Any], name_key: str) -> list[Any]:
    if params.get("statusEquals"):
        items = [i for i in items if i["status"] == params["statusEquals"]]
    if params.get("nameContains"):
        items = [i for i in items if params["nameContains"] in i[name_key]]
    if params.get("modelArnEquals"):
        items = [i for i in items if i["modelArn"] == params["modelArnEquals"]]
    descending = params.get("sortOrder", "Descending") == "Descending"
    created = "creationTime" if "creationTime" in (items[0] if items else {}) else "createdAt"
    return sorted(items, key=lambda i: (i.get(created), i[name_key]), reverse=descending)


def create_provisioned_model_throughput(self: Any) -> ActionResult:
    params = _params(self, "CreateProvisionedModelThroughput")
    with _locked(self):
        arn = _store(self).create_throughput(params)
    return ActionResult({"provisionedModelArn": arn})


def get_provisioned_model_throughput(self: Any) -> ActionResult:
    params = _params(self, "GetProvisionedModelThroughput")
    store = _store(self)
    with _locked(self):
        throughput = store.get_throughput(params["provisionedModelId"])
        return ActionResult(throughput.view(store.delay, store.now()))


def list_provisioned_model_throughputs(self: Any) -> ActionResult:
    params = _params(self, "ListProvisionedModelThroughputs")
    store = _store(self)
    with _locked(self):
        store.settle()
        now = store.now()
        items = [t.view(store.delay, now) for t in store.throughputs.values()]
    items = _filtered(items, params, "provisionedModelName")
    return ActionResult(_page(items, params, "provisionedModelSummaries"))


def update_provisioned_model_throughput(self: Any) -> ActionResult:
    params = _params(self, "UpdateProvisionedModelThroughput")
    with _locked(self):
        _store(self).update_throughput(params)
    return EmptyResult()


def delete_provisioned_model_throughput(self: Any) -> ActionResult:
    params = _params(self, "DeleteProvisionedModelThroughput")
    with _locked(self):
        _store(self).delete_throughput(params["provisionedModelId"])
    return EmptyResult()


def create_custom_model_deployment(self: Any) -> ActionResult:
    params = _params(self, "CreateCustomModelDeployment")
    with _locked(self):
        arn = _store(self).create_deployment(params)
    return ActionResult({"customModelDeploymentArn": arn})


def get_custom_model_deployment(self: Any) -> ActionResult:
    params = _params(self, "GetCustomModelDeployment")
    store = _store(self)
    with _locked(self):
        deployment = store.get_deployment(params["customModelDeploymentIdentifier"])
        return ActionResult(deployment.view(store.delay, store.now()))


def list_custom_model_deployments(self: Any) -> ActionResult:
    params = _params(self, "ListCustomModelDeployments")
    store = _store(self)
    with _locked(self):
        store.settle()
        now = store.now()
        items = [d.summary(store.delay, now) for d in store.deployments.values()]
    items = _filtered(items, params, "customModelDeploymentName")
    return ActionResult(_page(items, params, "modelDeploymentSummaries"))


def update_custom_model_deployment(self: Any) -> ActionResult:
    params = _params(self, "UpdateCustomModelDeployment")
    with _locked(self):
        arn = _store(self).update_deployment(params)
    return ActionResult({"customModelDeploymentArn": arn})


def delete_custom_model_deployment(self: Any) -> ActionResult:
    params = _params(self, "DeleteCustomModelDeployment")
    with _locked(self):
        _store(self).delete_deployment(params["customModelDeploymentIdentifier"])
    return EmptyResult()


HANDLERS: dict[str, Callable[[Any], Any]] = {
    "create_provisioned_model_throughput": create_provisioned_model_throughput,
    "get_provisioned_model_throughput": get_provisioned_model_throughput,
    "list_provisioned_model_throughputs": list_provisioned_model_throughputs,
    "update_provisioned_model_throughput": update_provisioned_model_throughput,
    "delete_provisioned_model_throughput": delete_provisioned_model_throughput,
    "create_custom_model_deployment": create_custom_model_deployment,
    "get_custom_model_deployment": get_custom_model_deployment,
    "list_custom_model_deployments": list_custom_model_deployments,
    "update_custom_model_deployment": update_custom_model_deployment,
    "delete_custom_model_deployment": delete_custom_model_deployment,
}
