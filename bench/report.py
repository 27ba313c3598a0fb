"""The results as tables for people: plain text, or Markdown (``--markdown``).

Reads only the results dictionary (the same one written as JSON), so a saved JSON file can
be rendered again. One column per N for the plan and create tables; watch mode, start-up
and validate have one value each. Targets come last, with the notes that explain them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.targets import calls_text

Row = tuple[str, Callable[[dict[str, Any]], str]]


def render(results: dict[str, Any], markdown: bool = False) -> str:
    heading = "## " if markdown else ""
    out = [f"{heading}bedrock-reconciler benchmark, {results['date']}\n\n"]
    facts = _facts(results)
    out.append("".join(f"- {fact}\n" for fact in facts) if markdown else "\n".join(facts) + "\n")
    if results["models"]:
        out.append(_plan_section(results, markdown))
        out.append(_create_section(results, markdown))
    if results.get("watch"):
        out.append(_watch_section(results["watch"], markdown))
    if results.get("fleet"):
        out.append(_fleet_section(results["fleet"], markdown))
    out.append(_offline_section(results, markdown))
    out.append(_targets_section(results["targets"], markdown))
    return "".join(out)


def _facts(results: dict[str, Any]) -> list[str]:
    settings, git, machine = results["settings"], results["git"], results["machine"]
    commit = (git["commit"] or "unknown")[:12] + (" (uncommitted changes)" if git["dirty"] else "")
    return [
        f"commit {commit}, Python {results['python']}, {machine['platform']}, "
        f"{machine['cpus']} CPUs ({machine['cpu_model'] or machine['machine']}), "
        f"load average {_load(machine.get('load_average_before'))} before, "
        f"{_load(machine.get('load_average_after'))} after; "
        f"the whole run took {results['elapsed_s']:.0f} s",
        f"latency {_ms(settings['latency_s'])} per API call (every HTTP attempt, injected "
        f"client-side), concurrency {settings['concurrency']}, "
        f"max-rps {_rps(settings['max_rps'])} unless said otherwise, "
        f"plans: median of {_plural(settings['repeat'], 'run')}, "
        f"emulator: {settings['emulator']}, in its own process",
    ]


def _plan_section(results: dict[str, Any], markdown: bool) -> str:
    settings = results["settings"]
    rows: list[Row] = [
        ("plan, default path (auto)", lambda r: _s(_plan(r, "default")["median_s"])),
        *_plan_rows("default"),
        ("plan, per-model path", lambda r: _s(_plan(r, "per_model")["median_s"])),
        *_plan_rows("per_model"),
        ("  rate-limit bound", lambda r: _opt_s(_plan(r, "per_model")["rate_limit_bound_s"])),
        ("naive sequential loop", lambda r: _s(r["naive"]["wall_s"])),
        ("  API calls", lambda r: calls_text(r["naive"]["calls"])),
        ("  client CPU / emulator CPU", lambda r: _cpu(r["naive"])),
        ("floor (pages + N/c) x latency", lambda r: _s(r["floor_s"])),
        ("start-up (`reconciler --help`)", lambda r: _s(r["startup_s"])),
        ("default plan / naive", lambda r: _x(r["ratios"]["plan_vs_naive"])),
        ("  ideal with these calls", lambda r: _x(r["ratios"]["plan_vs_naive_ideal"])),
        (
            "default plan / (floor + start-up)",
            lambda r: _x(r["ratios"]["plan_vs_floor_plus_startup"]),
        ),
        ("per-model plan / naive", lambda r: _x(r["ratios"]["per_model_vs_naive"])),
        ("  ideal with these calls", lambda r: _x(r["ratios"]["per_model_vs_naive_ideal"])),
        (
            "per-model plan / (floor + start-up)",
            lambda r: _x(r["ratios"]["per_model_vs_floor_plus_startup"]),
        ),
        ("`reconciler plan` process (auto)", lambda r: _s(r["cli_plan"]["wall_s"])),
        (
            "  imports / main()",
            lambda r: f"{_s(r['cli_plan']['import_s'])} / {_s(r['cli_plan']['main_s'])}",
        ),
        ("  API calls", lambda r: calls_text(r["cli_plan"]["calls"])),
        ("  peak RSS", lambda r: f"{r['cli_plan']['peak_rss_mb']:.0f} MB"),
        ("  / (floor + start-up)", lambda r: _x(r["ratios"]["cli_plan_vs_floor_plus_startup"])),
    ]
    title = (
        f"Steady-state plan of N in-sync models, {_ms(settings['latency_s'])} per call, "
        f"concurrency {settings['concurrency']}, max-rps {_rps(settings['max_rps'])}"
    )
    return _by_n(results, title, rows, markdown)


def _plan_rows(path: str) -> list[Row]:
    return [
        ("  API calls", lambda r: calls_text(_plan(r, path)["calls"])),
        ("  peak concurrency", lambda r: str(_plan(r, path)["peak_concurrency"])),
        ("  client CPU / emulator CPU", lambda r: _cpu(_plan(r, path))),
        ("  peak RSS in process (growth)", lambda r: _rss(_plan(r, path))),
        (
            "  no latency, no rate limit",
            lambda r: _s(_plan(r, path)["no_latency_no_limit"]["wall_s"]),
        ),
    ]


def _create_section(results: dict[str, Any], markdown: bool) -> str:
    settings = results["settings"]
    rps = settings["max_rps"]
    rows: list[Row] = [
        ("executor.apply, --max-rps 0", lambda r: _s(r["create"]["unlimited"]["wall_s"])),
        ("  API calls", lambda r: calls_text(r["create"]["unlimited"]["calls"])),
        ("  peak concurrency", lambda r: str(r["create"]["unlimited"]["peak_concurrency"])),
        ("  client CPU / emulator CPU", lambda r: _cpu(r["create"]["unlimited"])),
    ]
    if rps:
        rows += [
            (f"executor.apply, --max-rps {rps:g}", lambda r: _s(r["create"]["limited"]["wall_s"])),
            (
                "  rate-limit bound",
                lambda r: _opt_s(r["create"]["limited"]["rate_limit_bound_s"]),
            ),
            ("  client CPU / emulator CPU", lambda r: _cpu(r["create"]["limited"])),
        ]
    rows += [
        ("sequential create loop", lambda r: _s(r["sequential_create"]["wall_s"])),
        ("  API calls", lambda r: calls_text(r["sequential_create"]["calls"])),
        ("  client CPU / emulator CPU", lambda r: _cpu(r["sequential_create"])),
        ("create / sequential, --max-rps 0", lambda r: _x(r["ratios"]["create_vs_sequential"])),
        ("  ideal with these calls", lambda r: _x(r["ratios"]["create_vs_sequential_ideal"])),
        (
            "  bound by the emulator's CPU alone",
            lambda r: _x(r["ratios"]["create_emulator_bound"]),
        ),
    ]
    if rps:
        rows.append(
            (
                f"create / sequential, --max-rps {rps:g}",
                lambda r: _x(r["ratios"]["create_limited_vs_sequential"]),
            )
        )
    title = (
        f"Create N models from scratch, {_ms(settings['latency_s'])} per call, "
        f"concurrency {settings['concurrency']}"
    )
    return _by_n(results, title, rows, markdown)


def _watch_section(watch: dict[str, Any], markdown: bool) -> str:
    resync = watch["resync_s"]
    rss = f"{watch['rss_before_first_mb']:.1f} MB before the first, " + ", ".join(
        f"{mb:.1f} MB after {n}" for n, mb in watch["rss_mb"].items()
    )
    rows = [
        ["API calls per resync", calls_text(watch["calls_per_resync"])],
        ["  the same every resync", "yes" if watch["calls_same_every_resync"] else "no"],
        ["  all resyncs", calls_text(watch["calls_total"])],
        [
            "time per resync: median (first; min to max)",
            f"{_s(resync['median'])} ({_s(resync['first'])}; "
            f"{_s(resync['min'])} to {_s(resync['max'])})",
        ],
        ["  of which loading the manifests (median)", _s(watch["manifest_load_s_median"])],
        ["RSS", rss],
        [
            f"RSS growth from resync {min(10, watch['resyncs'])} to {watch['resyncs']}",
            f"{watch['rss_growth_from_10_mb']:+.1f} MB",
        ],
        [
            "process peak RSS / wall time",
            f"{watch['process_peak_rss_mb']:.1f} MB / {_s(watch['process_wall_s'])}",
        ],
        ["peak concurrency", str(watch["peak_concurrency"])],
    ]
    heading = "### " if markdown else ""
    title = (
        f"\n{heading}Watch mode at steady state: {watch['models']:,} in-sync models, "
        f"{watch['resyncs']} full resyncs back to back, {_ms(watch['latency_s'])} per call, "
        f"max-rps {_rps(watch['max_rps'])}, in its own process\n\n"
    )
    return title + table(["measure", "value"], rows, markdown)


def _fleet_section(fleet: dict[str, Any], markdown: bool) -> str:
    rows = []
    for key, label in (
        ("fleet", f"every target, --target-concurrency {fleet['target_concurrency']}"),
        ("one_by_one", "every target, one by one (--target-concurrency 1)"),
        ("one_target", "one target (--target t000)"),
    ):
        run = fleet[key]
        rows.append(
            [
                label,
                _s(run["wall_s"]),
                _s(run["main_s"]),
                f"{run['peak_rss_mb']:.1f} MB",
                str(sum(run["calls"].values())),
            ]
        )
    ratios = fleet["ratios"]
    heading = "### " if markdown else ""
    title = (
        f"\n{heading}plan --targets: {fleet['targets']} targets (each its own emulated account "
        f"and region, {len(fleet['regions'])} regions) x {fleet['models_per_target']} in-sync "
        "models, roles assumed through the emulator's STS\n\n"
    )
    after = (
        f"\nper target: {calls_text(fleet['calls_per_target'])}; "
        f"every target against {fleet['rounds']} rounds of one: "
        f"{_x(ratios['fleet_vs_rounds'])} (main only {_x(ratios['fleet_main_vs_rounds'])}); "
        f"against one by one: {_x(ratios['fleet_vs_one_by_one'])}\n"
    )
    return title + table(["run", "wall", "main()", "peak RSS", "API calls"], rows, markdown) + after


def _offline_section(results: dict[str, Any], markdown: bool) -> str:
    rows = [
        [
            f"validate {v['manifests']:,} manifests, {_plural(v['files'], 'file')} x "
            f"{_plural(v['documents_per_file'], 'doc')}",
            _s(v["median_s"]),
            f"{v['peak_rss_mb']:.0f} MB",
        ]
        for v in results["validate"]
    ]
    startup = results["startup"]
    runs = len(startup["help"]["runs_s"])
    names = {"help": f"`{startup['help']['command']}`", "python_baseline": "`python -c pass`"}
    for key, name in names.items():
        entry = startup[key]
        rows.append(
            [f"{name} (median of {runs})", _s(entry["median_s"]), f"{entry['peak_rss_mb']:.0f} MB"]
        )
    heading = "### " if markdown else ""
    title = (
        f"\n{heading}Validate and start-up (separate processes; each peak RSS is the "
        f"process's own, at least {startup['rss_floor_mb']:.0f} MB: see bench/spawner.py)\n\n"
    )
    return title + table(["command", "wall time", "peak RSS"], rows, markdown)


def _targets_section(targets: list[dict[str, Any]], markdown: bool) -> str:
    heading = "### " if markdown else ""
    rows = []
    notes = []
    for t in targets:
        result = {True: "holds", False: "FAILS", None: "info"}[t["holds"]]
        mark = ""
        if t["note"]:
            if t["note"] not in notes:
                notes.append(t["note"])
            mark = f" [{notes.index(t['note']) + 1}]"
        rows.append([t["target"], t["at"], t["limit"], t["measured"] + mark, result])
    text = f"\n{heading}Targets (issue 6)\n\n"
    text += table(["target", "at", "limit", "measured", "result"], rows, markdown)
    if notes:
        text += "\n" + "".join(f"[{i}] {note}\n" for i, note in enumerate(notes, 1))
    return text


def _by_n(results: dict[str, Any], title: str, rows: Sequence[Row], markdown: bool) -> str:
    by_n = results["models"]
    keys = list(by_n)
    heading = "### " if markdown else ""
    headers = ["", *(f"N={int(k):,}" for k in keys)]
    cells = [[label, *(fn(by_n[k]) for k in keys)] for label, fn in rows]
    return f"\n{heading}{title}\n\n" + table(headers, cells, markdown)


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


def _plan(row: dict[str, Any], path: str) -> dict[str, Any]:
    plan: dict[str, Any] = row["plan"][path]
    return plan


def _s(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.2f} s"


def _opt_s(value: float | None) -> str:
    return "no limit" if value is None else f">= {_s(value)}"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"


def _rps(value: float | None) -> str:
    return "0 (no limit)" if not value else f"{value:g} per operation"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _load(values: list[float] | None) -> str:
    return "n/a" if not values else f"{values[0]:.2f}"


def _cpu(phase: dict[str, Any]) -> str:
    return f"{phase['client_cpu_s']:.2f} s / {phase['emulator_cpu_s']:.2f} s"


def _rss(phase: dict[str, Any]) -> str:
    return f"{phase['rss_peak_mb']:.0f} MB (+{phase['rss_growth_mb']:.0f} MB)"
