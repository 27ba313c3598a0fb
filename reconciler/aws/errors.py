"""Turn botocore exceptions into one clear CloudError naming the call, the model and the cause.

Every boto3 call in ``reader`` and ``executor`` runs inside ``calling(...)``, so no botocore
exception escapes the AWS edge and the CLI never shows a traceback for a refused call. A
failure to connect names the setting behind it where one is: the proxy variable
(``HTTPS_PROXY``...), ``AWS_CA_BUNDLE`` for a certificate that cannot be verified, and
``use_fips_endpoint`` / ``use_dualstack_endpoint`` for a FIPS or dual-stack host.
"""

from __future__ import annotations

import http
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import botocore.exceptions
import botocore.parsers

from reconciler.errors import (
    AccessDeniedError,
    CloudError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    TemporaryError,
    ThrottledError,
)

CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectionError,
)
_HINTS = {
    "AccessDeniedException": "the credentials lack the IAM permission {permission}",
    "UnrecognizedClientException": "the AWS credentials are not valid",
    "ExpiredTokenException": "the AWS session token has expired",
    "ThrottlingException": "AWS kept throttling the call after every retry",
    "ServiceQuotaExceededException": (
        "the account's quota of imported custom models is reached; "
        "delete unused models or ask AWS Service Quotas for more"
    ),
    "ConflictException": (
        "the model is busy: still importing, or in use (for example by a provisioned throughput)"
    ),
    "ResourceInUseException": "the model is in use (for example by a provisioned throughput)",
    "ResourceNotFoundException": "the model does not exist (any more)",
    "TooManyTagsException": "the model would carry more than 50 tags",
}
# The error type each service code is raised as, so callers branch on types, not strings.
_TYPES: dict[str, type[CloudError]] = {
    "ResourceNotFoundException": NotFoundError,
    "ConflictException": ConflictError,
    "ResourceInUseException": ConflictError,
    "ValidationException": InvalidRequestError,
    "AccessDeniedException": AccessDeniedError,
    "ServiceQuotaExceededException": QuotaExceededError,
    "ThrottlingException": ThrottledError,
    "ThrottledException": ThrottledError,
    "TooManyRequestsException": ThrottledError,
    "InternalServerException": TemporaryError,
    "InternalServiceException": TemporaryError,
    "ServiceUnavailableException": TemporaryError,
}
# Where one code means different things for different operations.
_OPERATION_HINTS = {
    ("CreateCustomModel", "ConflictException"): "a model with this name already exists",
    ("CreateProvisionedModelThroughput", "ServiceQuotaExceededException"): (
        "the account's quota of model units is reached; "
        "ask AWS Service Quotas for more, or use fewer units"
    ),
    ("DeleteProvisionedModelThroughput", "ConflictException"): (
        "the throughput is busy (still being created or updated), or its commitment has not expired"
    ),
    ("UpdateProvisionedModelThroughput", "ValidationException"): (
        "the service refused the switch (a throughput can only switch between models of the "
        "same base model, and the new model must be Active)"
    ),
    ("UpdateCustomModelDeployment", "ValidationException"): (
        "the service refused the update (the new model must be Active and compatible)"
    ),
    ("UpdateProvisionedModelThroughput", "ConflictException"): "the throughput is busy",
    ("UpdateCustomModelDeployment", "ConflictException"): "the deployment is busy",
    ("DeleteCustomModelDeployment", "ConflictException"): "the deployment is busy",
    ("GetResources", "ThrottledException"): "AWS kept throttling the call after every retry",
}
# The one operation that is not Bedrock's.
_SERVICES = {"GetResources": "Resource Groups Tagging API", "GetCallerIdentity": "STS"}
_IAM_PREFIXES = {"GetResources": "tag"}


# The URL each thread last sent a request to (set by ``client.instrument``), so an answer
# that is not AWS's can name where it came from.
_sent = threading.local()
_BODY_CHARS = 200


def note_request(url: str, body: bytes = b"") -> None:
    """Remember the URL this thread sent to, and the start of an error answer's body (which
    botocore drops when it cannot parse it, as a proxy's HTML page)."""
    _sent.url = url
    _sent.body = body[:4096].decode("utf-8", "replace")


