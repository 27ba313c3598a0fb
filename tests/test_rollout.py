"""The serving path end to end, through the CLI against the HTTP emulator: model rollouts
that never interrupt serving, deferral and resumption, commitments, and models in use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    Cli,
    deployment,
    deployments,
    keyed,
    manifest,
    models,
    throughput,
    throughputs,
    write,
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write(folder, "v1.yaml", manifest("support-v1"))
    write(folder, "prod.yaml", throughput("support-prod", model="support-v1"))
    return folder


def roll_out(repo: Path) -> None:
    """The commit a rollout is: new weights under a new name, the throughput pointed at them,
    the old model's manifest removed."""
    (repo / "v1.yaml").unlink()
    write(repo, "v2.yaml", manifest("support-v2"))
    write(repo, "prod.yaml", throughput("support-prod", model="support-v2"))


def test_first_apply_creates_the_model_then_its_throughput(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    run = cli("apply", "--wait", str(repo), "--output", "json")
    assert run.code == 0, run.err
    got = keyed(run)
    assert got["CustomModel/support-v1"]["result"] == "done"
    assert got["ProvisionedThroughput/support-prod"]["result"] == "done"
    client = emulator.client()
    [v1] = [m["modelArn"] for m in models(client).values()]
    prod = throughputs(client)["support-prod"]
    assert (prod["modelArn"], prod["status"]) == (v1, "InService")
    again = cli("plan", str(repo), "--output", "json")
    assert {a["action"] for a in again.json()["actions"]} == {"noop"}


def test_rollout_with_wait_switches_in_place_then_deletes_the_old_model(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    assert cli("apply", "--wait", str(repo)).code == 0
    client = emulator.client()
    prod_arn = throughputs(client)["support-prod"]["provisionedModelArn"]
    roll_out(repo)
    plan = cli("plan", str(repo), "--output", "json")
    assert {k: a["action"] for k, a in keyed(plan).items()} == {
        "CustomModel/support-v1": "delete",
        "CustomModel/support-v2": "create",
        "ProvisionedThroughput/support-prod": "update-model",
    }
    run = cli("apply", "--wait", str(repo), "--output", "json")
    assert run.code == 0, run.err
    assert {a["result"] for a in run.json()["actions"]} == {"done"}
    assert set(models(client)) == {"support-v2"}
    prod = throughputs(client)["support-prod"]
    assert prod["provisionedModelArn"] == prod_arn  # the same throughput: never replaced
    assert prod["modelArn"] == models(client)["support-v2"]["modelArn"]
    assert prod["status"] == "InService"
    assert {a["action"] for a in cli("plan", str(repo), "--output", "json").json()["actions"]} == {
        "noop"
    }


def test_rollout_without_wait_defers_and_the_next_runs_finish_it(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    assert cli("apply", "--wait", str(repo)).code == 0
    client = emulator.client()
    v1 = models(client)["support-v1"]["modelArn"]
    roll_out(repo)
    emulator.backend.import_seconds = 3600.0  # v2 stays Creating
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 0, run.err
    got = keyed(run)
    assert got["CustomModel/support-v2"]["result"] == "done"
    switch = got["ProvisionedThroughput/support-prod"]
    assert switch["result"] == "skipped"
    assert switch["error"] == "deferred: waiting for model support-v2 to be Active"
    assert got["CustomModel/support-v1"]["result"] == "skipped"
    assert got["CustomModel/support-v1"]["error"].startswith("deferred:")
    assert "deferred" in run.err
    assert throughputs(client)["support-prod"]["modelArn"] == v1  # still serving v1
    assert "support-v1" in models(client)
    emulator.backend.set_status("support-v2", "Active")
    emulator.backend.import_seconds = 0.0  # the switch completes at once
    again = cli("apply", str(repo), "--output", "json")  # the switch, then the delete
    assert again.code == 0, again.out
    assert {a["result"] for a in again.json()["actions"]} == {"done"}
    assert set(models(client)) == {"support-v2"}
    assert (
        throughputs(client)["support-prod"]["modelArn"] == models(client)["support-v2"]["modelArn"]
    )


def test_a_commitment_is_never_bought_without_the_flag(
    cli: Cli, tmp_path: Path, emulator: Any
) -> None:
    repo = tmp_path / "m"
    write(repo, "v1.yaml", manifest("support-v1"))
    write(repo, "prod.yaml", throughput("support-prod", model="support-v1", commitment="OneMonth"))
    plan = cli("plan", str(repo), "--output", "markdown")
    assert plan.code == 0
    assert "[!CAUTION]" in plan.out and "OneMonth" in plan.out
    refused = cli("apply", "--wait", str(repo))
    assert refused.code == 1
    assert "--allow-commitment" in refused.err
    client = emulator.client()
    assert models(client) == {} and throughputs(client) == {}  # nothing at all was changed
    assert cli("apply", "--wait", "--allow-commitment", str(repo)).code == 0
    assert throughputs(client)["support-prod"]["commitmentDuration"] == "OneMonth"


def test_a_committed_throughput_is_not_deleted_before_its_term(
    cli: Cli, tmp_path: Path, emulator: Any
) -> None:
    repo = tmp_path / "m"
    write(repo, "v1.yaml", manifest("support-v1"))
    write(repo, "prod.yaml", throughput("support-prod", model="support-v1", commitment="OneMonth"))
    assert cli("apply", "--wait", "--allow-commitment", str(repo)).code == 0
    (repo / "prod.yaml").unlink()
    run = cli("plan", str(repo), "--output", "json")
    assert run.code == 1
    blocked = keyed(run)["ProvisionedThroughput/support-prod"]
    assert blocked["action"] == "blocked"
    assert "commitment runs until" in blocked["reason"]
    assert cli("apply", str(repo)).code == 1
    assert "support-prod" in throughputs(emulator.client())


def test_an_unmanaged_throughput_keeps_its_model(cli: Cli, tmp_path: Path, emulator: Any) -> None:
    repo = tmp_path / "m"
    write(repo, "v1.yaml", manifest("support-v1"))
    assert cli("apply", "--wait", str(repo)).code == 0
    client = emulator.client()
    v1 = models(client)["support-v1"]["modelArn"]
    client.create_provisioned_model_throughput(
        provisionedModelName="hand-made", modelId=v1, modelUnits=1
    )
    (repo / "v1.yaml").unlink()
    write(repo, "other.yaml", manifest("other"))
    run = cli("plan", str(repo), "--output", "json")
    assert run.code == 1
    blocked = keyed(run)["CustomModel/support-v1"]
    assert blocked["action"] == "blocked"
    assert "ProvisionedThroughput/hand-made" in blocked["reason"]
    assert cli("apply", str(repo)).code == 1
    assert "support-v1" in models(client)


def test_a_deployment_rolls_out_the_same_way(cli: Cli, tmp_path: Path, emulator: Any) -> None:
    repo = tmp_path / "m"
    write(repo, "v1.yaml", manifest("support-v1"))
    write(repo, "od.yaml", deployment("support-ondemand", model="support-v1", description="bot"))
    assert cli("apply", "--wait", str(repo)).code == 0
    (repo / "v1.yaml").unlink()
    write(repo, "v2.yaml", manifest("support-v2"))
    write(repo, "od.yaml", deployment("support-ondemand", model="support-v2", description="bot"))
    run = cli("apply", "--wait", str(repo), "--output", "json")
    assert run.code == 0, run.err
    client = emulator.client()
    assert set(models(client)) == {"support-v2"}
    assert (
        deployments(client)["support-ondemand"]["modelArn"]
        == models(client)["support-v2"]["modelArn"]
    )


# SIGKILL at each step of a rollout, then a re-run ------------------------------------------

STEPS = {
    "after the new model's create": "CreateCustomModel",
    "after the switch": "UpdateProvisionedModelThroughput",
    "after the old model's delete": "DeleteCustomModel",
}


class ServingMonitor:
    """Samples the emulator every few milliseconds: the throughput must always point at an
    Active model (serving never stops)."""

    def __init__(self, backend: Any) -> None:
        import threading

        self.backend = backend
        self.gaps: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ServingMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.003):
            with self.backend.lock:
                self.samples += 1
                for throughput in self.backend.serving.throughputs.values():
                    model = self.backend.models.get(throughput.model_arn)
                    status = model.status(self.backend.import_seconds) if model else "gone"
                    if status != "Active":
                        self.gaps.append(f"{throughput.name} -> {throughput.model_arn}: {status}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("step", list(STEPS), ids=lambda s: s.replace(" ", "-"))
def test_a_rollout_killed_at_any_step_finishes_without_interrupting_serving(
    cli: Cli, repo: Path, emulator: Any, step: str
) -> None:
    from reconciler.sandbox import Faults
    from tests.test_reliability import apply_process, kill_when

    assert cli("apply", "--wait", str(repo)).code == 0
    client = emulator.client()
    prod = throughputs(client)["support-prod"]["provisionedModelArn"]
    roll_out(repo)
    operation = STEPS[step]
    emulator.backend.calls.clear()
    with ServingMonitor(emulator.backend) as monitor:
        faults = Faults(latency=0.5, operations=frozenset({operation}))
        emulator.backend.faults = faults
        process = apply_process(emulator, repo, "--wait")
        kill_when(process, lambda: emulator.backend.calls[operation] >= 1)
        faults.cancel()
        assert faults.wait_idle(10)
        emulator.backend.faults = None
        run = cli("apply", "--wait", str(repo), "--output", "json")
        assert run.code == 0, run.err
    assert monitor.samples > 10 and monitor.gaps == []
    assert set(models(client)) == {"support-v2"}  # one v2: no duplicate; v1 gone
    assert emulator.backend.calls["CreateCustomModel"] == 1
    assert emulator.backend.calls["DeleteCustomModel"] == 1  # v1 deleted exactly once
    found = throughputs(client)["support-prod"]
    assert found["provisionedModelArn"] == prod  # never replaced
    assert found["modelArn"] == models(client)["support-v2"]["modelArn"]
    plan = cli("plan", str(repo), "--output", "json")
    assert {a["action"] for a in plan.json()["actions"]} == {"noop"}


def test_a_switch_to_a_model_of_another_base_model_is_one_clear_error(
    cli: Cli, repo: Path, emulator: Any
) -> None:
    write(repo, "v2.yaml", manifest("support-v2"))
    assert cli("apply", "--wait", str(repo)).code == 0
    v2 = models(emulator.client())["support-v2"]["modelArn"]
    emulator.backend.serving.base_models[v2] = "arn:aws:bedrock:us-east-1::foundation-model/x.y"
    write(repo, "prod.yaml", throughput("support-prod", model="support-v2"))
    run = cli("apply", str(repo), "--output", "json")
    assert run.code == 1
    switch = keyed(run)["ProvisionedThroughput/support-prod"]
    assert switch["result"] == "failed"
    assert (
        "UpdateProvisionedModelThroughput support-prod failed: ValidationException"
        in (switch["error"])
    )
    assert "same base model" in switch["error"]
    assert "\n" not in switch["error"]


def test_a_fault_on_a_serving_call_is_ridden_out(cli: Cli, repo: Path, emulator: Any) -> None:
    emulator.backend.fail_next("CreateProvisionedModelThroughput", "InternalServerException")
    emulator.backend.fail_next("ListProvisionedModelThroughputs", "ThrottlingException")
    run = cli("apply", "--wait", str(repo))
    assert run.code == 0, run.err
    assert list(throughputs(emulator.client())) == ["support-prod"]
