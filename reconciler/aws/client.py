"""The one place boto3 clients are made: Bedrock, and the Resource Groups Tagging API.

Region, profile and endpoint come from the flags or from the standard AWS environment
variables and config files (``AWS_ENDPOINT_URL_BEDROCK`` included: botocore resolves it when
no endpoint is given). Retries use botocore's own ``standard`` mode, set explicitly because
botocore still defaults to ``legacy``; connect and read timeouts are bounded so that an
unreachable or silent endpoint fails in a known time (see ``aws.settings``). Every client
an ``Account`` makes shares one session (credentials are resolved once), one per-operation
rate limit and one tally of API calls and throttles. Called by ``connect``; the clients are
passed to ``reader``, ``executor`` and ``waiter``. They are typed with the ``mypy_boto3_*``
stubs, imported for the type checker only (a test dependency, never imported at run time).

The tagging client for ``--tag-reads auto`` gives up at once on an endpoint it cannot reach
(one attempt, a connect timeout of at most ``TAGGING_PROBE_CONNECT_TIMEOUT``): ``auto`` then
reads tags per model, so retrying a dead endpoint would only delay every command. An
endpoint that answers (throttling, a 5xx) keeps botocore's retries, so one throttled
``GetResources`` does not turn a scope's one call into a call per resource. A CA bundle
(``AWS_CA_BUNDLE``, ``ca_bundle`` in the config file, ``REQUESTS_CA_BUNDLE``) is checked
before anything is sent: botocore only finds a missing one at the first TLS handshake, and
then retries it as a connection error.

The sessions of one process share one botocore data loader (``_share_loader``): each
session would otherwise parse the same service models and endpoint rules again, which is
most of what opening a target costs when one run opens fifty.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
import botocore.config
import botocore.exceptions
import botocore.session

from reconciler.aws.errors import CONNECTION_ERRORS, calling, note_request
from reconciler.aws.ratelimit import RateLimiter
from reconciler.aws.settings import TAGGING_PROBE_CONNECT_TIMEOUT, AwsSettings, TagReads
from reconciler.errors import CloudError, UsageError
from reconciler.identity import Place

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_resourcegroupstaggingapi import (
        ResourceGroupsTaggingAPIClient as TaggingClient,
    )
    from mypy_boto3_sts import STSClient

    Client = BedrockClient | TaggingClient | STSClient

Listener = Callable[[str], None]
Service = Literal["bedrock", "resourcegroupstaggingapi", "sts"]


class Account:
    """The clients for one account and region, and what they sent.

    ``calls`` and ``throttles`` count HTTP attempts by operation (retries included) for
    every client made here; ``listeners`` are told of each attempt and each throttle too.
    The tagging client is made on first use, since the per-model path never needs it.
    """

    def __init__(
        self,
        settings: AwsSettings,
        on_attempt: Listener | None = None,
        on_throttle: Listener | None = None,
    ) -> None:
        self.settings = settings
        self.calls: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listeners = (on_attempt, on_throttle)
        self._limiter = RateLimiter(settings.max_rps) if settings.max_rps else None
        self._session = _session(settings)
        self.bedrock: BedrockClient = self._client("bedrock")

    @property
    def region(self) -> str:
        return str(self.bedrock.meta.region_name)

    @cached_property
    def account_id(self) -> str:
        """The account the credentials belong to (``sts:GetCallerIdentity``, one call; it
        needs no permission)."""
        with calling("GetCallerIdentity"):
            return str(self._client("sts").get_caller_identity()["Account"])

    @property
    def place(self) -> Place:
        return Place(region=self.region, account=self.account_id)

    def check_account(self, expected: str | None, source: str = "--account-id") -> None:
        """Learn the account (the first call of every command that reads it), and refuse
        credentials for another account than ``expected``."""
        if self.account_id != (expected or self.account_id):
            raise UsageError(
                f"the credentials are for account {self.account_id}, not {expected} "
                f"({source}); nothing was read or changed"
            )

    @cached_property
    def tagging(self) -> TaggingClient:
        """A Resource Groups Tagging API client, same region, endpoint and settings."""
        return self._client("resourcegroupstaggingapi")

    @cached_property
    def tagging_probe(self) -> TaggingClient:
        """The tagging client for ``--tag-reads auto``: no retry when the endpoint cannot be
        reached, and a short connect timeout (what a failure costs before the fallback)."""
        timeout = min(self.settings.connect_timeout, TAGGING_PROBE_CONNECT_TIMEOUT)
        client = self._client("resourcegroupstaggingapi", connect_timeout=timeout)
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"needs-retry.{service}", _unreached_is_final)
        return client

    def tagging_for(self, mode: TagReads) -> TaggingClient:
        """The tagging client ``mode`` reads with: ``auto`` falls back rather than retry."""
        return self.tagging_probe if mode is TagReads.AUTO else self.tagging

    @overload
    def _client(
        self, service: Literal["bedrock"], connect_timeout: float | None = None
    ) -> BedrockClient: ...
    @overload
    def _client(
        self, service: Literal["resourcegroupstaggingapi"], connect_timeout: float | None = None
    ) -> TaggingClient: ...
    @overload
    def _client(
        self, service: Literal["sts"], connect_timeout: float | None = None
    ) -> STSClient: ...
    def _client(self, service: Service, connect_timeout: float | None = None) -> Client:
        settings = self.settings
        config = botocore.config.Config(
            retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
            connect_timeout=settings.connect_timeout
            if connect_timeout is None
            else connect_timeout,
            read_timeout=settings.read_timeout,
            max_pool_connections=max(10, settings.concurrency * 2),
            user_agent_extra="bedrock-reconciler",
        )
        try:
            client: Client = self._session.client(
                service, endpoint_url=settings.endpoint_url, config=config
            )
        except botocore.exceptions.NoRegionError as e:
            raise CloudError(
                "no AWS region: pass --region or set AWS_REGION (or a region in the AWS profile)"
            ) from e
        except (botocore.exceptions.BotoCoreError, ValueError) as e:
            raise CloudError(f"cannot set up the AWS client: {e}") from e
        if self._limiter is not None:
            self._limiter.install(client)
        instrument(client, self._attempted, self._throttled)
        return client

    def _attempted(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1
        if self._listeners[0] is not None:
            self._listeners[0](operation)

    def _throttled(self, operation: str) -> None:
        with self._lock:
            self.throttles[operation] += 1
        if self._listeners[1] is not None:
            self._listeners[1](operation)


ROLE_SESSION_NAME = "bedrock-reconciler"


def _unreached_is_final(caught_exception: Exception | None = None, **_: Any) -> bool | None:
    """A ``needs-retry`` handler, run before botocore's own: ``False`` (do not retry) when
    the endpoint could not be reached, ``None`` (botocore's retry rules decide) otherwise."""
    return False if isinstance(caught_exception, CONNECTION_ERRORS) else None


_loaders: dict[tuple[str, ...], Any] = {}
_loaders_lock = threading.Lock()


def _share_loader(core: Any) -> None:
    """Give ``core`` the process's data loader for the search paths its own loader has
    (botocore's, ``AWS_DATA_PATH``, boto3's): the first session's loader, which caches
    what it has parsed."""
    own = core.get_component("data_loader")
    with _loaders_lock:
        loader = _loaders.setdefault(tuple(own.search_paths), own)
    core.register_component("data_loader", loader)


def _session(settings: AwsSettings) -> Any:
    core = botocore.session.get_session()
    try:
        session = boto3.session.Session(
            profile_name=settings.profile, region_name=settings.region, botocore_session=core
        )
        _share_loader(core)
        _check_ca_bundle(core)
    except botocore.exceptions.ProfileNotFound as e:
        name = e.kwargs.get("profile") or settings.profile
        source = "--profile" if settings.profile else "AWS_PROFILE"
        files = (
            os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")
            + ", "
            + os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
        )
        raise CloudError(
            f"AWS profile {name!r} (from {source}) is not in the AWS config files ({files})"
        ) from e
    except (botocore.exceptions.BotoCoreError, ValueError) as e:
        raise CloudError(f"cannot set up the AWS client: {e}") from e
    if settings.role_arn is not None:
        _assume_role(session, settings)
    return session


def _assume_role(session: Any, settings: AwsSettings) -> None:
    """Make ``session`` use ``settings.role_arn``, assumed from its own credentials.

    botocore's own assume-role fetcher does the work (as for a profile's ``role_arn``): the
    role is assumed on first use and again before its credentials expire. The STS client is
    regional, in the session's region, at ``--endpoint-url`` when one is given (as the
    other clients are).
    """
    import botocore.credentials

    source = session.get_credentials()
    if source is None:
        raise CloudError(
            f"no AWS credentials to assume {settings.role_arn} with "
            "(set AWS_PROFILE, a profile in the target, or the AWS_ACCESS_KEY_ID variables)"
        )
    extra: dict[str, str] = {"RoleSessionName": ROLE_SESSION_NAME}
    if settings.external_id is not None:
        extra["ExternalId"] = settings.external_id
    region, endpoint = session.region_name, settings.endpoint_url

    def sts_client(service: str, **kwargs: Any) -> Any:
        return session._session.create_client(
            service, region_name=region, endpoint_url=endpoint, **kwargs
        )

    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        client_creator=sts_client,
        source_credentials=source,
        role_arn=settings.role_arn,
        extra_args=extra,
    )
    credentials = botocore.credentials.DeferredRefreshableCredentials(
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )
    # boto3 offers no public way to hand a session refreshable credentials; botocore's own
    # profile resolution stores them in the same place.
    session._session._credentials = credentials


