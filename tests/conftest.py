"""Shared fixtures: an AWS-safe environment for every test, and the HTTP Bedrock emulator.

The emulator server starts once per session and is reset before each test that uses it, so
tests stay fast and independent. Nothing here can reach AWS: credentials are fake, profiles
and endpoint overrides are removed, and the AWS config files point at paths that do not exist.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import settings

from reconciler import sandbox
from tests.helpers import Cli

REGION = "us-east-1"
TEST_IMPORT_SECONDS = "0.2"

# The mutation check (.ci/mutation.py) runs the unit tests against each mutant: the same
# examples every run, so a mutant is killed or survives the same way each time.
settings.register_profile("mutation", derandomize=True, database=None)


@pytest.fixture(autouse=True)
def aws_test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, a fixed region and no trace of the user's AWS setup."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv(sandbox.ENV_IMPORT_SECONDS, TEST_IMPORT_SECONDS)


@dataclass(frozen=True)
class Emulator:
    """The HTTP emulator of one test: its URL, its backend, and clients for it."""

    url: str
    region: str = REGION
    account_id: str = sandbox.DEFAULT_ACCOUNT

    @property
    def backend(self) -> sandbox.EmulatedBedrockBackend:
        """The emulated backend behind ``client()`` (the default account, us-east-1)."""
        return sandbox.get_backend(self.region, self.account_id)

    def client(self, **kwargs: Any) -> Any:
        """A real boto3 Bedrock client for the emulator; ``kwargs`` go to ``boto3.client``."""
        settings: dict[str, Any] = {
            "region_name": self.region,
            "endpoint_url": self.url,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            **kwargs,
        }
        return boto3.client("bedrock", **settings)


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """One emulator server for the whole session (start-up costs far more than a reset)."""
    with sandbox.serve() as url:
        yield url


@pytest.fixture
def emulator(emulator_url: str, aws_test_environment: None) -> Iterator[Emulator]:
    """The HTTP emulator with empty state; the backend re-reads the test environment.

    State is reset before each test, not after: a reset replaces the backend's attributes,
    which would break tests that monkeypatch the backend (monkeypatch undoes itself later).
    """
    sandbox.reset_state()
    yield Emulator(emulator_url)


@pytest.fixture
def cli(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Runs ``reconciler.cli.main`` against the emulator and captures its output."""
    return Cli(emulator.url, capsys)
