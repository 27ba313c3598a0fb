"""Errors of the sandbox: its own Python exceptions and the AWS errors it sends over the wire.

The AWS errors are moto ``ServiceException`` subclasses. moto serialises those with botocore's
service model, so the HTTP status and the JSON error body (``__type``, ``message``) are
whatever the Bedrock API reference says, and botocore raises ``ClientError`` with the right
``Error.Code``.

The Resource Groups Tagging API (GetResources) has error codes of its own: ``tagging_error``
turns a Bedrock error into the one that API sends instead (``ThrottledException`` for
``ThrottlingException``, and so on), so injected faults reach the client as AWS would send them.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from moto.core.exceptions import ServiceException


class SandboxError(Exception):
    """The sandbox cannot run: bad configuration or an unusable state file."""


class SandboxStateError(SandboxError):
    """The sandbox state file (or a state document) is unreadable, corrupt or unsupported."""


class BedrockError(ServiceException):
    """An error AWS would return; ``code`` names the error shape in the service model.

    ``http_status`` overrides the status where the service model gives none (moto then
    answers 400) but the API reference does.
    """

    http_status: int | None = None

    def __init__(self, message: str, **members: Any) -> None:
        super().__init__(message)
        # Extra members of the error shape (e.g. resourceName) are read by attribute name.
        for name, value in members.items():
            setattr(self, name, value)


class ResourceNotFoundException(BedrockError):
    code = "ResourceNotFoundException"


class ConflictException(BedrockError):
    code = "ConflictException"


class ValidationException(BedrockError):
    code = "ValidationException"


class ServiceQuotaExceededException(BedrockError):
    code = "ServiceQuotaExceededException"


class TooManyTagsException(BedrockError):
    code = "TooManyTagsException"


class ThrottlingException(BedrockError):
    code = "ThrottlingException"


class AccessDeniedException(BedrockError):
    code = "AccessDeniedException"


class InternalServerException(BedrockError):
    code = "InternalServerException"


# The Resource Groups Tagging API's own errors.


class ThrottledException(BedrockError):
    # botocore treats this code as throttling (botocore.retries.standard and _retry.json).
    code = "ThrottledException"


class InternalServiceException(BedrockError):
    code = "InternalServiceException"
    # A server fault: botocore retries a 500 as a transient error, as it does Bedrock's.
    http_status = 500


class InvalidParameterException(BedrockError):
    code = "InvalidParameterException"


class PaginationTokenExpiredException(BedrockError):
    code = "PaginationTokenExpiredException"


_BY_CODE: dict[str, type[BedrockError]] = {
    cls.code: cls
    for cls in (
        ResourceNotFoundException,
        ConflictException,
        ValidationException,
        ServiceQuotaExceededException,
        TooManyTagsException,
        ThrottlingException,
        AccessDeniedException,
        InternalServerException,
        ThrottledException,
        InternalServiceException,
        InvalidParameterException,
        PaginationTokenExpiredException,
    )
}

# Bedrock's errors that the tagging API names differently; the others (AccessDeniedException,
# one of the errors common to every AWS API) it sends as they are.
_TAGGING_EQUIVALENTS: dict[str, type[BedrockError]] = {
    ThrottlingException.code: ThrottledException,
    InternalServerException.code: InternalServiceException,
    ValidationException.code: InvalidParameterException,
}


def error_for(code: str, message: str) -> BedrockError:
    """An error by its code, for fault injection; unknown codes are a test bug."""
    try:
        return _BY_CODE[code](message)
    except KeyError:
        raise ValueError(f"unknown error code {code!r}; one of {sorted(_BY_CODE)}") from None


def tagging_error(error: BedrockError) -> BedrockError:
    """``error`` as the Resource Groups Tagging API sends it (the same error if it has no
    name of its own there)."""
    equivalent = _TAGGING_EQUIVALENTS.get(error.code)
    return error if equivalent is None else equivalent(error.message)


def http_status(code: str) -> int:
    """The HTTP status Bedrock's service model gives an error code (for docs and tests)."""
    model = botocore.session.get_session().get_service_model("bedrock")
    return int(model.shape_for(code).metadata["error"]["httpStatusCode"])
