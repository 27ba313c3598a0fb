"""Each kind's Bedrock operations, as one table of typed calls, and what every kind does alike.

``APIS`` gives, per kind, the names of the operations that list, get, create, delete and
switch it (as the service model spells them, for errors) and one small function per call,
each calling the typed client with keyword arguments, so ``mypy --strict`` checks every
parameter name against the service's stubs. ``list_all``, ``describe``, ``delete``,
``update_model`` and ``create_serving`` work for every kind from that table, so the reader,
the executor and the waiter never branch on a kind's name. Creating a custom model has its
own module (``creates``: batched confirmation of replayed tokens); throughputs and
deployments are created here, each answer checked at once (there are few of them). Called
by ``reader``, ``executor`` and ``readiness``; clients come from ``aws.client``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.aws.errors import calling
from reconciler.desired import DeclaredResource
from reconciler.errors import CloudError, NotFoundError
from reconciler.identity import Kind
from reconciler.kinds import model_deployment, provisioned_throughput

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_bedrock.type_defs import (
        CreateCustomModelDeploymentRequestTypeDef,
        CreateProvisionedModelThroughputRequestTypeDef,
        ListCustomModelDeploymentsResponseTypeDef,
        ListCustomModelsResponseTypeDef,
        ListProvisionedModelThroughputsResponseTypeDef,
        PaginatorConfigTypeDef,
    )


# The largest page each list serves (botocore's service model: maxResults 1-1000).
LIST_PAGE_SIZE = 1000
# Bedrock answers a reused token with the first ARN even after that resource was deleted;
# each such stale answer moves to a new token derived from it, a few times at most.
MAX_TOKEN_ROLLS = 5

Summaries = list[Mapping[str, Any]]


class Create(Protocol):
    """Send one create of ``resource``, serving from ``model_arn``, with the token derived
    from ``after`` (a stale ARN to move past, or empty); the ARN it answered with."""

    def __call__(
        self,
        client: BedrockClient,
        resource: DeclaredResource,
        scope: str,
        model_arn: str,
        after: str,
    ) -> str: ...


@dataclass(frozen=True)
class KindApi:
    """The operations of one kind: their names (as the service model spells them), the key
    of the ARN in its summaries and answers, and the typed calls (an ARN as identifier)."""

    list_op: str
    get_op: str
    delete_op: str
    create_op: str
    arn_key: str
    resource_type: str  # the Resource Groups Tagging API's name for it
    list_all: Callable[[BedrockClient], Summaries]
    get: Callable[[BedrockClient, str], Mapping[str, Any]]
    delete: Callable[[BedrockClient, str], None]
    create: Create | None = None  # None: custom models are created by ``creates``
    update_op: str = ""
    update: Callable[[BedrockClient, str, str], None] | None = None


def _pages() -> PaginatorConfigTypeDef:
    return {"PageSize": LIST_PAGE_SIZE}


def _list_models(client: BedrockClient) -> Summaries:
    paginator = client.get_paginator("list_custom_models")
    # isOwned: models shared from other accounts are never planned against.
    pages: Iterable[ListCustomModelsResponseTypeDef]
    pages = paginator.paginate(isOwned=True, PaginationConfig=_pages())
    return [summary for page in pages for summary in page.get("modelSummaries", [])]


def _get_model(client: BedrockClient, arn: str) -> Mapping[str, Any]:
    return client.get_custom_model(modelIdentifier=arn)


def _delete_model(client: BedrockClient, arn: str) -> None:
    client.delete_custom_model(modelIdentifier=arn)


def _list_throughputs(client: BedrockClient) -> Summaries:
    paginator = client.get_paginator("list_provisioned_model_throughputs")
    pages: Iterable[ListProvisionedModelThroughputsResponseTypeDef]
    pages = paginator.paginate(PaginationConfig=_pages())
    return [summary for page in pages for summary in page.get("provisionedModelSummaries", [])]


def _get_throughput(client: BedrockClient, arn: str) -> Mapping[str, Any]:
    return client.get_provisioned_model_throughput(provisionedModelId=arn)


def _delete_throughput(client: BedrockClient, arn: str) -> None:
    client.delete_provisioned_model_throughput(provisionedModelId=arn)


def _update_throughput(client: BedrockClient, arn: str, model_arn: str) -> None:
    client.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=model_arn)


def _create_throughput(
    client: BedrockClient, resource: DeclaredResource, scope: str, model_arn: str, after: str
) -> str:
    request = provisioned_throughput.create_request(resource, scope, model_arn)
    sent: CreateProvisionedModelThroughputRequestTypeDef = {
        **request,
        "clientRequestToken": request_token(request, after),
    }
    return client.create_provisioned_model_throughput(**sent)["provisionedModelArn"]


def _list_deployments(client: BedrockClient) -> Summaries:
    paginator = client.get_paginator("list_custom_model_deployments")
    pages: Iterable[ListCustomModelDeploymentsResponseTypeDef]
    pages = paginator.paginate(PaginationConfig=_pages())
    return [summary for page in pages for summary in page.get("modelDeploymentSummaries", [])]


def _get_deployment(client: BedrockClient, arn: str) -> Mapping[str, Any]:
    return client.get_custom_model_deployment(customModelDeploymentIdentifier=arn)


def _delete_deployment(client: BedrockClient, arn: str) -> None:
    client.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)


def _update_deployment(client: BedrockClient, arn: str, model_arn: str) -> None:
    client.update_custom_model_deployment(customModelDeploymentIdentifier=arn, modelArn=model_arn)


def _create_deployment(
    client: BedrockClient, resource: DeclaredResource, scope: str, model_arn: str, after: str
) -> str:
    request = model_deployment.create_request(resource, scope, model_arn)
    sent: CreateCustomModelDeploymentRequestTypeDef = {
        **request,
        "clientRequestToken": request_token(request, after),
    }
    return client.create_custom_model_deployment(**sent)["customModelDeploymentArn"]


APIS: Mapping[Kind, KindApi] = {
    Kind.CUSTOM_MODEL: KindApi(
        list_op="ListCustomModels",
        get_op="GetCustomModel",
        delete_op="DeleteCustomModel",
        create_op="CreateCustomModel",
        arn_key="modelArn",
        resource_type="bedrock:custom-model",
        list_all=_list_models,
        get=_get_model,
        delete=_delete_model,
    ),
    Kind.PROVISIONED_THROUGHPUT: KindApi(
        list_op="ListProvisionedModelThroughputs",
        get_op="GetProvisionedModelThroughput",
        delete_op="DeleteProvisionedModelThroughput",
        create_op="CreateProvisionedModelThroughput",
        arn_key="provisionedModelArn",
        resource_type="bedrock:provisioned-model",
        list_all=_list_throughputs,
        get=_get_throughput,
        delete=_delete_throughput,
        create=_create_throughput,
        update_op="UpdateProvisionedModelThroughput",
        update=_update_throughput,
    ),
    Kind.CUSTOM_MODEL_DEPLOYMENT: KindApi(
        list_op="ListCustomModelDeployments",
        get_op="GetCustomModelDeployment",
        delete_op="DeleteCustomModelDeployment",
        create_op="CreateCustomModelDeployment",
        arn_key="customModelDeploymentArn",
        resource_type="bedrock:custom-model-deployment",
        list_all=_list_deployments,
        get=_get_deployment,
        delete=_delete_deployment,
        create=_create_deployment,
        update_op="UpdateCustomModelDeployment",
        update=_update_deployment,
    ),
}
RESOURCE_TYPES = tuple(api.resource_type for api in APIS.values())


def list_all(client: BedrockClient, kind: Kind) -> Summaries:
    """Every summary of one kind the account owns, across all pages."""
    api = APIS[kind]
    with calling(api.list_op):
        return api.list_all(client)


def describe(client: BedrockClient, kind: Kind, arn: str, name: str) -> Mapping[str, Any] | None:
    """One resource's Get answer; None when it no longer exists."""
    api = APIS[kind]
    try:
        with calling(api.get_op, name):
            return api.get(client, arn)
    except NotFoundError:
        return None


