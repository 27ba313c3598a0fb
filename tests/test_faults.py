"""Fault injection in the emulator: each kind of fault reaches a real boto3 client as AWS (or
a broken network) would send it, every operation the reconciler uses can meet them, and the
same seed always gives the same faults."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from reconciler import sandbox
from reconciler.sandbox import Faults
from reconciler.sandbox.faults import ENV_FAULTS, faults_from_env
from tests.helpers import manifest, write

SOURCE = {"s3DataSource": {"s3Uri": "s3://acme-models/m/"}}


def bare_client(emulator: Any, read_timeout: float = 10) -> Any:
    """A client that never retries, so every fault is seen as it was sent."""
    config = botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=read_timeout
    )
    return emulator.client(config=config)


def outcome(call: Any) -> str:
    """'ok', an AWS error code with its HTTP status, or the botocore exception's name."""
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return f"{e.response['Error']['Code']}/{e.response['ResponseMetadata']['HTTPStatusCode']}"
    except botocore.exceptions.BotoCoreError as e:
        return type(e).__name__
    return "ok"


# The settings and their determinism, without a server.


def kinds(faults: Faults, count: int, operation: str = "ListCustomModels") -> list[str | None]:
    return [faults.judge(operation).kind for _ in range(count)]


def test_the_same_seed_gives_the_same_faults() -> None:
    settings = {"throttle_rate": 0.3, "error_rate": 0.2, "drop_rate": 0.1, "seed": 7}
    first = kinds(Faults(**settings), 500)
    assert first == kinds(Faults(**settings), 500)
    assert first != kinds(Faults(**{**settings, "seed": 8}), 500)


def test_rates_are_honoured() -> None:
    faults = Faults(
        throttle_rate=0.3, error_rate=0.2, drop_rate=0.05, lost_response_rate=0.05, seed=1
    )
    seen = kinds(faults, 10_000)
    shares = {kind: seen.count(kind) / len(seen) for kind in set(seen)}
    assert shares["throttle"] == pytest.approx(0.3, abs=0.02)
    assert shares["error"] == pytest.approx(0.2, abs=0.02)
    assert shares["drop"] == pytest.approx(0.05, abs=0.01)
    assert shares["lost_response"] == pytest.approx(0.05, abs=0.01)
    assert shares[None] == pytest.approx(0.4, abs=0.02)


def test_operations_limit_every_fault() -> None:
    faults = Faults(throttle_rate=1.0, latency=1.0, operations=frozenset({"CreateCustomModel"}))
    assert faults.judge("ListCustomModels").kind is None
    assert faults.judge("ListCustomModels").latency == 0
    created = faults.judge("CreateCustomModel")
    assert (created.kind, created.latency) == ("throttle", 1.0)
    assert [r.operation for r in faults.history()] == ["CreateCustomModel"]


def test_the_quota_is_a_token_bucket_per_operation() -> None:
    now = [100.0]
    faults = Faults(quota_rps=5, clock=lambda: now[0])
    assert kinds(faults, 7) == [None] * 5 + ["quota"] * 2  # a burst of one second's worth
    assert faults.judge("GetCustomModel").kind is None  # another operation, another bucket
    now[0] += 0.2  # one more request's worth
    assert kinds(faults, 2) == [None, "quota"]
    now[0] += 10
    assert kinds(faults, 5) == [None] * 5
    error = Faults(quota_rps=1, quota_burst=1, clock=lambda: 0.0)
    error.judge("ListCustomModels")
    verdict = error.judge("ListCustomModels")
    assert verdict.error is not None and verdict.error.code == "ThrottlingException"
    assert faults.peak_rate("ListCustomModels") == 9


