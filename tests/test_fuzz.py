"""Property-based fuzzing with hypothesis, end to end where it matters.

- Random YAML text, random data dumped as YAML and random bytes never make the loader raise
  anything but ManifestError or SourceError, nor the CLI print a traceback.
- Random accounts (models managed by this scope, by another, by a look-alike scope, or not at
  all) and random manifests: ``apply`` never deletes, replaces or retags a model without this
  scope's tag.
- plan, apply, plan always ends in noops on the emulator, from any random starting account.

Examples are derandomized, so CI runs the same ones every time.
"""

from __future__ import annotations

import contextlib
import io
import json
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reconciler import manifests, sandbox
from reconciler.cli import main
from reconciler.errors import ManifestError, SourceError
from tests.helpers import KMS, manifest

SCOPE_TAG = "reconciler:managed-by"
HASH_TAG = "reconciler:spec-hash"
POLICY_TAG = "reconciler:deletion-policy"

QUICK = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# No shrinking end to end: each example is a few CLI runs, and a failing one is printed as is.
END_TO_END = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv), environ={})
    return code, out.getvalue(), err.getvalue()


def check_loads_or_refuses(path: Path) -> None:
    """The loader's only failures are its own; the CLI says so in one clean message."""
    with contextlib.suppress(ManifestError, SourceError):
        manifests.load([str(path)])
    code, _, err = run_cli("validate", str(path))
    assert code in (0, 1)
    assert "Traceback" not in err
    assert "unexpected error" not in err, err


# Random manifests never produce a traceback ------------------------------------------------

TOKENS = st.sampled_from(
    [
        *("- ", ": ", "[", "]", "{", "}", ", ", "&a ", "*a ", "&b ", "*b ", "<<: *a\n", "? "),
        *("---\n", "...\n", "\n", "  ", "    ", "\t", "'", '"', "#", "|\n", ">\n", "%YAML 1.1\n"),
        *("!!python/object/apply:os.system ", "!!str ", "!!binary ", "!!int ", "!!set ", "!x "),
        *("apiVersion", "kind", "metadata", "name", "spec", "tags", "modelSourceConfig"),
        *("s3DataSource", "s3Uri", "roleArn", "modelKmsKeyArn", "deletionPolicy", "Retain"),
        *("CustomModel", "bedrock.gitops/v1", "s3://acme-models/x/", "alpha", "aws:x"),
        *("0x1F", "1e400", "-.inf", ".nan", "~", "null", "yes", "2024-02-30", "0o17", "1_000"),
        *("\u0430", "\u200b", "\x00", "\x07", "\ufeff", "\ud7ff", "\U0001f600", "\\", "\r\n"),
    ]
)
YAMLISH = st.lists(TOKENS | st.text(max_size=6), max_size=60).map("".join)


@QUICK
@given(text=YAMLISH)
def test_random_yaml_text_never_raises_a_traceback(scratch: Path, text: str) -> None:
    path = scratch / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    check_loads_or_refuses(path)


@settings(QUICK, max_examples=100)
@given(raw=st.binary(max_size=400))
def test_random_bytes_never_raise_a_traceback(scratch: Path, raw: bytes) -> None:
    path = scratch / "fuzz.yaml"
    path.write_bytes(raw)
    check_loads_or_refuses(path)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.dates()
    | st.datetimes()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
VALID = {
    "apiVersion": "bedrock.gitops/v1",
    "kind": "CustomModel",
    "metadata": {"name": "alpha"},
    "spec": {
        "modelSourceConfig": {"s3DataSource": {"s3Uri": "s3://acme-models/alpha/"}},
        "roleArn": "arn:aws:iam::111122223333:role/BedrockModelImport",
        "modelKmsKeyArn": KMS,
        "tags": {"team": "a"},
        "deletionPolicy": "Retain",
    },
}
PATHS = [
    (),
    ("apiVersion",),
    ("kind",),
    ("metadata",),
    ("metadata", "name"),
    ("metadata", "extra"),
    ("spec",),
    ("spec", "modelSourceConfig"),
    ("spec", "modelSourceConfig", "s3DataSource"),
    ("spec", "modelSourceConfig", "s3DataSource", "s3Uri"),
    ("spec", "roleArn"),
    ("spec", "modelKmsKeyArn"),
    ("spec", "tags"),
    ("spec", "tags", "team"),
    ("spec", "tags", "aws:x"),
    ("spec", "deletionPolicy"),
]


def mutated(path: tuple[str, ...], value: Any) -> Any:
    """The valid manifest with the value at ``path`` replaced by ``value``."""
    if not path:
        return value
    document = json.loads(json.dumps(VALID))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@settings(QUICK, max_examples=200)
@given(
    documents=st.lists(
        st.one_of(VALUES, st.builds(mutated, st.sampled_from(PATHS), VALUES)),
        min_size=1,
        max_size=3,
    )
)
def test_random_documents_never_raise_a_traceback(scratch: Path, documents: list[Any]) -> None:
    path = scratch / "fuzz.yaml"
    path.write_text(yaml.safe_dump_all(documents, allow_unicode=True), encoding="utf-8")
    check_loads_or_refuses(path)


# Ownership: nothing without this scope's tag is ever deleted, replaced or retagged --------

