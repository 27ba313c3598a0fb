"""Run the real ``reconciler`` CLI with the benchmark's client-side latency and counters.

``python -m bench.cliplan --latency SECONDS --stats FILE -- CLI-ARGS...`` wraps the package's
``bedrock_client`` so that every client the CLI makes carries a ``bench.probe.Probe``, runs
``reconciler.cli.main(CLI-ARGS)``, and writes the probe's counters and timings to FILE.
Used by ``bench.run`` to time a whole ``reconciler plan`` process end to end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

STARTED = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cliplan")
    parser.add_argument("--latency", type=float, required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("cli_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cli_args = args.cli_args[1:] if args.cli_args[:1] == ["--"] else args.cli_args

    from bench.probe import Probe
    from reconciler import cli
    from reconciler.aws import client as aws_client

    probe = Probe(args.latency)
    real = aws_client.bedrock_client

    def probed(settings: Any) -> Any:
        return probe.attach(real(settings))

    aws_client.bedrock_client = probed  # cli imports it from the module at call time
    imported = time.perf_counter()
    code = cli.main(cli_args)
    done = time.perf_counter()
    stats = {
        **probe.snapshot(),
        "exit_code": code,
        "import_s": imported - STARTED,
        "main_s": done - imported,
    }
    with open(args.stats, "w", encoding="utf-8") as out:
        json.dump(stats, out)
    return code


if __name__ == "__main__":
    sys.exit(main())
