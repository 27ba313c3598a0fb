"""Runs over a targets file, end to end against the emulator: two accounts and two regions
in one emulator (the second account reached through a role assumed with the emulator's STS,
or a profile holding that role's keys)."""

from __future__ import annotations

import json
from collections import Counter
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


# -- per target: guards, rate limit, concurrency, failures; a saved plan's selection --------

BUDGET_REFUSAL = (
    "the plan deletes or replaces 4 of 10 managed models (40% > 30%): m00, m01, m02, m03; "
    "refusing. Raise --max-delete-percent or pass --force if this is intended"
)


def models_in(folder: Path, *names: str) -> None:
    for name in names:
        write(folder, f"{name}.yaml", manifest(name))


@pytest.fixture
def big_and_small(cli: Cli, repo: Path) -> str:
    """big (10 models, us-east-1) and small (2 models, another account in us-west-2), both
    applied; then big's manifests drop 4 models (over the default 30% budget) and small's
    drop 1 (fewer than 10 managed: no budget)."""
    models_in(repo / "manifests" / "big", *(f"m{n:02d}" for n in range(10)))
    models_in(repo / "manifests" / "small", "s0", "s1")
    file = targets_file(
        repo,
        target("big", "us-east-1", ["../manifests/big"]),
        target("small", "us-west-2", ["../manifests/small"], roleArn=ROLE),
    )
    assert cli("apply", "--targets", file).code == 0
    for name in ("m00", "m01", "m02", "m03"):
        (repo / "manifests" / "big" / f"{name}.yaml").unlink()
    (repo / "manifests" / "small" / "s1.yaml").unlink()
    return file


def test_the_deletion_budget_refuses_one_target_while_the_others_plan_their_deletes(
    cli: Cli, big_and_small: str
) -> None:
    run = cli("plan", "--targets", big_and_small, "--output", "json")
    assert run.code == 1
    big, small = run.json()["targets"]
    assert (big["target"], big["error"], big["actions"]) == ("big", BUDGET_REFUSAL, [])
    assert (big["account"], big["region"]) == ("123456789012", "us-east-1")
    assert small["error"] is None
    assert [(a["name"], a["action"]) for a in small["actions"]] == [
        ("s0", "noop"),
        ("s1", "delete"),
    ]
    assert run.json()["summary"] == {"targets": 2, "failed": 1, "noop": 1, "delete": 1}
    assert f"[big] error: {BUDGET_REFUSAL}\n" in run.err
    assert "[small]" not in run.err


def test_the_deletion_budget_holds_back_only_its_targets_apply(
    cli: Cli, big_and_small: str
) -> None:
    run = cli("apply", "--targets", big_and_small)
    assert run.code == 1
    assert (
        "== target big ==\nApply for scope 'default' in 123456789012/us-east-1: failed\n"
        f"  error: {BUDGET_REFUSAL}\n" in run.out
    )
    assert f"== target small ==\nApply for scope 'default' in {OTHER}/us-west-2:" in run.out
    assert run.out.endswith("Total over 2 targets, 1 failed: 1 delete, 1 noop.\n")
    assert sandbox.get_backend("us-east-1", "123456789012").calls["DeleteCustomModel"] == 0
    assert names("us-east-1", "123456789012") == [f"m{n:02d}" for n in range(10)]
    assert names("us-west-2", OTHER) == ["s0"]


def test_an_empty_source_refuses_pruning_only_in_its_target(cli: Cli, repo: Path) -> None:
    models_in(repo / "manifests" / "one", "alpha")
    models_in(repo / "manifests" / "two", "beta", "gamma")
    file = targets_file(
        repo,
        target("one", "us-east-1", ["../manifests/one"]),
        target("two", "us-west-2", ["../manifests/two"], roleArn=ROLE),
    )
    assert cli("apply", "--targets", file).code == 0
    (repo / "manifests" / "one" / "alpha.yaml").unlink()  # an empty checkout for one
    (repo / "manifests" / "two" / "gamma.yaml").unlink()
    run = cli("apply", "--targets", file, "--output", "json")
    assert run.code == 1
    one, two = run.json()["targets"]
    assert one["error"] == (
        "no manifest is declared, and the plan would remove all 1 managed models (alpha); "
        "refusing. Check the checkout, or pass --allow-empty to mean it"
    )
    assert (one["account"], one["actions"]) == ("123456789012", [])
    assert two["error"] is None
    assert [(a["name"], a["action"]) for a in two["actions"]] == [
        ("beta", "noop"),
        ("gamma", "delete"),
    ]
    assert names("us-east-1", "123456789012") == ["alpha"]
    assert names("us-west-2", OTHER) == ["beta"]


