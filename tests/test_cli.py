"""The CLI end to end: ``main([...])`` over real boto3 calls to the HTTP Bedrock emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, actions, deployment, manifest, models, throughput, write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "a.yaml", manifest("alpha", tags={"team": "a"}))
    write(folder, "nested/b.yml", manifest("beta") + "---\n" + manifest("gamma", retain=True))
    return folder


def test_plan_on_an_empty_account_creates_everything(cli: Cli, repo: Path) -> None:
    run = cli("plan", str(repo), "--output", "json")
    assert run.code == 0
    assert actions(run) == {"alpha": "create", "beta": "create", "gamma": "create"}
    assert run.json()["summary"] == {"create": 3}
    assert run.json()["region"] == "us-east-1"
    assert run.json()["scope"] == "default"


def test_detailed_exitcode_is_2_with_changes_and_0_in_sync(cli: Cli, repo: Path) -> None:
    assert cli("plan", str(repo), "--detailed-exitcode").code == 2
    assert cli("apply", str(repo)).code == 0
    run = cli("plan", str(repo), "--detailed-exitcode", "--output", "json")
    assert run.code == 0
    assert set(actions(run).values()) == {"noop"}


def test_apply_creates_models_with_every_tag_in_the_create_call(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 0, run.err
    assert {a["result"] for a in run.json()["actions"]} == {"done"}
    found = models(emulator.client())
    assert sorted(found) == ["alpha", "beta", "gamma"]
    alpha = found["alpha"]["tags"]
    assert alpha["reconciler:managed-by"] == "default"
    assert len(alpha["reconciler:spec-hash"]) >= 16
    assert alpha["team"] == "a"
    assert "reconciler:deletion-policy" not in alpha
    assert found["gamma"]["tags"]["reconciler:deletion-policy"] == "Retain"
    assert emulator.backend.calls["TagResource"] == 0
    assert found["alpha"]["modelArn"].split("/")[-2] == "imported"


def test_second_apply_does_nothing(cli: Cli, repo: Path, emulator: Any) -> None:
    cli("apply", str(repo))
    creates = emulator.backend.calls["CreateCustomModel"]
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 0
    assert set(actions(run).values()) == {"noop"}
    assert emulator.backend.calls["CreateCustomModel"] == creates


def test_changed_content_is_replaced(cli: Cli, repo: Path, emulator: Any) -> None:
    cli("apply", str(repo))
    before = models(emulator.client())["alpha"]["modelArn"]
    write(
        repo, "a.yaml", manifest("alpha", s3_uri="s3://acme-models/alpha/v2/", tags={"team": "a"})
    )
    run = cli("plan", str(repo), "--output", "json")
    assert actions(run)["alpha"] == "replace"
    assert cli("apply", str(repo)).code == 0
    after = models(emulator.client())["alpha"]
    assert after["modelArn"] != before
    assert after["tags"]["team"] == "a"
    assert set(actions(cli("plan", str(repo), "--output", "json")).values()) == {"noop"}


def test_tags_and_role_changes_never_replace(cli: Cli, repo: Path, emulator: Any) -> None:
    cli("apply", str(repo))
    arn = models(emulator.client())["alpha"]["modelArn"]
    write(repo, "a.yaml", manifest("alpha", tags={"team": "b", "env": "prod"}, role=None))
    run = cli("plan", str(repo), "--output", "json")
    assert actions(run)["alpha"] == "update-tags"
    assert cli("apply", str(repo)).code == 0
    alpha = models(emulator.client())["alpha"]
    assert alpha["modelArn"] == arn
    assert alpha["tags"]["team"] == "b" and alpha["tags"]["env"] == "prod"
    assert alpha["tags"]["reconciler:managed-by"] == "default"


def test_removed_tag_is_untagged(cli: Cli, repo: Path, emulator: Any) -> None:
    cli("apply", str(repo))
    write(repo, "a.yaml", manifest("alpha"))
    assert cli("apply", str(repo)).code == 0
    assert "team" not in models(emulator.client())["alpha"]["tags"]


def test_undeclared_models_are_deleted_and_retained_ones_released(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    cli("apply", str(repo))
    (repo / "nested" / "b.yml").unlink()
    run = cli("plan", str(repo), "--output", "json")
    assert actions(run) == {"alpha": "noop", "beta": "delete", "gamma": "release"}
    assert cli("apply", str(repo)).code == 0
    found = models(emulator.client())
    assert "beta" not in found
    assert "gamma" in found
    assert not [k for k in found["gamma"]["tags"] if k.startswith("reconciler:")]
    assert actions(cli("plan", str(repo), "--output", "json")) == {"alpha": "noop"}


def test_no_prune_skips_deletes(cli: Cli, repo: Path, emulator: Any) -> None:
    cli("apply", str(repo))
    (repo / "nested" / "b.yml").unlink()
    run = cli("apply", str(repo), "--no-prune", "--output", "json")
    assert run.code == 0
    results = {a["name"]: a["result"] for a in run.json()["actions"]}
    assert results["beta"] == "skipped"
    assert "beta" in models(emulator.client())


def test_unmanaged_model_with_a_declared_name_is_a_conflict(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    client = emulator.client()
    client.create_custom_model(
        modelName="alpha",
        modelSourceConfig={"s3DataSource": {"s3Uri": "s3://someone-else/alpha/"}},
        modelTags=[{"key": "owner", "value": "someone"}],
    )
    plan = cli("plan", str(repo), "--output", "json")
    assert plan.code == 1
    assert actions(plan)["alpha"] == "conflict"
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 1  # a plan holding a conflict is refused whole
    assert "! conflict alpha" in run.err
    assert sorted(models(client)) == ["alpha"]
    assert models(client)["alpha"]["tags"] == {"owner": "someone"}


def test_another_scopes_model_is_never_touched(cli: Cli, repo: Path, emulator: Any) -> None:
    assert cli("apply", str(repo), "--scope", "team-a").code == 0
    empty = repo.parent / "empty"
    write(empty, "x.yaml", manifest("delta"))
    run = cli("apply", str(empty), "--scope", "team-b", "--output", "json")
    assert run.code == 0
    assert actions(run) == {"delta": "create"}
    assert sorted(models(emulator.client())) == ["alpha", "beta", "delta", "gamma"]


def test_scope_from_environment(cli: Cli, repo: Path, emulator: Any) -> None:
    cli("apply", str(repo), environ={"RECONCILER_SCOPE": "env-scope"})
    tags = models(emulator.client())["alpha"]["tags"]
    assert tags["reconciler:managed-by"] == "env-scope"


def test_replacing_a_retained_model_is_blocked(cli: Cli, repo: Path, emulator: Any) -> None:
    cli("apply", str(repo))
    arn = models(emulator.client())["gamma"]["modelArn"]
    write(
        repo,
        "nested/b.yml",
        manifest("beta") + "---\n" + manifest("gamma", "s3://x-y/z/", retain=True),
    )
    run = cli("plan", str(repo), "--output", "json")
    assert run.code == 1
    assert actions(run)["gamma"] == "blocked"
    assert cli("apply", str(repo)).code == 1
    assert models(emulator.client())["gamma"]["modelArn"] == arn


def test_failed_import_is_replaced(cli: Cli, repo: Path, emulator: Any) -> None:
    cli("apply", str(repo))
    emulator.backend.set_status("beta", "Failed", "weights not found")
    assert actions(cli("plan", str(repo), "--output", "json"))["beta"] == "replace"
    assert cli("apply", str(repo)).code == 0
    assert models(emulator.client())["beta"]["modelStatus"] != "Failed"


def test_empty_source_never_prunes(cli: Cli, repo: Path, tmp_path: Path, emulator: Any) -> None:
    cli("apply", str(repo))
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in ("plan", "apply"):
        run = cli(command, str(empty))
        assert run.code == 1
        assert "--allow-empty" in run.err
    assert len(models(emulator.client())) == 3
    assert cli("apply", str(empty), "--allow-empty").code == 0
    assert sorted(models(emulator.client())) == ["gamma"]


def test_missing_path_is_an_error_not_an_empty_source(
    cli: Cli, tmp_path: Path, emulator: Any
) -> None:
    run = cli("apply", str(tmp_path / "nope"))
    assert run.code == 1
    assert "no such file or folder" in run.err
    assert sum(emulator.backend.calls.values()) == 0


def test_invalid_manifest_sends_nothing(cli: Cli, repo: Path, emulator: Any) -> None:
    write(repo, "bad.yaml", manifest("delta").replace("spec:", "spec:\n  colour: red"))
    for command in ("validate", "plan", "apply"):
        run = cli(command, str(repo))
        assert run.code == 1
        assert f"{repo / 'bad.yaml'}:6: spec.colour: unknown field" in run.err
        assert "Traceback" not in run.err
    assert sum(emulator.backend.calls.values()) == 0


def test_recreating_a_removed_then_readded_manifest(cli: Cli, repo: Path, emulator: Any) -> None:
    cli("apply", str(repo))
    text = (repo / "a.yaml").read_text()
    (repo / "a.yaml").unlink()
    assert cli("apply", str(repo)).code == 0
    assert "alpha" not in models(emulator.client())
    write(repo, "a.yaml", text)
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 0, run.err
    found = models(emulator.client())
    assert "alpha" in found
    assert {a["name"]: a["arn"] for a in run.json()["actions"]}["alpha"] == found["alpha"][
        "modelArn"
    ]


def test_model_in_use_cannot_be_deleted(cli: Cli, repo: Path, emulator: Any) -> None:
    emulator.backend.import_seconds = 0.0  # only an Active model can be in use
    cli("apply", str(repo))
    emulator.backend.set_in_use("beta", True)
    (repo / "nested" / "b.yml").write_text(manifest("gamma", retain=True))
    write(repo, "d.yaml", manifest("delta"))
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 1
    beta = next(a for a in run.json()["actions"] if a["name"] == "beta")
    assert beta["result"] == "failed"
    assert "DeleteCustomModel beta" in beta["error"] and "in use" in beta["error"]
    assert "delta" in models(emulator.client())
    text = cli("apply", str(repo))
    assert "Traceback" not in text.err
    assert "1 action(s) failed" in text.err


def test_shared_models_are_never_touched(cli: Cli, repo: Path, emulator: Any) -> None:
    shared = emulator.backend.add_shared_model("beta", "999999999999")
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 0
    assert actions(run)["beta"] == "create"
    assert all(a["arn"] != shared for a in run.json()["actions"])
    listed = emulator.client().list_custom_models()["modelSummaries"]
    assert shared in {m["modelArn"] for m in listed}


def test_more_models_than_one_index_page(cli: Cli, tmp_path: Path, emulator: Any) -> None:
    folder = tmp_path / "many"
    write(folder, "all.yaml", "---\n".join(manifest(f"m{i:03d}") for i in range(130)))
    assert cli("apply", str(folder), "--concurrency", "16").code == 0
    assert len(models(emulator.client())) == 130
    before = dict(emulator.backend.calls)
    run = cli("plan", str(folder), "--output", "json")
    assert run.json()["summary"] == {"noop": 130}
    calls = {op: n - before.get(op, 0) for op, n in emulator.backend.calls.items()}
    # The list serves up to 1,000 models a page, the tagging index 100.
    assert calls["ListCustomModels"] == 1 and calls["GetResources"] == 2
    assert emulator.backend.calls["GetCustomModel"] == before.get("GetCustomModel", 0)


def test_text_output_is_plain_without_a_terminal(cli: Cli, repo: Path) -> None:
    run = cli("plan", str(repo))
    assert "\x1b[" not in run.out
    lines = run.out.splitlines()
    assert any(line.strip().startswith("+ create") and "alpha" in line for line in lines)
    assert f"[{repo / 'a.yaml'}:1]" in run.out
    assert lines[-1] == "Plan: 3 create."


def test_apply_wait_until_active(cli: Cli, repo: Path, emulator: Any) -> None:
    run = cli("apply", str(repo), "--wait", "--timeout", "30", "--output", "json")
    assert run.code == 0, run.err
    statuses = {m["modelStatus"] for m in models(emulator.client()).values()}
    assert statuses == {"Active"}


def test_validate_and_schema(cli: Cli, repo: Path) -> None:
    run = cli("validate", str(repo))
    assert run.code == 0
    assert "3 models valid in 2 files" in run.out
    schema = cli("schema").json()
    assert schema["properties"]["kind"]["enum"] == [
        "CustomModel",
        "ProvisionedThroughput",
        "CustomModelDeployment",
    ]
    for kind in ("CustomModel", "ProvisionedThroughput", "CustomModelDeployment"):
        document = schema["$defs"][f"{kind}Manifest"]
        assert document["additionalProperties"] is False
        assert set(document["required"]) == {"apiVersion", "kind", "metadata", "spec"}


def test_unreachable_endpoint_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], repo: Path
) -> None:
    cli = Cli("http://127.0.0.1:9", capsys)
    run = cli("plan", str(repo), environ={"AWS_MAX_ATTEMPTS": "2"})
    assert run.code == 1
    assert run.err.startswith("error: GetCallerIdentity failed: cannot reach the STS endpoint")
    assert "Traceback" not in run.err


def test_missing_credentials(cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    run = cli("plan", str(repo))
    assert run.code == 1
    assert "no AWS credentials found" in run.err
    assert "Traceback" not in run.err


def test_access_denied_names_the_permission(
    cli: Cli, repo: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.exceptions import JsonRESTError

    def deny(*args: Any, **kwargs: Any) -> None:
        error = JsonRESTError("AccessDeniedException", "not authorized to perform this action")
        error.code = 403
        raise error

    monkeypatch.setattr(emulator.backend, "list_custom_models", deny)
    run = cli("plan", str(repo))
    assert run.code == 1
    assert "AccessDeniedException" in run.err
    assert "bedrock:ListCustomModels" in run.err


def test_debug_shows_the_traceback(cli: Cli, tmp_path: Path) -> None:
    run = cli("--debug", "plan", str(tmp_path / "nope"))
    assert run.code == 1
    assert "Traceback" in run.err


def test_bad_usage_exits_1(cli: Cli, repo: Path) -> None:
    """Each usage error says what it is, with manifests in place: nothing else can fail."""
    assert cli("validate", str(repo)).code == 0
    for argv, message in (
        (["plan", str(repo), "--output", "yaml"], "invalid choice: 'yaml'"),
        (["--concurrency", "0", "validate", str(repo)], "--concurrency must be between 1 and 64"),
        (["--scope", "bad*scope", "plan", str(repo)], "'bad*scope' must be 1 to 256"),
    ):
        run = cli(*argv)
        assert run.code == 1, argv
        assert message in run.err, (argv, run.err)


def test_throttling_is_ridden_out_by_retries(cli: Cli, repo: Path, emulator: Any) -> None:
    emulator.backend.fail_next("ListCustomModels", "ThrottlingException", times=2)
    emulator.backend.fail_next("CreateCustomModel", "ThrottlingException", times=2)
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 0, run.err
    calls = sum(emulator.backend.calls.values()) + 1  # and GetCallerIdentity, moto's STS
    assert sorted(models(emulator.client())) == ["alpha", "beta", "gamma"]
    assert run.err == (
        f"note: AWS throttled 4 of {calls} API calls (CreateCustomModel 2, ListCustomModels 2); "
        "each was retried after a backoff\n"
    )


def test_replace_whose_delete_fails_skips_the_create(cli: Cli, repo: Path, emulator: Any) -> None:
    emulator.backend.import_seconds = 0.0  # only an Active model can be in use
    cli("apply", str(repo))
    arn = models(emulator.client())["alpha"]["modelArn"]
    emulator.backend.set_in_use("alpha", True)
    write(repo, "a.yaml", manifest("alpha", s3_uri="s3://acme-models/alpha/v2/"))
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 1
    alpha = next(a for a in run.json()["actions"] if a["name"] == "alpha")
    assert alpha["result"] == "failed"
    assert "the create was skipped" in alpha["error"]
    assert models(emulator.client())["alpha"]["modelArn"] == arn


def test_python_m_and_sandbox_state_persist_across_processes(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    state = tmp_path / "state.json"
    folder = tmp_path / "manifests"
    write(folder, "a.yaml", manifest("alpha"))
    command = [sys.executable, "-m", "reconciler", "--sandbox", "--sandbox-state", str(state)]
    env = {**os.environ, "NO_COLOR": "1"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    first = run("apply", str(folder), "--wait", "--timeout", "30")
    assert first.returncode == 0, first.stderr
    assert "+ create" in first.stdout
    second = run("plan", str(folder), "--detailed-exitcode")
    assert second.returncode == 0, second.stderr
    assert "= 1 in sync" in second.stdout and "+ create" not in second.stdout
    state.write_text("{not json")
    broken = run("plan", str(folder))
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: sandbox state")
    assert "Traceback" not in broken.stderr


# Run in a fresh interpreter: any import of a mypy_boto3 module fails (and is recorded), as it
# would where only the runtime dependencies are installed.
NO_STUBS = """
import importlib.abc, sys
tried = []
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith("mypy_boto3"):
            tried.append(name)
            raise ImportError(f"{name} is for the type checker only")