def test_settings_from_json() -> None:
    faults = Faults.from_json(
        '{"throttle_rate": 0.3, "seed": 1, "latency": 0.5, "operations": ["TagResource"],'
        ' "quota_rps": 5}'
    )
    assert faults.throttle_rate == 0.3 and faults.seed == 1 and faults.latency == 0.5
    assert faults.operations == frozenset({"TagResource"}) and faults.quota_rps == 5
    assert faults_from_env({}) is None
    assert faults_from_env({ENV_FAULTS: '{"error_rate": 0.2}'}) is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"throttle": 0.3}', "unknown fault setting(s) throttle"),
        ('{"throttle_rate": 1.5}', "between 0 and 1"),
        ('{"throttle_rate": 0.6, "error_rate": 0.6}', "add up to at most 1"),
        ('{"latency": -1}', "seconds >= 0"),
        ('{"latency": "slow"}', "finite number"),
        ('{"quota_rps": 0}', "> 0"),
        ('{"seed": "x"}', "whole number"),
        ('{"operations": "CreateCustomModel"}', "list of API operation names"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(sandbox.SandboxError, match=ENV_FAULTS) as caught:
        faults_from_env({ENV_FAULTS: text})
    assert message in str(caught.value)


# Over HTTP, through boto3.


def test_each_fault_reaches_the_client_as_aws_sends_it(emulator: Any) -> None:
    client = bare_client(emulator)
    listing = client.list_custom_models
    expected = {
        "throttle_rate": "ThrottlingException/429",
        "error_rate": "InternalServerException/500",
        "drop_rate": "ConnectionClosedError",
        "lost_response_rate": "ConnectionClosedError",
    }
    for setting, seen in expected.items():
        emulator.backend.faults = Faults(**{setting: 1.0})
        assert outcome(listing) == seen, setting
    emulator.backend.faults = None
    assert outcome(listing) == "ok"
    assert emulator.backend.faults_injected == {
        "throttle": 1,
        "error": 1,
        "drop": 1,
        "lost_response": 1,
    }
    assert emulator.backend.calls["ListCustomModels"] == 5


def test_a_dropped_request_is_not_processed_but_a_lost_response_was(emulator: Any) -> None:
    client = bare_client(emulator)
    for name, setting in (("dropped", "drop_rate"), ("lost", "lost_response_rate")):
        emulator.backend.faults = Faults(**{setting: 1.0})
        create = lambda n=name: client.create_custom_model(  # noqa: E731
            modelName=n, modelSourceConfig=SOURCE
        )
        assert outcome(create) == "ConnectionClosedError"
    emulator.backend.faults = None
    names = {m["modelName"] for m in client.list_custom_models()["modelSummaries"]}
    assert names == {"lost"}


def test_latency_delays_the_answer_and_a_short_read_timeout_fires(emulator: Any) -> None:
    emulator.backend.faults = Faults(latency=0.4)
    started = time.monotonic()
    assert outcome(lambda: bare_client(emulator).list_custom_models()) == "ok"
    assert time.monotonic() - started >= 0.4
    emulator.backend.faults = Faults(latency=5.0)
    client = bare_client(emulator, read_timeout=0.3)
    started = time.monotonic()
    assert outcome(client.list_custom_models) == "ReadTimeoutError"
    assert time.monotonic() - started < 3
    emulator.backend.faults.cancel()  # the server's sleeping thread goes on at once
    assert emulator.backend.faults.wait_idle(5)
    assert emulator.backend.faults_injected["latency"] == 2


def test_the_quota_throttles_beyond_the_rate_over_http(emulator: Any) -> None:
    emulator.backend.faults = Faults(quota_rps=5)
    client = bare_client(emulator)
    seen = [outcome(client.list_custom_models) for _ in range(8)]
    assert seen.count("ok") >= 5
    assert "ThrottlingException/429" in seen
    time.sleep(1.0)
    assert outcome(client.list_custom_models) == "ok"
    assert emulator.backend.faults_injected["quota"] == seen.count("ThrottlingException/429")


def every_operation(client: Any, arn: str) -> dict[str, Any]:
    tag = [{"key": "k", "value": "v"}]
    return {
        "CreateCustomModel": lambda: client.create_custom_model(
            modelName="other", modelSourceConfig=SOURCE
        ),
        "GetCustomModel": lambda: client.get_custom_model(modelIdentifier=arn),
        "ListCustomModels": lambda: client.list_custom_models(isOwned=True),
        "ListTagsForResource": lambda: client.list_tags_for_resource(resourceARN=arn),
        "TagResource": lambda: client.tag_resource(resourceARN=arn, tags=tag),
        "UntagResource": lambda: client.untag_resource(resourceARN=arn, tagKeys=["k"]),
        "DeleteCustomModel": lambda: client.delete_custom_model(modelIdentifier=arn),
    }


def test_every_operation_the_reconciler_uses_meets_the_faults(emulator: Any) -> None:
    client = bare_client(emulator)
    arn = client.create_custom_model(modelName="m", modelSourceConfig=SOURCE)["modelArn"]
    calls = every_operation(client, arn)
    emulator.backend.faults = Faults(throttle_rate=1.0)
    assert {op: outcome(call) for op, call in calls.items()} == dict.fromkeys(
        calls, "ThrottlingException/429"
    )
    emulator.backend.faults = Faults(error_rate=1.0, operations=frozenset({"TagResource"}))
    seen = {op: outcome(call) for op, call in calls.items()}
    assert seen.pop("TagResource") == "InternalServerException/500"
    assert set(seen.values()) == {"ok"}


def test_the_same_seed_gives_the_same_outcomes_end_to_end(emulator: Any) -> None:
    def run(seed: int) -> list[str]:
        sandbox.reset_state()
        emulator.backend.faults = Faults(
            throttle_rate=0.3, error_rate=0.2, drop_rate=0.1, seed=seed
        )
        client = bare_client(emulator)
        return [outcome(client.list_custom_models) for _ in range(30)]

    first = run(11)
    assert first == run(11)
    assert first != run(12)
    assert {"ok", "ThrottlingException/429", "InternalServerException/500"} <= set(first)


def test_a_reset_forgets_the_faults(emulator: Any) -> None:
    emulator.backend.faults = Faults(throttle_rate=1.0)
    emulator.backend.judge("ListCustomModels")
    sandbox.reset_state()
    assert emulator.backend.faults is None
    assert not emulator.backend.faults_injected


def test_a_real_client_rides_out_the_faults(emulator: Any) -> None:
    emulator.backend.faults = Faults(
        throttle_rate=0.2, error_rate=0.2, drop_rate=0.1, lost_response_rate=0.1, seed=3
    )
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 10})
    client = emulator.client(config=config)
    for i in range(10):
        request = {"modelName": f"m{i}", "modelSourceConfig": SOURCE, "clientRequestToken": str(i)}
        client.create_custom_model(**request)
    emulator.backend.faults = None
    assert len(client.list_custom_models()["modelSummaries"]) == 10
    assert sum(emulator.backend.faults_injected.values()) > 0