NAMES = ["alpha", "beta", "gamma", "delta", "m-1", "m_2"]
# Tags of models that are not this scope's ("default"), some of them look-alikes.
FOREIGN = [
    {},
    {"team": "search"},
    {SCOPE_TAG: "other"},
    {SCOPE_TAG: "Default"},
    {SCOPE_TAG: "default "},
    {SCOPE_TAG: "defaul"},
    {"reconciler:managed-By": "default"},
    {HASH_TAG: "0" * 32},
    {POLICY_TAG: "Retain"},
    {SCOPE_TAG: "other", POLICY_TAG: "Retain", HASH_TAG: "0" * 32},
]
OURS = [
    {SCOPE_TAG: "default", HASH_TAG: "0" * 32},
    {SCOPE_TAG: "default", HASH_TAG: "0" * 32, POLICY_TAG: "Retain"},
    {SCOPE_TAG: "default", HASH_TAG: "0" * 32, "team": "old"},
]

ACCOUNTS = st.dictionaries(
    st.sampled_from(NAMES), st.sampled_from(FOREIGN) | st.sampled_from(OURS), max_size=6
)
DECLARED = st.dictionaries(
    st.sampled_from(NAMES),
    st.tuples(
        st.sampled_from(["s3://acme-models/a/", "s3://acme-models/b/"]),
        st.sampled_from([{}, {"team": "a"}, {"team": "old"}]),
        st.booleans(),
    ),
    max_size=6,
)


def prepare(emulator: Any, account: dict[str, dict[str, str]]) -> dict[str, tuple[str, Any]]:
    """A fresh account holding ``account``; every model's ARN and tags, by name."""
    sandbox.reset_state()
    client = emulator.client()
    for name, tags in account.items():
        client.create_custom_model(
            modelName=name,
            modelSourceConfig={"s3DataSource": {"s3Uri": f"s3://acme-models/{name}/"}},
            modelTags=[{"key": k, "value": v} for k, v in tags.items()],
        )
    return snapshot(emulator)


def snapshot(emulator: Any) -> dict[str, tuple[str, Any]]:
    backend = emulator.backend
    return {
        model.name: (model.arn, backend.tagger.get_tag_dict_for_resource(model.arn))
        for model in backend.models.values()
    }


def write_manifests(folder: Path, declared: dict[str, tuple[str, dict[str, str], bool]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    for name, (uri, tags, retain) in declared.items():
        text = manifest(name, s3_uri=uri, tags=tags, retain=retain)
        (folder / f"{name}.yaml").write_text(text)


@END_TO_END
@given(account=ACCOUNTS, declared=DECLARED)
def test_apply_never_touches_a_model_without_this_scopes_tag(
    emulator: Any, scratch: Path, account: dict[str, dict[str, str]], declared: Any
) -> None:
    before = prepare(emulator, account)
    foreign = {n: v for n, v in before.items() if v[1].get(SCOPE_TAG) != "default"}
    folder = scratch / "ownership"
    write_manifests(folder, declared)
    base = ("--endpoint-url", emulator.url, "--region", "us-east-1")
    code, out, err = run_cli(*base, "plan", str(folder), "--output", "json", "--force")
    assert "Traceback" not in err
    if code in (0, 1) and out:
        for action in json.loads(out)["actions"]:
            if action["action"] in ("delete", "replace", "update-tags", "release"):
                assert action["name"] not in foreign, action
    code, _, err = run_cli(*base, "apply", str(folder), "--force", "--allow-empty")
    assert code in (0, 1) and "Traceback" not in err
    after = snapshot(emulator)
    for name, (arn, tags) in foreign.items():
        assert after.get(name) == (arn, tags), f"{name} was touched"


# plan -> apply -> plan ends in noops ----------------------------------------------------------

# Tag keys and values that YAML reads back as the same strings (the manifest helper quotes
# values, not keys): no "0", "yes" or "null" keys, which YAML turns into numbers, bools, None.
YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
KEY = st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True).filter(lambda k: k not in YAML_WORDS)
VALUE = st.text(string.ascii_letters + string.digits + "-_.:/=+@ ", max_size=12)
RICH = st.dictionaries(
    st.sampled_from(NAMES),
    st.tuples(
        st.sampled_from(["s3://acme-models/a/", "s3://acme-models/b/", "s3://other/x/"]),
        st.dictionaries(KEY, VALUE, max_size=3),
        st.booleans(),
    ),
    max_size=6,
)


@END_TO_END
@given(first=RICH, second=RICH, drift=st.sets(st.sampled_from(NAMES), max_size=3))
def test_plan_apply_plan_ends_in_noops(
    emulator: Any, scratch: Path, first: Any, second: Any, drift: set[str]
) -> None:
    sandbox.reset_state()
    folder = scratch / "converge"
    base = ("--endpoint-url", emulator.url, "--region", "us-east-1")
    flags = ("--force", "--allow-empty")
    write_manifests(folder, first)
    assert run_cli(*base, "apply", str(folder), *flags)[0] == 0
    client = emulator.client()
    for model in list(emulator.backend.models.values()):
        if model.name in drift:  # changed out of band
            client.tag_resource(resourceARN=model.arn, tags=[{"key": "drift", "value": "x"}])
    write_manifests(folder, second)
    code, _, err = run_cli(*base, "apply", str(folder), *flags)
    # A Retain model whose content changed is blocked: an error, by design, and left alone.
    blocked = {
        n for n, (uri, _, retain) in second.items() if n in first and first[n][0] != uri
        and (retain or first[n][2])
    }  # fmt: skip
    assert code == (1 if blocked else 0), err
    code, out, err = run_cli(*base, "plan", str(folder), "--output", "json", *flags)
    assert "Traceback" not in err
    kinds = {a["name"]: a["action"] for a in json.loads(out)["actions"]}
    # A plan holding a blocked action is refused whole: nothing of it was applied.
    assert {kinds[n] for n in blocked} <= {"blocked"}
    if not blocked:
        assert {n for n, k in kinds.items() if k != "noop"} == set()
