"""Where a command's API calls go: the real account, or the sandbox emulator.

``connect(args, environ)`` turns the global options into ``AwsSettings`` and yields an
``aws.client.Account`` for the block: against AWS as botocore resolves it, or (``--sandbox``)
against the in-process emulator, whose state file is loaded before and saved after. Called
by ``commands``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.aws.settings import DEFAULT_MAX_ATTEMPTS, AwsSettings
from reconciler.errors import SandboxError, UsageError

if TYPE_CHECKING:
    from reconciler.aws.client import Account, Listener

DEFAULT_SANDBOX_STATE = ".reconciler/sandbox.json"
SANDBOX_REGION = "us-east-1"


@contextmanager
def connect(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    on_attempt: Listener | None = None,
    on_throttle: Listener | None = None,
) -> Iterator[Account]:
    """The clients of the account (or sandbox) the global options name."""
    with session(args, environ) as opener:
        yield opener(args, on_attempt, on_throttle)


Opener = Callable[[argparse.Namespace, "Listener | None", "Listener | None"], "Account"]


@contextmanager
def session(args: argparse.Namespace, environ: Mapping[str, str]) -> Iterator[Opener]:
    """What a run's accounts are reached through, for the block: AWS, or (``--sandbox``) the
    emulator, started once for every target. Yields a function that makes the clients of
    one target's options and checks their account (the first call of every command)."""
    from reconciler.aws.client import Account

    def opener(
        options: argparse.Namespace,
        on_attempt: Listener | None = None,
        on_throttle: Listener | None = None,
        *,
        local: bool = False,
        region: str | None = None,
    ) -> Account:
        expected, source = _expected_account(options, environ)
        account = Account(
            settings(options, environ, region=region, local=local), on_attempt, on_throttle
        )
        account.check_account(expected, source)
        return account

    if not args.sandbox:
        yield opener
        return
    region = _region(args, environ) or environ.get("AWS_DEFAULT_REGION") or SANDBOX_REGION
    state = Path(
        args.sandbox_state or environ.get("RECONCILER_SANDBOX_STATE", DEFAULT_SANDBOX_STATE)
    )
    with _sandbox(state, region):

        def sandboxed(
            options: argparse.Namespace,
            on_attempt: Listener | None = None,
            on_throttle: Listener | None = None,
        ) -> Account:
            here = _region(options, environ) or region
            return opener(options, on_attempt, on_throttle, local=True, region=here)

        yield sandboxed


def settings(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    region: str | None = None,
    local: bool = False,
) -> AwsSettings:
    """The client settings the global options ask for (``local``: for the sandbox, which has
    no profile or endpoint of its own)."""
    return AwsSettings(
        region=region or _region(args, environ),
        profile=None if local else args.profile,
        endpoint_url=None if local else args.endpoint_url,
        role_arn=getattr(args, "role_arn", None),
        external_id=getattr(args, "external_id", None),
        concurrency=args.concurrency,
        max_attempts=max_attempts(environ),
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        max_rps=args.max_rps,
    )


def _expected_account(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[str | None, str]:
    """The account the run must be in: ``--account-id``, else ``RECONCILER_ACCOUNT_ID``."""
    value: str | None = getattr(args, "account_id", None)
    source: str = getattr(args, "account_source", None) or "--account-id"
    if value is None and environ.get("RECONCILER_ACCOUNT_ID"):
        value, source = environ["RECONCILER_ACCOUNT_ID"], "RECONCILER_ACCOUNT_ID"
    if value is not None and not (len(value) == 12 and value.isdigit()):
        raise UsageError(f"{source} must be a 12-digit AWS account id, got {value!r}")
    return value, source


def _region(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """``--region``, then ``AWS_REGION`` (as the AWS CLI v2 and the SDKs in Lambda, ECS and
    EKS read it); else None, and botocore goes on with ``AWS_DEFAULT_REGION``, the profile."""
    region: str | None = args.region or environ.get("AWS_REGION") or None
    return region


def max_attempts(environ: Mapping[str, str]) -> int:
    """Attempts per call, retries included: ``AWS_MAX_ATTEMPTS`` (botocore's own knob, which
    an explicit retry config would otherwise hide) or the reconciler's default."""
    raw = environ.get("AWS_MAX_ATTEMPTS", "")
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"AWS_MAX_ATTEMPTS must be a whole number of at least 1, got {raw!r}")
    return int(raw)


@contextmanager
def _sandbox(state: Path, region: str) -> Iterator[None]:
    try:
        from reconciler import sandbox
    except ImportError as e:
        raise SandboxError(
            "--sandbox needs the emulator: pip install 'bedrock-reconciler[sandbox]'"
        ) from e
    try:
        with sandbox.running(state, region):
            yield
    except sandbox.SandboxStateError as e:
        raise SandboxError(f"sandbox state {state}: {e}") from e
    except sandbox.SandboxError as e:
        raise SandboxError(f"sandbox: {e}") from e
