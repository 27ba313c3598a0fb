"""The container: the Dockerfile, its install script, .dockerignore and the Kubernetes example.

No Docker engine is available where the tests run, so the image is never built here.
Instead the Dockerfile is parsed and checked, and ``docker/install.sh`` (the Dockerfile's
only install step) runs for real in a fresh virtual environment made from exactly the files
the Dockerfile copies. The installed command then runs the image's ENTRYPOINT and CMD
against the emulator, and the image's HEALTHCHECK command probes it.

The install takes 15 to 30 seconds, once per run. It reuses pip's cache
(RECONCILER_INSTALL_CACHE=1); set RECONCILER_INSTALL_CACHE=0 to install exactly as the
image build does.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from reconciler.health import HealthServer
from reconciler.targets import Target
from reconciler.targets import load as load_targets
from tests.helpers import models, throughputs

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
INSTALL_SCRIPT = ROOT / "docker" / "install.sh"
DOCKERIGNORE = ROOT / ".dockerignore"
KUBERNETES = ROOT / "examples" / "kubernetes"
MANIFESTS = ROOT / "manifests"
INSTALL_TIMEOUT = 300


# --- the Dockerfile ---------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD, ENTRYPOINT or HEALTHCHECK ... CMD."""
        text = self.args.split("CMD", 1)[1] if self.keyword == "HEALTHCHECK" else self.args
        value = json.loads(text)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.args}"
        return [str(v) for v in value]


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """The instructions of each stage (a stage starts at FROM), continuations joined."""
    stages: list[list[Instruction]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        instruction = Instruction(keyword.upper(), " ".join(args.split()))
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append(instruction)
    assert not pending, "the Dockerfile ends inside a line continuation"
    return stages


STAGES = parse_dockerfile(DOCKERFILE.read_text())
FINAL = STAGES[-1]


def final(keyword: str) -> list[Instruction]:
    return [i for i in FINAL if i.keyword == keyword]


def only(keyword: str) -> Instruction:
    found = final(keyword)
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {found}"
    return found[0]


def option(args: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in an argument list."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def entrypoint() -> list[str]:
    return only("ENTRYPOINT").exec_form()


def command() -> list[str]:
    return only("CMD").exec_form()


def metrics_port() -> int:
    port = option(command(), "--metrics-port")
    assert port is not None, "the default command serves no health endpoints"
    return int(port)


def image_uid() -> int:
    user = only("USER").args.split(":")[0]
    assert user.isdigit(), f"USER {user}: use a numeric UID so runAsNonRoot can verify it"
    return int(user)


def copy_sources() -> list[str]:
    """What the build context gives the image: every COPY source without --from."""
    sources: list[str] = []
    for stage in STAGES:
        for i in stage:
            words = i.args.split()
            if i.keyword == "COPY" and not any(w.startswith("--from") for w in words):
                sources += [w for w in words[:-1] if not w.startswith("--")]
    return sources


def test_every_base_image_is_python_slim_pinned_by_full_version() -> None:
    images = []
    for stage in STAGES:
        image = stage[0].args.split()[0]
        match = re.fullmatch(r"python:3\.(\d+)\.\d+-slim(-[a-z]+)?", image)
        assert match, f"FROM {image}: pin a full python:3.X.Y-slim version"
        assert int(match[1]) >= 11, "the package requires Python 3.11 or newer"
        images.append(image)
    assert len(set(images)) == 1, f"the build and runtime stages differ: {images}"


def test_runs_as_a_non_root_user() -> None:
    user = only("USER").args.split(":")[0]
    assert user not in {"root", "0"}
    assert image_uid() > 0


def test_entrypoint_and_default_command() -> None:
    assert entrypoint() == ["reconciler"]
    assert command()[:2] == ["watch", "/manifests"]


def test_healthcheck_hits_healthz_on_the_exposed_metrics_port() -> None:
    port = metrics_port()
    assert only("EXPOSE").args.split() == [str(port)]
    probe = only("HEALTHCHECK").exec_form()
    text = " ".join(probe)
    assert f"http://127.0.0.1:{port}/healthz" in text
    assert probe[0] == "python" and "urllib" in text, "slim images have no curl or wget"


def test_environment_puts_the_venv_first_and_unbuffers_python() -> None:
    env: dict[str, str] = {}
    for i in final("ENV"):
        for word in shlex.split(i.args):
            name, _, value = word.partition("=")
            env[name] = value
    assert env.get("PYTHONUNBUFFERED") == "1"
    venv = installed_venv_path()
    assert env["PATH"].split(":")[0] == f"{venv}/bin"
    assert any(f"--from=build {venv} {venv}" in i.args for i in final("COPY"))


def installed_venv_path() -> str:
    """The venv the build stage's RUN gives install.sh."""
    runs = [i.args for stage in STAGES for i in stage if i.keyword == "RUN"]
    installs = [shlex.split(r) for r in runs if "docker/install.sh" in r]
    assert len(installs) == 1, f"the Dockerfile must install through docker/install.sh: {runs}"
    args = installs[0]
    return args[args.index("docker/install.sh") + 1]


def test_all_install_steps_are_in_the_script() -> None:
    """The test below runs the script, so the Dockerfile must not install anything else."""
    installed_venv_path()
    for stage in STAGES:
        for i in stage:
            if i.keyword == "RUN":
                assert not re.search(r"\bpip\b|apt-get|\bcurl\b", i.args), i.args
    assert sorted(copy_sources()) == sorted(
        ["pyproject.toml", "README.md", "reconciler/", "docker/install.sh"]
    )


def healthcheck_passes(port: int) -> bool:
    """Runs the image's HEALTHCHECK command against ``port`` instead of the image's."""
    probe = only("HEALTHCHECK").exec_form()
    assert probe[0] == "python"
    argv = [sys.executable, *(a.replace(f":{metrics_port()}/", f":{port}/") for a in probe[1:])]
    done = subprocess.run(argv, check=False, capture_output=True, timeout=30)
    return done.returncode == 0


def test_the_healthcheck_command_passes_only_while_healthz_answers_200() -> None:
    health = {"ok": True}
    server = HealthServer(0, CollectorRegistry(), lambda: health["ok"], lambda: True, "127.0.0.1")
    try:
        assert healthcheck_passes(server.port)
        health["ok"] = False
        assert not healthcheck_passes(server.port)  # 503
    finally:
        server.close()
    assert not healthcheck_passes(server.port)  # nothing listening


# --- .dockerignore ----------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def test_dockerignore_keeps_tests_venv_and_caches_out() -> None:
    patterns = dockerignore_patterns()
    for name in (".git", ".venv", "tests", ".reconciler", "examples", "**/__pycache__"):
        assert name in patterns, f"{name} is not in .dockerignore"
    assert any(p.startswith("bench") for p in patterns)


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    for source in copy_sources():
        parts = PurePosixPath(source.rstrip("/")).parts
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        for pattern in dockerignore_patterns():
            hit = [p for p in prefixes if fnmatch.fnmatch(p, pattern)]
            assert not hit, f".dockerignore pattern {pattern} drops {source}, which is copied"


# --- the install script, for real ---------------------------------------------------------


def clean_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """install.sh run over a build context holding only what the Dockerfile copies."""
    work = tmp_path_factory.mktemp("image")
    context = work / "src"
    for source in copy_sources():
        target = context / source
        if (ROOT / source).is_dir():
            shutil.copytree(
                ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / source, target)
    env = clean_environment()
    env.setdefault("RECONCILER_INSTALL_CACHE", "1")
    env["PYTHON"] = sys.executable
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(context / "docker" / "install.sh"), str(work / "venv"), str(context)],
        check=False,
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert done.returncode == 0, f"install.sh failed:\n{done.stdout}\n{done.stderr}"
    print(f"install.sh took {time.monotonic() - started:.1f} s")
    return work / "venv"


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        check=False,
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_install_script_installs_the_cli_without_any_extra(venv: Path, tmp_path: Path) -> None:
    assert run(venv, "reconciler", "--help", cwd=tmp_path).returncode == 0
    located = run(
        venv, "python", "-c", "import reconciler; print(reconciler.__file__)", cwd=tmp_path
    )
    assert located.stdout.startswith(str(venv)), "the package must be installed, not linked"

    checked = run(venv, "reconciler", "validate", str(MANIFESTS), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr

    for module in ("moto", "pytest", "hypothesis"):
        imported = run(venv, "python", "-c", f"import {module}", cwd=tmp_path)
        assert imported.returncode != 0, f"{module} is installed; the image must not have it"
    sandbox = run(venv, "reconciler", "--sandbox", "plan", str(MANIFESTS), cwd=tmp_path)
    assert sandbox.returncode == 1
    assert "--sandbox needs the emulator" in sandbox.stderr
    assert "Traceback" not in sandbox.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


@pytest.fixture
def container(
    venv: Path, tmp_path: Path, emulator: Any
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """The image's ENTRYPOINT and CMD, run from the installed venv against the emulator."""
    mounted = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, mounted)
    port = free_port()
    args = [
        str(mounted) if a == "/manifests" else str(port) if a == str(metrics_port()) else a
        for a in command()
    ]
    argv = [str(venv / "bin" / entrypoint()[0]), *args]
    argv += ["--endpoint-url", emulator.url]
    # The docker run example sets AWS_REGION, as ECS and EKS do: no --region, and no
    # AWS_DEFAULT_REGION (botocore alone reads only that one).
    env = clean_environment()
    env.pop("AWS_DEFAULT_REGION", None)
    env["AWS_REGION"] = emulator.region
    process = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_the_image_command_reconciles_serves_probes_and_stops_on_sigterm(
    container: tuple[subprocess.Popen[str], int], emulator: Any
) -> None:
    process, port = container
    deadline = time.monotonic() + 30
    while get(f"http://127.0.0.1:{port}/readyz") != 200:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "/readyz never answered 200"
        time.sleep(0.2)

    declared = {
        (doc["kind"], doc["metadata"]["name"])
        for path in MANIFESTS.rglob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    client = emulator.client()
    assert {n for k, n in declared if k == "CustomModel"} <= set(models(client))
    # The throughput waits for its model to be Active: a deferred action comes back soon.
    serving = {n for k, n in declared if k == "ProvisionedThroughput"}
    while not serving <= set(throughputs(client)):
        assert time.monotonic() < deadline + 30, "the throughput was never created"
        time.sleep(0.2)
    assert get(f"http://127.0.0.1:{port}/healthz") == 200

    assert healthcheck_passes(port)

    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert events and all({"time", "level", "event"} <= e.keys() for e in events)


# --- the Kubernetes example -----------------------------------------------------------------


def kubernetes_objects() -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert doc["kind"] not in objects, f"two {doc['kind']} objects"
                objects[doc["kind"]] = doc
    return objects


OBJECTS = kubernetes_objects()
DEPLOYMENT = OBJECTS["Deployment"]
POD = DEPLOYMENT["spec"]["template"]["spec"]
ALL_CONTAINERS: list[dict[str, Any]] = POD["containers"] + POD.get("initContainers", [])


def reconciler_container() -> dict[str, Any]:
    found = [c for c in POD["containers"] if c.get("args", [])[:1] == ["watch"]]
    assert len(found) == 1, "one container must run `reconciler watch`"
    return found[0]


def git_sync_container() -> dict[str, Any]:
    found = [c for c in ALL_CONTAINERS if "git-sync/git-sync:v4." in c["image"]]
    assert len(found) == 1, "one git-sync v4 sidecar"
    return found[0]


def container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p.get("name") == port))


def test_one_replica_per_scope_and_recreate() -> None:
    assert DEPLOYMENT["spec"]["replicas"] == 1
    assert DEPLOYMENT["spec"]["strategy"]["type"] == "Recreate"
    assert "HorizontalPodAutoscaler" not in OBJECTS
    args = reconciler_container()["args"]
    assert option(args, "--scope"), "name the scope: one Deployment per scope"


def test_probes_use_the_metrics_port_of_the_args() -> None:
    c = reconciler_container()
    port = int(option(c["args"], "--metrics-port") or 0)
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http = c[probe]["httpGet"]
        assert http["path"] == path
        assert container_port(c, http["port"]) == port
    assert any(p["containerPort"] == port for p in c["ports"])
    annotations = DEPLOYMENT["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"


def test_every_container_is_locked_down_and_runs_as_non_root() -> None:
    pod_context = POD.get("securityContext", {})
    assert pod_context.get("runAsNonRoot") is True
    for c in ALL_CONTAINERS:
        context = c["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, c["name"]
        assert context["allowPrivilegeEscalation"] is False, c["name"]
        assert context["capabilities"]["drop"] == ["ALL"], c["name"]
        assert context.get("runAsUser", pod_context.get("runAsUser", 1)) != 0, c["name"]
        assert "resources" in c, c["name"]
    assert reconciler_container()["securityContext"]["runAsUser"] == image_uid()


def test_the_service_account_carries_the_aws_role() -> None:
    account = OBJECTS["ServiceAccount"]
    assert POD["serviceAccountName"] == account["metadata"]["name"]
    assert DEPLOYMENT["metadata"].get("namespace") == account["metadata"].get("namespace")
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", role)
    env = {e["name"]: e.get("value") for e in reconciler_container().get("env", [])}
    assert env.get("AWS_REGION")
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & env.keys()


def test_the_reconciler_watches_the_git_sync_link() -> None:
    sync = git_sync_container()
    root = PurePosixPath(option(sync["args"], "--root") or "")
    link = PurePosixPath(option(sync["args"], "--link") or "")
    assert root.is_absolute() and str(link), "git-sync needs --root and --link"
    published = link if link.is_absolute() else root / link
    watched = PurePosixPath(reconciler_container()["args"][1])
    assert watched.is_relative_to(published) and watched != published

    def mounts(c: dict[str, Any]) -> dict[str, str]:
        return {m["name"]: m["mountPath"] for m in c["volumeMounts"]}

    shared = set(mounts(sync).items()) & set(mounts(reconciler_container()).items())
    assert any(root.is_relative_to(path) for _, path in shared), "share git-sync's --root"
    read_only = [
        m for m in reconciler_container()["volumeMounts"] if (m["name"], m["mountPath"]) in shared
    ]
    assert all(m.get("readOnly") for m in read_only), "the reconciler only reads the checkout"
    if sync in POD.get("initContainers", []):
        # A plain init container that never exits would hold the pod forever.
        assert sync.get("restartPolicy") == "Always"


def test_the_readme_has_the_docker_run_line_and_the_one_replica_rule() -> None:
    readme = (KUBERNETES / "README.md").read_text()
    mounted = command()[1]
    port = metrics_port()
    line = next(line for line in readme.splitlines() if line.startswith("docker run"))
    assert f'-v "$PWD/manifests:{mounted}:ro"' in line
    assert f"-p {port}:{port}" in line and "AWS_REGION" in line
    assert "one replica per scope" in readme.lower()
    assert "leader election" in readme and "second Deployment" in readme
    assert "sandbox is not in the image" in readme.lower()


# --- the Kubernetes example over a targets file: one Deployment per group of targets -------

FLEET_FOLDER = KUBERNETES / "targets"
TARGETS_FILE = FLEET_FOLDER / "targets.yaml"
FLEET_FILE = FLEET_FOLDER / "fleet.yaml"
FLEET = [doc for doc in yaml.safe_load_all(FLEET_FILE.read_text()) if doc]
FLEET_DEPLOYMENTS = [d for d in FLEET if d["kind"] == "Deployment"]
FLEET_ACCOUNTS = {d["metadata"]["name"]: d for d in FLEET if d["kind"] == "ServiceAccount"}
FLEET_TARGETS_PATH = "/git/repo/targets.yaml"
ROLE_ARN = r"arn:aws:iam::(\d{12}):role/[\w+=,.@/-]+"


def sample_targets() -> tuple[Target, ...]:
    return load_targets(str(TARGETS_FILE))


def fleet_pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def fleet_watch(deployment: dict[str, Any]) -> dict[str, Any]:
    found = [c for c in fleet_pod(deployment)["containers"] if c.get("args", [])[:1] == ["watch"]]
    assert len(found) == 1, f"{deployment['metadata']['name']}: one `reconciler watch` container"
    return found[0]


def fleet_git_sync(deployment: dict[str, Any]) -> dict[str, Any]:
    pod = fleet_pod(deployment)
    every = pod["containers"] + pod.get("initContainers", [])
    found = [c for c in every if "git-sync/git-sync:v4." in c["image"]]
    assert len(found) == 1, f"{deployment['metadata']['name']}: one git-sync v4 sidecar"
    return found[0]


def repeated(args: list[str], name: str) -> list[str]:
    """Every value of a repeatable ``--name VALUE`` (or ``--name=VALUE``)."""
    values = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == name]
    return values + [arg.split("=", 1)[1] for arg in args if arg.startswith(f"{name}=")]


def fleet_targets(deployment: dict[str, Any]) -> list[str]:
    return repeated(fleet_watch(deployment)["args"], "--target")


def fleet_ids() -> list[str]:
    return [d["metadata"]["name"] for d in FLEET_DEPLOYMENTS]


def test_the_sample_targets_file_loads_with_the_reconcilers_own_loader() -> None:
    targets = sample_targets()
    assert [t.name for t in targets] == ["prod-use1", "prod-euw1", "staging-use1", "staging-euw1"]
    for t in targets:
        assert t.account_id and t.scope, f"{t.name}: name its account and its scope"
        assert t.role_arn == f"arn:aws:iam::{t.account_id}:role/bedrock-reconciler", t.name
        for path in t.paths:
            # Relative to the file, inside the repository it sits at the root of.
            inside = Path(path).relative_to(FLEET_FOLDER)
            assert ".." not in inside.parts and inside.parts[0] == "manifests", path
    places = [(t.account_id, t.region, t.scope) for t in targets]
    assert len(set(places)) == len(places), "two targets run the same account, region and scope"


def test_the_fleet_has_two_groups_each_a_service_account_and_a_deployment() -> None:
    assert [d["kind"] for d in FLEET] == ["ServiceAccount", "Deployment"] * 2
    assert [fleet_targets(d) for d in FLEET_DEPLOYMENTS] == [
        ["prod-use1", "prod-euw1"],
        ["staging-use1", "staging-euw1"],
    ]


@pytest.mark.parametrize("deployment", FLEET_DEPLOYMENTS, ids=fleet_ids())
def test_every_fleet_deployment_is_one_replica_watching_the_targets_file(
    deployment: dict[str, Any],
) -> None:
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    c = fleet_watch(deployment)
    args = c["args"]
    assert option(args, "--targets") == FLEET_TARGETS_PATH
    assert args[1].startswith("--"), "no PATH with --targets: the targets name their paths"
    assert option(args, "--scope") is None, "each target brings its own scope"
    assert fleet_targets(deployment), "without --target it would run every target"
    port = int(option(args, "--metrics-port") or 0)
    assert port == 9090
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http = c[probe]["httpGet"]
        assert http["path"] == path
        assert container_port(c, http["port"]) == port
    assert any(p["containerPort"] == port for p in c["ports"])
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"


def test_each_target_runs_in_exactly_one_fleet_deployment() -> None:
    known = {t.name for t in sample_targets()}
    runs: dict[str, list[str]] = {}
    for deployment in FLEET_DEPLOYMENTS:
        for name in fleet_targets(deployment):
            assert name in known, f"--target {name} is not in targets.yaml"
            runs.setdefault(name, []).append(deployment["metadata"]["name"])
    twice = {name: where for name, where in runs.items() if len(where) > 1}
    assert not twice, f"targets run by more than one Deployment (they would race): {twice}"
    assert runs.keys() == known, f"targets no Deployment runs: {sorted(known - runs.keys())}"


def test_each_fleet_deployment_has_its_own_service_account_and_hub_role() -> None:
    names = [fleet_pod(d)["serviceAccountName"] for d in FLEET_DEPLOYMENTS]
    assert len(set(names)) == len(names), "each group its own service account"
    roles = []
    for deployment, name in zip(FLEET_DEPLOYMENTS, names, strict=True):
        assert name in FLEET_ACCOUNTS, f"service account {name} is not in fleet.yaml"
        account = FLEET_ACCOUNTS[name]
        assert account["metadata"]["namespace"] == deployment["metadata"]["namespace"]
        roles.append(account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"])
        env = {e["name"] for e in fleet_watch(deployment).get("env", [])}
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & env
    assert len(set(roles)) == len(roles), f"each group its own role: {roles}"
    hubs = set()
    for role in roles:
        match = re.fullmatch(ROLE_ARN, role)
        assert match, role
        hubs.add(match[1])
    assert hubs == {"111111111111"}, "the groups' roles live in the hub account"
    assert not hubs & {t.account_id for t in sample_targets()}


@pytest.mark.parametrize("deployment", FLEET_DEPLOYMENTS, ids=fleet_ids())
def test_git_sync_publishes_the_targets_file_the_fleet_reads(deployment: dict[str, Any]) -> None:
    sync = fleet_git_sync(deployment)
    root = PurePosixPath(option(sync["args"], "--root") or "")
    link = PurePosixPath(option(sync["args"], "--link") or "")
    published = link if link.is_absolute() else root / link
    assert published == PurePosixPath("/git/repo")
    targets_file = PurePosixPath(option(fleet_watch(deployment)["args"], "--targets") or "")
    assert targets_file.is_relative_to(published) and targets_file != published
    assert targets_file.relative_to(published) == PurePosixPath(TARGETS_FILE.name)

    def mounts(c: dict[str, Any]) -> dict[str, str]:
        return {m["name"]: m["mountPath"] for m in c["volumeMounts"]}

    reconciler = fleet_watch(deployment)
    shared = set(mounts(sync).items()) & set(mounts(reconciler).items())
    assert any(root.is_relative_to(path) for _, path in shared), "share git-sync's --root"
    assert all(m.get("readOnly") for m in reconciler["volumeMounts"] if m["name"] in dict(shared))
    if sync in fleet_pod(deployment).get("initContainers", []):
        assert sync.get("restartPolicy") == "Always"


def without_its_own(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod spec without what differs between the single Deployment and the fleet's."""
    copy = json.loads(json.dumps(pod))
    copy.pop("serviceAccountName")
    for c in copy["containers"]:
        if c.get("args", [])[:1] == ["watch"]:
            c.pop("args")
            c.pop("env", None)
            c.pop("resources")  # sized to the group of targets
    return copy


@pytest.mark.parametrize("deployment", FLEET_DEPLOYMENTS, ids=fleet_ids())
def test_every_fleet_deployment_is_the_single_deployment_but_for_its_args(
    deployment: dict[str, Any],
) -> None:
    """Same git-sync sidecar, security contexts, probes, volumes, as ../ (the watch
    container's resources are sized to its group of targets)."""
    assert without_its_own(fleet_pod(deployment)) == without_its_own(POD)
    for key in ("replicas", "strategy", "revisionHistoryLimit"):
        assert deployment["spec"][key] == DEPLOYMENT["spec"][key], key
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == DEPLOYMENT["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize("deployment", FLEET_DEPLOYMENTS, ids=fleet_ids())
def test_every_fleet_watch_container_has_room_for_its_group(deployment: dict[str, Any]) -> None:
    """50 targets x 100 models settle at ~216 MB RSS (bench.fleetwatch): 512Mi holds them."""
    limit = fleet_watch(deployment)["resources"]["limits"]["memory"]
    assert limit.endswith("Mi") and int(limit[:-2]) >= 512


def test_fleet_names_and_selectors_clash_with_nothing() -> None:
    everything = [DEPLOYMENT, *FLEET_DEPLOYMENTS]
    names = [d["metadata"]["name"] for d in everything]
    assert len(set(names)) == len(names), names
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in everything]
    assert len(set(selectors)) == len(selectors), "two Deployments would select the same pods"
    for d in everything:
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()
    accounts = [OBJECTS["ServiceAccount"]["metadata"]["name"], *FLEET_ACCOUNTS]
    assert len(set(accounts)) == len(accounts), accounts


def read_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


@pytest.mark.parametrize("deployment", FLEET_DEPLOYMENTS, ids=fleet_ids())
def test_every_fleet_deployment_runs_its_targets_on_the_sandbox(
    deployment: dict[str, Any], tmp_path: Path
) -> None:
    """The Deployment's own arguments, over a checkout holding targets.yaml at its root."""
    checkout = tmp_path / "repo"
    shutil.copytree(MANIFESTS, checkout / "manifests" / "common")
    for t in sample_targets():
        for path in t.paths:
            (checkout / Path(path).relative_to(FLEET_FOLDER)).mkdir(parents=True, exist_ok=True)
    shutil.copy2(TARGETS_FILE, checkout / TARGETS_FILE.name)
    published = PurePosixPath(FLEET_TARGETS_PATH).parent
    port = free_port()
    args = fleet_watch(deployment)["args"]
    args = [
        str(checkout / PurePosixPath(a).relative_to(published))
        if a == FLEET_TARGETS_PATH
        else str(port)
        if a == option(args, "--metrics-port")
        else a
        for a in args
    ]
    reconciler = Path(sys.executable).parent / "reconciler"
    state = tmp_path / "sandbox.json"
    argv = [str(reconciler), "--sandbox", "--sandbox-state", str(state), *args]
    process = subprocess.Popen(
        argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while get(f"http://127.0.0.1:{port}/readyz") != 200:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "/readyz never answered 200"
            time.sleep(0.2)
        assert get(f"http://127.0.0.1:{port}/healthz") == 200
        metrics = read_text(f"http://127.0.0.1:{port}/metrics")
        labelled = set(
            re.findall(
                r'^reconciler_last_success_timestamp_seconds\{target="([^"]+)"\}', metrics, re.M
            )
        )
        assert labelled == set(fleet_targets(deployment))
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    started = {e["target"] for e in events if e["event"] == "started"}
    assert started == set(fleet_targets(deployment))


def test_the_kubernetes_readme_describes_the_fleet() -> None:
    readme = (KUBERNETES / "README.md").read_text()
    heading = "## Many accounts and regions: one Deployment per group of targets"
    assert readme.index("## One replica per scope") < readme.index(heading)
    section = readme.split(heading, 1)[1]
    assert "kubectl apply -f examples/kubernetes/targets/fleet.yaml" in section
    assert "targets/targets.yaml" in section
    assert "exactly one Deployment" in section and "sts:AssumeRole" in section
    assert "sts:ExternalId" in section and "target_failed" in section
    # The capacity figures, with the command that measured them and the limit they set.
    assert "python -m bench.fleetwatch --targets 50 --models 100" in section
    assert "Memory is\nthe limit" in section or "Memory is the limit" in section
    limits = {fleet_watch(d)["resources"]["limits"]["memory"] for d in FLEET_DEPLOYMENTS}
    assert all(f"`{limit}`" in section for limit in limits)
    # The target account role's trust policy names a hub role of fleet.yaml.
    annotation = "eks.amazonaws.com/role-arn"
    hubs = {a["metadata"]["annotations"][annotation] for a in FLEET_ACCOUNTS.values()}
    assert any(f'"Principal": {{"AWS": "{hub}"}}' in section for hub in hubs)
    examples = (ROOT / "examples" / "README.md").read_text()
    assert (
        "](kubernetes/README.md#many-accounts-and-regions-one-deployment-per-group-of-targets)"
        in examples
    )
