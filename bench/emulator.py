"""The Bedrock emulator in its own process, driven over stdin/stdout by ``bench.run``.

Serving the emulator from a separate process keeps its CPU work (moto, werkzeug) off the
measured client's interpreter lock, as a real endpoint would be. It prints one JSON line
``{"url": ...}`` once serving, then answers one JSON line per command line:

- ``reset``: forget every model, tag, token and counter;
- ``calls``: the calls the backend received, by operation (then zeroes them);
- ``models``: how many models the account holds;
- ``cpu``: the CPU seconds this process used so far;
- ``quit`` (or end of input): stop.

moto's HTTP dispatcher lists moto's package folder (``os.listdir`` and one ``os.path.isdir``
per entry, about 180) twice for every request, under one lock shared by all requests; that
alone costs about 3 ms per call and serialises the emulator. Unless ``--stock`` is given, the
listing is computed once (it cannot change while the process runs). The emulator's answers
are the same either way; only its own CPU cost differs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

REGION = "us-east-1"

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    # Imported models are Active at once, so an in-sync plan is all "in sync" noops.
    "RECONCILER_SANDBOX_IMPORT_SECONDS": "0",
}
UNSAFE_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
)


def safe_environment(base: dict[str, str]) -> dict[str, str]:
    """``base`` with fake credentials and nothing that could reach a real account."""
    env = {k: v for k, v in base.items() if k not in UNSAFE_ENV}
    env.update(FAKE_ENV)
    return env


def main(argv: list[str] | None = None) -> int:
    stock = "--stock" in (sys.argv[1:] if argv is None else argv)
    env = safe_environment(dict(os.environ))
    os.environ.clear()
    os.environ.update(env)
    from reconciler import sandbox

    # werkzeug logs every request on stderr: noise, and CPU taken from the emulator.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if not stock:
        cache_moto_module_list()
    sandbox.install()
    with sandbox.serve() as url:
        _reply({"url": url, "stock": stock})
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            _reply(_answer(command, sandbox))
    return 0


def cache_moto_module_list() -> None:
    """Make ``moto.backends.list_of_moto_modules`` list moto's folder once, not per request."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: iter(modules)


def _answer(command: str, sandbox: Any) -> dict[str, Any]:
    if command == "reset":
        sandbox.reset_state()
        return {"ok": True}
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


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
