"""The commands over a targets file (``--targets FILE``): validate, plan, apply, targets.

Every target's manifests are loaded and validated first: one invalid manifest anywhere
means nothing is sent to any account. Then the targets run concurrently
(``--target-concurrency``), each with its own clients, rate limits and guards, exactly as a
run of that target alone; a target's failure is reported in its section and never stops
the others. ``apply --plan`` of a saved targets plan is the exception: every target is
checked first, and if any went stale the whole file is refused, nothing changed anywhere.
Called by ``commands`` when ``--targets`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from reconciler import commands, targets, targetview
from reconciler.connect import session
from reconciler.errors import ManifestError, Problem, ReconcilerError, UsageError
from reconciler.targets import Target
from reconciler.targetview import Section

if TYPE_CHECKING:
    from reconciler.aws.client import Account, Listener
    from reconciler.connect import Opener
    from reconciler.desired import DesiredState
    from reconciler.identity import Place
    from reconciler.plan import Plan
    from reconciler.watch import Watcher

T = TypeVar("T")
# A target whose account cannot be opened (credentials, the account check) is tried again
# after this, doubling up to --interval.
OPEN_RETRY_SECONDS = 5.0


def chosen(args: argparse.Namespace) -> tuple[Target, ...]:
    """The targets of ``--targets`` that ``--target`` names (all without one)."""
    if getattr(args, "paths", None):
        raise UsageError(
            "PATH arguments and --targets do not go together: the targets file names each "
            "target's manifests (spec.paths)"
        )
    return targets.select(targets.load(args.targets), args.target or [])


def options(args: argparse.Namespace, target: Target) -> argparse.Namespace:
    """The global options with ``target``'s own: region, account, profile, role, scope."""
    own = argparse.Namespace(**vars(args))
    own.target_name = target.name
    own.region = target.region
    own.profile = target.profile or args.profile
    own.role_arn = target.role_arn
    own.external_id = target.external_id
    own.scope = target.scope or args.scope
    own.paths = list(target.paths)
    if target.account_id is not None:
        own.account_id = target.account_id
        own.account_source = target.account_source
    return own


def load_all(
    args: argparse.Namespace, chosen: Sequence[Target]
) -> list[tuple[Target, argparse.Namespace, DesiredState]]:
    """Every target's options and manifests; one ManifestError listing every problem of
    every target (each once, though targets share files) before anything is sent."""
    from reconciler import manifests

    loaded = []
    problems: list[Problem] = []
    for target in chosen:
        own = options(args, target)
        try:
            loaded.append((target, own, manifests.load(own.paths)))
        except ManifestError as e:
            problems.extend(e.problems)
        except ReconcilerError as e:  # a missing PATH: said at the target's line
            file, _, line = target.source.rpartition(":")
            problems.append(Problem(file, int(line), "spec.paths", str(e)))
    if problems:
        raise ManifestError(problems)
    return loaded


def run(
    work: Callable[[Target, argparse.Namespace], T],
    jobs: Sequence[tuple[Target, argparse.Namespace]],
    concurrency: int,
    debug: bool,
) -> list[T | str]:
    """``work`` for every job, ``concurrency`` at a time; a job that raised gives its
    one-line error instead (an unexpected one too: it must not stop the others)."""

    def guarded(job: tuple[Target, argparse.Namespace]) -> T | str:
        target, own = job
        try:
            return work(target, own)
        except ReconcilerError as e:
            return str(e)
        except Exception as e:
            if debug:
                traceback.print_exc()
            return f"unexpected error: {type(e).__name__}: {e}"

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(jobs)))) as pool:
        return list(pool.map(guarded, jobs))


def cmd_validate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    for target, _, desired in load_all(args, chosen(args)):
        count, serving = len(desired.models), len(desired.resources) - len(desired.models)
        also = f" and {serving} serving resource{'s' * (serving != 1)}" if serving else ""
        files = len(desired.files)
        print(
            f"{target.name}: {count} model{'s' * (count != 1)}{also} valid in "
            f"{files} file{'s' * (files != 1)}."
        )
    return commands.EXIT_OK


