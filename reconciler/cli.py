"""The command line: argument parsing, the global options' checks, the single error handler.

``main(argv, environ)`` returns the exit code: 0 success or in sync, 1 any error, 2 (only
with ``plan --detailed-exitcode``) changes pending. Every ReconcilerError is rendered here,
once, as a one-line message on stderr; a traceback is shown only with ``--debug``. The
commands themselves are in ``commands``; boto3 and the emulator are imported lazily, inside
them, so ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler import __version__
from reconciler.aws.settings import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RPS,
    DEFAULT_READ_TIMEOUT,
    TagReads,
)
from reconciler.budget import DEFAULT_MAX_DELETE_PERCENT
from reconciler.commands import (
    DEFAULT_EXPORT_DIR,
    EXIT_ERROR,
    EXIT_OK,
    append_step_summary,
    cmd_apply,
    cmd_export,
    cmd_plan,
    cmd_schema,
    cmd_status,
    cmd_validate,
    cmd_watch,
)
from reconciler.connect import DEFAULT_SANDBOX_STATE
from reconciler.errors import ReconcilerError, UsageError
from reconciler.identity import SCOPE_PATTERN

DEFAULT_TARGET_CONCURRENCY = 4

DEFAULT_PROGRESS_INTERVAL = 60.0

EXIT_INTERRUPTED = 130

Command = Callable[[argparse.Namespace, Mapping[str, str]], int]


def _handler(args: argparse.Namespace) -> Command:
    """The command to run: with ``--targets``, its run over every target (``fleet``, imported
    only then, so a single-target run and ``--help`` never load it)."""
    over_targets: str | None = getattr(args, "over_targets", None)
    if over_targets and getattr(args, "targets", None):
        from reconciler import fleet

        command: Command = getattr(fleet, over_targets)
        return command
    single: Command = args.handler
    return single


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one reconciler command and return its exit code."""
    environ = os.environ if environ is None else environ
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage; 2 means "changes pending" here
        return EXIT_OK if e.code in (0, None) else EXIT_ERROR
    try:
        _check_globals(args, environ)
        return _handler(args)(args, environ)
    except ReconcilerError as e:
        _summarize_failure(args, environ, str(e))
        return _fail(str(e), args.debug)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        return _fail(f"unexpected error: {type(e).__name__}: {e}", args.debug)


def _summarize_failure(args: argparse.Namespace, environ: Mapping[str, str], message: str) -> None:
    """A failed plan or apply still tells the GitHub step summary why (quietly: the error
    itself is printed on stderr)."""
    if args.command not in ("plan", "apply"):
        return
    text = f"### Bedrock custom models: {args.command} failed\n\n```\n{message}\n```\n\n"
    append_step_summary(environ, lambda: text, quiet=True)


