"""The benchmark of issue 6: plan, create, validate and start-up, on the emulator.

Run from the repository root: ``python -m bench.run`` (or ``python bench/run.py``); see
``bench/README.md``. The emulator runs in its own process (``bench.emulator``); latency is
injected client-side, per HTTP attempt, by ``bench.probe``. Results are printed as a table
(``--markdown`` for Markdown) and written as JSON (``--json``) to compare across commits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, str(ROOT))

from bench.emulator import REGION, safe_environment  # noqa: E402
from bench.probe import Probe  # noqa: E402

FORMAT = "bedrock-reconciler/bench"
VERSION = 1
SCOPE = "bench"
PAGE_SIZE = 100  # reconciler.aws.reader.PAGE_SIZE
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"
QUICK_MODELS = (20,)
QUICK_LATENCY = 0.002
QUICK_VALIDATE = 200
HELP_RUNS = 5
SUBPROCESS_TIMEOUT = 600.0

# Issue 6, item 2.
TARGET_N = 500
TARGET_LATENCY = 0.02
TARGET_CONCURRENCY = 8
MAX_PLAN_VS_NAIVE = 0.1
MAX_PLAN_VS_FLOOR = 1.5
MAX_CREATE_VS_SEQUENTIAL = 0.15
MAX_VALIDATE_S = 3.0
MAX_HELP_S = 0.3


# Command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark bedrock-reconciler on the local emulator with injected latency.",
    )
    parser.add_argument(
        "--models",
        type=_counts,
        default=None,
        metavar="N[,N...]",
        help="numbers of in-sync models (default 500; --quick: 20)",
    )
    parser.add_argument(
        "--latency", type=float, default=None, help="seconds per API call (default 0.02)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="reconciler --concurrency")
    parser.add_argument(
        "--max-rps",
        type=float,
        default=None,
        metavar="N",
        help="reconciler --max-rps for its plans and creates, 0 for no limit "
        "(default: the CLI's default)",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs of each plan and validate (median)"
    )
    parser.add_argument(
        "--validate-manifests",
        type=int,
        default=None,
        metavar="COUNT",
        help="manifests for the validate runs (default 10000)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="FILE",
        help="write the results here (default bench/results/latest.json)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--quick", action="store_true", help="a small, fast smoke run")
    parser.add_argument(
        "--stock-emulator",
        action="store_true",
        help="do not cache moto's per-request module listing in the emulator (slower emulator)",
    )
    args = parser.parse_args(argv)
    if args.models is None:
        args.models = list(QUICK_MODELS) if args.quick else [TARGET_N]
    if args.latency is None:
        args.latency = QUICK_LATENCY if args.quick else TARGET_LATENCY
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.validate_manifests is None:
        args.validate_manifests = QUICK_VALIDATE if args.quick else 10_000
    if args.max_rps is None:
        args.max_rps = cli_default_max_rps()
    if args.max_rps < 0:
        parser.error("--max-rps must be 0 (no limit) or more")
    if args.max_rps and rate_limiter() is None:
        parser.error("this reconciler has no rate limiter; use --max-rps 0")
    if args.latency < 0 or args.concurrency < 1 or args.repeat < 1:
        parser.error("--latency must be >= 0, --concurrency and --repeat >= 1")
    if args.validate_manifests < 100 or args.validate_manifests % 100:
        parser.error("--validate-manifests must be a multiple of 100")
    return args


def cli_default_max_rps() -> float:
    """The CLI's default ``--max-rps`` (0 for a reconciler that has none)."""
    from reconciler import cli

    return float(getattr(cli, "DEFAULT_MAX_RPS", 0.0))


def rate_limiter() -> Any:
    """The package's RateLimiter class, or None for a reconciler that has none."""
    try:
        from reconciler.aws.ratelimit import RateLimiter
    except ImportError:
        return None
    return RateLimiter


