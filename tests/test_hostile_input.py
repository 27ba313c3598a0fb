"""Hostile manifests, through the CLI under a memory limit: every one is refused with a clear
``FILE:LINE`` message (or a clear one-line error), exit 1, no traceback, no API call, in
bounded time and memory.

Each case runs ``reconciler.cli.main(["plan", ...])`` against the HTTP emulator in a child
process limited to 1 GiB of address space (``RLIMIT_AS``) and killed after a timeout. The
children are forked from one warm worker process (started once for the module, single
threaded, with the CLI already imported), so a case costs milliseconds instead of an
interpreter start. The emulator's call counter proves that nothing reached the API.

The figures (bad inputs tried, refused, slowest case, peak memory) are printed at the end of
the module as a Markdown table for the README.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, manifest, models, print_figures, write

MEMORY_LIMIT = 1024 * 1024 * 1024
CASE_TIMEOUT = 20.0
# A bad input must be refused well within this (the limit is generous for a loaded CI box).
BOUNDED_SECONDS = 5.0

WORKER = r"""
import json, os, resource, signal, sys, time, traceback

from reconciler import cli, manifests  # noqa: F401  (warm: the children start ready)
import boto3, botocore.session  # noqa: F401

for line in sys.stdin:
    case = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            resource.setrlimit(resource.RLIMIT_AS, (case["memory"], case["memory"]))
            for fd, path in ((1, case["out"]), (2, case["err"])):
                target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(target, fd)
                os.close(target)
            code = cli.main(case["argv"], environ={})
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    timed_out = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - started > case["timeout"]:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            done, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.002)
    result = {
        "code": os.waitstatus_to_exitcode(status),
        "seconds": time.monotonic() - started,
        "max_rss_mb": usage.ru_maxrss / 1024,
        "timed_out": timed_out,
    }
    print(json.dumps(result), flush=True)
"""


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float
    max_rss_mb: float
    timed_out: bool


class Worker:
    """Runs CLI invocations in memory-limited children forked from a warm process."""

    def __init__(self, folder: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(folder / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(folder / "no-aws-credentials"),
        )
        self.folder = folder
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.count = 0

    def run(self, *argv: str) -> Outcome:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.count += 1
        out, err = self.folder / f"{self.count}.out", self.folder / f"{self.count}.err"
        case = {
            "argv": list(argv),
            "memory": MEMORY_LIMIT,
            "timeout": CASE_TIMEOUT,
            "out": str(out),
            "err": str(err),
        }
        self.process.stdin.write(json.dumps(case) + "\n")
        self.process.stdin.flush()
        result = json.loads(self.process.stdout.readline())
        return Outcome(
            code=result["code"],
            out=out.read_text(errors="replace"),
            err=err.read_text(errors="replace"),
            seconds=result["seconds"],
            max_rss_mb=result["max_rss_mb"],
            timed_out=result["timed_out"],
        )

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


@dataclass
class Tried:
    case: str
    refused: bool
    seconds: float
    max_rss_mb: float
    bad: bool = True  # False: hostile in shape but valid (loaded, or skipped, safely)


TRIED: list[Tried] = []


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    started = Worker(tmp_path_factory.mktemp("worker"))
    yield started
    started.close()


@pytest.fixture(scope="module", autouse=True)
def figures_table(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the figures as a Markdown table once the module's tests have run."""
    yield
    if not TRIED:
        return
    bad = [t for t in TRIED if t.bad]
    tolerated = [t for t in TRIED if not t.bad]
    slowest = max(bad, key=lambda t: t.seconds)
    hungriest = max(TRIED, key=lambda t: t.max_rss_mb)
    lines = [
        "",
        "| hostile input | value |",
        "| --- | --- |",
        f"| bad inputs tried | {len(bad)} |",
        "| refused (exit 1, FILE:LINE or one-line error, no traceback, 0 API calls) "
        f"| {sum(t.refused for t in bad)} |",
        f"| hostile-shaped but valid inputs, loaded or skipped safely | {len(tolerated)} |",
        f"| slowest refusal | {slowest.seconds:.2f} s ({slowest.case}) |",
        f"| peak memory of one run (1 GiB limit) | {hungriest.max_rss_mb:.0f} MiB "
        f"({hungriest.case}) |",
    ]
    print_figures(request, lines)


