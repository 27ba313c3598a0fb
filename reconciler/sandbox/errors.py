"""Errors of the sandbox: its own Python exceptions and the AWS errors it sends over the wire.

The AWS errors are moto ``ServiceException`` subclasses. moto serialises those with botocore's
service model, so the HTTP status and the JSON error body (``__type``, ``message``) are
whatever the Bedrock API reference says, and botocore raises ``ClientError`` with the right
``Error.Code``.
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
    """An error Bedrock itself would return; ``code`` names the error shape in the model."""

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
    )
}


def error_for(code: str, message: str) -> BedrockError:
    """A Bedrock error by its code, for fault injection; unknown codes are a test bug."""
    try:
        return _BY_CODE[code](message)
    except KeyError:
        raise ValueError(
            f"unknown Bedrock error code {code!r}; one of {sorted(_BY_CODE)}"
        ) from None


def http_status(code: str) -> int:
    """The HTTP status Bedrock's service model gives an error code (for docs and tests)."""
    model = botocore.session.get_session().get_service_model("bedrock")
    return int(model.shape_for(code).metadata["error"]["httpStatusCode"])
