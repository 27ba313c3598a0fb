"""How the reconciler reaches AWS: ``AwsSettings``, their defaults, the time they bound, and
how tags are read (``TagReads``).

No boto3 here, so the command line can show these defaults without importing it. Used by
``cli`` (option defaults), ``connect`` (which fills them in) and ``aws.client``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_MAX_RPS = 50.0
# The most a connection to the tagging endpoint may take under ``--tag-reads auto``, which
# falls back to per-model reads when it fails: past Linux's first SYN retransmission (1 s),
# so one lost packet is not a fallback, and well short of the 3 s default.
TAGGING_PROBE_CONNECT_TIMEOUT = 1.5
# Calls in flight at once: Terraform's default parallelism. The per-operation rate limit,
# not this, bounds what the account sees; this bounds how much latency overlaps.
DEFAULT_CONCURRENCY = 10
# botocore's standard mode waits rand(0, 1) * min(base * 2 ** attempt, 20) seconds between
# attempts; the base is 50 ms for errors and failed connections (1 s for throttling).
_ERROR_BACKOFF_BASE = 0.05
_MAX_BACKOFF = 20.0


class TagReads(StrEnum):
    """How tags are read (``aws.reader``): the tagging index, or one call per model."""

    AUTO = "auto"
    TAGGING_API = "tagging-api"
    PER_MODEL = "per-model"


@dataclass(frozen=True)
class AwsSettings:
    """Where and how to reach AWS; ``None`` means 'let botocore resolve it'."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_rps: float = DEFAULT_MAX_RPS
    # A role to assume (sts:AssumeRole) from the profile's or the environment's credentials.
    role_arn: str | None = None
    external_id: str | None = None


def worst_case_seconds(settings: AwsSettings, *, connects: bool) -> float:
    """The longest one call can take before it is reported failed, retries included.

    ``connects=False``: the endpoint never accepts a connection (a black-holed address);
    ``connects=True``: it accepts connections but never answers.
    """
    per_attempt = settings.connect_timeout + (settings.read_timeout if connects else 0.0)
    retries = settings.max_attempts - 1
    backoff = sum(min(_ERROR_BACKOFF_BASE * 2.0**i, _MAX_BACKOFF) for i in range(retries))
    return settings.max_attempts * per_attempt + backoff
