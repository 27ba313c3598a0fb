"""The networks people run in, end to end: a tagging endpoint that cannot be reached costs
``--tag-reads auto`` one attempt (``tagging-api`` keeps its retries); a refusing proxy, a CA
bundle that cannot be loaded and FIPS or dual-stack endpoints either work or fail in one
line that names the setting, through the CLI edge (exit 1, no traceback)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest

from reconciler.aws.client import Account
from reconciler.aws.reader import managed_tags
from reconciler.aws.settings import TAGGING_PROBE_CONNECT_TIMEOUT, AwsSettings, TagReads
from reconciler.cli import main
from reconciler.errors import CloudError
from reconciler.sandbox import Faults
from tests.helpers import Cli, manifest, write

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "a.yaml", manifest("alpha"))
    write(folder, "b.yaml", manifest("beta"))
    return folder


@pytest.fixture
def private_endpoint(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Bedrock and STS at the emulator through their own variables, as with PrivateLink;
    the tagging endpoint is left to each test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", emulator.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.url)
    yield emulator.url


def run(capsys: Any, *argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--region", "us-east-1", *argv], environ=environ or {})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_unreachable_tagging_endpoint_falls_back_at_once(
    capsys: Any, repo: Path, private_endpoint: str, closed_port: int, monkeypatch: Any
) -> None:
    code, _, err = run(capsys, "--tag-reads", "per-model", "apply", str(repo))
    assert code == 0, err
    dead = f"http://127.0.0.1:{closed_port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API", dead)
    started = time.monotonic()
    code, out, err = run(capsys, "plan", str(repo))
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert "2 in sync" in out
    assert elapsed < 3, f"the fallback took {elapsed:.1f} s"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: GetResources failed"), err
    assert dead in lines[0] and "--tag-reads per-model" in lines[0]
    # The variable is what sends the tagging client there: at the emulator, no fallback.
    monkeypatch.setenv("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API", private_endpoint)
    code, out, err = run(capsys, "plan", str(repo))
    assert (code, err) == (0, "")
    assert "2 in sync" in out


@pytest.mark.parametrize(("mode", "attempts"), [(TagReads.AUTO, 1), (TagReads.TAGGING_API, 3)])
def test_only_auto_gives_up_on_an_unreachable_tagging_endpoint_at_once(
    monkeypatch: Any, closed_port: int, mode: TagReads, attempts: int
) -> None:
    monkeypatch.setenv(
        "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API", f"http://127.0.0.1:{closed_port}"
    )
    account = Account(AwsSettings(region="us-east-1", max_attempts=3))
    with pytest.raises(CloudError, match="cannot reach the Resource Groups Tagging API endpoint"):
        managed_tags(lambda: account.tagging_for(mode), "default")
    assert account.calls["GetResources"] == attempts


def test_auto_still_retries_a_tagging_api_that_answers(emulator: Any) -> None:
    """Only an endpoint that cannot be reached ends the bulk read at once: a throttled one
    is retried, or one throttle would turn one call per scope into one per resource."""
    emulator.backend.faults = Faults(throttle_rate=1.0, operations=frozenset({"GetResources"}))
    account = Account(AwsSettings(region="us-east-1", endpoint_url=emulator.url, max_attempts=2))
    with pytest.raises(CloudError, match="ThrottledException"):
        managed_tags(lambda: account.tagging_for(TagReads.AUTO), "default")
    assert account.calls["GetResources"] == 2


@pytest.mark.parametrize(
    ("configured", "expected"), [(3.0, TAGGING_PROBE_CONNECT_TIMEOUT), (0.5, 0.5)]
)
def test_the_auto_tagging_client_connects_within_a_short_timeout(
    configured: float, expected: float
) -> None:
    account = Account(AwsSettings(region="us-east-1", connect_timeout=configured))
    assert account.tagging_for(TagReads.AUTO).meta.config.connect_timeout == expected
    assert account.tagging_for(TagReads.TAGGING_API).meta.config.connect_timeout == configured
    assert account.bedrock.meta.config.connect_timeout == configured


@pytest.mark.parametrize("proxy", ["http://127.0.0.1:{port}", "http://ops:s3cret@127.0.0.1:{port}"])
def test_a_refusing_proxy_is_one_line_naming_it(
    capsys: Any, repo: Path, monkeypatch: Any, closed_port: int, proxy: str
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.format(port=closed_port))
    code, out, err = run(capsys, "plan", str(repo), environ={"AWS_MAX_ATTEMPTS": "1"})
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("error: GetCallerIdentity failed: "), err
    assert "cannot connect to the proxy http://" in err and f"127.0.0.1:{closed_port}" in err
    assert "(from HTTPS_PROXY;" in err
    assert "s3cret" not in err


@pytest.mark.parametrize("where", ["environment", "config file"])
def test_a_missing_ca_bundle_is_one_line_naming_the_file(
    cli: Cli, repo: Path, emulator: Any, monkeypatch: Any, tmp_path: Path, where: str
) -> None:
    bundle = tmp_path / "corp-ca.pem"
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    if where == "environment":
        monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
        source = "AWS_CA_BUNDLE"
    else:
        config = tmp_path / "aws-config"
        config.write_text(f"[default]\nca_bundle = {bundle}\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        source = "ca_bundle in the AWS config file"
    result = cli("plan", str(repo))
    assert (result.code, result.out) == (1, "")
    assert result.err == f"error: the CA bundle {bundle} (from {source}) does not exist\n"
    assert sum(emulator.backend.calls.values()) == 0  # refused before anything was sent


def test_a_ca_bundle_that_is_no_bundle_is_one_line(
    cli: Cli, repo: Path, emulator: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    bundle = tmp_path / "not-a-bundle.pem"
    bundle.write_text("this is not a certificate\n")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    result = cli("plan", str(repo))
    assert result.code == 1
    assert result.err.startswith(
        f"error: the CA bundle {bundle} (from AWS_CA_BUNDLE) cannot be used"
    )
    assert result.err.count("\n") == 1


def test_a_good_ca_bundle_is_used(cli: Cli, repo: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", certifi.where())
    result = cli("plan", str(repo))
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    "variable",
    [
        "AWS_CA_BUNDLE",
        "AWS_ENDPOINT_URL_BEDROCK",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API",
    ],
)
def test_the_sandbox_ignores_the_user_ca_bundle_and_endpoints(
    capsys: Any, repo: Path, monkeypatch: Any, tmp_path: Path, closed_port: int, variable: str
) -> None:
    value = (
        str(tmp_path / "gone.pem")
        if variable == "AWS_CA_BUNDLE"
        else f"http://127.0.0.1:{closed_port}"
    )
    monkeypatch.setenv(variable, value)
    state = str(tmp_path / "state.json")
    code, _, err = run(capsys, "--sandbox", "--sandbox-state", state, "plan", str(repo))
    assert (code, err) == (0, "")


@pytest.mark.parametrize(
    ("options", "hosts"),
    [
        ("use_fips_endpoint = true", ("bedrock-fips", "tagging-fips", "sts-fips", "amazonaws.com")),
        ("use_dualstack_endpoint = true", ("bedrock", "tagging", "sts", "api.aws")),
        (
            "use_fips_endpoint = true\nuse_dualstack_endpoint = true",
            ("bedrock-fips", "tagging-fips", "sts-fips", "api.aws"),
        ),
    ],
)
def test_fips_and_dual_stack_from_the_config_file_resolve(
    monkeypatch: Any, tmp_path: Path, options: str, hosts: tuple[str, str, str, str]
) -> None:
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\n{options}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    account = Account(AwsSettings(region="us-east-1"))
    *services, domain = hosts
    clients = (account.bedrock, account.tagging_for(TagReads.AUTO), account.tagging)
    urls = [c.meta.endpoint_url for c in (*clients, account._client("sts"))]
    expected = [
        f"https://{s}.us-east-1.{domain}" for s in (*services[:2], services[1], services[2])
    ]
    assert urls == expected


@pytest.fixture
def not_aws() -> Iterator[str]:
    """A local HTTP server that answers every request with an empty 200: no AWS answer."""
    import http.server
    import threading

    class Empty(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Empty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_an_endpoint_that_is_not_aws_is_one_line_naming_it(
    capsys: Any, repo: Path, not_aws: str
) -> None:
    """--endpoint-url sends STS there too; a Bedrock-only endpoint (or any non-AWS server)
    answers what botocore cannot parse, and the user reads where and what to set instead."""
    keys = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    code, out, err = run(capsys, "--endpoint-url", not_aws, "plan", str(repo), environ=keys)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"error: GetCallerIdentity failed: the answer from {not_aws} is not an AWS STS "
        "response (--endpoint-url sends every call, STS and the tagging API included, to one "
        "URL; a Bedrock-only endpoint goes in AWS_ENDPOINT_URL_BEDROCK)"
    ]


def test_the_sandbox_account_is_fixed(
    capsys: Any, repo: Path, monkeypatch: Any, tmp_path: Path
) -> None:
    """moto reads MOTO_ACCOUNT_ID at every request; the sandbox's account never moves."""
    from reconciler.sandbox import DEFAULT_ACCOUNT

    monkeypatch.setenv("MOTO_ACCOUNT_ID", "999988887777")
    state = str(tmp_path / "state.json")
    code, out, _ = run(capsys, "--sandbox", "--sandbox-state", state, "plan", str(repo))
    assert code == 0
    assert out.splitlines()[0] == f"Plan for scope 'default' in {DEFAULT_ACCOUNT}/us-east-1:"
