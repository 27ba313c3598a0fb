"""Each kind's Bedrock operations, as one table, and the calls every kind makes the same way.

``APIS`` says, per kind, which operation lists, creates, deletes, switches and describes it,
with the parameter names the service model gives them; ``list_all``, ``delete``,
``update_model`` and ``describe`` work for every kind from that table, so the reader, the
executor and the waiter never branch on a kind's name. Creating a custom model has its own
module (``creates``: batched confirmation of replayed tokens); throughputs and deployments are
created here, each answer checked at once (there are few of them). Called by ``reader``,
``executor`` and ``readiness``; clients come from ``aws.client``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from reconciler.aws.errors import calling
from reconciler.errors import CloudError, NotFoundError
from reconciler.identity import Kind

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient


# The largest page each list serves (botocore's service model: maxResults 1-1000).
LIST_PAGE_SIZE = 1000
# Bedrock answers a reused token with the first ARN even after that resource was deleted;
# each such stale answer moves to a new token derived from it, a few times at most.
MAX_TOKEN_ROLLS = 5


@dataclass(frozen=True)
class KindApi:
    """The operations of one kind: names as the service model spells them, boto3 methods."""

    list_op: str
    list_method: str
    list_key: str
    list_params: Mapping[str, Any]
    create_op: str
    create_method: str
    arn_key: str
    delete_op: str
    delete_method: str
    id_param: str
    get_op: str
    get_method: str
    resource_type: str  # the Resource Groups Tagging API's name for it
    update_op: str = ""
    update_method: str = ""
    update_model_param: str = ""


APIS: Mapping[Kind, KindApi] = {
    Kind.CUSTOM_MODEL: KindApi(
        list_op="ListCustomModels",
        list_method="list_custom_models",
        list_key="modelSummaries",
        # isOwned: models shared from other accounts are never planned against.
        list_params={"isOwned": True},
        create_op="CreateCustomModel",
        create_method="create_custom_model",
        arn_key="modelArn",
        delete_op="DeleteCustomModel",
        delete_method="delete_custom_model",
        id_param="modelIdentifier",
        get_op="GetCustomModel",
        get_method="get_custom_model",
        resource_type="bedrock:custom-model",
    ),
    Kind.PROVISIONED_THROUGHPUT: KindApi(
        list_op="ListProvisionedModelThroughputs",
        list_method="list_provisioned_model_throughputs",
        list_key="provisionedModelSummaries",
        list_params={},
        create_op="CreateProvisionedModelThroughput",
        create_method="create_provisioned_model_throughput",
        arn_key="provisionedModelArn",
        delete_op="DeleteProvisionedModelThroughput",
        delete_method="delete_provisioned_model_throughput",
        id_param="provisionedModelId",
        get_op="GetProvisionedModelThroughput",
        get_method="get_provisioned_model_throughput",
        resource_type="bedrock:provisioned-model",
        update_op="UpdateProvisionedModelThroughput",
        update_method="update_provisioned_model_throughput",
        update_model_param="desiredModelId",
    ),
    Kind.CUSTOM_MODEL_DEPLOYMENT: KindApi(
        list_op="ListCustomModelDeployments",
        list_method="list_custom_model_deployments",
        list_key="modelDeploymentSummaries",
        list_params={},
        create_op="CreateCustomModelDeployment",
        create_method="create_custom_model_deployment",
        arn_key="customModelDeploymentArn",
        delete_op="DeleteCustomModelDeployment",
        delete_method="delete_custom_model_deployment",
        id_param="customModelDeploymentIdentifier",
        get_op="GetCustomModelDeployment",
        get_method="get_custom_model_deployment",
        resource_type="bedrock:custom-model-deployment",
        update_op="UpdateCustomModelDeployment",
        update_method="update_custom_model_deployment",
        update_model_param="modelArn",
    ),
}
RESOURCE_TYPES = tuple(api.resource_type for api in APIS.values())


def list_all(client: BedrockClient, kind: Kind) -> list[Mapping[str, Any]]:
    """Every summary of one kind the account owns, across all pages."""
    api = APIS[kind]
    with calling(api.list_op):
        # The method is the table's: dispatch by name, which the stubs cannot check.
        paginator = cast("Any", client).get_paginator(api.list_method)
        pages = paginator.paginate(**api.list_params, PaginationConfig={"PageSize": LIST_PAGE_SIZE})
        return [summary for page in pages for summary in page.get(api.list_key, [])]


def describe(client: BedrockClient, kind: Kind, arn: str, name: str) -> Mapping[str, Any] | None:
    """One resource's Get answer; None when it no longer exists."""
    api = APIS[kind]
    try:
        with calling(api.get_op, name):
            answer: Mapping[str, Any] = getattr(client, api.get_method)(**{api.id_param: arn})
    except NotFoundError:
        return None
    return answer


def delete(client: BedrockClient, kind: Kind, arn: str, name: str) -> None:
    """Delete one resource by ARN; one already gone (a retried or re-run delete) is deleted."""
    api = APIS[kind]
    try:
        with calling(api.delete_op, name):
            getattr(client, api.delete_method)(**{api.id_param: arn})
    except NotFoundError:
        pass


def update_model(client: BedrockClient, kind: Kind, arn: str, name: str, model_arn: str) -> None:
    """Switch a throughput or deployment onto another model, in place."""
    api = APIS[kind]
    with calling(api.update_op, name):
        getattr(client, api.update_method)(**{api.id_param: arn, api.update_model_param: model_arn})


def request_token(request: Mapping[str, Any], after: str = "") -> str:
    """A deterministic idempotency token for ``request`` (``after``: a stale ARN to move past)."""
    canonical = json.dumps({"request": request, "after": after}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_serving(client: BedrockClient, kind: Kind, name: str, request: Mapping[str, Any]) -> str:
    """Create a throughput or deployment exactly once; its ARN.

    The token is a digest of the full request; an answer naming a resource that no longer
    exists (the token was used before, for one since deleted) is sent again with a token
    derived from that stale ARN, which is as deterministic as the first.
    """
    api = APIS[kind]
    after = ""
    for _ in range(MAX_TOKEN_ROLLS):
        with calling(api.create_op, name):
            answer = getattr(client, api.create_method)(
                **request, clientRequestToken=request_token(request, after)
            )
        arn = str(answer[api.arn_key])
        if describe(client, kind, arn, name) is not None:
            return arn
        after = arn
    raise CloudError(f"{api.create_op} {name} failed: the service kept answering with deleted ARNs")
