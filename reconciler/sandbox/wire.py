"""The HTTP side of the emulator: request handlers on moto's ``BedrockResponse`` and
``ResourceGroupsTaggingAPIResponse``, and install().

moto routes a request to the botocore operation it matches and calls the snake_case method
of that name on the service's response class. ``install()`` puts this module's handlers
there, wraps both services' dispatch to count calls and inject faults (one ``call_action``,
so GetResources meets the same counters and faults as Bedrock's operations, in the Bedrock
backend of the same account and region), and makes moto's ``bedrock_backends`` build
``EmulatedBedrockBackend``. Handlers answer ``ActionResult``s, which moto serialises with the
service model: success codes (202 for CreateCustomModel), timestamps and errors come out as
the service sends them; injected errors are renamed to the tagging API's own codes there.

GetResources itself is moto's (it finds our backend as a ``TaggableResourcesMixin``), except
for page limits: moto stops a page at 100 tags even when the caller did not ask for
``TagsPerPage``; here only ``ResourcesPerPage`` bounds it then, as in AWS.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import botocore.exceptions
from moto.bedrock import models as bedrock_models
from moto.bedrock.responses import BedrockResponse
from moto.core.errors import COMMON_ERROR_CODES
from moto.core.resource_tagging import TaggedResource
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.resourcegroupstaggingapi.responses import ResourceGroupsTaggingAPIResponse

from reconciler.sandbox.backend import EmulatedBedrockBackend, import_seconds_from_env
from reconciler.sandbox.errors import (
    AccessDeniedException,
    BedrockError,
    InvalidParameterException,
    tagging_error,
)
from reconciler.sandbox.faults import Verdict, faults_from_env
from reconciler.sandbox.listing import ListQuery
from reconciler.sandbox.serving_wire import HANDLERS as SERVING_HANDLERS
from reconciler.sandbox.validation import validate_input

_install_lock = threading.Lock()

# GetResources' page limits (its API reference), and moto's default page size.
RESOURCES_PER_PAGE = range(1, 101)
TAGS_PER_PAGE = range(100, 501)
DEFAULT_RESOURCES_PER_PAGE = 50
_NO_TAG_LIMIT = sys.maxsize


def _backend(response: Any) -> EmulatedBedrockBackend:
    backend = bedrock_models.bedrock_backends[response.current_account][response.region]
    if not isinstance(backend, EmulatedBedrockBackend):
        raise RuntimeError("the Bedrock sandbox is not installed (call install() first)")
    return backend


def _params(response: Any, operation: str) -> dict[str, Any]:
    # moto parses BedrockResponse requests by hand; the service-model parser decodes URI
    # labels (ARNs with '/' in them) and types query strings (isOwned, maxResults, times).
    response.parse_parameters(response.normalized_request)
    params = dict(response.params)
    validate_input(operation, params)
    return params


def create_custom_model(self: Any) -> ActionResult:
    params = _params(self, "CreateCustomModel")
    arn = _backend(self).create_custom_model(
        model_name=params["modelName"],
        model_source_config=params.get("modelSourceConfig"),
        custom_model_data_source=params.get("customModelDataSource"),
        model_kms_key_arn=params.get("modelKmsKeyArn"),
        role_arn=params.get("roleArn"),
        model_tags=params.get("modelTags"),
        client_request_token=params.get("clientRequestToken"),
    )
    return ActionResult({"modelArn": arn})


def get_custom_model(self: Any) -> ActionResult:
    params = _params(self, "GetCustomModel")
    backend = _backend(self)
    model = backend.get_custom_model(params["modelIdentifier"])
    return ActionResult(model.description(backend.import_seconds))


def delete_custom_model(self: Any) -> ActionResult:
    params = _params(self, "DeleteCustomModel")
    _backend(self).delete_custom_model(params["modelIdentifier"])
    return EmptyResult()


def list_custom_models(self: Any) -> ActionResult:
    params = _params(self, "ListCustomModels")
    query = ListQuery(
        creation_time_before=params.get("creationTimeBefore"),
        creation_time_after=params.get("creationTimeAfter"),
        name_contains=params.get("nameContains"),
        base_model_arn_equals=params.get("baseModelArnEquals"),
        foundation_model_arn_equals=params.get("foundationModelArnEquals"),
        is_owned=bool(params.get("isOwned", False)),
        model_status=params.get("modelStatus"),
        sort_by=params.get("sortBy") or "CreationTime",
        sort_order=params.get("sortOrder") or "Descending",
    )
    backend = _backend(self)
    models, next_token = backend.list_custom_models(
        query, params.get("maxResults"), params.get("nextToken")
    )
    summaries = [model.summary(backend.import_seconds) for model in models]
    body: dict[str, Any] = {"modelSummaries": summaries}
    if next_token is not None:
        body["nextToken"] = next_token
    return ActionResult(body)


def tag_resource(self: Any) -> ActionResult:
    params = _params(self, "TagResource")
    _backend(self).tag_resource(params["resourceARN"], params["tags"])
    return EmptyResult()


def untag_resource(self: Any) -> ActionResult:
    params = _params(self, "UntagResource")
    _backend(self).untag_resource(params["resourceARN"], params["tagKeys"])
    return EmptyResult()


def list_tags_for_resource(self: Any) -> ActionResult:
    params = _params(self, "ListTagsForResource")
    tags = _backend(self).list_tags_for_resource(params["resourceARN"])
    return ActionResult({"tags": tags})


def get_resources(self: Any) -> ActionResult:
    """moto's GetResources, where a page has at most ``TagsPerPage`` tags only if asked."""
    resources_per_page = _page_limit(self, "ResourcesPerPage", RESOURCES_PER_PAGE)
    tags_per_page = _page_limit(self, "TagsPerPage", TAGS_PER_PAGE)
    token, resources = self.backend.get_resources(
        pagination_token=self._get_param("PaginationToken"),
        resources_per_page=resources_per_page or DEFAULT_RESOURCES_PER_PAGE,
        tags_per_page=tags_per_page or _NO_TAG_LIMIT,
        tag_filters=self._get_param("TagFilters", []),
        resource_type_filters=self._get_param("ResourceTypeFilters", []),
        resource_arn_list=self._get_param("ResourceARNList", []),
    )
    # AWS ends the last page with an empty token rather than none.
    return ActionResult(
        {
            "ResourceTagMappingList": [_tag_mapping(resource) for resource in resources],
            "PaginationToken": token or "",
        }
    )