def _check_ca_bundle(core: Any) -> None:
    """Refuse a CA bundle that cannot be loaded, naming the file and the setting that chose
    it (botocore's order: ``AWS_CA_BUNDLE``, the profile's ``ca_bundle``, then
    ``REQUESTS_CA_BUNDLE``). An empty value is botocore's to refuse."""
    path = core.get_config_variable("ca_bundle")
    if path:
        source = (
            "AWS_CA_BUNDLE"
            if os.environ.get("AWS_CA_BUNDLE")
            else "ca_bundle in the AWS config file"
        )
    else:
        path, source = os.environ.get("REQUESTS_CA_BUNDLE"), "REQUESTS_CA_BUNDLE"
    if not isinstance(path, str) or not path.strip():
        return
    try:
        ssl.create_default_context(cafile=path)
    except FileNotFoundError as e:
        raise CloudError(f"the CA bundle {path} (from {source}) does not exist") from e
    except (OSError, ssl.SSLError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise CloudError(f"the CA bundle {path} (from {source}) cannot be used: {reason}") from e


_THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


def instrument(client: Client, on_attempt: Listener, on_throttle: Listener) -> None:
    """Call ``on_attempt(operation)`` for every HTTP attempt, ``on_throttle`` when throttled.

    botocore emits ``needs-retry`` once per attempt, retries included, so this counts what
    the API really saw.
    """
    service = client.meta.service_model.service_id.hyphenize()

    def observe(**kwargs: Any) -> None:
        operation = kwargs["operation"].name
        answer: Any = kwargs.get("response")
        http_response = answer[0] if answer else None
        failed = getattr(http_response, "status_code", 200) >= 400
        body = bytes(http_response.content) if failed and http_response is not None else b""
        note_request(str((kwargs.get("request_dict") or {}).get("url", "")), body)
        on_attempt(operation)
        response = kwargs.get("response")
        if response is not None:
            code = response[1].get("Error", {}).get("Code", "")
            if code in _THROTTLE_CODES:
                on_throttle(operation)

    def sending(request: Any = None, **_: Any) -> None:
        # Where the attempt goes, known before an answer that cannot even be parsed.
        note_request(str(getattr(request, "url", "")), b"")

    client.meta.events.register(f"before-send.{service}", sending)
    client.meta.events.register(f"needs-retry.{service}", observe)
