"""How failed calls read: one line naming the call and the cause, whatever answered."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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