sys.meta_path.insert(0, Refuse())
from reconciler.cli import main
for args in (["apply", sys.argv[1], "--wait", "--timeout", "60"], ["plan", sys.argv[1]]):
    code = main(["--sandbox", *args])
    assert code == 0, (args, code)
loaded = [m for m in sys.modules if m.startswith("mypy_boto3")]
assert not tried and not loaded, (tried, loaded)
print("no stubs imported")
"""


def test_the_runtime_imports_no_type_stubs(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "manifests"
    write(folder, "model.yaml", manifest("alpha"))
    write(folder, "prod.yaml", throughput("alpha-prod", model="alpha"))
    write(folder, "chat.yaml", deployment("alpha-chat", model="alpha"))
    done = subprocess.run(
        [sys.executable, "-c", NO_STUBS, str(folder)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no stubs imported" in done.stdout


def test_bad_timeout_is_refused_before_any_call(cli: Cli, repo: Path, emulator: Any) -> None:
    run = cli("apply", str(repo), "--wait", "--timeout", "0")
    assert run.code == 1
    assert "--timeout" in run.err
    assert sum(emulator.backend.calls.values()) == 0


def test_create_race_won_by_an_identical_model_is_not_a_failure(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    from reconciler.aws.creates import create_request

    plan = cli("plan", str(repo), "--output", "json")
    assert actions(plan)["alpha"] == "create"
    # Another run creates alpha exactly as declared between this run's read and its create.
    from reconciler.manifests import load

    declared = load([str(repo)]).by_name()["alpha"]
    original = emulator.backend.list_custom_models

    def list_then_race(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        emulator.backend.list_custom_models = original
        emulator.client().create_custom_model(**create_request(declared, "default"))
        return result

    emulator.backend.list_custom_models = list_then_race
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 0, run.err
    assert emulator.backend.calls["CreateCustomModel"] == 4  # the racer's, and ours refused
    assert sorted(models(emulator.client())) == ["alpha", "beta", "gamma"]


def test_create_race_won_by_a_different_model_is_a_clear_failure(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    original = emulator.backend.list_custom_models

    def list_then_race(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        emulator.backend.list_custom_models = original
        emulator.client().create_custom_model(
            modelName="alpha", modelSourceConfig={"s3DataSource": {"s3Uri": "s3://other/x/"}}
        )
        return result

    emulator.backend.list_custom_models = list_then_race
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 1
    alpha = next(a for a in run.json()["actions"] if a["name"] == "alpha")
    assert "taken meanwhile by another model" in alpha["error"]


def test_tag_reads_per_model_never_calls_the_tagging_api(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    assert cli("apply", str(repo)).code == 0
    emulator.backend.calls.clear()
    run = cli("--tag-reads", "per-model", "plan", str(repo), "--detailed-exitcode")
    assert run.code == 0, run.err
    assert dict(emulator.backend.calls) == {
        "ListCustomModels": 1,
        "ListProvisionedModelThroughputs": 1,
        "ListCustomModelDeployments": 1,
        "ListTagsForResource": 3,
    }


def test_a_refused_bulk_read_falls_back_with_one_warning(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    assert cli("apply", str(repo)).code == 0
    emulator.backend.fail_next("GetResources", "AccessDeniedException")
    run = cli("plan", str(repo), "--detailed-exitcode")
    assert run.code == 0
    assert run.err == (
        "warning: GetResources failed: AccessDeniedException: the credentials lack the IAM "
        "permission tag:GetResources (Injected AccessDeniedException for GetResources.); "
        "reading each resource's tags instead (--tag-reads per-model)\n"
    )
    emulator.backend.fail_next("GetResources", "AccessDeniedException")
    run = cli("plan", "--tag-reads", "tagging-api", str(repo))
    assert run.code == 1
    assert run.err.startswith("error: GetResources failed: AccessDeniedException")
    assert emulator.backend.calls["ListTagsForResource"] == 3  # the fallback's, not again


HEAVY = ("pydantic", "yaml", "boto3", "botocore", "moto", "prometheus_client", "watchfiles")


@pytest.mark.parametrize("argv", [["--help"], ["plan", "--help"], ["watch", "--help"]])
def test_help_loads_no_heavy_library(argv: list[str]) -> None:
    """--help starts in a fraction of the time a command does because it loads neither the
    planner (pydantic) nor boto3; an import at the top of the CLI would undo that."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from reconciler import cli\n"
        f"cli.main({argv!r})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert loaded & set(HEAVY) == set()