def refused(
    worker: Worker,
    emulator: Any,
    case: str,
    path: Path,
    message: str,
    *,
    line: int | None = None,
    source: Path | None = None,
) -> Outcome:
    """``plan source`` (default: ``path``) is refused: exit 1, ``message`` (a regex) at
    ``path:line``, no traceback, no API call, in bounded time and memory."""
    emulator.backend.calls.clear()
    target = str(source or path)
    run = worker.run("--endpoint-url", emulator.url, "--region", "us-east-1", "plan", target)
    TRIED.append(Tried(case, run.code == 1, run.seconds, run.max_rss_mb))
    assert not run.timed_out, f"{case}: still running after {CASE_TIMEOUT} s"
    assert "Traceback" not in run.err and "unexpected error" not in run.err, run.err
    assert run.code == 1, run.err
    assert sum(emulator.backend.calls.values()) == 0
    assert run.seconds < BOUNDED_SECONDS
    number = str(line) if line is not None else r"\d+"
    where = re.escape(str(path)) + ":" + number + ": "
    assert re.search(where + ".*" + message, run.err), run.err
    assert run.err.rstrip().splitlines()[-1].startswith("error: ")
    return run


def accepted(worker: Worker, case: str, path: Path) -> Outcome:
    """``validate path`` accepts it (no API involved), in bounded time and memory."""
    run = worker.run("validate", str(path))
    TRIED.append(Tried(case, False, run.seconds, run.max_rss_mb, bad=False))
    assert not run.timed_out and run.code == 0, run.err
    assert run.seconds < BOUNDED_SECONDS
    return run


# YAML alias bombs ------------------------------------------------------------------------

LAUGHS = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] + [
    f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)
]


def indent(lines: list[str], by: int) -> str:
    return "".join(" " * by + line + "\n" for line in lines)


BOMBS = {
    "billion laughs": "\n".join(LAUGHS) + "\n",
    "bomb nested in a manifest field": manifest("alpha") + "  extra:\n" + indent(LAUGHS, 4),
    "bomb in tags": manifest("alpha")
    + "  tags:\n"
    + indent([line.replace(": &", "_: &", 1) for line in LAUGHS], 4),
    "bomb in a mapping key": "\n".join(LAUGHS) + "\n? *a9\n: key\n",
    "bomb of mappings": "\n".join(
        ["b0: &b0 {k: v, l: w}"]
        + [
            f"b{i}: &b{i} {{{', '.join(f'k{j}: *b{i - 1}' for j in range(10))}}}"
            for i in range(1, 9)
        ]
    )
    + "\n",
    "bomb across documents": "x: &x [a, b, c]\n---\n" + "\n".join(LAUGHS) + "\n",
    "recursive alias": manifest("alpha") + "  tags: &t {a: *t}\n",
}


@pytest.mark.parametrize("case", list(BOMBS))
def test_alias_bombs_are_refused(worker: Worker, emulator: Any, tmp_path: Path, case: str) -> None:
    path = write(tmp_path, "bomb.yaml", BOMBS[case])
    refused(worker, emulator, case, path, r"(YAML aliases expand out of proportion|nested deeper)")


# Size, encoding, binary --------------------------------------------------------------------


