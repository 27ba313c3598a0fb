"""Runs over a targets file, end to end against the emulator: two accounts and two regions
in one emulator (the second account reached through a role assumed with the emulator's STS,
or a profile holding that role's keys)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from reconciler import sandbox
from tests.helpers import Cli, manifest, write

OTHER = "222222222222"
ROLE = f"arn:aws:iam::{OTHER}:role/bedrock-reconciler"


def target(name: str, region: str, paths: list[str], **spec: str) -> str:
    lines = [
        "apiVersion: bedrock.gitops/v1",
        "kind: Target",
        "metadata:",
        f"  name: {name}",
        "spec:",
        f"  region: {region}",
    ]
    lines += [f'  {key}: "{value}"' for key, value in spec.items()]
    lines.append(f"  paths: [{', '.join(paths)}]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path / "manifests" / "common", "a.yaml", manifest("alpha"))
    write(tmp_path / "manifests" / "prod", "b.yaml", manifest("beta"))
    return tmp_path


def targets_file(repo: Path, *documents: str) -> str:
    path = write(repo / "deploy", "targets.yaml", "---\n".join(documents))
    return str(path)


@pytest.fixture
def two(repo: Path) -> str:
    """dev in the default account and us-east-1; prod in another account and us-west-2."""
    return targets_file(
        repo,
        target("dev", "us-east-1", ["../manifests/common"], accountId="123456789012"),
        target("prod", "us-west-2", ["../manifests/common", "../manifests/prod"], roleArn=ROLE),
    )


def names(region: str, account: str) -> list[str]:
    backend = sandbox.get_backend(region, account)
    return sorted(m.name for m in backend.models.values())


def calls(region: str, account: str) -> int:
    return sum(sandbox.get_backend(region, account).calls.values())


def test_plan_covers_every_target_with_its_own_account_region_and_scope(cli: Cli, two: str) -> None:
    run = cli("plan", "--targets", two, "--output", "json", "--detailed-exitcode")
    assert run.code == 2, run.err
    document = run.json()
    entries = {t["target"]: t for t in document["targets"]}
    assert list(entries) == ["dev", "prod"]
    assert (entries["dev"]["account"], entries["dev"]["region"]) == ("123456789012", "us-east-1")
    assert (entries["prod"]["account"], entries["prod"]["region"]) == (OTHER, "us-west-2")
    assert set(entries["dev"]) == {
        "target",
        "scope",
        "account",
        "region",
        "actions",
        "summary",
        "error",
    }
    assert [a["name"] for a in entries["prod"]["actions"]] == ["alpha", "beta"]
    assert entries["dev"]["error"] is None
    assert document["summary"] == {"targets": 2, "failed": 0, "create": 3}


def test_apply_converges_every_target_and_the_next_plan_is_clean(cli: Cli, two: str) -> None:
    run = cli("apply", "--targets", two)
    assert run.code == 0, run.err
    assert names("us-east-1", "123456789012") == ["alpha"]
    assert names("us-west-2", OTHER) == ["alpha", "beta"]
    assert names("us-west-2", "123456789012") == []  # nothing strays into another place
    text = cli("plan", "--targets", two, "--detailed-exitcode")
    assert text.code == 0
    assert "== target dev ==\nPlan for scope 'default' in 123456789012/us-east-1:" in text.out
    assert f"== target prod ==\nPlan for scope 'default' in {OTHER}/us-west-2:" in text.out
    assert text.out.endswith("Total over 2 targets: 3 noop.\n")


def test_target_selects_only_the_named_targets(cli: Cli, two: str) -> None:
    run = cli("apply", "--targets", two, "--target", "prod")
    assert run.code == 0, run.err
    assert "== target dev ==" not in run.out
    assert names("us-east-1", "123456789012") == []
    assert names("us-west-2", OTHER) == ["alpha", "beta"]
    unknown = cli("plan", "--targets", two, "--target", "staging")
    assert unknown.code == 1
    assert "--target 'staging' is not in the targets file (it has: dev, prod)" in unknown.err


def test_a_target_for_another_account_is_refused_and_the_others_converge(
    cli: Cli, repo: Path
) -> None:
    file = targets_file(
        repo,
        target("dev", "us-east-1", ["../manifests/common"], accountId="999999999999"),
        target("prod", "us-west-2", ["../manifests/common"], roleArn=ROLE),
    )
    before = calls("us-east-1", "123456789012")
    run = cli("apply", "--targets", file, "--output", "json")
    assert run.code == 1
    dev = run.json()["targets"][0]
    assert dev["error"] == (
        "the credentials are for account 123456789012, not 999999999999 (accountId of "
        f"target 'dev' at {file}:1); nothing was read or changed"
    )
    assert "[dev] error: the credentials are for account 123456789012" in run.err
    assert calls("us-east-1", "123456789012") == before  # only STS was asked
    assert names("us-west-2", OTHER) == ["alpha"]


def test_the_global_account_id_holds_for_targets_without_their_own(cli: Cli, two: str) -> None:
    run = cli("--account-id", "123456789012", "plan", "--targets", two, "--output", "json")
    assert run.code == 1
    errors = {t["target"]: t["error"] for t in run.json()["targets"]}
    assert errors["dev"] is None  # its own accountId is the one the credentials are for
    assert errors["prod"] == (
        f"the credentials are for account {OTHER}, not 123456789012 (--account-id); "
        "nothing was read or changed"
    )


def test_one_failing_target_does_not_stop_the_others(cli: Cli, repo: Path) -> None:
    file = targets_file(
        repo,
        target("broken", "us-east-1", ["../manifests/common"], profile="nowhere"),
        target("prod", "us-west-2", ["../manifests/common"], roleArn=ROLE),
    )
    run = cli("apply", "--targets", file)
    assert run.code == 1
    assert "== target broken ==\nApply for scope 'default' in us-east-1: failed\n" in run.out
    assert "AWS profile 'nowhere'" in run.out
    assert "Total over 2 targets, 1 failed: 1 create." in run.out
    assert names("us-west-2", OTHER) == ["alpha"]


def test_a_profile_holding_another_accounts_keys_reaches_that_account(
    cli: Cli, repo: Path, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sts = boto3.client("sts", endpoint_url=emulator.url, region_name="us-east-1")
    keys = sts.assume_role(RoleArn=ROLE, RoleSessionName="test")["Credentials"]
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[prod]\n"
        f"aws_access_key_id = {keys['AccessKeyId']}\n"
        f"aws_secret_access_key = {keys['SecretAccessKey']}\n"
        f"aws_session_token = {keys['SessionToken']}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    file = targets_file(
        repo, target("prod", "eu-west-1", ["../manifests/common"], profile="prod", accountId=OTHER)
    )
    run = cli("apply", "--targets", file)
    assert run.code == 0, run.err
    assert names("eu-west-1", OTHER) == ["alpha"]


def test_one_invalid_manifest_anywhere_sends_nothing_to_any_target(
    cli: Cli, two: str, repo: Path
) -> None:
    write(repo / "manifests" / "prod", "bad.yaml", manifest("Bad Name"))
    before = calls("us-east-1", "123456789012"), calls("us-west-2", OTHER)
    run = cli("apply", "--targets", two)
    assert run.code == 1
    assert "bad.yaml:4: metadata.name" in run.err
    assert "nothing was sent to AWS" in run.err
    assert (calls("us-east-1", "123456789012"), calls("us-west-2", OTHER)) == before
    assert names("us-east-1", "123456789012") == []


def test_paths_and_targets_do_not_go_together(cli: Cli, two: str, repo: Path) -> None:
    run = cli("plan", "--targets", two, str(repo / "manifests"))
    assert run.code == 1
    assert "PATH arguments and --targets do not go together" in run.err
    alone = cli("plan", "--target", "dev", str(repo / "manifests"))
    assert alone.code == 1 and "give the file too" in alone.err


def test_a_missing_targets_path_is_reported_at_its_target(cli: Cli, repo: Path) -> None:
    file = targets_file(repo, target("dev", "us-east-1", ["../manifests/nope"]))
    run = cli("plan", "--targets", file)
    assert run.code == 1
    assert f"{file}:1: spec.paths: " in run.err and "nope" in run.err


def test_a_conflict_in_one_target_exits_1_and_is_not_applied_there(
    cli: Cli, two: str, emulator: Any
) -> None:
    emulator.client().create_custom_model(
        modelName="alpha",
        modelSourceConfig={"s3DataSource": {"s3Uri": "s3://by-hand/alpha/"}},
        roleArn="arn:aws:iam::123456789012:role/BedrockImport",
    )
    run = cli("apply", "--targets", two)
    assert run.code == 1
    assert "[dev] error: the plan holds 1 action(s) that cannot be applied" in run.err
    assert names("us-east-1", "123456789012") == ["alpha"]  # only the hand-made one
    assert names("us-west-2", OTHER) == ["alpha", "beta"]


def test_a_saved_targets_plan_is_applied_when_every_target_is_fresh(
    cli: Cli, two: str, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    assert cli("plan", "--targets", two, "--out", str(out)).code == 0
    document = json.loads(out.read_text())
    assert document["format"] == "bedrock-reconciler/targets-plan"
    assert document["targets"]["prod"]["account"] == OTHER
    run = cli("apply", "--targets", two, "--plan", str(out))
    assert run.code == 0, run.err
    assert names("us-west-2", OTHER) == ["alpha", "beta"]


def test_one_stale_target_refuses_the_whole_saved_plan(
    cli: Cli, two: str, tmp_path: Path, emulator: Any
) -> None:
    out = tmp_path / "plan.json"
    assert cli("plan", "--targets", two, "--out", str(out)).code == 0
    assert cli("apply", "--targets", two, "--target", "dev").code == 0  # dev moved on
    run = cli("apply", "--targets", two, "--plan", str(out))
    assert run.code == 1
    assert "[dev]   - alpha: was absent, now exists" in run.err
    assert (
        "error: 1 of 2 target(s) cannot apply the saved plan (dev); nothing was changed in "
        "any target" in run.err
    )
    assert names("us-west-2", OTHER) == []


def test_a_target_plan_saved_for_one_account_is_refused_in_another(
    cli: Cli, repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    first = targets_file(repo, target("prod", "us-west-2", ["../manifests/common"], roleArn=ROLE))
    assert cli("plan", "--targets", first, "--out", str(out)).code == 0
    elsewhere = ROLE.replace(OTHER, "333333333333")
    targets_file(repo, target("prod", "us-west-2", ["../manifests/common"], roleArn=elsewhere))
    run = cli("apply", "--targets", first, "--plan", str(out))
    assert run.code == 1
    assert f"[prod]   - the plan is for account {OTHER}, not 333333333333" in run.err
    assert names("us-west-2", "333333333333") == []


def test_plans_of_one_kind_are_not_applied_as_the_other(
    cli: Cli, two: str, repo: Path, tmp_path: Path
) -> None:
    many, one = tmp_path / "many.json", tmp_path / "one.json"
    assert cli("plan", "--targets", two, "--out", str(many)).code == 0
    assert cli("plan", str(repo / "manifests" / "common"), "--out", str(one)).code == 0
    run = cli("apply", "--plan", str(many))
    assert run.code == 1 and "apply it with the same --targets FILE" in run.err
    run = cli("apply", "--targets", two, "--plan", str(one))
    assert run.code == 1 and "apply it without --targets" in run.err


def test_the_targets_command_prints_a_ci_matrix(cli: Cli, two: str) -> None:
    run = cli("--scope", "platform", "targets", "--targets", two, "--output", "json")
    assert run.code == 0
    assert run.json() == [
        {"name": "dev", "account": "123456789012", "region": "us-east-1", "scope": "platform"},
        {"name": "prod", "account": None, "region": "us-west-2", "scope": "platform"},
    ]


def test_validate_names_each_target(cli: Cli, two: str) -> None:
    run = cli("validate", "--targets", two)
    assert run.code == 0
    assert run.out == ("dev: 1 model valid in 1 file.\nprod: 2 models valid in 2 files.\n")


def test_the_step_summary_gets_every_target(cli: Cli, two: str, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    run = cli("plan", "--targets", two, environ={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.code == 0
    text = summary.read_text()
    assert "## Target `dev`" in text and "## Target `prod`" in text
    assert f"in `{OTHER}/us-west-2`" in text
    assert "**Total over 2 targets: 3 create.**" in text


def test_watch_runs_a_loop_per_target_labelled_and_ready_when_every_target_is(
    repo: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import threading
    import time

    from prometheus_client import generate_latest

    from reconciler import commands
    from reconciler.cli import main

    file = targets_file(
        repo,
        target("dev", "us-east-1", ["../manifests/common"]),
        target("prod", "us-west-2", ["../manifests/common", "../manifests/prod"], roleArn=ROLE),
        target("wrong", "eu-west-1", ["../manifests/common"], accountId="999999999999"),
    )
    stop = threading.Event()
    served: dict[str, Any] = {}

    def serve(args: Any, registry: Any, healthy: Any, ready: Any) -> None:
        served.update(registry=registry, healthy=healthy, ready=ready)

    monkeypatch.setattr(commands, "stop_on_signals", lambda: stop)
    monkeypatch.setattr(commands, "serve_health", serve)
    argv = ["--endpoint-url", emulator.url, "watch", "--targets", file, "--log-format", "json"]
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(argv, environ={})))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if names("us-west-2", OTHER) == ["alpha", "beta"] and names(
                "us-east-1", "123456789012"
            ) == ["alpha"]:
                break
            time.sleep(0.1)
        assert names("us-west-2", OTHER) == ["alpha", "beta"]
        assert names("us-east-1", "123456789012") == ["alpha"]
        assert served["healthy"]() is True
        assert served["ready"]() is False  # 'wrong' never completes a pass
        metrics = generate_latest(served["registry"]).decode()
        assert 'reconciler_managed_resources{kind="CustomModel",target="prod"}' in metrics
        assert 'target="dev"' in metrics
        assert 'reconciler_api_calls_total{operation="GetCallerIdentity",target="wrong"}' in (
            metrics
        )
    finally:
        stop.set()
        thread.join(30)
    assert codes == [0]
    logs = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    failed = [e for e in logs if e["event"] == "target_failed"]
    assert failed and {e["target"] for e in failed} == {"wrong"}
    assert "not 999999999999" in failed[0]["message"]
    assert {e["target"] for e in logs if e["event"] == "started"} == {"dev", "prod"}


def test_watch_starts_with_a_broken_checkout_and_changes_nothing_for_that_target(
    repo: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A bad commit must not crash-loop the pod: the broken target logs and waits, the
    others reconcile."""
    import threading
    import time

    from reconciler import commands
    from reconciler.cli import main

    write(repo / "manifests" / "broken", "c.yaml", manifest("gamma") + "  bogus: 1\n")
    file = targets_file(
        repo,
        target("dev", "us-east-1", ["../manifests/common"]),
        target("prod", "us-west-2", ["../manifests/broken"], roleArn=ROLE),
    )
    stop = threading.Event()
    monkeypatch.setattr(commands, "stop_on_signals", lambda: stop)
    monkeypatch.setattr(commands, "serve_health", lambda *_: None)
    argv = ["--endpoint-url", emulator.url, "watch", "--targets", file, "--log-format", "json"]
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(argv, environ={})))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and names("us-east-1", "123456789012") != ["alpha"]:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(30)
    assert codes == [0]
    assert names("us-east-1", "123456789012") == ["alpha"]
    assert names("us-west-2", OTHER) == []
    logs = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    broken = [e for e in logs if e["event"] == "manifests_broken"]
    assert broken and {e["target"] for e in broken} == {"prod"}
