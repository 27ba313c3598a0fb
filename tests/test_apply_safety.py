"""What apply refuses whole, and what a saved plan may not smuggle in.

- A plan holding a conflict or blocked action is never partly applied (plain ``apply`` and
  ``apply --plan`` alike): nothing changes, every error action is listed.
- ``apply --plan`` never trusts the file: it plans again from the manifests the file saved
  and the account as read now, and refuses unless that is the saved plan exactly. Each kind
  of tampering is tried: an added action, a changed ARN, a changed action kind, a guard the
  command line did not give.
- A refused ``plan --out`` leaves no plan file behind, not even an earlier one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, manifest, models, write

MUTATING = ("CreateCustomModel", "DeleteCustomModel", "TagResource", "UntagResource")


def mutating_calls(emulator: Any) -> dict[str, int]:
    return {op: emulator.backend.calls[op] for op in MUTATING}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "a.yaml", manifest("support-nova-lite"))
    write(folder, "b.yaml", manifest("beta"))
    return folder


def other_scopes_model(cli: Cli, tmp_path: Path, *names: str) -> None:
    theirs = tmp_path / "theirs"
    for name in names or ("victim",):
        write(theirs, f"{name}.yaml", manifest(name))
    assert cli("apply", str(theirs), "--scope", "other-team").code == 0


def test_apply_refuses_a_plan_with_a_conflict_whole(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    """The rename onto a name another scope holds: plan exits 1, and so does apply, having
    deleted nothing (before, the old model was deleted and the create failed)."""
    assert cli("apply", str(repo)).code == 0
    other_scopes_model(cli, tmp_path)
    write(repo, "a.yaml", manifest("victim"))  # renamed onto the other scope's model
    assert cli("plan", str(repo)).code == 1
    before = mutating_calls(emulator)
    run = cli("apply", str(repo))
    assert run.code == 1
    assert "! conflict victim" in run.err
    assert "refusing the whole plan, nothing was changed" in run.err
    assert mutating_calls(emulator) == before
    assert sorted(models(emulator.client())) == ["beta", "support-nova-lite", "victim"]


def test_apply_lists_every_error_action(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    other_scopes_model(cli, tmp_path, "victim", "victim2")
    write(repo, "c.yaml", manifest("victim"))
    write(repo, "d.yaml", manifest("victim2"))
    run = cli("apply", str(repo))
    assert run.code == 1
    assert "! conflict victim:" in run.err and "! conflict victim2:" in run.err
    assert "support-nova-lite" not in models(emulator.client())


def saved(cli: Cli, repo: Path, tmp_path: Path, *extra: str) -> tuple[Path, dict[str, Any]]:
    planfile = tmp_path / "plan.json"
    run = cli("plan", str(repo), "--out", str(planfile), *extra)
    assert run.code == 0, run.err
    return planfile, json.loads(planfile.read_text())


def tampered(planfile: Path, document: dict[str, Any]) -> None:
    planfile.write_text(json.dumps(document))


def test_an_action_added_to_a_saved_plan_is_refused(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    assert cli("apply", str(repo)).code == 0
    other_scopes_model(cli, tmp_path)
    victim = models(emulator.client())["victim"]["modelArn"]
    planfile, document = saved(cli, repo, tmp_path)
    document["actions"].append(
        {
            "action": "delete",
            "name": "victim",
            "arn": victim,
            "reason": "no manifest declares it any more",
            "source": None,
        }
    )
    document["summary"]["delete"] = 1
    tampered(planfile, document)
    before = mutating_calls(emulator)
    run = cli("apply", "--plan", str(planfile))
    assert run.code == 1
    assert "victim: the file holds a delete that planning now does not" in run.err
    assert mutating_calls(emulator) == before
    assert "victim" in models(emulator.client())


def test_a_changed_arn_in_a_saved_plan_is_refused(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    assert cli("apply", str(repo)).code == 0
    other_scopes_model(cli, tmp_path)
    victim = models(emulator.client())["victim"]["modelArn"]
    (repo / "b.yaml").unlink()
    planfile, document = saved(cli, repo, tmp_path)
    [delete] = [a for a in document["actions"] if a["action"] == "delete"]
    delete["arn"] = victim  # the delete of beta now points at another scope's model
    tampered(planfile, document)
    run = cli("apply", "--plan", str(planfile))
    assert run.code == 1
    assert "beta: the file says delete (arn " + victim in run.err
    assert sorted(models(emulator.client())) == ["beta", "support-nova-lite", "victim"]


def test_a_changed_action_kind_in_a_saved_plan_is_refused(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    assert cli("apply", str(repo)).code == 0
    planfile, document = saved(cli, repo, tmp_path)
    document["actions"][0]["action"] = "replace"  # a noop turned into a replace
    tampered(planfile, document)
    before = mutating_calls(emulator)
    run = cli("apply", "--plan", str(planfile))
    assert run.code == 1
    assert "planning now says noop" in run.err
    assert mutating_calls(emulator) == before


@pytest.mark.parametrize("guard", ["force", "allow_empty", "allow-empty"])
def test_a_guard_claimed_by_the_file_is_refused(
    cli: Cli, repo: Path, tmp_path: Path, guard: str
) -> None:
    planfile, document = saved(cli, repo, tmp_path)
    document[guard] = True
    tampered(planfile, document)
    run = cli("apply", "--plan", str(planfile))
    assert run.code == 1
    assert "not a saved plan" in run.err


def test_a_plan_that_needed_force_still_needs_it_at_apply(
    cli: Cli, tmp_path: Path, emulator: Any
) -> None:
    folder = tmp_path / "many"
    for i in range(10):
        write(folder, f"m{i}.yaml", manifest(f"m{i}"))
    assert cli("apply", str(folder)).code == 0
    for i in range(4):
        (folder / f"m{i}.yaml").unlink()
    planfile, _ = saved(cli, folder, tmp_path, "--force")
    run = cli("apply", "--plan", str(planfile))
    assert run.code == 1
    assert "deletes or replaces 4 of 10" in run.err
    assert len(models(emulator.client())) == 10
    assert cli("apply", "--plan", str(planfile), "--force").code == 0
    assert len(models(emulator.client())) == 6


def test_a_saved_plan_for_another_region_is_refused(cli: Cli, repo: Path, tmp_path: Path) -> None:
    planfile, _ = saved(cli, repo, tmp_path)
    run = cli("apply", "--plan", str(planfile), "--region", "us-west-2")
    assert run.code == 1
    assert "the plan is for region us-east-1, not us-west-2" in run.err


def test_a_refused_plan_out_removes_an_earlier_plan_file(
    cli: Cli, tmp_path: Path, emulator: Any
) -> None:
    folder = tmp_path / "many"
    for i in range(10):
        write(folder, f"m{i}.yaml", manifest(f"m{i}"))
    planfile = tmp_path / "plan.json"
    assert cli("plan", str(folder), "--out", str(planfile)).code == 0  # an earlier plan
    assert cli("apply", str(folder)).code == 0
    for i in range(4):
        (folder / f"m{i}.yaml").unlink()
    run = cli("plan", str(folder), "--out", str(planfile))  # refused by the deletion budget
    assert run.code == 1
    assert f"{planfile} was removed" in run.err
    assert not planfile.exists()
    assert cli("apply", "--plan", str(planfile)).code == 1  # nothing left to apply


def test_a_refused_plan_out_for_an_empty_source(cli: Cli, repo: Path, tmp_path: Path) -> None:
    assert cli("apply", str(repo)).code == 0
    planfile, _ = saved(cli, repo, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    run = cli("plan", str(empty), "--out", str(planfile))
    assert run.code == 1
    assert "--allow-empty" in run.err and f"{planfile} was removed" in run.err
    assert not planfile.exists()


def test_a_refused_plan_out_for_a_conflict(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    planfile, _ = saved(cli, repo, tmp_path)
    other_scopes_model(cli, tmp_path)
    write(repo, "c.yaml", manifest("victim"))
    run = cli("plan", str(repo), "--out", str(planfile))
    assert run.code == 1
    assert f"{planfile} was removed" in run.err
    assert not planfile.exists()


def test_a_refused_plan_out_for_an_aws_error(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    planfile, _ = saved(cli, repo, tmp_path)
    emulator.backend.fail_next("ListCustomModels", "AccessDeniedException", times=20)
    run = cli("plan", str(repo), "--out", str(planfile))
    assert run.code == 1
    assert f"{planfile} was removed" in run.err
    assert not planfile.exists()


def test_plan_files_are_written_atomically(cli: Cli, repo: Path, tmp_path: Path) -> None:
    planfile, _ = saved(cli, repo, tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert json.loads(planfile.read_text())["format"] == "bedrock-reconciler/plan"


# The account the credentials belong to ----------------------------------------------------


def test_every_output_names_the_account(cli: Cli, repo: Path) -> None:
    text = cli("plan", str(repo))
    assert text.out.startswith("Plan for scope 'default' in 123456789012/us-east-1:")
    document = cli("plan", str(repo), "--output", "json").json()
    assert (document["account"], document["region"]) == ("123456789012", "us-east-1")
    markdown = cli("plan", str(repo), "--output", "markdown").out
    assert "in `123456789012/us-east-1`" in markdown.splitlines()[0]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_credentials_for_another_account_are_refused_before_anything_is_read(
    cli: Cli, repo: Path, emulator: Any, how: str
) -> None:
    before = sum(emulator.backend.calls.values())
    if how == "flag":
        run = cli("--account-id", "222222222222", "apply", str(repo))
        source = "--account-id"
    else:
        run = cli("apply", str(repo), environ={"RECONCILER_ACCOUNT_ID": "222222222222"})
        source = "RECONCILER_ACCOUNT_ID"
    assert run.code == 1
    assert run.err == (
        "error: the credentials are for account 123456789012, not 222222222222 "
        f"({source}); nothing was read or changed\n"
    )
    assert sum(emulator.backend.calls.values()) == before  # only STS was asked
    assert cli("--account-id", "123456789012", "plan", str(repo)).code == 0


def test_an_account_id_that_is_not_one_is_a_usage_error(cli: Cli, repo: Path) -> None:
    run = cli("--account-id", "12345", "plan", str(repo))
    assert run.code == 1 and "must be a 12-digit AWS account id" in run.err


def test_a_saved_plan_for_another_account_is_refused(
    cli: Cli, repo: Path, tmp_path: Path, emulator: Any
) -> None:
    planfile, document = saved(cli, repo, tmp_path)
    assert document["account"] == "123456789012"
    document["account"] = "222222222222"
    tampered(planfile, document)
    run = cli("apply", "--plan", str(planfile))
    assert run.code == 1
    assert "the plan is for account 222222222222, not 123456789012" in run.err
    assert models(emulator.client()) == {}
