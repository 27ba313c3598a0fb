"""Safe YAML loading: line numbers, empty documents, and hostile documents refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import yamlnodes
from reconciler.yamlnodes import Document, YamlError, load_documents
from tests.properties import examples

MANIFEST = """\
apiVersion: bedrock.gitops/v1
kind: CustomModel
metadata:
  name: alpha
spec:
  modelSourceConfig:
    s3DataSource:
      s3Uri: s3://acme-models/alpha/
  tags:
    team: a
    env: prod
  list:
    - x
    - y
"""

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def load(text: str) -> list[Document]:
    return list(load_documents(text))


def refused(text: str) -> YamlError:
    with pytest.raises(YamlError) as caught:
        load(text)
    return caught.value


def test_every_field_path_has_its_line() -> None:
    [doc] = load(MANIFEST)
    assert doc.line == 1
    assert doc.data["metadata"]["name"] == "alpha"
    assert doc.lines[("apiVersion",)] == 1
    assert doc.lines[("kind",)] == 2
    assert doc.lines[("metadata",)] == 3
    assert doc.lines[("metadata", "name")] == 4
    assert doc.lines[("spec",)] == 5
    assert doc.lines[("spec", "modelSourceConfig", "s3DataSource", "s3Uri")] == 8
    assert doc.lines[("spec", "tags", "team")] == 10
    assert doc.lines[("spec", "tags", "env")] == 11
    assert doc.lines[("spec", "list", 0)] == 13
    assert doc.lines[("spec", "list", 1)] == 14


def test_line_of_falls_back_to_the_deepest_known_parent() -> None:
    [doc] = load(MANIFEST)
    assert doc.line_of(("spec", "tags", "team")) == 10
    assert doc.line_of(("spec", "tags", "missing")) == 9
    assert doc.line_of(("spec", "roleArn")) == 5
    assert doc.line_of(("nothing", "here")) == 1
    assert doc.line_of(()) == 1


def test_multiple_documents_and_their_starting_lines() -> None:
    text = "---\na: 1\n---\n---\n# only a comment\n---\nb: 2\nc: 3\n...\n---\n- 4\n"
    docs = load(text)
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2, "c": 3}, [4]]
    assert [d.line for d in docs] == [2, 7, 11]
    assert docs[1].lines == {("b",): 7, ("c",): 8}


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# comment\n", "---\n", "---\n---\n...\n", "~\n", "null\n"]
)
def test_empty_documents_are_skipped(text: str) -> None:
    assert load(text) == []


def test_scalars_keep_their_plain_types() -> None:
    [doc] = load("s: x\ni: 1\nf: 1.5\nb: true\nn: null\nq: '1'\n")
    assert doc.data == {"s": "x", "i": 1, "f": 1.5, "b": True, "n": None, "q": "1"}


def test_duplicate_keys_are_refused_with_the_line_of_the_second() -> None:
    error = refused("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert error.line == 4
    assert error.message == "duplicate key 'c'"


def test_duplicate_top_level_keys() -> None:
    error = refused("kind: A\nname: x\nkind: B\n")
    assert (error.line, error.message) == (3, "duplicate key 'kind'")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: [1, 2\nc: 3\n", 3),
        ("a: 1\n  b: 2\n", 2),
        ("a: 'unterminated\n", 2),
        ("a: 1\n---\nb: {\n", 4),
        ("a: *nowhere\n", 1),
    ],
    ids=["open-flow", "bad-indent", "open-quote", "second-doc", "undefined-alias"],
)
def test_malformed_yaml(text: str, line: int) -> None:
    error = refused(text)
    assert error.message.startswith("malformed YAML: ")
    assert error.line == line
    assert str(error) == f"line {line}: {error.message}"


@pytest.mark.parametrize(("text", "line"), [("\t- x\n", 1), ("a:\n  b: 1\n \tc: 2\n", 3)])
def test_a_tab_in_indentation_says_so(text: str, line: int) -> None:
    error = refused(text)
    assert (error.line, error.message) == (
        line,
        "a tab in indentation; YAML indents with spaces only",
    )


def test_documents_before_a_malformed_one_are_yielded_first() -> None:
    documents = load_documents("a: 1\n---\nb: [\n")
    assert next(documents).data == {"a": 1}
    with pytest.raises(YamlError):
        next(documents)


def test_billion_laughs_is_refused_fast() -> None:
    start = time.perf_counter()
    error = refused(BILLION_LAUGHS)
    assert time.perf_counter() - start < 1.0
    assert "alias bomb" in error.message


def test_bomb_inside_a_manifest_field_is_refused() -> None:
    text = (
        MANIFEST + "  extra:\n" + "".join(f"    {line}\n" for line in BILLION_LAUGHS.splitlines())
    )
    start = time.perf_counter()
    error = refused(text)
    assert time.perf_counter() - start < 1.0
    assert "alias bomb" in error.message


def test_bomb_of_mapping_keys_is_refused() -> None:
    lines = ["a0: &a0 {k: v}"]
    for level in range(1, 12):
        prev = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([prev] * 10)}]")
    error = refused("\n".join(lines) + "\n")
    assert "alias bomb" in error.message


def test_modest_alias_use_is_accepted() -> None:
    [doc] = load("base: &b {team: a, env: prod}\none: *b\ntwo: *b\n")
    assert doc.data["two"] == {"team": "a", "env": "prod"}


def test_wide_but_proportionate_document_is_accepted() -> None:
    # Many distinct nodes and no aliases: well past the expansion floor, but never refused.
    text = "".join(f"k{i}: [v{i}, w{i}]\n" for i in range(3000))
    [doc] = load(text)
    assert len(doc.data) == 3000
    assert doc.lines[("k2999", 1)] == 3000


def test_recursive_alias_is_refused() -> None:
    start = time.perf_counter()
    error = refused("a: &a [1, *a]\n")
    assert time.perf_counter() - start < 1.0
    assert error.line == 1
    assert error.message == f"document nested deeper than {yamlnodes.MAX_DEPTH} levels"


def test_recursive_mapping_alias_is_refused() -> None:
    error = refused("a: &a\n  b: *a\n")
    assert error.message == f"document nested deeper than {yamlnodes.MAX_DEPTH} levels"


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:os.system ['touch {marker}']",
        "!!python/name:os.system",
        "!!binary aGVsbG8=",
        "!custom x",
        "!!set {{a: null}}",
        "!!omap [{{a: 1}}]",
    ],
    ids=["apply", "new", "name", "binary", "local", "set", "omap"],
)
def test_non_plain_tags_are_refused_and_never_executed(tag: str, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    error = refused("a: 1\nb: " + tag.format(marker=marker) + "\n")
    assert error.line == 2
    assert "is not allowed" in error.message
    assert not marker.exists()


def test_merge_keys_are_refused() -> None:
    error = refused("base: &b {a: 1}\nother:\n  <<: *b\n")
    assert error.line == 3
    assert "merge" in error.message


def test_complex_keys_are_refused() -> None:
    error = refused("? [a, b]\n: 1\n")
    assert error.message == "a mapping key must be a plain value"


def test_deep_nesting_is_refused() -> None:
    depth = yamlnodes.MAX_DEPTH + 5
    text = "a: " + "[" * depth + "]" * depth + "\n"
    error = refused(text)
    assert error.message == f"document nested deeper than {yamlnodes.MAX_DEPTH} levels"


def test_very_deep_nesting_is_refused_without_a_recursion_error() -> None:
    depth = 1500
    started = time.monotonic()
    error = refused("[" * depth + "]" * depth + "\n")
    assert error.message == f"document nested deeper than {yamlnodes.MAX_DEPTH} levels"
    assert time.monotonic() - started < 1.0


def test_nesting_up_to_the_limit_is_accepted() -> None:
    depth = yamlnodes.MAX_DEPTH - 1
    [doc] = load("[" * depth + "1" + "]" * depth + "\n")
    value = doc.data
    for _ in range(depth):
        assert isinstance(value, list)
        value = value[0]
    assert value == 1


def test_control_character_is_malformed() -> None:
    error = refused("a: 1\nb: \x00\n")
    assert error.message.startswith("malformed YAML: ")


def test_control_character_is_reported_at_its_line() -> None:
    error = refused("a: 1\nb: 2\nc: 3\nd: \x00\n")
    assert error.line == 4


@pytest.mark.parametrize(
    "value",
    ["2024-02-30", "2024-13-01", "2024-01-01T25:00:00", "!!int abc", "!!bool maybe"],
    ids=["feb-30", "month-13", "hour-25", "explicit-int", "explicit-bool"],
)
def test_impossible_scalar_is_a_yaml_error_at_its_line(value: str) -> None:
    error = refused(f"a: 1\nb:\n  expires: {value}\n")
    assert error.line == 3


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.dates(),
)
plain_data = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=examples(300), deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), plain_data, min_size=1, max_size=5))
def test_values_are_what_the_safe_loader_makes(data: dict[str, object]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    [document] = load_documents(text)
    assert document.data == yaml.safe_load(text)
