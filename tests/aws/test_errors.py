"""How failed calls read: one line naming the call and the cause, whatever answered."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import pytest

from reconciler.aws.errors import describe, note_request
from reconciler.errors import TemporaryError
from tests.helpers import Cli, manifest, write


class _Proxy(http.server.BaseHTTPRequestHandler):
    """Something that is not AWS: a proxy's HTML error page of many lines."""

    status = 404

    def _answer(self) -> None:
        body = b"<html>\n<head><title>Not here</title></head>\n<body>\n<h1>Gone</h1>\n"
        body += b"<p>a line of the proxy's page</p>\n" * 40 + b"</body>\n</html>\n"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[403, 404, 502])
def proxy(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    handler = type("Handler", (_Proxy,), {"status": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", request.param
    finally:
        server.shutdown()
        server.server_close()


def test_an_html_error_page_is_one_line(
    proxy: tuple[str, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    write(tmp_path, "a.yaml", manifest("alpha"))
    url, status = proxy
    run = Cli(url, capsys)("plan", str(tmp_path), environ={"AWS_MAX_ATTEMPTS": "1"})
    assert run.code == 1
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    [line] = lines
    assert line.startswith("error: GetCallerIdentity failed: ")  # the first call
    assert f"failed: HTTP {status} from {url}, not an AWS answer: " in line
    if status != 502:  # botocore keeps a 5xx's reason phrase, and a 4xx's body, whole
        assert "<html> <head><title>Not here</title>" in line
    assert "Traceback" not in run.err
    assert len(line) < 400


def test_a_certificate_that_cannot_be_verified_names_aws_ca_bundle() -> None:
    note_request("https://bedrock.example.internal/custom-models")
    error = botocore.exceptions.SSLError(
        endpoint_url="https://bedrock.example.internal/custom-models",
        error="certificate verify failed: self-signed certificate",
    )
    message = str(describe(error, "ListCustomModels"))
    assert message.startswith(
        "ListCustomModels failed: cannot verify the TLS certificate of "
        "https://bedrock.example.internal ("
    )
    assert "self-signed certificate" in message
    assert message.endswith("needs its CA bundle in AWS_CA_BUNDLE")


@pytest.mark.parametrize(
    ("url", "settings"),
    [
        ("https://bedrock-fips.eu-west-3.amazonaws.com/custom-models", "use_fips_endpoint"),
        ("https://bedrock.eu-west-3.api.aws/custom-models", "use_dualstack_endpoint"),
        (
            "https://bedrock-fips.eu-west-3.api.aws/custom-models",
            "use_fips_endpoint and use_dualstack_endpoint",
        ),
        ("https://bedrock.eu-west-3.amazonaws.com/custom-models", None),
    ],
)
def test_an_unreachable_fips_or_dual_stack_host_names_the_setting(
    url: str, settings: str | None
) -> None:
    error = botocore.exceptions.EndpointConnectionError(endpoint_url=url)
    described = describe(error, "ListCustomModels")
    assert isinstance(described, TemporaryError)
    message = str(described)
    assert message.startswith(
        "ListCustomModels failed: cannot reach the Bedrock endpoint "
        f'(Could not connect to the endpoint URL: "{url}")'
    )
    if settings is None:
        assert "use_" not in message
    else:
        assert message.endswith(
            f"; {settings} (AWS config file or AWS_USE_FIPS_ENDPOINT / "
            "AWS_USE_DUALSTACK_ENDPOINT) chose that host: not every region has one"
        )


@pytest.mark.parametrize(
    ("url", "environ", "variable"),
    [
        ("https://sts.amazonaws.com/", {"HTTPS_PROXY": "x"}, "HTTPS_PROXY"),
        ("https://sts.amazonaws.com/", {"https_proxy": "x", "HTTPS_PROXY": "y"}, "https_proxy"),
        ("http://127.0.0.1:5000/", {"HTTP_PROXY": "x", "HTTPS_PROXY": "y"}, "HTTP_PROXY"),
        ("https://sts.amazonaws.com/", {"ALL_PROXY": "x"}, "ALL_PROXY"),
    ],
)
def test_a_refusing_proxy_names_the_variable_that_chose_it(
    monkeypatch: pytest.MonkeyPatch, url: str, environ: dict[str, str], variable: str
) -> None:
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    note_request(url)
    error = botocore.exceptions.ProxyConnectionError(proxy_url="http://***:***@proxy:3128")
    described = describe(error, "GetCallerIdentity")
    assert isinstance(described, TemporaryError)
    assert str(described) == (
        "GetCallerIdentity failed: cannot connect to the proxy http://***:***@proxy:3128 "
        f"(from {variable}; NO_PROXY lists the hosts reached without it)"
    )