def _endpoint() -> str:
    parts = urlsplit(getattr(_sent, "url", ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "the endpoint"


def _foreign(error: botocore.exceptions.ClientError) -> str | None:
    """One line for an HTTP error that is not an AWS answer (a proxy's page, a wrong URL),
    whose body botocore hands over whole; None for an AWS error."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    body = str(details.get("Message", ""))
    if code and not code.isdigit() and "\n" not in body and "<" not in body:
        return None
    body = body if body.strip() and body != _reason(code) else getattr(_sent, "body", "") or body
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", code or "?")
    snippet = " ".join(body.split())[:_BODY_CHARS]
    return f"HTTP {status} from {_endpoint()}, not an AWS answer: {snippet}"


def _proxy_variable() -> str:
    """The environment variable that named the proxy for the last request's scheme."""
    scheme = urlsplit(getattr(_sent, "url", "")).scheme or "https"
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        if os.environ.get(name):
            return name
    return f"{scheme.upper()}_PROXY"


def _variant_hint(url: str) -> str:
    """Why an endpoint host may not exist: it is a FIPS or dual-stack one, which not every
    service has in every region."""
    host = urlsplit(url).hostname or ""
    settings = [
        name
        for name, found in (
            ("use_fips_endpoint", "-fips." in host),
            ("use_dualstack_endpoint", ".api.aws" in host),
        )
        if found
    ]
    if not settings:
        return ""
    return (
        f"; {' and '.join(settings)} (AWS config file or AWS_USE_FIPS_ENDPOINT / "
        "AWS_USE_DUALSTACK_ENDPOINT) chose that host: not every region has one"
    )


def _reason(code: str) -> str:
    """The HTTP reason phrase botocore puts in place of an unparsed 5xx body."""
    try:
        return http.HTTPStatus(int(code)).phrase
    except ValueError:
        return ""


def describe(error: Exception, operation: str, model: str = "") -> CloudError:
    """A CloudError for ``error`` raised by ``operation`` (on ``model`` when there is one)."""
    target = f"{operation} {model}" if model else operation
    code = ""
    kind: type[CloudError] = CloudError
    foreign = _foreign(error) if isinstance(error, botocore.exceptions.ClientError) else None
    if foreign is not None:
        message = f"{target} failed: {foreign}"
    elif isinstance(error, botocore.exceptions.ClientError):
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        detail = str(error.response.get("Error", {}).get("Message", "")).strip()
        hint = _OPERATION_HINTS.get((operation, code)) or _HINTS.get(code, "").format(
            permission=f"{_IAM_PREFIXES.get(operation, 'bedrock')}:{operation}"
        )
        kind = _TYPES.get(code, CloudError)
        cause = f"{code}: {hint}" if hint else code
        message = f"{target} failed: {cause}" + (f" ({detail})" if detail else "")
    elif isinstance(error, botocore.exceptions.NoCredentialsError):
        message = (
            f"{target} failed: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID, "
            "use an instance or pod role, or try --sandbox)"
        )
    elif isinstance(error, botocore.exceptions.ProxyConnectionError):
        kind = TemporaryError
        proxy = error.kwargs.get("proxy_url", "")  # botocore masks its credentials
        message = (
            f"{target} failed: cannot connect to the proxy {proxy} (from {_proxy_variable()}; "
            "NO_PROXY lists the hosts reached without it)"
        )
    elif isinstance(error, botocore.exceptions.SSLError):
        message = (
            f"{target} failed: cannot verify the TLS certificate of {_endpoint()} ({error}); "
            "a TLS-inspecting proxy or a private endpoint needs its CA bundle in AWS_CA_BUNDLE"
        )
    elif isinstance(error, CONNECTION_ERRORS):
        kind = TemporaryError
        service = _SERVICES.get(operation, "Bedrock")
        message = f"{target} failed: cannot reach the {service} endpoint ({error})"
        message += _variant_hint(str(error.kwargs.get("endpoint_url", "")))
    elif isinstance(error, botocore.parsers.ResponseParserError):
        service = _SERVICES.get(operation, "Bedrock")
        message = (
            f"{target} failed: the answer from {_endpoint()} is not an AWS {service} response "
            "(--endpoint-url sends every call, STS and the tagging API included, to one URL; "
            "a Bedrock-only endpoint goes in AWS_ENDPOINT_URL_BEDROCK)"
        )
    else:
        message = f"{target} failed: {error}"
    return kind(message, code=code, model=model)


@contextmanager
def calling(operation: str, model: str = "") -> Iterator[None]:
    """Translate any botocore failure inside the block into a CloudError."""
    try:
        yield
    except (
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
        botocore.parsers.ResponseParserError,
    ) as e:
        raise describe(e, operation, model) from e
