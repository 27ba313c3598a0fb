"""The command line: argument parsing, one function per command, the single error handler.

``main(argv, environ)`` returns the exit code: 0 success or in sync, 1 any error, 2 (only
with ``plan --detailed-exitcode``) changes pending. Every ReconcilerError is rendered here,
once, as a one-line message on stderr; a traceback is shown only with ``--debug``.
boto3 and the emulator are imported lazily, inside commands, so ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import __version__
from reconciler.errors import ReconcilerError, SandboxError, UnsafePlanError, UsageError

if TYPE_CHECKING:
    from reconciler.desired import DesiredState
    from reconciler.observed import ObservedState
    from reconciler.plan import Plan
    from reconciler.planfile import SavedPlan
    from reconciler.report import ApplyReport

DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_MAX_RPS = 50.0
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130
DEFAULT_PATHS = ("manifests/",)
DEFAULT_SANDBOX_STATE = ".reconciler/sandbox.json"
SANDBOX_REGION = "us-east-1"
_SCOPE_PATTERN = r"[a-zA-Z0-9\s._:/=+@-]{1,256}"

Command = Callable[[argparse.Namespace, Mapping[str, str]], int]


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one reconciler command and return its exit code."""
    environ = os.environ if environ is None else environ
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage; 2 means "changes pending" here
        return EXIT_OK if e.code in (0, None) else EXIT_ERROR
    try:
        _scope(args, environ)
        _concurrency(args)
        if args.max_rps < 0:
            raise UsageError(f"--max-rps must be 0 (no limit) or more, got {args.max_rps:g}")
        command: Command = args.handler
        return command(args, environ)
    except ReconcilerError as e:
        _summarize_failure(args, environ, str(e))
        return _fail(str(e), args.debug)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        return _fail(f"unexpected error: {type(e).__name__}: {e}", args.debug)


def _summarize_failure(args: argparse.Namespace, environ: Mapping[str, str], message: str) -> None:
    """A failed plan or apply still tells the GitHub step summary why."""
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if not summary or args.command not in ("plan", "apply"):
        return
    text = f"### Bedrock custom models: {args.command} failed\n\n```\n{message}\n```\n\n"
    try:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        pass  # the error itself is still printed on stderr


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
    validate.set_defaults(handler=cmd_validate)

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
    plan.set_defaults(handler=cmd_plan)

    apply = commands.add_parser("apply", parents=[shared], help="make the account match")
    _add_paths(apply)
    _add_output(apply)
    apply.add_argument("--wait", action="store_true", help="wait until created models are Active")
    apply.add_argument(
        "--timeout", type=float, default=3600.0, metavar="SECONDS", help="give up --wait after"
    )
    apply.add_argument("--no-prune", action="store_true", help="never delete or release models")
    apply.add_argument(
        "--plan", metavar="PLANFILE", help="execute exactly this saved plan (no PATH)"
    )
    _add_safety_options(apply)
    apply.set_defaults(handler=cmd_apply)

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
    _add_safety_options(watch)
    watch.set_defaults(handler=cmd_watch)

    schema = commands.add_parser("schema", parents=[shared], help="print the manifest JSON Schema")
    schema.set_defaults(handler=cmd_schema)
    return parser


def _add_globals(parser: argparse.ArgumentParser, defaults: bool) -> None:
    # Subcommand copies default to SUPPRESS so they never overwrite a value given earlier.
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument("--region", default=default(None), help="AWS region")
    group.add_argument("--profile", default=default(None), help="AWS profile")
    group.add_argument("--endpoint-url", default=default(None), help="Bedrock endpoint URL")
    group.add_argument(
        "--scope", default=default(None), help="ownership scope (env RECONCILER_SCOPE)"
    )
    group.add_argument(
        "--concurrency", type=int, default=default(8), help="parallel API calls (default 8)"
    )
    group.add_argument(
        "--max-rps",
        type=float,
        default=default(DEFAULT_MAX_RPS),
        metavar="N",
        help=f"requests per second per API operation, 0 for no limit (default {DEFAULT_MAX_RPS:g})",
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


def _add_safety_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-delete-percent",
        type=float,
        default=30.0,
        metavar="PERCENT",
        help="refuse plans deleting or replacing more of the managed models (default 30)",
    )
    parser.add_argument("--force", action="store_true", help="override the deletion budget")
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="allow an empty manifest source to remove every managed model",
    )