def test_max_rps_gives_every_target_a_rate_limiter_of_its_own(
    cli: Cli, two: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.aws import client

    made: list[Any] = []

    class Recording(client.RateLimiter):
        """A limiter that records the regions of its clients and every request it let go."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.regions: set[str] = set()
            self.sent: Counter[str] = Counter()
            made.append(self)

        def install(self, client: Any) -> None:
            self.regions.add(client.meta.region_name)
            super().install(client)

        def acquire(self, operation: str) -> None:
            self.sent[operation] += 1
            super().acquire(operation)

    monkeypatch.setattr(client, "RateLimiter", Recording)
    run = cli("--max-rps", "500", "apply", "--targets", two, "--target-concurrency", "2")
    assert run.code == 0, run.err
    by_region = {"".join(limiter.regions): limiter for limiter in made}
    assert sorted(by_region) == ["us-east-1", "us-west-2"]  # one each, never shared
    for region, account in (("us-east-1", "123456789012"), ("us-west-2", OTHER)):
        limiter = by_region[region]
        assert limiter.rate == 500.0
        sent = Counter(limiter.sent)
        assert sent.pop("GetCallerIdentity") == 1
        assert sent == sandbox.get_backend(region, account).calls  # every request, its own


class Gate:
    """Stands in for ``commands.plan_for``: counts the targets inside it at once.

    A target entering waits until ``width`` targets are inside (or every target has
    entered), then gives a surplus target ``grace`` seconds to show up, so a run that
    starts more than ``width`` targets at once is seen doing so.
    """

    def __init__(self, real: Any, width: int, total: int, grace: float = 0.3) -> None:
        import threading

        self.real, self.width, self.total, self.grace = real, width, total, grace
        self.lock = threading.Condition()
        self.inside = self.entered = self.peak = 0
        self.events: list[str] = []

    def __call__(self, own: Any, account: Any, desired: Any) -> Any:
        with self.lock:
            self.inside += 1
            self.entered += 1
            self.peak = max(self.peak, self.inside)
            self.events.append(f"+{own.target_name}")
            self.lock.notify_all()
            self.lock.wait_for(
                lambda: self.inside >= self.width or self.entered == self.total, timeout=10
            )
            self.lock.wait_for(lambda: self.inside > self.width, timeout=self.grace)
        try:
            return self.real(own, account, desired)
        finally:
            with self.lock:
                self.inside -= 1
                self.events.append(f"-{own.target_name}")
                self.lock.notify_all()


def three(repo: Path) -> str:
    return targets_file(
        repo,
        target("a", "us-east-1", ["../manifests/common"]),
        target("b", "us-west-2", ["../manifests/common"], roleArn=ROLE),
        target("c", "eu-west-1", ["../manifests/common"]),
    )


@pytest.mark.parametrize("width", [2, 3])
def test_targets_run_at_once_up_to_the_target_concurrency(
    cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    from reconciler import commands

    gate = Gate(commands.plan_for, width, total=3)
    monkeypatch.setattr(commands, "plan_for", gate)
    run = cli("plan", "--targets", three(repo), "--target-concurrency", str(width))
    assert run.code == 0, run.err
    assert gate.peak == width
    assert run.out.endswith("Total over 3 targets: 3 create.\n")


def test_a_target_concurrency_of_1_runs_the_targets_one_by_one_in_order(
    cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler import commands

    gate = Gate(commands.plan_for, 1, total=3)
    monkeypatch.setattr(commands, "plan_for", gate)
    run = cli("plan", "--targets", three(repo), "--target-concurrency", "1")
    assert run.code == 0, run.err
    assert gate.events == ["+a", "-a", "+b", "-b", "+c", "-c"]


def test_access_denied_in_one_target_is_its_error_and_the_others_converge(
    cli: Cli, two: str
) -> None:
    dev = sandbox.get_backend("us-east-1", "123456789012")
    dev.fail_next("ListCustomModels", "AccessDeniedException", times=2)
    run = cli("apply", "--targets", two, "--output", "json")
    assert run.code == 1
    failed, converged = run.json()["targets"]
    assert failed == {
        "target": "dev",
        "scope": "default",
        "account": "123456789012",
        "region": "us-east-1",
        "actions": [],
        "summary": {},
        "error": (
            "ListCustomModels failed: AccessDeniedException: the credentials lack the IAM "
            "permission bedrock:ListCustomModels (Injected AccessDeniedException for "
            "ListCustomModels.)"
        ),
    }
    assert converged["error"] is None
    assert names("us-west-2", OTHER) == ["alpha", "beta"]
    assert names("us-east-1", "123456789012") == []
    assert dev.calls["CreateCustomModel"] == 0
    text = cli("plan", "--targets", two)
    assert text.code == 1
    assert (
        "== target dev ==\nPlan for scope 'default' in 123456789012/us-east-1: failed\n"
        f"  error: {failed['error']}\n" in text.out
    )
    assert text.out.endswith("Total over 2 targets, 1 failed: 2 noop.\n")


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (
            {"error_rate": 1.0},
            "ListCustomModels failed: InternalServerException (Internal error in "
            "ListCustomModels (injected fault).)",
        ),
        (
            {"drop_rate": 1.0},
            "ListCustomModels failed: cannot reach the Bedrock endpoint (Connection was closed "
            'before we received a valid response from endpoint URL: "{url}/custom-models?'
            'isOwned=true&maxResults=1000".)',
        ),
    ],
    ids=["5xx", "unreachable"],
)
def test_an_outage_in_one_target_is_its_error_and_the_others_converge(
    cli: Cli, two: str, monkeypatch: pytest.MonkeyPatch, settings: dict[str, float], error: str
) -> None:
    import botocore.endpoint

    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", type("T", (), {"sleep": slept.append}))
    dev = sandbox.get_backend("us-east-1", "123456789012")
    dev.faults = sandbox.Faults(**settings, operations=frozenset({"ListCustomModels"}))
    run = cli("apply", "--targets", two, "--output", "json", environ={"AWS_MAX_ATTEMPTS": "3"})
    dev.faults = None
    error = error.format(url=cli.endpoint)
    assert run.code == 1
    failed, converged = run.json()["targets"]
    assert (failed["target"], failed["account"], failed["error"]) == ("dev", "123456789012", error)
    assert f"[dev] error: {error}\n" in run.err
    assert converged["error"] is None
    assert len(slept) == 2  # three attempts, all at dev's ListCustomModels
    assert dev.faults_injected == {next(iter(settings)).removesuffix("_rate"): 3}
    assert names("us-west-2", OTHER) == ["alpha", "beta"]
    assert names("us-east-1", "123456789012") == []


def test_a_global_account_id_of_another_account_reads_nothing_in_any_target(
    cli: Cli, repo: Path
) -> None:
    file = targets_file(
        repo,
        target("dev", "us-east-1", ["../manifests/common"]),
        target("prod", "us-west-2", ["../manifests/common"], roleArn=ROLE),
    )
    run = cli("--account-id", "999999999999", "apply", "--targets", file, "--output", "json")
    assert run.code == 1
    errors = {t["target"]: (t["account"], t["error"]) for t in run.json()["targets"]}
    refusal = (
        "the credentials are for account {}, not 999999999999 (--account-id); nothing was "
        "read or changed"
    )
    assert errors == {
        "dev": (None, refusal.format("123456789012")),
        "prod": (None, refusal.format(OTHER)),
    }
    assert (calls("us-east-1", "123456789012"), calls("us-west-2", OTHER)) == (0, 0)
    assert run.json()["summary"] == {"targets": 2, "failed": 2}


def test_a_saved_plan_holding_a_target_not_selected_is_refused(
    cli: Cli, two: str, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    assert cli("plan", "--targets", two, "--out", str(out)).code == 0
    before = calls("us-east-1", "123456789012"), calls("us-west-2", OTHER)
    run = cli("apply", "--targets", two, "--target", "dev", "--plan", str(out))
    assert run.code == 1
    assert run.err == (
        f"error: {out} holds target 'prod', which the targets file (or --target) does not "
        "select; nothing was changed\n"
    )
    assert (calls("us-east-1", "123456789012"), calls("us-west-2", OTHER)) == before
    assert (names("us-east-1", "123456789012"), names("us-west-2", OTHER)) == ([], [])


def test_a_selected_target_the_saved_plan_does_not_hold_refuses_the_whole_apply(
    cli: Cli, two: str, repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    assert cli("plan", "--targets", two, "--target", "prod", "--out", str(out)).code == 0
    before = calls("us-east-1", "123456789012"), calls("us-west-2", OTHER)
    run = cli("apply", "--targets", two, "--plan", str(out))
    assert run.code == 1
    assert run.err == (
        f"error: {out} holds no plan for target 'dev', which the targets file (or --target) "
        "selects; nothing was changed (make a new plan with plan --targets)\n"
    )
    assert (calls("us-east-1", "123456789012"), calls("us-west-2", OTHER)) == before
    assert (names("us-east-1", "123456789012"), names("us-west-2", OTHER)) == ([], [])
    more = targets_file(
        repo,
        target("dev", "us-east-1", ["../manifests/common"]),
        target("prod", "us-west-2", ["../manifests/common"], roleArn=ROLE),
        target("qa", "eu-west-1", ["../manifests/common"]),
    )
    run = cli("apply", "--targets", more, "--plan", str(out))
    assert run.code == 1
    assert f"error: {out} holds no plan for targets 'dev', 'qa', which the" in run.err
    assert cli("apply", "--targets", more, "--target", "prod", "--plan", str(out)).code == 0
    assert names("us-west-2", OTHER) == ["alpha", "beta"]