def test_a_64_mib_file_is_refused_without_reading_it(
    worker: Worker, emulator: Any, tmp_path: Path
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # sparse: 64 MiB that cost nothing to write
        handle.write(manifest("alpha").encode())
        handle.truncate(64 * 1024 * 1024)
    run = refused(
        worker, emulator, "64 MiB file", path, "file is larger than 1024 KiB; refused", line=1
    )
    assert run.max_rss_mb < 256


def test_a_64_mib_file_of_real_yaml_is_refused(
    worker: Worker, emulator: Any, tmp_path: Path
) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(manifest("alpha") + "# padding\n" * (64 * 1024 * 1024 // 10))
    refused(worker, emulator, "64 MiB of comments", path, "file is larger than 1024 KiB")


BINARY = {
    "random bytes": bytes(range(256)) * 64,
    "NUL bytes": b"\0" * 4096,
    "latin-1 text": manifest("alpha", tags={"team": "caf\xe9"}).encode("latin-1"),
    "UTF-16 with BOM": manifest("alpha").encode("utf-16"),
    "gzip": b"\x1f\x8b\x08\x00" + bytes(100),
    "ELF": b"\x7fELF\x02\x01\x01" + bytes(200),
    "UTF-8 with a control character": (manifest("alpha") + "  tags: {a: \x07}\n").encode(),
    "lone surrogate escape": manifest("alpha").encode() + b"# \xed\xa0\x80\n",
}


@pytest.mark.parametrize("case", list(BINARY))
def test_binary_and_non_utf8_files_are_refused(
    worker: Worker, emulator: Any, tmp_path: Path, case: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(BINARY[case])
    refused(
        worker,
        emulator,
        case,
        path,
        r"(file is not valid UTF-8|malformed YAML: character .* is not allowed)",
    )


# Nesting, width, many documents --------------------------------------------------------------

NESTED = {
    "10,000 levels of [": "[" * 10_000,
    "10,000 levels of [ closed": "[" * 10_000 + "]" * 10_000,
    "10,000 levels of {": "{a: " * 10_000 + "}" * 10_000,
    "1,000 levels of block mappings": "".join(" " * i + f"k{i}:\n" for i in range(1_000)),
    "10,000 nested sequences in a field": manifest("alpha") + "  tags: " + "[" * 10_000 + "\n",
}


@pytest.mark.parametrize("case", list(NESTED))
def test_deeply_nested_documents_are_refused(
    worker: Worker, emulator: Any, tmp_path: Path, case: str
) -> None:
    path = write(tmp_path, "deep.yaml", NESTED[case])
    refused(worker, emulator, case, path, r"(nested|malformed YAML)")


def test_a_wide_document_is_refused(worker: Worker, emulator: Any, tmp_path: Path) -> None:
    # 200,000 values in well under 1 MiB: more than any manifest needs.
    path = write(tmp_path, "wide.yaml", manifest("alpha") + "  extra: [" + "1," * 200_000 + "]\n")
    refused(worker, emulator, "200,000 values in one document", path, r"more than 100000 values")


def small_document(i: int) -> str:
    return (
        f"{{apiVersion: bedrock.gitops/v1, kind: CustomModel, metadata: {{name: m{i:05d}}}, "
        f"spec: {{modelSourceConfig: {{s3DataSource: {{s3Uri: 's3://acme/m{i:05d}/'}}}}}}}}\n"
    )


def test_thousands_of_valid_documents_in_one_file_load_quickly(
    worker: Worker, tmp_path: Path
) -> None:
    path = write(tmp_path, "many.yaml", "---\n".join(small_document(i) for i in range(5_000)))
    assert path.stat().st_size < 1024 * 1024
    run = accepted(worker, "5,000 valid documents in one file", path)
    assert run.out.strip() == "5000 models valid in 1 file."


def test_thousands_of_broken_documents_fail_fast(
    worker: Worker, emulator: Any, tmp_path: Path
) -> None:
    text = "---\n".join(
        small_document(i).replace("CustomModel", "CustomModle") for i in range(5_000)
    )
    path = write(tmp_path, "many.yaml", text)
    run = refused(worker, emulator, "5,000 invalid documents in one file", path, "kind")
    assert "5000 problems found in manifests; nothing was sent to AWS" in run.err


def test_many_empty_documents_are_harmless(worker: Worker, tmp_path: Path) -> None:
    path = write(tmp_path, "empty.yaml", "---\n" * 200_000)
    run = accepted(worker, "200,000 empty documents", path)
    assert run.out.strip() == "0 models valid in 1 file."


def test_thousands_of_files_with_one_name_are_all_reported(
    worker: Worker, emulator: Any, tmp_path: Path
) -> None:
    for i in range(1_000):
        write(tmp_path / "m", f"f{i:04d}.yaml", manifest("alpha"))
    run = refused(
        worker, emulator, "one name declared in 1,000 files", tmp_path / "m" / "f0000.yaml",
        "metadata.name: model 'alpha' is declared twice", line=1, source=tmp_path / "m",
    )  # fmt: skip
    # Every file is named (each duplicate pairs with the first declaration).
    assert run.err.count("declared twice") == 2 * 999


# Symlinks ------------------------------------------------------------------------------------


def test_a_symlinked_folder_loop_is_walked_once(
    worker: Worker, emulator: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    write(folder, "sub/a.yaml", manifest("alpha"))
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "self").symlink_to(".", target_is_directory=True)
    run = accepted(worker, "symlinked folder loops", folder)
    assert run.out.strip() == "1 model valid in 1 file."


def test_a_symlink_loop_given_as_the_path_is_a_clear_error(
    worker: Worker, emulator: Any, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    emulator.backend.calls.clear()
    run = worker.run("--endpoint-url", emulator.url, "plan", str(tmp_path / "a.yaml"))
    TRIED.append(Tried("symlink loop as PATH", run.code == 1, run.seconds, run.max_rss_mb))
    assert run.code == 1
    assert run.err == (
        f"error: {tmp_path / 'a.yaml'}: no such file or folder (a missing source is never empty)\n"
    )
    assert sum(emulator.backend.calls.values()) == 0


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_an_unreadable_manifest_symlink_never_prunes_its_model(
    cli: Cli, emulator: Any, tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "m"
    write(folder, "alpha.yaml", manifest("alpha"))
    write(folder, "beta.yaml", manifest("beta"))
    assert cli("apply", str(folder)).code == 0
    beta = folder / "beta.yaml"
    beta.unlink()
    if kind == "dangling":  # a half-synced checkout: the link's target is not there yet
        beta.symlink_to(tmp_path / "not-yet-synced" / "beta.yaml")
    else:
        beta.symlink_to(folder / "beta2.yaml")
        (folder / "beta2.yaml").symlink_to(beta)
    emulator.backend.calls.clear()
    run = cli("apply", str(folder))
    assert run.code == 1, run.out
    assert f"{beta}:1: cannot be read: " in run.err
    assert sum(emulator.backend.calls.values()) == 0
    assert set(models(emulator.client())) == {"alpha", "beta"}


def test_symlinks_out_of_the_manifests_folder_are_refused(
    worker: Worker, emulator: Any, tmp_path: Path
) -> None:
    """A link may lead anywhere on the machine (``/etc``, a secret, another team's folder):
    what a PATH declares is what lies inside it. Links inside the folder are followed."""
    outside = tmp_path / "outside"
    write(outside, "shared.yaml", manifest("shared"))
    write(outside, "dir/x.yaml", manifest("x"))
    write(outside, "secret.yaml", "password: hunter2\n")
    folder = tmp_path / "m"
    write(folder, "a.yaml", manifest("alpha"))
    write(folder, "inner/b.yaml", manifest("beta"))
    (folder / "b.yaml").symlink_to(folder / "inner" / "b.yaml")
    (folder / "again").symlink_to(folder / "inner", target_is_directory=True)
    run = accepted(worker, "symlinks inside the folder", folder)
    assert run.out.strip() == "2 models valid in 2 files."
    cases = [
        ("symlink to a manifest outside the folder", "shared.yaml", outside / "shared.yaml"),
        ("symlink to a secret outside the folder", "leak.yaml", outside / "secret.yaml"),
        ("symlink to /dev/zero", "zero.yaml", Path("/dev/zero")),
        ("symlinked folder outside the folder", "linked", outside / "dir"),
    ]
    for case, name, target in cases:
        link = folder / name
        link.symlink_to(target, target_is_directory=target.is_dir())
        run = refused(
            worker, emulator, case, link, r"leading out of .*; refused", line=1, source=folder
        )
        assert "hunter2" not in run.err
        link.unlink()


def test_special_files_are_refused_not_read(worker: Worker, emulator: Any, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write(folder, "a.yaml", manifest("alpha"))
    os.mkfifo(folder / "fifo.yaml")  # reading it would block forever
    refused(worker, emulator, "a FIFO named *.yaml", folder / "fifo.yaml",
            "not a regular file; refused", line=1, source=folder)  # fmt: skip


# Limits: at the limit accepted (by the reconciler and the service), just past refused -----


def limits_manifest(
    name: str = "alpha", key: str = "team", value: str = "a", tags: int = 1, retain: bool = False
) -> str:
    extra = {f"k{i:02d}": "v" for i in range(tags - 1)}
    return manifest(name, tags={key: value, **extra}, retain=retain)


AT_LIMIT = {
    "name of 63 characters": limits_manifest(name="a" * 63),
    "name of 63 with separators": limits_manifest(name="a-" * 31 + "a"),
    "tag key of 128 characters": limits_manifest(key="k" * 128),
    "tag value of 256 characters": limits_manifest(value="v" * 256),
    "empty tag value": limits_manifest(value=""),
    "48 tags": limits_manifest(tags=48),
    "47 tags and Retain": limits_manifest(tags=47, retain=True),
}
PAST_LIMIT = {
    "name of 64 characters": (limits_manifest(name="a" * 64), "metadata.name", 4),
    "name with a double dash": (limits_manifest(name="a--b"), "metadata.name", 4),
    "tag key of 129 characters": (limits_manifest(key="k" * 129), "spec.tags", 11),
    "tag value of 257 characters": (limits_manifest(value="v" * 257), "spec.tags.team", 11),
    "49 tags": (limits_manifest(tags=49), "spec.tags", 10),
    "48 tags and Retain": (limits_manifest(tags=48, retain=True), "spec.tags", 10),
    "s3Uri of 1025 characters": (
        manifest("alpha", s3_uri="s3://acme/" + "a" * 1015),
        "spec.modelSourceConfig.s3DataSource.s3Uri",
        8,
    ),
}


@pytest.mark.parametrize("case", list(AT_LIMIT))
def test_values_at_every_limit_are_accepted_here_and_by_the_service(
    cli: Cli, emulator: Any, tmp_path: Path, case: str
) -> None:
    folder = tmp_path / "m"
    write(folder, "a.yaml", AT_LIMIT[case])
    run = cli("apply", str(folder))
    assert run.code == 0, run.err  # the emulator checks the service model's constraints
    assert len(models(emulator.client())) == 1


@pytest.mark.parametrize("case", list(PAST_LIMIT))
def test_values_just_past_a_limit_are_refused_at_their_line(
    worker: Worker, emulator: Any, tmp_path: Path, case: str
) -> None:
    text, field, line = PAST_LIMIT[case]
    path = write(tmp_path, "a.yaml", text)
    refused(worker, emulator, case, path, re.escape(field) + r"\S*: ", line=line)


# Unicode look-alikes and invisible characters -------------------------------------------------

LOOKALIKES = {
    "Cyrillic a in a name": ("support-nov\u0430-lite", "metadata.name", 4),
    "Cyrillic o in a name": ("supp\u043ert", "metadata.name", 4),
    "Greek omicron in a name": ("m\u03bfdel", "metadata.name", 4),
    "fullwidth digit in a name": ("model\uff11", "metadata.name", 4),
    "zero-width space in a name": ("alpha\u200b", "metadata.name", 4),
    "right-to-left override in a name": ("alpha\u202eahpla", "metadata.name", 4),
}


@pytest.mark.parametrize("case", list(LOOKALIKES))
def test_unicode_lookalikes_in_names_are_refused(
    worker: Worker, emulator: Any, tmp_path: Path, case: str
) -> None:
    name, field, line = LOOKALIKES[case]
    path = write(tmp_path, "a.yaml", manifest(name))
    refused(worker, emulator, case, path, re.escape(field) + ": ", line=line)


@pytest.mark.parametrize(
    ("case", "key", "value"),
    [
        ("Cyrillic e in a tag key", "t\u0435am", "a"),
        ("no-break space in a tag value", "team", "a\u00a0b"),
        ("ideographic space in a tag value", "team", "a\u3000b"),
    ],
)
def test_unicode_lookalikes_in_tags_are_refused(
    worker: Worker, emulator: Any, tmp_path: Path, case: str, key: str, value: str
) -> None:
    path = write(tmp_path, "a.yaml", manifest("alpha", tags={key: value}))
    refused(worker, emulator, case, path, r"spec\.tags\S*: ", line=11)


# YAML tags --------------------------------------------------------------------------------------

PYTHON_TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/apply:subprocess.check_call [['touch', '{marker}']]",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/name:os.system",
    "!!python/module:os",
    '!<tag:yaml.org,2002:python/object/apply:os.system> ["touch {marker}"]',
    "!!binary aGVsbG8=",
    "!!set {{a: null}}",
    "!custom 1",
]


@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_yaml_tags_are_refused_and_never_executed(
    worker: Worker, emulator: Any, tmp_path: Path, tag: str
) -> None:
    marker = tmp_path / "pwned"
    value = tag.format(marker=marker)
    for where, text in (
        ("roleArn", manifest("alpha", role=value)),
        ("document", f"--- {value}\n"),
        ("key", manifest("alpha") + f"  ? {value}\n  : x\n"),
    ):
        path = write(tmp_path, f"{where}.yaml", text)
        refused(worker, emulator, f"YAML tag {tag.split(maxsplit=1)[0]} as {where}", path,
                r"YAML tag .* is not allowed")  # fmt: skip
        path.unlink()
    assert not marker.exists()