def _fail(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    *details, last = message.splitlines() or [""]
    for line in details:
        print(line, file=sys.stderr)
    hint = " (run with --debug for the traceback)" if last.startswith("unexpected") else ""
    print(f"error: {last}{hint if not debug else ''}", file=sys.stderr)
    return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; global options are accepted before or after the command."""
    parser = argparse.ArgumentParser(
        prog="reconciler",
        description="Make the Amazon Bedrock custom models of an account match YAML manifests.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_globals(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = argparse.ArgumentParser(add_help=False)
    _add_globals(shared, defaults=False)

    validate = commands.add_parser("validate", parents=[shared], help="check manifests offline")
    _add_paths(validate)
    _add_targets(validate)
    validate.set_defaults(handler=cmd_validate, over_targets="cmd_validate")

    plan = commands.add_parser("plan", parents=[shared], help="show what apply would change")
    _add_paths(plan)
    _add_output(plan)
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when changes are pending (0 in sync, 1 error)",
    )
    plan.add_argument("--out", metavar="PLANFILE", help="save the plan for apply --plan")
    _add_safety_options(plan)
    _add_targets(plan)
    plan.set_defaults(handler=cmd_plan, over_targets="cmd_plan")

    status = commands.add_parser(
        "status", parents=[shared], help="show what the scope manages, and whether it is in sync"
    )
    status.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="manifest files or folders to compare with (default: none, the account alone)",
    )
    status.add_argument("--output", choices=("text", "json", "markdown"), default="text")
    status.set_defaults(handler=cmd_status)

    apply = commands.add_parser("apply", parents=[shared], help="make the account match")
    _add_paths(apply)
    _add_output(apply)
    apply.add_argument(
        "--wait", action="store_true", help="wait until what was created or switched is ready"
    )
    apply.add_argument(
        "--timeout", type=float, default=3600.0, metavar="SECONDS", help="give up --wait after"
    )
    apply.add_argument(
        "--progress-interval",
        type=float,
        default=DEFAULT_PROGRESS_INTERVAL,
        metavar="SECONDS",
        help="without a terminal, --wait's progress line comes at least this often "
        f"(default {DEFAULT_PROGRESS_INTERVAL:g})",
    )
    apply.add_argument("--no-prune", action="store_true", help="never delete or release anything")
    apply.add_argument(
        "--plan", metavar="PLANFILE", help="execute exactly this saved plan (no PATH)"
    )
    _add_safety_options(apply)
    _add_commitment_option(apply)
    _add_targets(apply)
    apply.set_defaults(handler=cmd_apply, over_targets="cmd_apply")

    watch = commands.add_parser(
        "watch", parents=[shared], help="reconcile continuously (the container's mode)"
    )
    _add_paths(watch)
    watch.add_argument(
        "--interval", type=float, default=300.0, metavar="SECONDS", help="full resync period"
    )
    watch.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="serve /healthz, /readyz, /metrics"
    )
    watch.add_argument(
        "--log-format", choices=("json", "text"), help="default: text on a terminal, else JSON"
    )
    watch.add_argument(
        "--report-only",
        action="store_true",
        help="plan and report drift every pass (logs, metrics), and change nothing",
    )
    _add_safety_options(watch)
    _add_commitment_option(watch)
    _add_targets(watch, concurrent=False)
    watch.set_defaults(handler=cmd_watch, over_targets="cmd_watch")

    _add_tool_commands(commands, shared)
    return parser


def _add_tool_commands(commands: Any, shared: argparse.ArgumentParser) -> None:
    """The commands around the reconcile loop: export, targets, schema."""
    export = commands.add_parser(
        "export", parents=[shared], help="write manifests for what the account holds"
    )
    export.add_argument(
        "--output-dir",
        default=DEFAULT_EXPORT_DIR,
        metavar="DIR",
        help=f"where to write them (default {DEFAULT_EXPORT_DIR})",
    )
    export.add_argument("--unmanaged", action="store_true", help="only resources no scope manages")
    export.add_argument("--force", action="store_true", help="overwrite existing files")
    export.set_defaults(handler=cmd_export)

    listing = commands.add_parser(
        "targets", parents=[shared], help="list the targets of a targets file (a CI matrix)"
    )
    listing.add_argument("--output", choices=("text", "json"), default="text")
    _add_targets(listing, required=True, concurrent=False)
    listing.set_defaults(handler=None, over_targets="cmd_targets")

    schema = commands.add_parser("schema", parents=[shared], help="print the manifest JSON Schema")
    schema.set_defaults(handler=cmd_schema)


def _add_globals(parser: argparse.ArgumentParser, defaults: bool) -> None:
    # Subcommand copies default to SUPPRESS so they never overwrite a value given earlier.
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument("--region", default=default(None), help="AWS region")
    group.add_argument("--profile", default=default(None), help="AWS profile")
    group.add_argument(
        "--endpoint-url",
        default=default(None),
        help="one endpoint URL for every AWS call: Bedrock, STS and the tagging API (an emulator); "
        "AWS_ENDPOINT_URL_BEDROCK sets Bedrock's alone",
    )
    group.add_argument(
        "--account-id",
        default=default(None),
        metavar="ID",
        help="refuse credentials for any other account (env RECONCILER_ACCOUNT_ID)",
    )
    group.add_argument(
        "--scope", default=default(None), help="ownership scope (env RECONCILER_SCOPE)"
    )
    group.add_argument(
        "--concurrency",
        type=int,
        default=default(DEFAULT_CONCURRENCY),
        help=f"parallel API calls (default {DEFAULT_CONCURRENCY})",
    )
    group.add_argument(
        "--max-rps",
        type=float,
        default=default(DEFAULT_MAX_RPS),
        metavar="N",
        help=f"requests per second per API operation, 0 for no limit (default {DEFAULT_MAX_RPS:g})",
    )
    group.add_argument(
        "--tag-reads",
        type=TagReads,
        choices=list(TagReads),
        default=default(TagReads.AUTO),
        help="how tags are read: the Resource Groups Tagging API, or one call per model; "
        "auto (default) uses the first and falls back to the second if it is refused",
    )
    group.add_argument(
        "--connect-timeout",
        type=float,
        default=default(DEFAULT_CONNECT_TIMEOUT),
        metavar="SECONDS",
        help=f"per attempt (default {DEFAULT_CONNECT_TIMEOUT:g})",
    )
    group.add_argument(
        "--read-timeout",
        type=float,
        default=default(DEFAULT_READ_TIMEOUT),
        metavar="SECONDS",
        help=f"per attempt (default {DEFAULT_READ_TIMEOUT:g})",
    )
    group.add_argument(
        "--debug", action="store_true", default=default(False), help="tracebacks on errors"
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        default=default(False),
        help="use the local Bedrock emulator instead of AWS",
    )
    group.add_argument(
        "--sandbox-state",
        default=default(None),
        metavar="FILE",
        help=f"sandbox state file (default {DEFAULT_SANDBOX_STATE})",
    )


def _add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="manifest files or folders (default manifests/)"
    )


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=("text", "json", "markdown"), default="text")
    parser.add_argument(
        "--show-noop",
        action="store_true",
        help="text: list each resource in sync on its own line (default: one line for all)",
    )


def _add_targets(
    parser: argparse.ArgumentParser, required: bool = False, concurrent: bool = True
) -> None:
    parser.add_argument(
        "--targets",
        metavar="FILE",
        required=required,
        help="run every target (account and region) of this targets file",
    )
    parser.add_argument(
        "--target",
        action="append",
        metavar="NAME",
        help="only this target of --targets (repeatable)",
    )
    if not concurrent:  # watch runs one loop per target; a listing reads no account
        return
    parser.add_argument(
        "--target-concurrency",
        type=int,
        default=DEFAULT_TARGET_CONCURRENCY,
        metavar="N",
        help=f"targets run at once (default {DEFAULT_TARGET_CONCURRENCY})",
    )


def _add_safety_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-delete-percent",
        type=float,
        default=DEFAULT_MAX_DELETE_PERCENT,
        metavar="PERCENT",
        help="refuse plans deleting or replacing more of the managed models "
        f"(default {DEFAULT_MAX_DELETE_PERCENT:g})",
    )
    parser.add_argument("--force", action="store_true", help="override the deletion budget")
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="allow an empty manifest source to remove every managed model",
    )


def _add_commitment_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-commitment",
        action="store_true",
        help="allow buying Provisioned Throughput commitments (they cannot be refunded)",
    )


# Every numeric option: (lowest, highest, whether the lowest itself is allowed), all finite.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "concurrency": (1, 64, True),
    "max_rps": (0, math.inf, True),
    "connect_timeout": (0, math.inf, False),
    "read_timeout": (0, math.inf, False),
    "max_delete_percent": (0, 100, True),
    "timeout": (0, math.inf, False),
    "progress_interval": (0, math.inf, False),
    "interval": (0, math.inf, False),
    "metrics_port": (0, 65535, True),
    "target_concurrency": (1, 64, True),
}


def _check_globals(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Refuse unusable options before any work; resolve the scope once."""
    args.scope = _scope(args, environ)
    if getattr(args, "target", None) and not getattr(args, "targets", None):
        raise UsageError("--target selects a target of --targets FILE; give the file too")
    for option, (low, high, inclusive) in _RANGES.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        above = value >= low if inclusive else value > low
        if not (math.isfinite(value) and above and value <= high):
            raise UsageError(
                f"--{option.replace('_', '-')} {_range_text(low, high, inclusive)}, got {value:g}"
            )


def _range_text(low: float, high: float, inclusive: bool) -> str:
    if high == math.inf:
        return f"must be a finite number {'of at least' if inclusive else 'above'} {low:g}"
    return f"must be between {low:g} and {high:g}"


def _scope(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """The scope: ``--scope``, else ``RECONCILER_SCOPE``, else ``default``. An explicit empty
    one (an unset CI variable) is an error, never a fall-back to another scope."""
    if args.scope is not None:
        scope, source = str(args.scope), "--scope"
    elif "RECONCILER_SCOPE" in environ:
        scope, source = environ["RECONCILER_SCOPE"], "RECONCILER_SCOPE"
    else:
        return "default"
    if not scope.strip():
        raise UsageError(f"{source} is empty (an unset variable?); name the scope this run manages")
    if re.fullmatch(SCOPE_PATTERN, scope) is None:
        raise UsageError(
            f"{source} {scope!r} must be 1 to 256 letters, digits, spaces or ._:/=+@- "
            "(it is written as a tag value)"
        )
    return scope