def _counts(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"model counts must be >= 1: {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    env = safe_environment(dict(os.environ))
    os.environ.clear()
    os.environ.update(env)
    results = run(args)
    print(render(results, markdown=args.markdown), end="")
    path: Path = args.json
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_info(),
        "python": platform.python_version(),
        "machine": machine_info(),
        "settings": {
            "models": args.models,
            "latency_s": args.latency,
            "concurrency": args.concurrency,
            "max_rps": args.max_rps,
            "repeat": args.repeat,
            "validate_manifests": args.validate_manifests,
            "quick": args.quick,
            "page_size": PAGE_SIZE,
            "emulator": "moto server, stock"
            if args.stock_emulator
            else "moto server, module listing cached",
        },
    }
    results["machine"]["load_average_before"] = load_average()
    warm_subprocesses()
    log("CLI start-up")
    results["startup"] = measure_startup(HELP_RUNS if not args.quick else 2)
    log("validate")
    results["validate"] = measure_validate(args.validate_manifests, args.repeat)
    startup_s = results["startup"]["help"]["median_s"]
    results["models"] = {}
    with Emulator(stock=args.stock_emulator) as emulator:
        warm_up(emulator)
        for count in args.models:
            log(f"{count} models")
            results["models"][str(count)] = measure_models(emulator, count, args, startup_s)
    results["machine"]["load_average_after"] = load_average()
    results["targets"] = evaluate_targets(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 2)
    return results


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# Environment


def git_info() -> dict[str, Any]:
    def git(*argv: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_model": None,
        "memory_mb": None,
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_mb"] = round(int(line.split()[1]) / 1024)
                break
    return info


def child_environment() -> dict[str, str]:
    env = safe_environment(dict(os.environ))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    # Measure what users get: bytecode cached, as after any install (see warm_subprocesses).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def warm_subprocesses() -> None:
    """Run each measured kind of process once, untimed: bytecode and file caches are warm."""
    modules = (
        "bench.cliplan, reconciler.cli, reconciler.manifests, reconciler.plan, "
        "reconciler.planfile, reconciler.render, reconciler.aws.reader, reconciler.aws.client"
    )
    _check(run_measured([*reconciler_command(), "--help"]), "reconciler --help")
    _check(run_measured([sys.executable, "-c", f"import {modules}"]), "imports")


def reconciler_command() -> list[str]:
    """The ``reconciler`` console script next to this interpreter, as users run it."""
    script = Path(sys.executable).parent / "reconciler"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "reconciler"]


# Subprocesses with their own peak RSS


@dataclass(frozen=True)
class Measured:
    wall_s: float
    rss_mb: float
    code: int
    out: str
    err: str


def _maxrss_mb(maxrss: int) -> float:
    # Linux reports KiB, macOS bytes.
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def run_measured(argv: Sequence[str], timeout: float = SUBPROCESS_TIMEOUT) -> Measured:
    """Run ``argv``; its wall time and its own peak RSS (``wait4``, not RUSAGE_CHILDREN)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, env=child_environment())
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            wall,
            _maxrss_mb(usage.ru_maxrss),
            process.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def _check(measured: Measured, what: str, codes: tuple[int, ...] = (0,)) -> Measured:
    if measured.code not in codes:
        raise RuntimeError(f"{what} exited {measured.code}:\n{measured.err[-2000:]}")
    return measured


def _summary(runs: Sequence[Measured]) -> dict[str, Any]:
    walls = [r.wall_s for r in runs]
    return {
        "median_s": round(statistics.median(walls), 4),
        "min_s": round(min(walls), 4),
        "max_s": round(max(walls), 4),
        "runs_s": [round(w, 4) for w in walls],
        "peak_rss_mb": round(max(r.rss_mb for r in runs), 1),
    }


# Start-up and validate


def measure_startup(runs: int) -> dict[str, Any]:
    command = reconciler_command()
    help_runs = [
        _check(run_measured([*command, "--help"]), "reconciler --help") for _ in range(runs)
    ]
    bare = [_check(run_measured([sys.executable, "-c", "pass"]), "python") for _ in range(runs)]
    return {
        "help": {
            "command": " ".join([Path(command[0]).name, *command[1:], "--help"]),
            **_summary(help_runs),
        },
        "python_baseline": {"command": "python -c pass", **_summary(bare)},
    }


def manifest_text(index: int) -> str:
    name = model_name(index)
    return (
        "apiVersion: bedrock.gitops/v1\n"
        "kind: CustomModel\n"
        "metadata:\n"
        f"  name: {name}\n"
        "spec:\n"
        "  modelSourceConfig:\n"
        "    s3DataSource:\n"
        f"      s3Uri: s3://bench-models/{name}/\n"
        "  roleArn: arn:aws:iam::111122223333:role/BedrockModelImport\n"
        "  tags:\n"
        f"    team: team-{index % 10}\n"
        f'    cost-center: "{1000 + index % 7}"\n'
    )


def model_name(index: int) -> str:
    return f"bench-model-{index:05d}"


def write_manifests(folder: Path, count: int, per_file: int) -> Path:
    """``count`` valid manifests in ``count / per_file`` files (``---``-separated documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, count, per_file):
        documents = [manifest_text(i) for i in range(start, min(start + per_file, count))]
        (folder / f"models-{start // per_file:05d}.yaml").write_text("---\n".join(documents))
    return folder