def cmd_targets(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """The targets as a list: for a CI matrix (JSON), or for people."""
    rows = [
        {
            "name": t.name,
            "account": t.account_id,
            "region": t.region,
            "scope": t.scope or args.scope,
        }
        for t in chosen(args)
    ]
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return commands.EXIT_OK
    for row in rows:
        account = row["account"] or "(any account)"
        print(f"{row['name']}\t{account}\t{row['region']}\tscope {row['scope']!r}")
    return commands.EXIT_OK


def cmd_plan(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from reconciler import planfile

    out = Path(args.out) if args.out else None
    loaded = load_all(args, chosen(args))
    by_name = {target.name: desired for target, _, desired in loaded}

    def work(opener: Opener, target: Target, own: argparse.Namespace) -> tuple[Section, str, int]:
        account = opener(own, None, None)
        result, observed = commands.plan_for(own, account, by_name[target.name])
        saved = planfile.dumps(result, account.place, by_name[target.name], observed)
        commands.note_throttles(own, account)
        section = Section(target.name, own.scope, own.region, account.place, plan=result)
        return section, saved, commands.plan_outcome(own, result)

    with _noted_session(args, environ) as (opener, places):
        results = run(partial(work, opener), _jobs(loaded), args.target_concurrency, args.debug)
    sections = _sections(loaded, results, places)
    codes = [r[2] if not isinstance(r, str) else commands.EXIT_ERROR for r in results]
    code = _exit_code(codes)
    if out is not None:
        if code == commands.EXIT_ERROR:
            commands.discard(out, "a target failed or cannot be applied")
        else:
            saved = {s.target: r[1] for s, r in zip(sections, results, strict=True)}
            commands.write_plan_file(out, planfile.dumps_targets(saved))
    _emit(args, environ, sections, "Plan")
    return code


def cmd_apply(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    if args.plan:
        return _apply_saved(args, environ)
    loaded = load_all(args, chosen(args))
    by_name = {target.name: desired for target, _, desired in loaded}

    def work(opener: Opener, target: Target, own: argparse.Namespace) -> tuple[Section, int]:
        account = opener(own, None, None)
        result = commands.planned_apply(own, account, by_name[target.name], None)
        return _execute(own, environ, account, result, target)

    with _noted_session(args, environ) as (opener, places):
        results = run(partial(work, opener), _jobs(loaded), args.target_concurrency, args.debug)
    sections = _sections(loaded, results, places)
    _emit(args, environ, sections, "Apply")
    return _exit_code([r[1] if not isinstance(r, str) else commands.EXIT_ERROR for r in results])


def _apply_saved(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Apply a saved targets plan: check every target first; any stale target refuses the
    whole file, nothing changed anywhere; then execute each target's plan."""
    from reconciler import planfile

    if args.paths:
        raise UsageError("apply --plan executes the saved plan; it takes no PATH")
    saved = planfile.load_targets(Path(args.plan))
    picked = chosen(args)
    known = {t.name for t in picked}
    missing = sorted(saved.keys() - known)
    if missing:
        raise UsageError(
            f"{args.plan} holds target {missing[0]!r}, which the targets file (or --target) "
            "does not select; nothing was changed"
        )
    unplanned = [t.name for t in picked if t.name not in saved]
    if unplanned:
        noun = "target" if len(unplanned) == 1 else "targets"
        raise UsageError(
            f"{args.plan} holds no plan for {noun} {', '.join(map(repr, unplanned))}, which "
            "the targets file (or --target) selects; nothing was changed (make a new plan "
            "with plan --targets)"
        )
    jobs = [(t, options(args, t)) for t in picked]

    def check(opener: Opener, target: Target, own: argparse.Namespace) -> tuple[Account, Plan]:
        account = opener(own, None, None)
        return account, commands.planned_apply(own, account, None, saved[target.name])

    with _noted_session(args, environ) as (opener, places):
        checked = run(partial(check, opener), jobs, args.target_concurrency, args.debug)
        stale = [(t.name, r) for (t, _), r in zip(jobs, checked, strict=True) if isinstance(r, str)]
        if stale:
            for name, error in stale:
                for line in error.splitlines():
                    print(f"[{name}] {line}", file=sys.stderr)
            raise UsageError(
                f"{len(stale)} of {len(jobs)} target(s) cannot apply the saved plan "
                f"({', '.join(n for n, _ in stale)}); nothing was changed in any target"
            )
        ready = {
            t.name: r for (t, _), r in zip(jobs, checked, strict=True) if not isinstance(r, str)
        }

        def work(target: Target, own: argparse.Namespace) -> tuple[Section, int]:
            account, fresh = ready[target.name]
            return _execute(own, environ, account, fresh, target)

        results = run(work, jobs, args.target_concurrency, args.debug)
    loaded = [(t, o, saved[t.name].desired) for t, o in jobs]
    sections = _sections(loaded, results, places)
    _emit(args, environ, sections, "Apply")
    return _exit_code([r[1] if not isinstance(r, str) else commands.EXIT_ERROR for r in results])


def _jobs(
    loaded: Sequence[tuple[Target, argparse.Namespace, DesiredState]],
) -> list[tuple[Target, argparse.Namespace]]:
    return [(target, own) for target, own, _ in loaded]


def _execute(
    own: argparse.Namespace,
    environ: Mapping[str, str],
    account: Account,
    result: Plan,
    target: Target,
) -> tuple[Section, int]:
    report = commands.execute(own, environ, account, result)
    commands.note_throttles(own, account)
    section = Section(target.name, own.scope, own.region, account.place, report=report)
    return section, commands.apply_outcome(own, report)


@contextmanager
def _noted_session(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> Iterator[tuple[Opener, dict[str, Place]]]:
    """A session whose opener notes each target's place (see ``_noting``), and the notes."""
    places: dict[str, Place] = {}
    with session(args, environ) as base:
        yield _noting(base, places), places


def _noting(opener: Opener, places: dict[str, Place]) -> Opener:
    """``opener``, noting each target's place (account and region) once its account is
    checked: a target that fails after that still names its account in its section."""

    def noted(
        own: argparse.Namespace, on_attempt: Listener | None, on_throttle: Listener | None
    ) -> Account:
        account = opener(own, on_attempt, on_throttle)
        places[own.target_name] = account.place
        return account

    return noted


def _sections(
    loaded: Sequence[tuple[Target, argparse.Namespace, object]],
    results: Sequence[object],
    places: Mapping[str, Place],
) -> list[Section]:
    sections = []
    for (target, own, _), result in zip(loaded, results, strict=True):
        if isinstance(result, str):
            place = places.get(target.name)
            sections.append(Section(target.name, own.scope, own.region, place, error=result))
        else:
            sections.append(result[0])  # type: ignore[index]
    return sections


def _exit_code(codes: Sequence[int]) -> int:
    """1 if any target failed or holds errors; else 2 if any has changes (with
    ``--detailed-exitcode``); else 0."""
    if commands.EXIT_ERROR in codes:
        return commands.EXIT_ERROR
    if commands.EXIT_CHANGES in codes:
        return commands.EXIT_CHANGES
    return commands.EXIT_OK


def _emit(
    args: argparse.Namespace, environ: Mapping[str, str], sections: list[Section], title: str
) -> None:
    show_noop = args.show_noop
    views: commands.Views = {
        "text": lambda: targetview.text(sections, title, show_noop=show_noop),
        "color": lambda: targetview.text(sections, title, color=True, show_noop=show_noop),
        "json": lambda: targetview.json_text(sections),
        "markdown": lambda: targetview.markdown(sections, title),
    }
    for section in sections:
        if section.error is not None:
            say_error(section)
    commands.emit(args, environ, views)


def say_error(section: Section) -> None:
    *details, last = section.error.splitlines() if section.error else [""]
    for line in details:
        print(f"[{section.target}] {line}", file=sys.stderr)
    print(f"[{section.target}] error: {last}", file=sys.stderr)


def cmd_watch(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """One reconcile loop per target in this process, each with its own clients, backoff
    and metrics; ``/readyz`` is ready once every target has completed a pass.

    The targets file must be valid to start; the manifests need not be. As for one scope,
    each loop loads its manifests every pass, and a broken checkout is logged
    (``manifests_broken``) and changes nothing, so a bad commit never crash-loops a pod.
    """
    from reconciler import logs
    from reconciler.metrics import by_target

    chosen_targets = chosen(args)
    logs.setup(args.log_format)
    stop = commands.stop_on_signals()
    loops = {t.name: _Loop(options(args, t), environ, stop) for t in chosen_targets}
    registry = by_target({name: loop.metrics for name, loop in loops.items()})
    with session(args, environ) as opener:
        server = commands.serve_health(
            args,
            registry,
            lambda: all(loop.healthy() for loop in loops.values()),
            lambda: all(loop.ready() for loop in loops.values()),
        )
        threads = [
            threading.Thread(target=loop.run, args=(opener,), name=f"watch-{name}", daemon=True)
            for name, loop in loops.items()
        ]
        try:
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                for thread in threads:
                    thread.join(0.2)  # short joins: the main thread keeps taking signals
        finally:
            stop.set()
            if server is not None:
                server.close()
    return commands.EXIT_OK


class _Loop:
    """One target's watch loop: its account opened (again and again, backing off, while
    that fails), then the loop itself until ``stop``."""

    def __init__(
        self, own: argparse.Namespace, environ: Mapping[str, str], stop: threading.Event
    ) -> None:
        from reconciler import logs
        from reconciler.metrics import Metrics

        self.own = own
        self.stop = stop
        self.metrics = Metrics()
        self.logger = logs.for_target(own.target_name)
        self.options = commands.watch_options(own)
        self.watcher: Watcher | None = None

    def healthy(self) -> bool:
        """A loop still opening its account is alive: it retries on its own."""
        return self.watcher is None or self.watcher.healthy()

    def ready(self) -> bool:
        return self.watcher is not None and self.watcher.ready

    def run(self, opener: Opener) -> None:
        from reconciler import logs

        calls, throttles = self.metrics.api_calls, self.metrics.throttles
        delay = OPEN_RETRY_SECONDS
        while not self.stop.is_set():
            try:
                account = opener(
                    self.own,
                    lambda op: calls.labels(operation=op).inc(),
                    lambda op: throttles.labels(operation=op).inc(),
                )
            except ReconcilerError as e:
                logs.event(self.logger, logging.ERROR, "target_failed", str(e))
                self.stop.wait(delay)
                delay = min(delay * 2, self.own.interval)
                continue
            self.watcher = commands.new_watcher(
                self.options, account, self.logger, self.metrics, self.stop
            )
            self.watcher.run()
            return