def cmd_validate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    desired = _load(args)
    count = len(desired.models)
    files = len(desired.files)
    print(f"{count} model{'s' * (count != 1)} valid in {files} file{'s' * (files != 1)}.")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from reconciler.desired import CustomModelManifest

    print(json.dumps(CustomModelManifest.model_json_schema(), indent=2))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from reconciler import planfile

    desired = _load(args)
    with _account(args, environ) as (client, region):
        observed = _read(args, client)
    result = _checked_plan(args, environ, desired, observed)
    if args.out and not result.errors:
        _write_plan_file(Path(args.out), planfile.dumps(result, region, desired, observed))
    _emit(args, environ, _plan_views(result, region))
    if result.errors:
        if args.out:
            print(f"error: {args.out} was not written: the plan cannot be applied", file=sys.stderr)
        print(f"error: {len(result.errors)} action(s) cannot be applied", file=sys.stderr)
        return EXIT_ERROR
    if args.detailed_exitcode and result.changes:
        return EXIT_CHANGES
    return EXIT_OK


def cmd_apply(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from reconciler import planfile
    from reconciler.aws import executor, waiter
    from reconciler.plan import check_deletion_budget, check_empty_source

    timeout = _timeout(args)
    saved = _saved_plan(args)
    desired = None if saved else _load(args)
    with _account(args, environ) as (client, region):
        observed = _read(args, client)
        if saved is None:
            assert desired is not None
            result = _checked_plan(args, environ, desired, observed, guard=not args.no_prune)
        else:
            planfile.check_fresh(saved, observed, _scope(args, environ), region)
            result = saved.plan
            if result.errors:
                raise UnsafePlanError(f"{args.plan} holds conflict or blocked actions; refusing")
            if not args.no_prune:
                check_empty_source(result, saved.declared, args.allow_empty)
            check_deletion_budget(result, args.max_delete_percent, args.force)
        report = executor.apply(
            result, client, concurrency=args.concurrency, prune=not args.no_prune
        )
        if args.wait:
            report = waiter.wait_for_active(report, client, timeout=timeout)
    _emit(args, environ, _report_views(report, region))
    if report.failed:
        print(f"error: {len(report.failed)} action(s) failed", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_watch(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from reconciler import logs
    from reconciler.aws.client import instrument
    from reconciler.health import HealthServer
    from reconciler.metrics import Metrics
    from reconciler.watch import Watcher, WatchOptions

    if not args.interval > 0:
        raise UsageError(f"--interval must be a positive number of seconds, got {args.interval:g}")
    options = WatchOptions(
        paths=tuple(args.paths or DEFAULT_PATHS),
        scope=_scope(args, environ),
        interval=args.interval,
        allow_empty=args.allow_empty,
        concurrency=_concurrency(args),
        max_delete_percent=args.max_delete_percent,
        force=args.force,
    )
    logger = logs.setup(args.log_format)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    metrics = Metrics()
    with _account(args, environ) as (client, region):
        instrument(
            client,
            lambda op: metrics.api_calls.labels(operation=op).inc(),
            lambda op: metrics.throttles.labels(operation=op).inc(),
        )
        watcher = Watcher(options, client, logger, metrics, stop=stop)
        server = None
        if args.metrics_port is not None:
            server = HealthServer(
                args.metrics_port, metrics.registry, watcher.healthy, lambda: watcher.ready
            )
        logs.event(
            logger,
            logging.INFO,
            "started",
            f"watching {', '.join(options.paths)} for scope {options.scope!r} in {region}",
        )
        try:
            watcher.run()
        finally:
            if server is not None:
                server.close()
    return EXIT_OK


def _load(args: argparse.Namespace) -> DesiredState:
    from reconciler import manifests

    return manifests.load(args.paths or list(DEFAULT_PATHS))


def _read(args: argparse.Namespace, client: Any) -> ObservedState:
    from reconciler.aws.reader import read_account

    return read_account(client, concurrency=_concurrency(args))


def _checked_plan(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    desired: DesiredState,
    observed: ObservedState,
    guard: bool = True,
) -> Plan:
    """The plan, refused if it fails the empty-source guard or the deletion budget."""
    from reconciler.plan import check_deletion_budget, check_empty_source, plan

    result = plan(desired, observed, _scope(args, environ))
    if guard:
        check_empty_source(result, len(desired.models), args.allow_empty)
    check_deletion_budget(result, args.max_delete_percent, args.force)
    return result


def _saved_plan(args: argparse.Namespace) -> SavedPlan | None:
    from reconciler import planfile

    if not args.plan:
        return None
    if args.paths:
        raise UsageError("apply --plan executes the saved plan; it takes no PATH")
    return planfile.load(Path(args.plan))


def _write_plan_file(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as e:
        raise UsageError(f"{path}: cannot write the plan file: {e.strerror}") from e


Views = dict[str, Callable[[], str]]


def _plan_views(result: Plan, region: str) -> Views:
    from reconciler import render

    return {
        "text": lambda: render.plan_text(result, region),
        "color": lambda: render.plan_text(result, region, color=True),
        "json": lambda: render.plan_json(result, region),
        "markdown": lambda: render.plan_markdown(result, region),
    }


def _report_views(report: ApplyReport, region: str) -> Views:
    from reconciler import render

    return {
        "text": lambda: render.report_text(report, region),
        "color": lambda: render.report_text(report, region, color=True),
        "json": lambda: render.report_json(report, region),
        "markdown": lambda: render.report_markdown(report, region),
    }


def _emit(args: argparse.Namespace, environ: Mapping[str, str], views: Views) -> None:
    """Print the chosen view; append the Markdown one to a GitHub step summary if there is one."""
    output: str = args.output
    if output == "text" and _color(environ):
        output = "color"
    print(views[output](), end="")
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(views["markdown"]() + "\n")
        except OSError as e:
            print(f"warning: cannot append to GITHUB_STEP_SUMMARY: {e.strerror}", file=sys.stderr)


@contextmanager
def _account(args: argparse.Namespace, environ: Mapping[str, str]) -> Iterator[tuple[Any, str]]:
    """A Bedrock client and its region: the real account, or the sandbox emulator."""
    from reconciler.aws.client import AwsSettings, bedrock_client, region_of

    if not args.sandbox:
        settings = AwsSettings(
            args.region,
            args.profile,
            args.endpoint_url,
            _concurrency(args),
            _max_attempts(environ),
        )
        client = _limited(args, bedrock_client(settings))
        yield client, region_of(client)
        return
    region = args.region or environ.get("AWS_REGION") or SANDBOX_REGION
    state = Path(
        args.sandbox_state or environ.get("RECONCILER_SANDBOX_STATE", DEFAULT_SANDBOX_STATE)
    )
    with _sandbox(state, region):
        settings = AwsSettings(region=region, concurrency=_concurrency(args))
        yield _limited(args, bedrock_client(settings)), region


def _limited(args: argparse.Namespace, client: Any) -> Any:
    from reconciler.aws.ratelimit import RateLimiter

    if args.max_rps:
        RateLimiter(args.max_rps).install(client)
    return client


@contextmanager
def _sandbox(state: Path, region: str) -> Iterator[None]:
    try:
        from reconciler import sandbox
    except ImportError as e:
        raise SandboxError(
            "--sandbox needs the emulator: pip install 'bedrock-reconciler[sandbox]'"
        ) from e
    try:
        with sandbox.running(state, region):
            yield
    except sandbox.SandboxStateError as e:
        raise SandboxError(f"sandbox state {state}: {e}") from e
    except sandbox.SandboxError as e:
        raise SandboxError(f"sandbox: {e}") from e


def _scope(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    scope = args.scope or environ.get("RECONCILER_SCOPE") or "default"
    if re.fullmatch(_SCOPE_PATTERN, scope) is None:
        raise UsageError(
            f"scope {scope!r} must be 1 to 256 letters, digits, spaces or ._:/=+@- "
            "(it is written as a tag value)"
        )
    return scope


def _concurrency(args: argparse.Namespace) -> int:
    value: int = args.concurrency
    if not 1 <= value <= 64:
        raise UsageError(f"--concurrency must be between 1 and 64, got {value}")
    return value


def _timeout(args: argparse.Namespace) -> float:
    value: float = args.timeout
    if not value > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {value:g}")
    return value


def _max_attempts(environ: Mapping[str, str]) -> int:
    # AWS_MAX_ATTEMPTS is botocore's own knob; an explicit retry config would hide it.
    raw = environ.get("AWS_MAX_ATTEMPTS", "")
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"AWS_MAX_ATTEMPTS must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def _color(environ: Mapping[str, str]) -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in environ