def _page_limit(response: Any, name: str, allowed: range) -> int | None:
    value = response._get_param(name)
    if value is None:
        return None
    if value not in allowed:
        raise InvalidParameterException(
            f"{name} must be between {allowed.start} and {allowed.stop - 1}"
        )
    return int(value)


def _tag_mapping(resource: TaggedResource) -> dict[str, Any]:
    tags = [{"Key": key, "Value": value} for key, value in resource.tags.items()]
    return {"ResourceARN": resource.arn, "Tags": tags}


def call_action(self: Any) -> Any:
    """moto's dispatch, after counting the call and applying the faults it meets: an error
    queued by ``fail_next``, then the backend's random ``faults`` (see ``faults``)."""
    operation = self._get_action()
    if not operation:
        return BaseResponse.call_action(self)
    backend = _backend(self)
    queued = backend.record_call(operation)
    verdict = backend.judge(operation)
    if verdict is None:
        return _answer(self, queued)
    faults = backend.faults
    assert faults is not None
    faults.begin(verdict)
    try:
        return _faulty_answer(self, queued, verdict)
    finally:
        faults.end()


def _answer(self: Any, error: BedrockError | None) -> Any:
    if error is None:
        return BaseResponse.call_action(self)
    if isinstance(self, ResourceGroupsTaggingAPIResponse):
        error = tagging_error(error)
    status, headers, body = self.serialized(ActionResult(error))
    headers, body = self._enrich_response(headers, body)
    return error.http_status or status, headers, body


def _faulty_answer(self: Any, queued: BedrockError | None, verdict: Verdict) -> Any:
    if queued is None and verdict.drops_before:
        return _drop_connection(self)
    answer = _answer(self, queued or verdict.error)
    if queued is None and verdict.drops_after:
        return _drop_connection(self)
    return answer


def _drop_connection(self: Any) -> Any:
    """Close the client's connection without an answer; botocore sees a connection error.

    Over HTTP the socket is shut down under the server, whose answer then goes nowhere
    (werkzeug treats the failed write as a dropped connection). In process (``--sandbox``)
    there is no socket: raising botocore's own ConnectionClosedError from the request hook
    reaches the client exactly as a closed connection would.
    """
    connection = self.normalized_request.environ.get("werkzeug.socket")
    if not isinstance(connection, socket.socket):
        raise botocore.exceptions.ConnectionClosedError(endpoint_url=self.uri)
    with contextlib.suppress(OSError):  # the client may be gone already
        connection.shutdown(socket.SHUT_RDWR)
    return 500, {"Content-Type": "text/plain"}, "connection dropped (injected fault)"


_BEDROCK_HANDLERS: dict[str, Callable[[Any], Any]] = {
    "create_custom_model": create_custom_model,
    "get_custom_model": get_custom_model,
    "delete_custom_model": delete_custom_model,
    "list_custom_models": list_custom_models,
    "tag_resource": tag_resource,
    "untag_resource": untag_resource,
    "list_tags_for_resource": list_tags_for_resource,
    "call_action": call_action,
    **SERVING_HANDLERS,
}
_TAGGING_HANDLERS: dict[str, Callable[[Any], Any]] = {
    "get_resources": get_resources,
    "call_action": call_action,
}
_HANDLERS: dict[type[BaseResponse], dict[str, Callable[[Any], Any]]] = {
    BedrockResponse: _BEDROCK_HANDLERS,
    ResourceGroupsTaggingAPIResponse: _TAGGING_HANDLERS,
}
# Errors every AWS API may send that the tagging API's service model lacks; moto warns on
# each one it serialises unless it knows them as common errors.
_COMMON_ERRORS = (AccessDeniedException.code,)


def install() -> None:
    """Make moto's Bedrock the sandbox emulator (idempotent; nothing happens at import)."""
    import_seconds_from_env()  # bad settings fail here, not inside a request
    faults_from_env()
    with _install_lock:
        for response_class, handlers in _HANDLERS.items():
            for name, handler in handlers.items():
                setattr(response_class, name, handler)
        COMMON_ERROR_CODES.extend(c for c in _COMMON_ERRORS if c not in COMMON_ERROR_CODES)
        backends = bedrock_models.bedrock_backends
        backends.backend = EmulatedBedrockBackend
        for account in backends.values():
            account.backend = EmulatedBedrockBackend
            # Backends built before install() are moto's own; drop them so they are rebuilt.
            for region, backend in list(account.items()):
                if not isinstance(backend, EmulatedBedrockBackend):
                    del account[region]


def is_installed() -> bool:
    handlers_in_place = all(
        getattr(response_class, name) is handler
        for response_class, handlers in _HANDLERS.items()
        for name, handler in handlers.items()
    )
    return (
        bedrock_models.bedrock_backends.backend is EmulatedBedrockBackend
        and handlers_in_place
        and all(code in COMMON_ERROR_CODES for code in _COMMON_ERRORS)
    )