def measure_validate(count: int, repeat: int) -> list[dict[str, Any]]:
    command = reconciler_command()
    layouts = [(count // 100, 100), (count, 1)]
    found = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as temp:
        for files, per_file in layouts:
            folder = write_manifests(Path(temp, f"{files}x{per_file}"), count, per_file)
            runs = [
                _check(run_measured([*command, "validate", str(folder)]), "reconciler validate")
                for _ in range(repeat)
            ]
            expected = f"{count} models valid in {files} file"  # "file." or "files."
            if expected not in runs[0].out:
                raise RuntimeError(f"validate printed {runs[0].out!r}, expected {expected!r}")
            found.append(
                {
                    "manifests": count,
                    "files": files,
                    "documents_per_file": per_file,
                    **_summary(runs),
                }
            )
    return found


# The emulator process


class Emulator:
    """``bench.emulator`` in a child process; ``ask`` sends one command, returns the answer."""

    def __init__(self, stock: bool = False) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.emulator", *(["--stock"] if stock else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=child_environment(),
        )
        self.url = str(self._read()["url"])

    def __enter__(self) -> Emulator:
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

    def calls(self) -> dict[str, int]:
        calls: dict[str, int] = self.ask("calls")["calls"]
        return calls

    def cpu(self) -> float:
        return float(self.ask("cpu")["cpu"])

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.process.stdin is not None
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def warm_up(emulator: Emulator) -> None:
    """Every operation once, so one-time loading (service models, routes) is not measured."""
    from reconciler.aws.creates import create_request, request_token

    client = package_client(emulator.url, 1, Probe(0))
    request = create_request(_declared(0), SCOPE)
    arn = client.create_custom_model(**request, clientRequestToken=request_token(request))[
        "modelArn"
    ]
    client.get_custom_model(modelIdentifier=arn)
    client.list_custom_models(isOwned=True, maxResults=PAGE_SIZE)
    client.tag_resource(resourceARN=arn, tags=[{"key": "warm", "value": "up"}])
    client.list_tags_for_resource(resourceARN=arn)
    client.untag_resource(resourceARN=arn, tagKeys=["warm"])
    client.delete_custom_model(modelIdentifier=arn)
    emulator.ask("reset")


def _declared(index: int) -> Any:
    from reconciler import manifests

    with tempfile.TemporaryDirectory(prefix="bench-warm-") as temp:
        path = Path(temp, "model.yaml")
        path.write_text(manifest_text(index))
        return manifests.load([str(path)]).models[0]


# Peak RSS of this process while a block runs


class RssSampler:
    """This process's resident set size, sampled every few milliseconds while in use."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.before_mb = current_rss_mb()
        self.peak_mb = self.before_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, current_rss_mb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, current_rss_mb())


def current_rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        import resource

        return _maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


# N models: create, plan, naive loop, CLI plan, sequential create


@dataclass
class Timed:
    wall_s: float
    cpu_s: float
    emulator_cpu_s: float


@contextlib.contextmanager
def timed(emulator: Emulator) -> Iterator[Timed]:
    result = Timed(0.0, 0.0, 0.0)
    server_cpu = emulator.cpu()
    cpu = time.process_time()
    started = time.perf_counter()
    yield result
    result.wall_s = time.perf_counter() - started
    result.cpu_s = time.process_time() - cpu
    result.emulator_cpu_s = emulator.cpu() - server_cpu


def package_client(url: str, concurrency: int, probe: Probe, max_rps: float = 0.0) -> Any:
    """A client as the CLI makes it: ``bedrock_client``, then its ``--max-rps`` limit if any."""
    from reconciler.aws.client import AwsSettings, bedrock_client

    settings = AwsSettings(region=REGION, endpoint_url=url, concurrency=concurrency)
    client = bedrock_client(settings)
    if max_rps:
        rate_limiter()(max_rps).install(client)
    return probe.attach(client)


def plain_client(url: str, probe: Probe) -> Any:
    """What a naive script would use: ``boto3.client`` with its defaults."""
    import boto3

    return probe.attach(boto3.client("bedrock", region_name=REGION, endpoint_url=url))


def pages_for(count: int) -> int:
    return max(1, math.ceil(count / PAGE_SIZE))


def measure_models(
    emulator: Emulator, count: int, args: argparse.Namespace, startup_s: float
) -> dict[str, Any]:
    from reconciler import manifests

    with tempfile.TemporaryDirectory(prefix="bench-models-") as temp:
        folder = write_manifests(Path(temp, "manifests"), count, 1)
        desired = manifests.load([str(folder)])
        assert len(desired.models) == count
        emulator.ask("reset")
        result: dict[str, Any] = {"models": count, "pages": pages_for(count)}
        result["create"] = measure_create(emulator, desired, args)
        result["plan"] = measure_plan(emulator, desired, args)
        result["naive"] = measure_naive(emulator, count, args)
        result["cli_plan"] = measure_cli_plan(emulator, folder, count, args)
        emulator.ask("reset")
        result["sequential_create"] = measure_sequential_create(emulator, desired, args)
        emulator.ask("reset")
    floor = (result["pages"] + count / args.concurrency) * args.latency
    plan_s = result["plan"]["median_s"]
    result["floor_s"] = round(floor, 4)
    # With --max-rps, one operation's calls take at least calls / max-rps seconds.
    result["rate_limit_bound_s"] = round(count / args.max_rps, 4) if args.max_rps else None
    result["startup_s"] = startup_s
    result["ratios"] = {
        "plan_vs_naive": _ratio(plan_s, result["naive"]["wall_s"]),
        "plan_vs_floor": _ratio(plan_s, floor),
        "plan_vs_floor_plus_startup": _ratio(plan_s, floor + startup_s),
        "cli_plan_vs_floor_plus_startup": _ratio(result["cli_plan"]["wall_s"], floor + startup_s),
        "create_vs_sequential": _ratio(
            result["create"]["wall_s"], result["sequential_create"]["wall_s"]
        ),
        # The best ratios possible if every call cost exactly the latency, at this concurrency
        # and with the calls the reconciler makes (a create's calls run one after the other).
        "plan_vs_naive_ideal": _ratio(floor, (result["pages"] + count) * args.latency),
        "create_vs_sequential_ideal": _ratio(
            sum(result["create"]["calls"].values()) / args.concurrency, count
        ),
    }
    return result


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


def measure_create(emulator: Emulator, desired: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``executor.apply`` of a plan of N creates on an empty account."""
    from reconciler.aws import executor
    from reconciler.observed import ObservedState
    from reconciler.plan import plan

    probe = Probe(args.latency)
    client = package_client(emulator.url, args.concurrency, probe, args.max_rps)
    creates = plan(desired, ObservedState(models=()), SCOPE)
    assert all(a.kind == "create" for a in creates.actions)
    emulator.calls()
    with timed(emulator) as t:
        report = executor.apply(creates, client, concurrency=args.concurrency)
    failed = [r for r in report.results if r.outcome != "done"]
    if failed:
        raise RuntimeError(f"{len(failed)} creates failed, first: {failed[0].error}")
    return _phase(t, probe, emulator.calls())


def measure_plan(emulator: Emulator, desired: Any, args: argparse.Namespace) -> dict[str, Any]:
    """A steady-state plan: ``read_account`` and ``plan``, with a fresh package client.

    Also run once with no injected latency: that is what the client and the emulator cost by
    themselves on this machine, a bound the plan cannot beat whatever the latency.
    """
    runs = [_plan_once(emulator, desired, args, args.latency) for _ in range(args.repeat)]
    walls = [r["wall_s"] for r in runs]
    middle = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    bare = _plan_once(emulator, desired, args, 0.0)
    return {
        **middle,
        "median_s": round(statistics.median(walls), 4),
        "runs_s": walls,
        "rss_peak_mb": max(r["rss_peak_mb"] for r in runs),
        "rss_growth_mb": round(max(r["rss_peak_mb"] - r["rss_before_mb"] for r in runs), 1),
        "no_latency": {
            key: bare[key] for key in ("wall_s", "client_cpu_s", "emulator_cpu_s", "calls")
        },
    }


def _plan_once(
    emulator: Emulator, desired: Any, args: argparse.Namespace, latency: float
) -> dict[str, Any]:
    from reconciler.aws.reader import read_account
    from reconciler.plan import plan

    probe = Probe(latency)
    made = time.perf_counter()
    client = package_client(emulator.url, args.concurrency, probe, args.max_rps)
    client_s = time.perf_counter() - made
    emulator.calls()
    with RssSampler() as rss, timed(emulator) as t:
        observed = read_account(client, concurrency=args.concurrency)
        result = plan(desired, observed, SCOPE)
    not_in_sync = [a for a in result.actions if a.kind != "noop"]
    if not_in_sync or len(result.actions) != len(desired.models):
        raise RuntimeError(f"the plan is not in sync: {not_in_sync[:3]}")
    return {
        **_phase(t, probe, emulator.calls()),
        "client_s": round(client_s, 4),
        "rss_before_mb": round(rss.before_mb, 1),
        "rss_peak_mb": round(rss.peak_mb, 1),
    }


def measure_naive(emulator: Emulator, count: int, args: argparse.Namespace) -> dict[str, Any]:
    """The same reads, one after the other: list every page, then each model's tags."""
    probe = Probe(args.latency)
    client = plain_client(emulator.url, probe)
    emulator.calls()
    with timed(emulator) as t:
        summaries = []
        for page in client.get_paginator("list_custom_models").paginate(
            isOwned=True, PaginationConfig={"PageSize": PAGE_SIZE}
        ):
            summaries.extend(page["modelSummaries"])
        tags = {
            s["modelArn"]: client.list_tags_for_resource(resourceARN=s["modelArn"])["tags"]
            for s in summaries
        }
    assert len(tags) == count
    return _phase(t, probe, emulator.calls())


def measure_cli_plan(
    emulator: Emulator, folder: Path, count: int, args: argparse.Namespace
) -> dict[str, Any]:
    """``reconciler plan`` as a whole process (start-up, manifests, reads, rendering)."""
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as temp:
        stats_file = Path(temp, "stats.json")
        emulator.calls()
        measured = run_measured(
            [
                sys.executable,
                "-m",
                "bench.cliplan",
                "--latency",
                str(args.latency),
                "--stats",
                str(stats_file),
                "--",
                "--endpoint-url",
                emulator.url,
                "--region",
                REGION,
                "--scope",
                SCOPE,
                "--concurrency",
                str(args.concurrency),
                *(["--max-rps", str(args.max_rps)] if cli_default_max_rps() else []),
                "plan",
                str(folder),
                "--detailed-exitcode",
            ]
        )
        _check(measured, "reconciler plan (0: in sync)")
        stats = json.loads(stats_file.read_text())
    if f"Plan: {count} noop." not in measured.out:
        raise RuntimeError(f"reconciler plan is not all noop:\n{measured.out[-500:]}")
    return {
        "wall_s": round(measured.wall_s, 4),
        "peak_rss_mb": round(measured.rss_mb, 1),
        "import_s": round(stats["import_s"], 4),
        "main_s": round(stats["main_s"], 4),
        "calls": stats["calls"],
        "emulator_calls": emulator.calls(),
        "peak_concurrency": stats["peak_concurrency"],
        "throttles": stats["throttles"],
    }


def measure_sequential_create(
    emulator: Emulator, desired: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """N ``create_custom_model`` calls one after the other, the same requests as the executor."""
    from reconciler.aws.creates import create_request, request_token

    probe = Probe(args.latency)
    client = plain_client(emulator.url, probe)
    requests = [create_request(model, SCOPE) for model in desired.models]
    emulator.calls()
    with timed(emulator) as t:
        for request in requests:
            client.create_custom_model(**request, clientRequestToken=request_token(request))
    return _phase(t, probe, emulator.calls())


def _phase(t: Timed, probe: Probe, emulator_calls: dict[str, int]) -> dict[str, Any]:
    return {
        "wall_s": round(t.wall_s, 4),
        "client_cpu_s": round(t.cpu_s, 4),
        "emulator_cpu_s": round(t.emulator_cpu_s, 4),
        **probe.snapshot(),
        "emulator_calls": emulator_calls,
    }


# Targets


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 6 item 2, as measured; timing targets are defined at 500 models, 20 ms, 8."""
    settings = results["settings"]
    found: list[dict[str, Any]] = []
    standard = (
        settings["latency_s"] == TARGET_LATENCY and settings["concurrency"] == TARGET_CONCURRENCY
    )

    def add(name: str, limit: str, measured: str, holds: bool, where: str) -> None:
        found.append(
            {"target": name, "limit": limit, "measured": measured, "holds": holds, "at": where}
        )

    for key, row in results["models"].items():
        where = f"N={key}"
        calls = row["plan"]["calls"]
        allowed = row["pages"] + row["models"]
        total = sum(calls.values())
        add(
            "plan API calls <= pages + N, no GetCustomModel",
            f"<= {allowed}, GetCustomModel 0",
            f"{total} ({_calls_text(calls)})",
            total <= allowed and calls.get("GetCustomModel", 0) == 0,
            where,
        )
    for key, row in results["models"].items():
        if int(key) != TARGET_N or not standard:
            continue
        where = f"N={key}"
        ratios = row["ratios"]
        add(
            "plan <= 0.1 x naive sequential loop",
            f"<= {MAX_PLAN_VS_NAIVE}",
            f"{ratios['plan_vs_naive']:.3f}",
            ratios["plan_vs_naive"] <= MAX_PLAN_VS_NAIVE,
            where,
        )
        add(
            "plan <= 1.5 x (floor + start-up)",
            f"<= {MAX_PLAN_VS_FLOOR}",
            f"{ratios['plan_vs_floor_plus_startup']:.3f}",
            ratios["plan_vs_floor_plus_startup"] <= MAX_PLAN_VS_FLOOR,
            where,
        )
        add(
            "CLI plan process <= 1.5 x (floor + start-up) (stricter reading)",
            f"<= {MAX_PLAN_VS_FLOOR}",
            f"{ratios['cli_plan_vs_floor_plus_startup']:.3f}",
            ratios["cli_plan_vs_floor_plus_startup"] <= MAX_PLAN_VS_FLOOR,
            where,
        )
        add(
            "create N <= 0.15 x sequential create loop",
            f"<= {MAX_CREATE_VS_SEQUENTIAL}",
            f"{ratios['create_vs_sequential']:.3f}",
            ratios["create_vs_sequential"] <= MAX_CREATE_VS_SEQUENTIAL,
            where,
        )
    for layout in results["validate"]:
        if layout["manifests"] != 10_000:
            continue
        add(
            "validate 10,000 manifests < 3 s",
            f"< {MAX_VALIDATE_S} s",
            f"{layout['median_s']:.2f} s",
            layout["median_s"] < MAX_VALIDATE_S,
            f"{layout['files']} files x {layout['documents_per_file']}",
        )
    help_s = results["startup"]["help"]["median_s"]
    add(
        "reconciler --help < 0.3 s",
        f"< {MAX_HELP_S} s",
        f"{help_s:.3f} s",
        help_s < MAX_HELP_S,
        "median",
    )
    return found


# Rendering


def _calls_text(calls: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(calls.items())) or "none"


def _s(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.2f} s"


def _opt_s(value: float | None) -> str:
    return "no limit" if value is None else _s(value)


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)]) + "\n"


def _md_cell(cell: str) -> str:
    """Markdown collapses leading spaces: indent sub-rows with non-breaking ones."""
    text = cell.lstrip(" ")
    return "&nbsp;" * (len(cell) - len(text)) + text.replace("|", "\\|")


def render(results: dict[str, Any], markdown: bool = False) -> str:
    settings = results["settings"]
    git = results["git"]
    commit = (git["commit"] or "unknown")[:12] + (" (uncommitted changes)" if git["dirty"] else "")
    machine = results["machine"]
    heading = "## " if markdown else ""
    facts = [
        f"commit {commit}, Python {results['python']}, {machine['platform']}, "
        f"{machine['cpus']} CPUs ({machine['cpu_model'] or machine['machine']}), "
        f"load average {_load(machine.get('load_average_before'))} before, "
        f"{_load(machine.get('load_average_after'))} after",
        f"latency {settings['latency_s'] * 1000:g} ms per API call (injected client-side), "
        f"concurrency {settings['concurrency']}, max-rps {_rps(settings.get('max_rps'))}, "
        f"plan: median of {settings['repeat']} runs, "
        f"emulator: {settings['emulator']}, in its own process",
    ]
    out = [f"{heading}bedrock-reconciler benchmark, {results['date']}\n\n"]
    out.append("".join(f"- {fact}\n" for fact in facts) if markdown else "\n".join(facts) + "\n")
    out.append(_models_section(results, markdown))
    out.append(_other_section(results, markdown))
    out.append(f"\n{heading}Targets (issue 6, item 2)\n\n")
    rows = [
        [t["target"], t["at"], t["limit"], t["measured"], "holds" if t["holds"] else "FAILS"]
        for t in results["targets"]
    ]
    out.append(table(["target", "at", "limit", "measured", "result"], rows, markdown))
    return "".join(out)


def _rps(value: float | None) -> str:
    return "none" if not value else f"{value:g} per operation"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _load(values: list[float] | None) -> str:
    return "n/a" if not values else f"{values[0]:.2f}"


def _models_section(results: dict[str, Any], markdown: bool) -> str:
    rows_by_n = results["models"]
    if not rows_by_n:
        return ""
    keys = list(rows_by_n)
    settings = results["settings"]
    lines: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("plan: read_account + plan", lambda r: _s(r["plan"]["median_s"])),
        ("  API calls", lambda r: _calls_text(r["plan"]["calls"])),
        ("  peak concurrency", lambda r: str(r["plan"]["peak_concurrency"])),
        ("  client CPU / emulator CPU", lambda r: _cpu(r["plan"])),
        ("  peak RSS in process (growth)", lambda r: _rss(r["plan"])),
        ("  same plan, no injected latency", lambda r: _s(r["plan"]["no_latency"]["wall_s"])),
        ("naive sequential loop", lambda r: _s(r["naive"]["wall_s"])),
        ("  API calls", lambda r: _calls_text(r["naive"]["calls"])),
        ("plan / naive", lambda r: _x(r["ratios"]["plan_vs_naive"])),
        ("  ideal at this concurrency", lambda r: _x(r["ratios"]["plan_vs_naive_ideal"])),
        ("floor (pages + N/c) x latency", lambda r: _s(r["floor_s"])),
        ("plan / floor", lambda r: _x(r["ratios"]["plan_vs_floor"])),
        ("plan / (floor + start-up)", lambda r: _x(r["ratios"]["plan_vs_floor_plus_startup"])),
        ("rate-limit bound N / max-rps", lambda r: _opt_s(r["rate_limit_bound_s"])),
        ("`reconciler plan` process", lambda r: _s(r["cli_plan"]["wall_s"])),
        (
            "  imports / main()",
            lambda r: f"{_s(r['cli_plan']['import_s'])} / {_s(r['cli_plan']['main_s'])}",
        ),
        ("  API calls", lambda r: _calls_text(r["cli_plan"]["calls"])),
        ("  peak RSS", lambda r: f"{r['cli_plan']['peak_rss_mb']:.0f} MB"),
        ("  / (floor + start-up)", lambda r: _x(r["ratios"]["cli_plan_vs_floor_plus_startup"])),
        ("create N: executor.apply", lambda r: _s(r["create"]["wall_s"])),
        ("  API calls", lambda r: _calls_text(r["create"]["calls"])),
        ("  peak concurrency", lambda r: str(r["create"]["peak_concurrency"])),
        ("  client CPU / emulator CPU", lambda r: _cpu(r["create"])),
        ("sequential create loop", lambda r: _s(r["sequential_create"]["wall_s"])),
        ("  API calls", lambda r: _calls_text(r["sequential_create"]["calls"])),
        ("create / sequential", lambda r: _x(r["ratios"]["create_vs_sequential"])),
        ("  ideal with these calls", lambda r: _x(r["ratios"]["create_vs_sequential_ideal"])),
    ]
    headers = ["N in-sync models", *(f"N={k}" for k in keys)]
    rows = [[label, *(fn(rows_by_n[k]) for k in keys)] for label, fn in lines]
    heading = "### " if markdown else ""
    title = (
        f"\n{heading}Plan and create, {settings['latency_s'] * 1000:g} ms per call, "
        f"concurrency {settings['concurrency']}, max-rps {_rps(settings.get('max_rps'))}\n\n"
    )
    return title + table(headers, rows, markdown)


def _cpu(phase: dict[str, Any]) -> str:
    return f"{phase['client_cpu_s']:.2f} s / {phase['emulator_cpu_s']:.2f} s"


def _rss(phase: dict[str, Any]) -> str:
    return f"{phase['rss_peak_mb']:.0f} MB (+{phase['rss_growth_mb']:.0f} MB)"


def _other_section(results: dict[str, Any], markdown: bool) -> str:
    heading = "### " if markdown else ""
    rows = []
    for layout in results["validate"]:
        rows.append(
            [
                f"validate {layout['manifests']:,} manifests, "
                f"{_plural(layout['files'], 'file')} x "
                f"{_plural(layout['documents_per_file'], 'doc')}",
                _s(layout["median_s"]),
                f"{layout['peak_rss_mb']:.0f} MB",
            ]
        )
    startup = results["startup"]
    runs = len(startup["help"]["runs_s"])
    rows.append(
        [
            f"`{startup['help']['command']}` (median of {runs})",
            _s(startup["help"]["median_s"]),
            f"{startup['help']['peak_rss_mb']:.0f} MB",
        ]
    )
    rows.append(
        [
            f"`python -c pass` (baseline, median of {runs})",
            _s(startup["python_baseline"]["median_s"]),
            f"{startup['python_baseline']['peak_rss_mb']:.0f} MB",
        ]
    )
    title = f"\n{heading}Validate and start-up (separate processes)\n\n"
    return title + table(["command", "wall time", "peak RSS"], rows, markdown)


if __name__ == "__main__":
    sys.exit(main())
