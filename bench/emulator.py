"""The Bedrock emulator in its own process: the child that serves it, and the parent's handle.

Serving the emulator from a separate process keeps its CPU work (moto, werkzeug) off the
measured client's interpreter lock, as a real endpoint would be. The child
(``python -m bench.emulator``) prints one JSON line ``{"url": ...}`` once serving, then
answers one JSON line per command line:

- ``reset``: forget every model, tag, token and counter;
- ``calls``: the calls the backend received, by operation, GetResources included (then
  zeroes them);
- ``models``: how many models the account holds;
- ``backends``: every account and region that received a call or holds a model: its calls
  by operation (then zeroed) and its models (``bench.fleet``'s targets, one each);
- ``cpu``: the CPU seconds this process used so far;
- ``quit`` (or end of input): stop.

moto's HTTP dispatcher lists moto's package folder (``os.listdir`` and one ``os.path.isdir``
per entry, about 180) twice for every request, under one lock shared by all requests; that
alone costs about 3 ms per call and serialises the emulator; each request also lists its
response class's methods with ``inspect.getmembers`` (about 4% of the emulator's CPU).
Unless ``--stock`` is given, both are computed once (they cannot change while the process
runs). The emulator's answers are the same either way; only its own CPU cost differs.

The parent side is ``EmulatorProcess`` (start, ask, stop) and ``warm_up``.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import sys
import time
from typing import Any

from bench.system import (
    REGION,
    ROOT,
    SCOPE,
    child_environment,
    make_this_process_safe,
    stop_child,
)

# The child


def main(argv: list[str] | None = None) -> int:
    stock = "--stock" in (sys.argv[1:] if argv is None else argv)
    make_this_process_safe()
    from reconciler import sandbox

    # werkzeug logs every request on stderr: noise, and CPU taken from the emulator.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if not stock:
        cache_moto_lookups()
    sandbox.install()
    with sandbox.serve() as url:
        _reply({"url": url, "stock": stock})
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            _reply(_answer(command, sandbox))
    return 0


def cache_moto_lookups() -> None:
    """Make moto's per-request lookups of things that cannot change run once per process:
    the listing of its package folder, and the method names of a response class."""
    from moto import backends
    from moto.core import responses

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: iter(modules)
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)


def _answer(command: str, sandbox: Any) -> dict[str, Any]:
    if command == "reset":
        sandbox.reset_state()
        return {"ok": True}
    if command == "backends":
        return {"backends": _backends()}
    backend = sandbox.get_backend(REGION)
    if command == "calls":
        with backend.lock:
            calls = dict(sorted(backend.calls.items()))
            backend.calls.clear()
        return {"calls": calls}
    if command == "models":
        with backend.lock:
            return {"models": len(backend.models)}
    if command == "cpu":
        return {"cpu": time.process_time()}
    return {"error": f"unknown command {command!r}"}


def _backends() -> list[dict[str, Any]]:
    from moto.bedrock import models

    from reconciler.sandbox import EmulatedBedrockBackend

    found = []
    for account, region, backend in list(models.bedrock_backends.iter_backends()):
        if not isinstance(backend, EmulatedBedrockBackend):
            continue
        with backend.lock:
            calls = dict(sorted(backend.calls.items()))
            backend.calls.clear()
            held = len(backend.models)
        if calls or held:
            found.append({"account": account, "region": region, "calls": calls, "models": held})
    return sorted(found, key=lambda b: (b["account"], b["region"]))


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# The parent


class EmulatorProcess:
    """``bench.emulator`` in a child process; ``ask`` sends one command, returns the answer."""

    def __init__(self, stock: bool = False) -> None:
        self.stock = stock
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.emulator", *(["--stock"] if stock else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=child_environment(),
        )
        self.url = str(self._read()["url"])

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process ended unexpectedly")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"emulator: {answer['error']}")
        return answer

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def reset(self) -> None:
        self.ask("reset")

    def calls(self) -> dict[str, int]:
        """The calls received since the last ``calls`` (or ``reset``), by operation."""
        calls: dict[str, int] = self.ask("calls")["calls"]
        return calls

    def models(self) -> int:
        return int(self.ask("models")["models"])

    def backends(self) -> list[dict[str, Any]]:
        """Every account and region with calls (since the last ``backends``) or models."""
        found: list[dict[str, Any]] = self.ask("backends")["backends"]
        return found

    def cpu(self) -> float:
        return float(self.ask("cpu")["cpu"])

    def close(self) -> None:
        stop_child(self.process, "quit\n")


def warm_up(emulator: EmulatorProcess) -> None:
    """Every operation once, so one-time loading (service models, routes) is not measured."""
    from bench.probe import Probe, probed_account
    from bench.workload import declared_model
    from reconciler.aws.creates import create_request, request_token
    from reconciler.aws.reader import managed_tags
    from reconciler.aws.settings import AwsSettings

    account = probed_account(AwsSettings(region=REGION, endpoint_url=emulator.url), Probe(0))
    client = account.bedrock
    request = create_request(declared_model(0), SCOPE)
    token = request_token(request)
    arn = client.create_custom_model(**request, clientRequestToken=token)["modelArn"]
    client.get_custom_model(modelIdentifier=arn)
    client.list_custom_models(isOwned=True, maxResults=100)
    managed_tags(lambda: account.tagging, SCOPE)
    client.tag_resource(resourceARN=arn, tags=[{"key": "warm", "value": "up"}])
    client.list_tags_for_resource(resourceARN=arn)
    client.untag_resource(resourceARN=arn, tagKeys=["warm"])
    client.delete_custom_model(modelIdentifier=arn)
    emulator.reset()


if __name__ == "__main__":
    sys.exit(main())
