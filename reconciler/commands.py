"""One function per command: ``validate``, ``schema``, ``plan``, ``status``, ``apply``, ``watch``,
``export``.

Each takes the parsed arguments (global options already checked by ``cli``) and the
environment, and returns the exit code; failures are raised as ReconcilerError for ``cli``
to render. Output goes to stdout (the chosen view) and, for notes, warnings and the progress
of ``apply --wait``, to stderr.
boto3 and the emulator are imported inside the commands that need them, so ``--help`` and
``validate`` start fast. Called by ``cli``'s ``main``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from reconciler.connect import connect
from reconciler.errors import ReconcilerError, UnsafePlanError, UsageError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from reconciler.aws.client import Account
    from reconciler.aws.reader import AccountReader
    from reconciler.desired import DesiredState
    from reconciler.export import Document
    from reconciler.health import HealthServer
    from reconciler.identity import Place, ResourceKey
    from reconciler.metrics import Metrics
    from reconciler.observed import ObservedState
    from reconciler.plan import Plan
    from reconciler.planfile import SavedPlan
    from reconciler.progress import Reporter
    from reconciler.report import ApplyReport
    from reconciler.status import StatusRow
    from reconciler.watch import Watcher, WatchOptions

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
DEFAULT_PATHS = ("manifests/",)
DEFAULT_EXPORT_DIR = "exported/"

Views = dict[str, Callable[[], str]]


def cmd_validate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    desired = _load(args)
    count = len(desired.models)
    files = len(desired.files)
    serving = len(desired.resources) - count
    also = f" and {serving} serving resource{'s' * (serving != 1)}" if serving else ""
    print(f"{count} model{'s' * (count != 1)}{also} valid in {files} file{'s' * (files != 1)}.")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from reconciler.desired import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    out = Path(args.out) if args.out else None
    try:
        code = _plan(args, environ, out)
    except ReconcilerError:
        discard(out, "the plan was refused")
        raise
    if code == EXIT_ERROR:
        discard(out, "the plan cannot be applied")
    return code


def _plan(args: argparse.Namespace, environ: Mapping[str, str], out: Path | None) -> int:
    from reconciler import planfile

    desired = _load(args)
    with connect(args, environ) as account:
        result, observed = plan_for(args, account, desired)
    if out is not None and not result.errors:
        text = planfile.dumps(result, account.place, desired, observed)
        write_plan_file(out, text)
    emit(args, environ, _plan_views(result, account.place, args.show_noop))
    note_throttles(args, account)
    return plan_outcome(args, result)


def plan_for(
    args: argparse.Namespace, account: Account, desired: DesiredState
) -> tuple[Plan, ObservedState]:
    """The plan for ``desired`` in ``account``, refused if it fails a guard."""
    from reconciler.reconcile import read_and_plan

    result, observed = read_and_plan(_reader(args, account), desired, args.scope)
    _check(args, result, len(desired.resources))
    return result, observed


def plan_outcome(args: argparse.Namespace, result: Plan) -> int:
    """A plan's exit code: 1 if it holds errors, 2 with ``--detailed-exitcode`` if changes."""
    if result.errors:
        say(args, f"error: {len(result.errors)} action(s) cannot be applied")
        return EXIT_ERROR
    if args.detailed_exitcode and result.changes:
        return EXIT_CHANGES
    return EXIT_OK


def say(args: argparse.Namespace, message: str) -> None:
    """A note, warning or error line on stderr, naming the target in a run over several."""
    name = getattr(args, "target_name", None)
    print(f"[{name}] {message}" if name else message, file=sys.stderr)


