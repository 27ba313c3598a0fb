"""Running the emulator: backends by account and region, whole-sandbox state, ``running()``
for the CLI's ``--sandbox`` (in-process, persisted to a state file) and ``serve()`` for tests
(real HTTP on localhost).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from moto import mock_aws
from moto.bedrock import models as bedrock_models
from moto.core.models import DEFAULT_ACCOUNT_ID

from reconciler.sandbox.backend import EmulatedBedrockBackend
from reconciler.sandbox.errors import SandboxError, SandboxStateError
from reconciler.sandbox.model import expect
from reconciler.sandbox.wire import install

DEFAULT_ACCOUNT: str = DEFAULT_ACCOUNT_ID
STATE_VERSION = 1

# Settings that would send botocore somewhere other than the emulator, or fail before it.
UNSAFE_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK",  # and every other AWS_ENDPOINT_URL_<SERVICE>
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_CA_BUNDLE",  # nothing in process uses TLS; a broken one would fail the run
    "REQUESTS_CA_BUNDLE",
    "MOTO_ACCOUNT_ID",  # the sandbox's account is fixed
)


def get_backend(region: str, account_id: str = DEFAULT_ACCOUNT) -> EmulatedBedrockBackend:
    """The emulated backend of ``account_id`` in ``region`` (installing the emulator)."""
    install()
    backend = bedrock_models.bedrock_backends[account_id][region]
    assert isinstance(backend, EmulatedBedrockBackend)
    return backend


def _backends() -> Iterator[tuple[str, str, EmulatedBedrockBackend]]:
    for account_id, region, backend in list(bedrock_models.bedrock_backends.iter_backends()):
        if isinstance(backend, EmulatedBedrockBackend):
            yield account_id, region, backend


def reset_state() -> None:
    """Forget every emulated model, tag, token, counter, hook and quota, in every account."""
    install()
    for _, _, backend in _backends():
        backend.reset()


def dump_state() -> dict[str, Any]:
    """The whole sandbox (all accounts and regions) as JSON-ready data."""
    backends = [
        {"account_id": account_id, "region": region, **backend.export_state()}
        for account_id, region, backend in _backends()
        if not backend.is_empty()
    ]
    return {"version": STATE_VERSION, "backends": backends}


def load_state(state: Any) -> None:
    """Replace the whole sandbox with ``dump_state`` output; SandboxStateError if malformed.

    The document is checked completely before anything changes.
    """
    document = expect(state, dict, "sandbox state")
    if document.get("version") != STATE_VERSION:
        raise SandboxStateError(f"unsupported state version {document.get('version')!r}")
    parsed = [_parse_backend(entry) for entry in expect(document.get("backends"), list, "backends")]
    reset_state()
    for account_id, region, entry in parsed:
        get_backend(region, account_id).import_state(entry)


def _parse_backend(entry: Any) -> tuple[str, str, dict[str, Any]]:
    data = dict(expect(entry, dict, "backend entry"))
    account_id = expect(data.pop("account_id", None), str, "backend account_id")
    region = expect(data.pop("region", None), str, "backend region")
    if region not in bedrock_models.bedrock_backends[account_id]:
        raise SandboxStateError(f"Bedrock is not offered in region {region!r}")
    # A scratch backend validates the entry without touching the live ones.
    EmulatedBedrockBackend(region, account_id).import_state(data)
    return account_id, region, data


@contextlib.contextmanager
def running(state_file: Path, region: str) -> Iterator[None]:
    """Emulate Bedrock in this process, persisted in ``state_file``, while the block runs.

    boto3 clients created inside the block reach the emulator. An exclusive lock beside the
    state file serialises sandbox processes (so it is not re-entrant: a nested ``running``
    on the same file waits forever). The state is saved even if the block raises: whatever
    it did to the emulated account has happened, as it would have in AWS.
    """
    install()
    try:
        state_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SandboxStateError(f"cannot create the folder of {state_file}: {e}") from e
    lock_file = state_file.with_name(state_file.name + ".lock")
    with _exclusive_lock(lock_file), _fake_aws_environment(region):
        # moto lists regions through a boto3 session, so this check must run under the
        # fake environment: the user's broken AWS_PROFILE would fail it otherwise.
        if region not in bedrock_models.bedrock_backends[DEFAULT_ACCOUNT]:
            raise SandboxError(f"Bedrock is not offered in region {region!r}")
        with mock_aws():
            if state_file.exists():
                load_state(_read_state(state_file))
            try:
                yield
            finally:
                _write_state(state_file, dump_state())


ENV_LOCK_SECONDS = "RECONCILER_SANDBOX_LOCK_SECONDS"
DEFAULT_LOCK_SECONDS = 30.0


def lock_seconds_from_env() -> float:
    """How long a command waits for another's sandbox lock (``watch --sandbox`` holds it)."""
    raw = os.environ.get(ENV_LOCK_SECONDS, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_LOCK_SECONDS
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise SandboxError(f"{ENV_LOCK_SECONDS} must be a number of seconds >= 0, got {raw!r}")
    return seconds


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold the state file's lock; wait for another holder, saying so, for a bounded time."""
    try:
        handle = path.open("a+")
    except OSError as e:
        raise SandboxStateError(f"cannot open the lock file {path}: {e}") from e
    with handle:
        _acquire(handle, path, lock_seconds_from_env())
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _acquire(handle: Any, path: Path, patience: float) -> None:
    deadline = time.monotonic() + patience
    told = False
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = path.read_text().strip() or "unknown"
        if time.monotonic() >= deadline:
            raise SandboxError(
                f"the sandbox state is locked by pid {holder} (a running watch --sandbox?); "
                f"gave up after {patience:g} s. Stop it, or set {ENV_LOCK_SECONDS}"
            )
        if not told:
            print(f"waiting for the sandbox state lock held by pid {holder}", file=sys.stderr)
            told = True
        time.sleep(0.1)


@contextlib.contextmanager
def _fake_aws_environment(region: str) -> Iterator[None]:
    # The user's profiles, tokens and endpoints must not leak into the sandbox, and boto3
    # needs some credentials to sign with even where the user has none.
    fake = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    with mock.patch.dict(os.environ, fake):
        for name in [*UNSAFE_ENV, *(n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_"))]:
            os.environ.pop(name, None)
        yield


def _read_state(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise SandboxStateError(f"cannot read {path}: {e}") from e
    except json.JSONDecodeError as e:
        raise SandboxStateError(f"{path} is not valid JSON: {e}") from e


def _write_state(path: Path, state: dict[str, Any]) -> None:
    # Write-then-rename: a crash leaves the old file or the new one, never half of one.
    handle, temp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


@contextlib.contextmanager
def serve(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the emulator over HTTP on ``host``; yields the endpoint URL."""
    # moto's server needs Flask (moto[server], a test dependency); --sandbox must not.
    from moto.server import ThreadedMotoServer

    install()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        bound_host, bound_port = server.get_host_and_port()
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.stop()