def delete(client: BedrockClient, kind: Kind, arn: str, name: str) -> None:
    """Delete one resource by ARN; one already gone (a retried or re-run delete) is deleted."""
    api = APIS[kind]
    try:
        with calling(api.delete_op, name):
            api.delete(client, arn)
    except NotFoundError:
        pass


def update_model(client: BedrockClient, kind: Kind, arn: str, name: str, model_arn: str) -> None:
    """Switch a throughput or deployment onto another model, in place."""
    api = APIS[kind]
    assert api.update is not None, f"{kind} cannot switch models in place"
    with calling(api.update_op, name):
        api.update(client, arn, model_arn)


def request_token(request: Mapping[str, Any], after: str = "") -> str:
    """A deterministic idempotency token for ``request`` (``after``: a stale ARN to move past)."""
    canonical = json.dumps({"request": request, "after": after}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_serving(
    client: BedrockClient, resource: DeclaredResource, scope: str, model_arn: str
) -> str:
    """Create a throughput or deployment exactly once; its ARN.

    The token is a digest of the full request; an answer naming a resource that no longer
    exists (the token was used before, for one since deleted) is sent again with a token
    derived from that stale ARN, which is as deterministic as the first.
    """
    kind, name = resource.kind, resource.name
    api = APIS[kind]
    assert api.create is not None, f"{kind} is created by reconciler.aws.creates"
    after = ""
    for _ in range(MAX_TOKEN_ROLLS):
        with calling(api.create_op, name):
            arn = api.create(client, resource, scope, model_arn, after)
        if describe(client, kind, arn, name) is not None:
            return arn
        after = arn
    raise CloudError(f"{api.create_op} {name} failed: the service kept answering with deleted ARNs")
