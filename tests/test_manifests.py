"""Manifest discovery and validation: every problem as FILE:LINE: path: message."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler import manifests
from reconciler.desired import DesiredState
from reconciler.errors import ManifestError, Problem, SourceError

KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def manifest(
    name: str,
    *,
    s3: str | None = None,
    tags: Mapping[str, str] | None = None,
    policy: str | None = None,
    extra: str = "",
) -> str:
    """A manifest; its fields sit on fixed lines (name on 4, s3Uri on 8, tags on 9)."""
    lines = [
        "apiVersion: bedrock.gitops/v1",
        "kind: CustomModel",
        "metadata:",
        f"  name: {name}",
        "spec:",
        "  modelSourceConfig:",
        "    s3DataSource:",
        f"      s3Uri: {s3 or f's3://acme-models/{name}/'}",
    ]
    if tags is not None:
        lines.append("  tags:")
        lines.extend(f'    {k}: "{v}"' for k, v in tags.items())
    if policy:
        lines.append(f"  deletionPolicy: {policy}")
    return "\n".join(lines) + "\n" + extra


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def problems_of(*paths: Path | str) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        manifests.load([str(p) for p in paths])
    return list(caught.value.problems)


def only_problem(*paths: Path | str) -> Problem:
    [problem] = problems_of(*paths)
    return problem


def user_tags(count: int) -> dict[str, str]:
    return {f"k{i:02d}": "v" for i in range(count)}


# --- loading ---------------------------------------------------------------------------------


def test_valid_manifests_load_sorted_by_name_with_their_source(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", manifest("zeta", tags={"team": "z"}))
    b = write(tmp_path / "b.yaml", "# header\n---\n" + manifest("alpha", policy="Retain"))
    state = manifests.load([str(tmp_path)])
    assert [m.name for m in state.models] == ["alpha", "zeta"]
    alpha, zeta = state.models
    assert (alpha.file, alpha.line, alpha.source) == (str(b), 3, f"{b}:3")
    assert (zeta.file, zeta.line) == (str(a), 1)
    assert alpha.spec.deletionPolicy == "Retain"
    assert dict(zeta.spec.tags) == {"team": "z"}
    assert state.files == (str(a), str(b))
    assert set(state.by_name()) == {"alpha", "zeta"}


def test_several_documents_per_file_and_empty_ones_skipped(tmp_path: Path) -> None:
    text = "---\n" + manifest("one") + "---\n---\n# nothing\n---\n" + manifest("two") + "...\n"
    file = write(tmp_path / "m.yaml", text)
    state = manifests.load([str(file)])
    assert [(m.name, m.line) for m in state.models] == [("one", 2), ("two", 14)]


def test_yml_and_yaml_found_recursively_other_suffixes_ignored(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", manifest("a"))
    write(tmp_path / "x" / "y" / "b.yml", manifest("b"))
    write(tmp_path / "x" / "c.json", "{not yaml")
    write(tmp_path / "x" / "d.txt", "garbage: [")
    write(tmp_path / "x" / "e.yaml.bak", "garbage: [")
    write(tmp_path / "x" / "README.md", "# hi")
    state = manifests.load([str(tmp_path)])
    assert [m.name for m in state.models] == ["a", "b"]
    assert state.files == (str(tmp_path / "a.yaml"), str(tmp_path / "x" / "y" / "b.yml"))


def test_a_file_path_names_itself_whatever_its_suffix(tmp_path: Path) -> None:
    file = write(tmp_path / "model.txt", manifest("alpha"))
    state = manifests.load([str(file)])
    assert [m.name for m in state.models] == ["alpha"]
    assert state.models[0].file == str(file)


def test_a_file_and_its_folder_count_once(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha"))
    state = manifests.load([str(tmp_path), str(file), str(tmp_path)])
    assert [m.name for m in state.models] == ["alpha"]
    assert len(state.files) == 1


def test_missing_path_is_a_source_error_not_an_empty_source(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", manifest("alpha"))
    missing = tmp_path / "nope"
    with pytest.raises(SourceError, match="nope: no such file or folder"):
        manifests.load([str(tmp_path), str(missing)])


def test_folder_without_manifests_is_an_empty_desired_state(tmp_path: Path) -> None:
    write(tmp_path / "notes.txt", "hello")
    (tmp_path / "empty").mkdir()
    assert manifests.load([str(tmp_path)]) == DesiredState(resources=(), files=())


def test_file_of_empty_documents_declares_nothing(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", "---\n# nothing yet\n---\n")
    state = manifests.load([str(tmp_path)])
    assert state.models == ()
    assert state.files == (str(file),)


@pytest.mark.timeout(10)
def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "sub" / "a.yaml", manifest("alpha"))
    os.symlink(root, root / "sub" / "loop")
    os.symlink(root / "sub", root / "sub" / "self")
    start = time.perf_counter()
    state = manifests.load([str(root)])
    assert time.perf_counter() - start < 2.0
    assert [m.name for m in state.models] == ["alpha"]


def test_links_inside_the_folder_are_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "shared" / "a.yaml", manifest("alpha"))
    os.symlink(root / "shared" / "a.yaml", root / "link.yaml")
    os.symlink(root / "shared", root / "linked")
    state = manifests.load([str(root)])
    assert [m.name for m in state.models] == ["alpha"]  # one file, however many ways in


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("dangling", "cannot be read: No such file or directory"),
        ("loop", "cannot be read: Too many levels of symbolic links"),
        ("outside file", "a symlink leading out of {root} ({outside}/b.yaml); refused"),
        ("outside folder", "a symlinked folder leading out of {root} ({outside}); refused"),
        ("fifo", "not a regular file; refused"),
    ],
)
def test_entries_that_cannot_be_manifests_are_problems_never_skipped(
    tmp_path: Path, kind: str, message: str
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(root / "a.yaml", manifest("alpha"))
    write(outside / "b.yaml", manifest("beta"))
    entry = root / "b.yaml"
    if kind == "dangling":
        os.symlink(tmp_path / "not-synced-yet.yaml", entry)
    elif kind == "loop":
        os.symlink(root / "c.yaml", entry)
        os.symlink(entry, root / "c.yaml")
    elif kind == "outside file":
        os.symlink(outside / "b.yaml", entry)
    elif kind == "outside folder":
        entry = root / "shared"
        os.symlink(outside, entry)
    else:
        os.mkfifo(entry)  # reading it would block forever
    problems = [p for p in problems_of(root) if p.file == str(entry)]
    assert [(p.line, p.message) for p in problems] == [
        (1, message.format(root=root, outside=outside))
    ]


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", b"\xef\xbb\xbf" + manifest("alpha").encode())
    assert [m.name for m in manifests.load([str(file)]).models] == ["alpha"]


# --- problems, each at FILE:LINE: path: message ----------------------------------------------


def test_unknown_field_is_a_typo(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha", extra="  deletionPolcy: Retain\n"))
    problem = only_problem(file)
    assert problem == Problem(str(file), 9, "spec.deletionPolcy", "unknown field (is it a typo?)")
    assert str(problem) == f"{file}:9: spec.deletionPolcy: unknown field (is it a typo?)"


def test_wrong_type(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha", extra="  tags: [a, b]\n"))
    problem = only_problem(file)
    assert (problem.line, problem.path) == (9, "spec.tags")
    assert "valid dictionary" in problem.message


def test_number_where_a_string_is_required(tmp_path: Path) -> None:
    # A tag value is text as written (``team: 42`` is "42"); a list is not a string.
    file = write(tmp_path / "a.yaml", manifest("alpha", extra="  tags:\n    team: [42]\n"))
    problem = only_problem(file)
    assert (problem.line, problem.path) == (10, "spec.tags.team")
    assert "valid string" in problem.message


def test_missing_required_field_points_at_its_parent(tmp_path: Path) -> None:
    text = "apiVersion: bedrock.gitops/v1\nkind: CustomModel\nmetadata:\n  name: a\nspec:\n"
    text += "  roleArn: arn:aws:iam::111122223333:role/x\n"
    file = write(tmp_path / "a.yaml", text)
    problem = only_problem(file)
    assert (problem.line, problem.path) == (5, "spec")
    assert problem.message == (
        "give exactly one of modelSourceConfig (weights in S3) or customModelDataSource "
        "(a SageMaker AI model package)"
    )


PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/support-nova/3"
PACKAGE_SOURCE = (
    f"  customModelDataSource:\n    modelPackageArnDataSource:\n      modelPackageArn: {PACKAGE}\n"
)


def test_a_model_package_source_is_loaded(tmp_path: Path) -> None:
    text = "apiVersion: bedrock.gitops/v1\nkind: CustomModel\nmetadata:\n  name: a\nspec:\n"
    file = write(tmp_path / "a.yaml", text + PACKAGE_SOURCE)
    (model,) = manifests.load([str(file)]).models
    source = model.manifest.spec.customModelDataSource
    assert source is not None
    assert source.modelPackageArnDataSource.modelPackageArn == PACKAGE


def test_two_sources_point_at_the_package_source_line(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha") + PACKAGE_SOURCE)
    problem = only_problem(file)
    assert (problem.line, problem.path) == (9, "spec.customModelDataSource")
    assert problem.message.endswith("(a SageMaker AI model package), not both")


def test_a_bad_model_package_arn_points_at_its_line(tmp_path: Path) -> None:
    text = "apiVersion: bedrock.gitops/v1\nkind: CustomModel\nmetadata:\n  name: a\nspec:\n"
    bad = PACKAGE_SOURCE.replace(":model-package/", ":model/")
    file = write(tmp_path / "a.yaml", text + "  tags: {}\n" + bad)
    problem = only_problem(file)
    assert (problem.line, problem.path) == (
        9,
        "spec.customModelDataSource.modelPackageArnDataSource.modelPackageArn",
    )
    assert "does not match the service's pattern" in problem.message


def test_missing_top_level_fields_point_at_the_document(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", "# comment\n\napiVersion: bedrock.gitops/v1\n")
    assert problems_of(file) == [
        Problem(str(file), 3, "kind", "required field is missing"),
        Problem(str(file), 3, "metadata", "required field is missing"),
        Problem(str(file), 3, "spec", "required field is missing"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "line", "path"),
    [
        ("apiVersion: bedrock.gitops/v1", "apiVersion: bedrock.gitops/v2", 1, "apiVersion"),
        ("kind: CustomModel", "kind: Model", 2, "kind"),
    ],
    ids=["apiVersion", "kind"],
)
def test_wrong_api_version_or_kind(
    tmp_path: Path, old: str, new: str, line: int, path: str
) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha").replace(old, new))
    problem = only_problem(file)
    assert (problem.file, problem.line, problem.path) == (str(file), line, path)
    assert "Input should be" in problem.message


def test_bad_s3_uri(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha", s3="https://acme/x"))
    problem = only_problem(file)
    assert (problem.line, problem.path) == (8, "spec.modelSourceConfig.s3DataSource.s3Uri")
    assert problem.message.startswith("s3Uri 'https://acme/x' does not match the service's")


def test_bad_name(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("a--b"))
    problem = only_problem(file)
    assert (problem.line, problem.path) == (4, "metadata.name")
    assert problem.message.startswith("name 'a--b' does not match")


def test_bad_kms_key(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("a", extra=f"  modelKmsKeyArn: {KMS[:-1]}\n"))
    problem = only_problem(file)
    assert (problem.line, problem.path) == (9, "spec.modelKmsKeyArn")
    assert "does not match" in problem.message


@pytest.mark.parametrize("key", ["aws:team", "reconciler:managed-by", "Reconciler:x", "AWS:x"])
def test_reserved_tag_key(tmp_path: Path, key: str) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha", tags={"ok": "1", key: "x"}))
    problem = only_problem(file)
    assert (problem.line, problem.path) == (11, f"spec.tags.{key}")
    assert "is reserved" in problem.message


def test_bad_tag_value_points_at_its_key(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha", tags={"a": "1", "b": "no;pe"}))
    problem = only_problem(file)
    assert (problem.line, problem.path) == (11, "spec.tags.b")
    assert "does not match" in problem.message


@pytest.mark.parametrize(
    ("count", "policy", "ok"),
    [
        (47, "Retain", True),
        (48, "Retain", False),
        (48, "Delete", True),
        (49, "Delete", False),
        (48, None, True),
        (49, None, False),
    ],
    ids=["47+Retain", "48+Retain", "48+Delete", "49+Delete", "48-default", "49-default"],
)
def test_tag_limit_counts_the_reconcilers_own_tags(
    tmp_path: Path, count: int, policy: str | None, ok: bool
) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha", tags=user_tags(count), policy=policy))
    if ok:
        [model] = manifests.load([str(file)]).models
        assert len(model.spec.tags) == count
        return
    total = count + 2 + (policy == "Retain")
    assert only_problem(file) == Problem(
        str(file),
        9,
        "spec.tags",
        f"{total} tags with the reconciler's own; the service allows 50 per model",
    )


def test_duplicate_name_across_two_files_names_both(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", manifest("alpha"))
    b = write(tmp_path / "sub" / "b.yml", manifest("other") + "---\n" + manifest("alpha"))
    assert problems_of(tmp_path) == [
        Problem(str(a), 1, "metadata.name", f"model 'alpha' is declared twice (also at {b}:10)"),
        Problem(str(b), 10, "metadata.name", f"model 'alpha' is declared twice (also at {a}:1)"),
    ]


def test_duplicate_name_in_one_file(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", manifest("alpha") + "---\n" + manifest("alpha"))
    lines = sorted(p.line for p in problems_of(a))
    assert lines == [1, 10]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = manifest("alpha").replace("kind: CustomModel\n", "kind: CustomModel\nkind: Other\n")
    file = write(tmp_path / "a.yaml", text)
    assert only_problem(file) == Problem(str(file), 3, "", "duplicate key 'kind'")
    assert str(only_problem(file)) == f"{file}:3: duplicate key 'kind'"


def test_malformed_yaml(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha") + "  tags: {team: a\n")
    problem = only_problem(file)
    assert problem.file == str(file)
    assert problem.line == 10
    assert problem.message.startswith("malformed YAML: ")


@pytest.mark.parametrize(
    "text", ["- a\n- b\n", "just a string\n", "42\n"], ids=["list", "string", "number"]
)
def test_non_mapping_document(tmp_path: Path, text: str) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha") + "---\n" + text)
    assert only_problem(file) == Problem(str(file), 10, "", "a manifest must be a mapping")


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    rows = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    file = write(tmp_path / "bomb.yaml", "\n".join(rows) + "\n")
    start = time.perf_counter()
    problem = only_problem(file)
    assert time.perf_counter() - start < 1.0
    assert problem.file == str(file)
    assert "alias bomb" in problem.message


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha") + "  tags: &t {a: *t}\n")
    problem = only_problem(file)
    assert problem.message == "document nested deeper than 32 levels"


def test_python_tag_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = manifest(
        "alpha", extra=f"  roleArn: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    file = write(tmp_path / "a.yaml", text)
    problem = only_problem(file)
    assert problem.line == 9
    assert "python/object/apply:os.system" in problem.message
    assert "not allowed" in problem.message
    assert not marker.exists()


def test_file_over_one_mib_is_refused(tmp_path: Path) -> None:
    padding = "# " + "x" * 1000 + "\n"
    text = manifest("alpha") + padding * (manifests.MAX_FILE_BYTES // len(padding) + 1)
    file = write(tmp_path / "big.yaml", text)
    assert file.stat().st_size > 1024 * 1024
    assert only_problem(file) == Problem(str(file), 1, "", "file is larger than 1024 KiB; refused")


def test_file_of_exactly_one_mib_is_accepted(tmp_path: Path) -> None:
    text = manifest("alpha") + "#"
    text += "x" * (manifests.MAX_FILE_BYTES - len(text) - 1) + "\n"
    file = write(tmp_path / "a.yaml", text)
    assert file.stat().st_size == 1024 * 1024
    assert [m.name for m in manifests.load([str(file)]).models] == ["alpha"]


def test_non_utf8_file_is_refused_at_the_right_line(tmp_path: Path) -> None:
    raw = manifest("alpha", tags={"team": "caf"}).encode().replace(b'"caf"', b'"caf\xe9"')
    file = write(tmp_path / "a.yaml", raw)
    assert only_problem(file) == Problem(str(file), 10, "", "file is not valid UTF-8")


def test_utf16_file_is_refused(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha").encode("utf-16"))
    assert only_problem(file) == Problem(str(file), 1, "", "file is not valid UTF-8")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    nested = "[" * 40 + "]" * 40
    file = write(tmp_path / "a.yaml", manifest("alpha", extra=f"  tags: {nested}\n"))
    problem = only_problem(file)
    assert problem.message == "document nested deeper than 32 levels"
    assert problem.line == 9


def test_every_problem_across_files_is_reported(tmp_path: Path) -> None:
    a = write(
        tmp_path / "a.yaml",
        manifest("a--b", s3="s3://X/", extra="  colour: red\n")
        + "---\n"
        + manifest("dup", tags={"aws:x": "1"}),
    )
    b = write(tmp_path / "b" / "b.yml", "kind: Model\n---\n" + manifest("dup"))
    c = write(tmp_path / "c.yaml", "a: [\n")
    d = write(tmp_path / "d.yaml", manifest("fine"))
    with pytest.raises(ManifestError) as caught:
        manifests.load([str(tmp_path)])
    found = {(p.file, p.line, p.path) for p in caught.value.problems}
    assert found == {
        (str(a), 4, "metadata.name"),
        (str(a), 8, "spec.modelSourceConfig.s3DataSource.s3Uri"),
        (str(a), 9, "spec.colour"),
        (str(a), 20, "spec.tags.aws:x"),
        (str(b), 1, "apiVersion"),
        (str(b), 1, "metadata"),
        (str(b), 1, "spec"),
        (str(b), 1, "kind"),
        (str(c), 2, ""),
    }
    assert len(caught.value.problems) == 9
    assert str(d) not in {p.file for p in caught.value.problems}
    message = str(caught.value)
    assert message.endswith("9 problems found in manifests; nothing was sent to AWS")
    assert f"{a}:4: metadata.name: name 'a--b' does not match" in message
    assert len(message.splitlines()) == 10


def test_duplicates_are_found_alongside_other_problems(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", manifest("dup"))
    b = write(tmp_path / "b.yaml", manifest("dup") + "---\n" + manifest("x", s3="bad"))
    found = sorted((p.file, p.line, p.path) for p in problems_of(tmp_path))
    assert found == [
        (str(a), 1, "metadata.name"),
        (str(b), 1, "metadata.name"),
        (str(b), 17, "spec.modelSourceConfig.s3DataSource.s3Uri"),
    ]


def test_one_problem_is_singular(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", manifest("a--b"))
    with pytest.raises(ManifestError, match="\n1 problem found in manifests; nothing"):
        manifests.load([str(tmp_path)])


def test_tag_limit_is_reported_alongside_other_problems(tmp_path: Path) -> None:
    text = manifest("alpha", tags=user_tags(60)).replace("kind: CustomModel", "kind: Model")
    file = write(tmp_path / "a.yaml", text)
    assert {p.path for p in problems_of(file)} == {"kind", "spec.tags"}


def test_impossible_date_is_a_problem_at_its_line(tmp_path: Path) -> None:
    # (Under spec.tags it would be the text "2024-02-30", as written.)
    file = write(tmp_path / "a.yaml", manifest("alpha", extra="  deletionPolicy: 2024-02-30\n"))
    other = write(tmp_path / "b.yaml", manifest("a--b"))
    found = {(p.file, p.line) for p in problems_of(tmp_path)}
    assert found == {(str(file), 9), (str(other), 4)}


# --- suffixes, hidden folders, empty PATHs, tag keys as written ------------------------------


def test_upper_case_suffixes_are_read(tmp_path: Path) -> None:
    write(tmp_path / "a.YAML", manifest("alpha"))
    write(tmp_path / "b.Yml", manifest("beta"))
    assert [m.name for m in manifests.load([str(tmp_path)]).models] == ["alpha", "beta"]


def test_a_git_folder_is_skipped_but_other_hidden_folders_are_read(tmp_path: Path) -> None:
    write(tmp_path / ".git" / "x.yaml", "not: a manifest")
    write(tmp_path / ".config" / "c.yaml", manifest("gamma"))
    assert [m.name for m in manifests.load([str(tmp_path)]).models] == ["gamma"]


def test_an_upper_case_manifest_is_planned_not_pruned(cli: Any, tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", manifest("alpha"))
    write(tmp_path / "b.YML", manifest("beta"))
    assert cli("apply", str(tmp_path)).code == 0
    run = cli("plan", str(tmp_path), "--output", "json")
    assert {a["name"]: a["action"] for a in run.json()["actions"]} == {
        "alpha": "noop",
        "beta": "noop",
    }


def test_tag_keys_and_values_are_strings_as_written(tmp_path: Path) -> None:
    text = manifest("alpha") + "  tags:\n    yes: on\n    1.10: x\n    2024-01-01: '1'\n"
    write(tmp_path / "a.yaml", text)
    [model] = manifests.load([str(tmp_path)]).models
    assert model.spec.tags == {"yes": "on", "1.10": "x", "2024-01-01": "1"}


def test_tags_as_written_reach_the_model(cli: Any, tmp_path: Path, emulator: Any) -> None:
    write(tmp_path / "a.yaml", manifest("alpha") + "  tags:\n    yes: on\n    1.10: x\n")
    assert cli("apply", str(tmp_path)).code == 0
    from tests.helpers import models

    tags = models(emulator.client())["alpha"]["tags"]
    assert (tags["yes"], tags["1.10"]) == ("on", "x")


def test_merge_keys_and_tabs_get_plain_messages(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", manifest("alpha") + "  tags:\n    <<: {team: a}\n")
    write(
        tmp_path / "b.yaml",
        "apiVersion: bedrock.gitops/v1\nkind: CustomModel\nmetadata:\n\tname: b\n",
    )
    with pytest.raises(ManifestError) as caught:
        manifests.load([str(tmp_path)])
    messages = {(Path(p.file).name, p.line): p.message for p in caught.value.problems}
    assert messages[("a.yaml", 10)] == "merge keys (<<) are not supported; write the keys out"
    assert messages[("b.yaml", 4)] == "a tab in indentation; YAML indents with spaces only"


# -- refusals, word for word ---------------------------------------------------------------


def throughput(name: str, model: str) -> str:
    """A throughput manifest; its spec.model sits on line 6."""
    return (
        "apiVersion: bedrock.gitops/v1\nkind: ProvisionedThroughput\nmetadata:\n"
        f"  name: {name}\nspec:\n  model: {model}\n  modelUnits: 1\n"
    )


def test_an_empty_path_is_a_usage_error_naming_the_likely_cause(tmp_path: Path) -> None:
    from reconciler.errors import UsageError

    with pytest.raises(UsageError) as caught:
        manifests.load([str(tmp_path), " "])
    assert str(caught.value) == (
        "an empty PATH was given (an unset variable?); name the manifests folder"
    )


def test_a_folder_that_cannot_be_listed_is_a_source_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    write(root / "team" / "a.yaml", manifest("alpha"))
    listing = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path).name == "team":
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(SourceError) as caught:
        manifests.load([str(root)])
    assert str(caught.value) == f"{root / 'team'}: cannot be read: Permission denied"


def test_folders_after_a_refused_or_repeated_one_are_still_read(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(outside / "b.yaml", manifest("beta"))
    os.makedirs(root)
    os.symlink(outside, root / "a-out")  # walked first: refused
    os.symlink(root, root / "b-loop")  # walked next: already seen
    write(root / "c" / "c.yaml", manifest("gamma"))
    refused = f"a symlinked folder leading out of {root} ({outside}); refused"
    assert manifests.find_files([str(root)]) == [
        root / "c" / "c.yaml",
        Problem(str(root / "a-out"), 1, "", refused),
    ]
    os.unlink(root / "a-out")
    write(root / "a-in" / "a.yaml", manifest("alpha"))  # the loop now comes after a folder
    assert manifests.find_files([str(root)]) == [root / "a-in" / "a.yaml", root / "c" / "c.yaml"]


def test_an_entry_problem_names_the_file_not_a_field(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a.yaml", manifest("alpha"))
    os.symlink(tmp_path / "nowhere.yaml", root / "b.yaml")
    os.symlink(tmp_path / "outside.yaml", root / "c.yaml")
    write(tmp_path / "outside.yaml", manifest("gamma"))
    os.mkfifo(root / "d.yaml")
    assert [(p.file, p.line, p.path) for p in problems_of(root)] == [
        (str(root / name), 1, "") for name in ("b.yaml", "c.yaml", "d.yaml")
    ]


def test_a_file_that_cannot_be_opened_is_a_problem_at_line_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha"))
    opening = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == file:
            raise PermissionError(13, "Permission denied")
        return opening(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    assert only_problem(file) == Problem(str(file), 1, "", "cannot be read: Permission denied")


def test_a_file_growing_past_the_limit_after_its_size_was_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = manifest("alpha") + "#"
    text += "x" * (manifests.MAX_FILE_BYTES - len(text)) + "\n"  # one byte over
    file = write(tmp_path / "a.yaml", text)
    real_fstat = os.fstat

    class Small:
        def __init__(self, fd: int) -> None:
            self.info = real_fstat(fd)
            self.st_size = 0  # as it was when its size was read

        def __getattr__(self, name: str) -> Any:
            return getattr(self.info, name)

    monkeypatch.setattr(os, "fstat", Small)
    assert only_problem(file) == Problem(str(file), 1, "", "file is larger than 1024 KiB; refused")
    exact = write(tmp_path / "b.yaml", text[:-2] + "\n")  # exactly the limit: read whole
    assert [m.name for m in manifests.load([str(exact)]).models] == ["alpha"]


def test_bad_utf8_after_a_leading_blank_line_is_placed_right(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", b"\n\n# caf\xe9\n" + manifest("alpha").encode())
    assert only_problem(file) == Problem(str(file), 3, "", "file is not valid UTF-8")


def test_an_unknown_kind_lists_the_kinds_and_a_target_is_sent_to_its_file(
    tmp_path: Path,
) -> None:
    kinds = "Input should be one of 'CustomModel', 'ProvisionedThroughput', 'CustomModelDeployment'"
    model = write(
        tmp_path / "a.yaml", manifest("alpha").replace("kind: CustomModel", "kind: Model")
    )
    assert only_problem(model) == Problem(str(model), 2, "kind", kinds)
    target = write(tmp_path / "t.yaml", manifest("t").replace("kind: CustomModel", "kind: Target"))
    assert only_problem(target) == Problem(
        str(target),
        2,
        "kind",
        kinds + "; a Target belongs in a targets file (--targets), not among manifests",
    )
    # A real Target's fields are not reported one by one as a model's unknown fields.
    real = write(
        tmp_path / "real.yaml",
        "apiVersion: bedrock.gitops/v1\nkind: Target\nmetadata:\n  name: prod\n"
        "spec:\n  region: us-east-1\n  paths: [../manifests]\n",
    )
    assert only_problem(real) == Problem(
        str(real),
        2,
        "kind",
        kinds + "; a Target belongs in a targets file (--targets), not among manifests",
    )


def test_serving_manifests_load_with_the_line_of_their_model_reference(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", manifest("alpha") + "---\n" + throughput("p", "alpha"))
    state = manifests.load([str(file)])
    [p] = [r for r in state.resources if r.name == "p"]
    assert (p.kind.value, p.spec.model, p.line, p.ref_line) == (
        "ProvisionedThroughput",
        "alpha",
        10,
        15,
    )


def test_a_reference_to_an_undeclared_model_points_at_the_reference(tmp_path: Path) -> None:
    file = write(
        tmp_path / "a.yaml",
        throughput("p", "alpha") + "---\n" + throughput("alpha", "p"),
    )
    assert problems_of(file) == [
        Problem(str(file), 6, "spec.model", "no CustomModel named 'alpha' is declared"),
        Problem(str(file), 14, "spec.model", "no CustomModel named 'p' is declared"),
    ]


def test_a_serving_resource_declared_twice_is_named_by_its_kind(tmp_path: Path) -> None:
    file = write(
        tmp_path / "a.yaml",
        manifest("alpha") + "---\n" + throughput("p", "alpha") + "---\n" + throughput("p", "alpha"),
    )
    messages = [p.message for p in problems_of(file)]
    assert messages == [
        f"ProvisionedThroughput 'p' is declared twice (also at {file}:18)",
        f"ProvisionedThroughput 'p' is declared twice (also at {file}:10)",
    ]