# The --sandbox path: settings from the environment, faults in process.


def sandbox_run(tmp_path: Path, faults: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env[ENV_FAULTS] = faults
    env[sandbox.ENV_IMPORT_SECONDS] = "0"
    state = tmp_path / "state.json"
    command = [sys.executable, "-m", "reconciler", "--sandbox", "--sandbox-state", str(state)]
    return subprocess.run(
        [*command, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )


def test_sandbox_faults_come_from_the_environment(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    for i in range(6):
        write(folder, f"m{i}.yaml", manifest(f"m{i}"))
    # Drops and lost responses in process are botocore's ConnectionClosedError: retried.
    faults = '{"throttle_rate": 0.2, "error_rate": 0.2, "drop_rate": 0.1, "seed": 5}'
    applied = sandbox_run(tmp_path, faults, "apply", str(folder))
    assert applied.returncode == 0, applied.stderr
    planned = sandbox_run(tmp_path, '{"lost_response_rate": 0.2, "seed": 1}', "plan", str(folder))
    assert planned.returncode == 0, planned.stderr
    assert "Plan: 6 noop." in planned.stdout
    bad = sandbox_run(tmp_path, '{"throttle_rate": 2}', "plan", str(folder))
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        f"error: sandbox: {ENV_FAULTS}: throttle_rate must be between 0 and 1, got 2"
    )


def test_sandbox_client_sees_a_dropped_connection_in_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The in-process path of a drop, seen directly (no retries), outside the HTTP server.
    monkeypatch.setenv(ENV_FAULTS, '{"drop_rate": 1.0}')
    sandbox.reset_state()  # backends built earlier in this process re-read the environment
    state = tmp_path / "state.json"
    with sandbox.running(state, "us-east-1"):
        client = boto3.client(
            "bedrock",
            config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        assert outcome(client.list_custom_models) == "ConnectionClosedError"
        assert sandbox.get_backend("us-east-1").faults_injected["drop"] == 1
    monkeypatch.delenv(ENV_FAULTS)
    sandbox.reset_state()
