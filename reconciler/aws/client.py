"""The one place a boto3 Bedrock client is made.

Region, profile and endpoint come from the flags or from the standard AWS environment
variables and config files (``AWS_ENDPOINT_URL_BEDROCK`` included: botocore resolves it when
no endpoint is given). Retries use botocore's own ``standard`` mode, set explicitly because
botocore still defaults to ``legacy``; timeouts are bounded so an unreachable endpoint fails
in seconds, not minutes. Called by ``cli``; clients are passed to ``reader`` and ``executor``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from reconciler.errors import CloudError

DEFAULT_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class AwsSettings:
    """Where and how to reach Bedrock; ``None`` means 'let botocore resolve it'."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    concurrency: int = 8
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


def bedrock_client(settings: AwsSettings) -> Any:
    """A Bedrock control-plane client with explicit retries, timeouts and a large enough pool."""
    config = botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=max(10, settings.concurrency * 2),
        user_agent_extra="bedrock-reconciler",
    )
    try:
        session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
        return session.client("bedrock", endpoint_url=settings.endpoint_url, config=config)
    except botocore.exceptions.ProfileNotFound as e:
        raise CloudError(f"AWS profile {settings.profile!r} is not in the AWS config files") from e
    except botocore.exceptions.NoRegionError as e:
        raise CloudError(
            "no AWS region: pass --region or set AWS_REGION (or a region in the AWS profile)"
        ) from e
    except (botocore.exceptions.BotoCoreError, ValueError) as e:
        raise CloudError(f"cannot set up the AWS client: {e}") from e


def region_of(client: Any) -> str:
    """The region a client talks to."""
    return str(client.meta.region_name)


_THROTTLE_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)


def instrument(
    client: Any, on_attempt: Callable[[str], None], on_throttle: Callable[[str], None]
) -> None:
    """Call ``on_attempt(operation)`` for every HTTP attempt, ``on_throttle`` when throttled.

    botocore emits ``needs-retry`` once per attempt, retries included, so this counts what
    the API really saw.
    """

    def observe(**kwargs: Any) -> None:
        operation = kwargs["operation"].name
        on_attempt(operation)
        response = kwargs.get("response")
        if response is not None:
            code = response[1].get("Error", {}).get("Code", "")
            if code in _THROTTLE_CODES:
                on_throttle(operation)

    client.meta.events.register("needs-retry.bedrock", observe)
