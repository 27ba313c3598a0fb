"""Run the real ``reconciler`` CLI with the benchmark's client-side latency and counters.

``python -m bench.cliplan --latency SECONDS --stats FILE -- CLI-ARGS...`` attaches one
``bench.probe.Probe`` to every client any ``aws.client.Account`` makes (the Bedrock client,
and the tagging client made on first use), runs ``reconciler.cli.main(CLI-ARGS)``, and
writes the probe's counters and timings to FILE. Used by ``bench.plans`` to time a whole
``reconciler plan`` process end to end (and by ``bench.fleet``, whose targets assume roles:
the assume-role STS client is probed too); the CLI itself is not changed in any other way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

STARTED = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cliplan")
    parser.add_argument("--latency", type=float, required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("cli_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cli_args = args.cli_args[1:] if args.cli_args[:1] == ["--"] else args.cli_args

    from bench.probe import Probe, probe_assumed_roles, probe_every_account
    from reconciler import cli

    probe = Probe(args.latency)
    probe_every_account(probe)
    probe_assumed_roles(probe)
    imported = time.perf_counter()
    code = cli.main(cli_args, os.environ)
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