def cmd_status(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """What the scope manages, read-only; with PATHs, also what holds a declared name and
    whether each declared resource is in sync. No PATH reads no manifests at all."""
    from reconciler.reconcile import decide
    from reconciler.status import not_in_account, status_rows

    desired = _load(args) if args.paths else None
    with connect(args, environ) as account:
        reader = _reader(args, account)
        keys = [r.key for r in desired.resources] if desired is not None else []
        observed = reader.read(keys)
        if desired is not None:  # what looks drifted is confirmed as a plan confirms it
            _, observed = decide(reader, desired, observed, args.scope)
    rows = status_rows(observed, args.scope, desired)
    missing = not_in_account(observed, desired)
    emit(args, environ, _status_views(rows, args.scope, account.place, missing))
    note_throttles(args, account)
    return EXIT_OK


def discard(out: Path | None, why: str) -> None:
    """A refused ``plan --out`` leaves no plan file behind, not even an earlier one."""
    if out is None:
        return
    existed = out.exists()
    with contextlib.suppress(FileNotFoundError):
        out.unlink()
    what = "was removed" if existed else "was not written"
    print(f"error: {out} {what}: {why}, so no saved plan can be applied", file=sys.stderr)


def cmd_apply(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    saved = _saved_plan(args)
    desired = None if saved else _load(args)
    with connect(args, environ) as account:
        result = planned_apply(args, account, desired, saved)
        report = execute(args, environ, account, result)
    emit(args, environ, _report_views(report, account.place, args.show_noop))
    note_throttles(args, account)
    return apply_outcome(args, report)


def execute(
    args: argparse.Namespace, environ: Mapping[str, str], account: Account, result: Plan
) -> ApplyReport:
    """Apply ``result`` (refused whole if it buys a commitment not allowed) and, with
    ``--wait``, wait for what it created or switched."""
    from reconciler.aws import executor, waiter
    from reconciler.aws.readiness import Clock
    from reconciler.plan import check_commitments

    check_commitments(result, args.allow_commitment)
    client = account.bedrock
    clock = Clock()
    deadline = clock.now() + args.timeout
    progress = _progress(args, environ, clock.now()) if args.wait else None
    waiting = executor.Waiting(deadline, clock, progress) if args.wait else None
    try:
        report = executor.apply(
            result,
            client,
            concurrency=args.concurrency,
            prune=not args.no_prune,
            waiting=waiting,
        )
        if args.wait:
            report = waiter.wait_for_active(
                report, client, args.timeout, clock=clock, deadline=deadline, observer=progress
            )
    finally:
        if progress is not None:
            progress.finish()
    return report


def apply_outcome(args: argparse.Namespace, report: ApplyReport) -> int:
    """An apply's notes on stderr and its exit code: 1 if any action failed."""
    from reconciler.plan import label

    if report.deferred:
        names = ", ".join(label(r.action) for r in report.deferred)
        say(
            args,
            f"note: {len(report.deferred)} action(s) deferred until what they wait for is "
            f"ready ({names}); run apply again then, or use apply --wait",
        )
    if report.failed:
        say(args, f"error: {len(report.failed)} action(s) failed")
        return EXIT_ERROR
    return EXIT_OK


def _progress(args: argparse.Namespace, environ: Mapping[str, str], started: float) -> Reporter:
    """``apply --wait``'s progress on stderr: redrawn on a terminal, else plain lines."""
    import shutil

    from reconciler.progress import Reporter

    name = getattr(args, "target_name", None)
    return Reporter(
        _Prefixed(sys.stderr, f"[{name}] ") if name else sys.stderr,
        # Redrawn in place only for a person at a terminal: not for a target's lines, nor
        # next to --output json, whose reader is a program.
        terminal=sys.stderr.isatty() and not name and args.output != "json",
        color=wants_color(environ),
        interval=args.progress_interval,
        started=started,
        width=shutil.get_terminal_size().columns,
    )


class _Prefixed:
    """A stream whose every line starts with ``prefix`` (a target's progress lines)."""

    def __init__(self, stream: TextIO, prefix: str) -> None:
        self._stream = stream
        self._prefix = prefix
        self._start = True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            out.append(self._prefix + piece if self._start else piece)
            self._start = piece.endswith("\n")
        self._stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


def planned_apply(
    args: argparse.Namespace,
    account: Account,
    desired: DesiredState | None,
    saved: SavedPlan | None,
) -> Plan:
    """What ``apply`` executes: a fresh plan, or the saved one if the account still matches."""
    from reconciler import planfile
    from reconciler.plan import check_no_errors
    from reconciler.reconcile import read_and_plan, read_for_saved, rederive

    reader, place = _reader(args, account), account.place

    if saved is None:
        assert desired is not None
        result, _ = read_and_plan(reader, desired, args.scope)
        check_no_errors(result)
        _check(args, result, len(desired.resources), guard=not args.no_prune)
        return result
    observed = read_for_saved(reader, saved)
    planfile.check_fresh(saved, observed, args.scope, place)
    if saved.plan.errors:
        raise UnsafePlanError(f"{args.plan} holds conflict or blocked actions; refusing")
    fresh = rederive(reader, saved, observed, args.scope)
    planfile.check_rederived(saved, fresh)
    _check(args, fresh, len(saved.desired.resources), guard=not args.no_prune)
    return fresh


def cmd_watch(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from reconciler import logs
    from reconciler.metrics import Metrics

    options = watch_options(args)
    logger = logs.setup(args.log_format)
    stop = stop_on_signals()
    metrics = Metrics()
    calls, throttles = metrics.api_calls, metrics.throttles
    with connect(
        args,
        environ,
        lambda op: calls.labels(operation=op).inc(),
        lambda op: throttles.labels(operation=op).inc(),
    ) as account:
        watcher = new_watcher(options, account, logger, metrics, stop)
        server = serve_health(args, metrics.registry, watcher.healthy, lambda: watcher.ready)
        try:
            watcher.run()
        finally:
            if server is not None:
                server.close()
    return EXIT_OK


def watch_options(args: argparse.Namespace) -> WatchOptions:
    from reconciler.watch import WatchOptions

    return WatchOptions(
        paths=tuple(args.paths or DEFAULT_PATHS),
        scope=args.scope,
        interval=args.interval,
        allow_empty=args.allow_empty,
        concurrency=args.concurrency,
        max_delete_percent=args.max_delete_percent,
        force=args.force,
        tag_reads=args.tag_reads,
        allow_commitment=args.allow_commitment,
        report_only=args.report_only,
    )


def stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set: every watch loop ends its pass and stops."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def new_watcher(
    options: WatchOptions,
    account: Account,
    logger: logging.Logger,
    metrics: Metrics,
    stop: threading.Event,
) -> Watcher:
    """A watch loop over ``account``, announced in the log."""
    from reconciler import logs
    from reconciler.watch import Watcher

    watcher = Watcher(
        options,
        account.bedrock,
        logger,
        metrics,
        stop=stop,
        tagging=lambda: account.tagging_for(options.tag_reads),
        account=account.account_id,
    )
    where = f"{', '.join(options.paths)} for scope {options.scope!r} in {account.place}"
    logs.event(logger, logging.INFO, "started", f"watching {where}")
    return watcher


def serve_health(
    args: argparse.Namespace,
    registry: CollectorRegistry,
    healthy: Callable[[], bool],
    ready: Callable[[], bool],
) -> HealthServer | None:
    """``/healthz``, ``/readyz`` and ``/metrics`` on ``--metrics-port``, if one is given."""
    from reconciler.health import HealthServer

    if args.metrics_port is None:
        return None
    try:
        return HealthServer(args.metrics_port, registry, healthy, ready)
    except OSError as e:
        raise UsageError(
            f"--metrics-port {args.metrics_port}: cannot listen there ({e.strerror})"
        ) from e


def cmd_export(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from reconciler import export

    folder = Path(args.output_dir)
    _refuse_overwrite(folder, [], args.force)  # a plain file in the way: before any read
    with connect(args, environ) as account:
        reader = _reader(args, account)
        observed = reader.read()
        # Every tag as the resource itself carries it (unmanaged ones are not in the index),
        # and what only the Get answers hold: a model's KMS key, a deployment's description.
        observed = reader.confirm(observed, [r.arn for r in observed.resources])
        observed = reader.describe_deployments(reader.describe_models(observed))
    result = export.export(observed, args.scope, account.place, unmanaged_only=args.unmanaged)
    _write_export(folder, result.documents, args.force)
    print(export.summary(result, args.output_dir), end="")
    note_throttles(args, account)
    return EXIT_OK


def _refuse_overwrite(folder: Path, documents: list[Document], force: bool) -> None:
    """Refuse before anything is written: the folder is not a folder, or (without
    ``--force``) a file to write exists already."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; nothing was written")
    if force:
        return
    existing = [folder / d.path for d in documents if os.path.lexists(folder / d.path)]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]} exists{more}; nothing was written (--force overwrites)")


def _write_export(folder: Path, documents: tuple[Document, ...], force: bool) -> None:
    """Write every document or none: each to a temporary file beside its target first, then
    every one renamed over its target."""
    _refuse_overwrite(folder, list(documents), force)
    written: list[tuple[str, Path]] = []
    try:
        for document in documents:
            target = folder / document.path
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w",
                dir=target.parent,
                prefix=f".{target.name}.",
                suffix=".tmp",
                delete=False,
                encoding="utf-8",
            ) as handle:
                written.append((handle.name, target))
                handle.write(document.text)
        for temporary, target in written:
            os.replace(temporary, target)
    except OSError as e:
        for temporary, _ in written:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise UsageError(f"{e.filename or folder}: cannot write: {e.strerror}") from e


def _load(args: argparse.Namespace) -> DesiredState:
    from reconciler import manifests

    return manifests.load(args.paths or list(DEFAULT_PATHS))


def _reader(args: argparse.Namespace, account: Account) -> AccountReader:
    from reconciler.aws.reader import AccountReader

    return AccountReader(
        account.bedrock,
        lambda: account.tagging_for(args.tag_reads),
        args.scope,
        mode=args.tag_reads,
        concurrency=args.concurrency,
        warn=lambda message: say(args, f"warning: {message}"),
        account=account.account_id,
    )


def _check(args: argparse.Namespace, result: Plan, declared: int, guard: bool = True) -> None:
    """Refuse a plan that fails the empty-source guard or the deletion budget."""
    from reconciler.plan import check_deletion_budget, check_empty_source

    if guard:
        check_empty_source(result, declared, args.allow_empty)
    check_deletion_budget(result, args.max_delete_percent, args.force)


def _saved_plan(args: argparse.Namespace) -> SavedPlan | None:
    from reconciler import planfile

    if not args.plan:
        return None
    if args.paths:
        raise UsageError("apply --plan executes the saved plan; it takes no PATH")
    return planfile.load(Path(args.plan))


def write_plan_file(path: Path, text: str) -> None:
    """Write atomically: a temporary file beside it, then a rename over it."""
    try:
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as handle:
            handle.write(text)
        os.replace(handle.name, path)
    except OSError as e:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(handle.name)
        raise UsageError(f"{path}: cannot write the plan file: {e.strerror}") from e


def note_throttles(args: argparse.Namespace, account: Account) -> None:
    """Say so when AWS throttled calls (they were retried): a sign to lower --max-rps."""
    throttled = sum(account.throttles.values())
    if throttled:
        by_operation = ", ".join(f"{op} {n}" for op, n in sorted(account.throttles.items()))
        say(
            args,
            f"note: AWS throttled {throttled} of {sum(account.calls.values())} API calls "
            f"({by_operation}); each was retried after a backoff",
        )


def _plan_views(result: Plan, region: Place, show_noop: bool = False) -> Views:
    from reconciler import render

    return {
        "text": lambda: render.plan_text(result, region, show_noop=show_noop),
        "color": lambda: render.plan_text(result, region, color=True, show_noop=show_noop),
        "json": lambda: render.plan_json(result, region),
        "markdown": lambda: render.plan_markdown(result, region),
    }


def _report_views(report: ApplyReport, region: Place, show_noop: bool = False) -> Views:
    from reconciler import render

    return {
        "text": lambda: render.report_text(report, region, show_noop=show_noop),
        "color": lambda: render.report_text(report, region, color=True, show_noop=show_noop),
        "json": lambda: render.report_json(report, region),
        "markdown": lambda: render.report_markdown(report, region),
    }


def _status_views(
    rows: tuple[StatusRow, ...], scope: str, place: Place, missing: tuple[ResourceKey, ...]
) -> Views:
    from reconciler import statusview

    def text() -> str:
        return statusview.status_text(rows, scope, place, missing)

    return {
        "text": text,
        "color": text,  # a table has no colour
        "json": lambda: statusview.status_json(rows, scope, place, missing),
        "markdown": lambda: statusview.status_markdown(rows, scope, place, missing),
    }


def wants_color(environ: Mapping[str, str]) -> bool:
    """Colour unless ``NO_COLOR`` is set to something (https://no-color.org: an empty value
    does not count)."""
    return not environ.get("NO_COLOR")


def emit(args: argparse.Namespace, environ: Mapping[str, str], views: Views) -> None:
    """Print the chosen view; append the Markdown one to a GitHub step summary if there is one."""
    output: str = args.output
    if output == "text" and sys.stdout.isatty() and wants_color(environ):
        output = "color"
    print(views[output](), end="")
    append_step_summary(environ, lambda: views["markdown"]() + "\n")


def append_step_summary(
    environ: Mapping[str, str], text: Callable[[], str], quiet: bool = False
) -> None:
    """Append to the GitHub step summary, if there is one (never overwrite it)."""
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return
    try:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text())
    except OSError as e:
        if not quiet:
            print(f"warning: cannot append to GITHUB_STEP_SUMMARY: {e.strerror}", file=sys.stderr)
