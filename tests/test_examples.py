"""The CI examples and the pre-commit hook, run as a CI runner would, against the sandbox.

The GitHub workflow's ``run:`` steps and the GitLab jobs' ``script:`` lines are executed with
bash, in a temporary checkout, with every ``reconciler`` command pointed at one sandbox
state file. Steps that need GitHub or AWS (``uses:`` steps, installing the package) are
left out: the venv's ``reconciler`` is first on PATH. Nothing reaches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.diagram import flowchart
from tests.helpers import manifest, throughput, write
from tests.test_diagram import HOSTILE, hostile_plan

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / "examples" / "github-actions" / "reconcile.yml"
GITLAB = ROOT / "examples" / "gitlab-ci" / ".gitlab-ci.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
EXAMPLES_README = ROOT / "examples" / "README.md"
# The pinned mermaid (and jsdom, the DOM its parse needs) that checks the plans' diagrams.
MERMAID = ROOT / "tests" / "mermaid"

TIMEOUT = 60
MODELS = ("chat-large", "chat-small")
HEADING = "### Bedrock custom models: plan for scope `prod` in `123456789012/us-east-1`"
# A `reconciler` command: the word followed by one of its subcommands.
COMMAND = re.compile(r"\breconciler (?=(?:validate|plan|apply|watch|schema|targets)\b)")
GITHUB_FILES = ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")
STEP_OUTPUT_CONDITION = re.compile(r"steps\.([\w-]+)\.outputs\.([\w-]+) == '([^']*)'")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def literal_env(*blocks: Mapping[str, Any] | None) -> dict[str, str]:
    """Environment entries that need no CI expression (``${{ }}`` or ``$VARIABLE``)."""
    found: dict[str, str] = {}
    for block in blocks:
        for key, value in (block or {}).items():
            if "$" not in str(value):
                found[key] = str(value)
    return found


@dataclass
class Sandbox:
    """One sandbox account shared by every command of a test, and checkouts of a repo."""

    root: Path
    manifests: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        return self.root / "sandbox" / "state.json"

    def checkout(self, name: str) -> Path:
        """A fresh checkout: a folder holding ``manifests/`` with this test's manifests."""
        folder = self.root / name
        for file, text in self.manifests.items():
            write(folder / "manifests", file, text)
        return folder

    def sandboxed(self, script: str) -> str:
        """``script`` with every reconciler command pointed at the sandbox."""
        flags = f"reconciler --sandbox --sandbox-state {shlex.quote(str(self.state))} "
        rewritten, count = COMMAND.subn(flags, script)
        assert count == script.count("reconciler "), f"a reconciler command escaped: {script}"
        return rewritten

    def environ(self, extra: Mapping[str, str]) -> dict[str, str]:
        """The test's environment (fake AWS, fast imports), the venv first on PATH."""
        # Not the runner's own files, should these tests run in GitHub Actions.
        environ = {k: v for k, v in os.environ.items() if k not in GITHUB_FILES}
        environ.update(extra)
        environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environ["PATH"]])
        return environ

    def bash(
        self, script: str, cwd: Path, extra: Mapping[str, str]
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", self.sandboxed(script)],
            cwd=cwd,
            env=self.environ(extra),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def reconciler(
        self, *args: str, cwd: Path, extra: Mapping[str, str]
    ) -> subprocess.CompletedProcess[str]:
        return self.bash(shlex.join(["reconciler", *args]), cwd, extra)


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(
        tmp_path,
        {
            "chat/large.yaml": manifest(MODELS[0], tags={"team": "chat"}),
            "chat/small.yml": manifest(MODELS[1]),
        },
    )


# --- GitHub Actions ---------------------------------------------------------------------


@dataclass
class JobRun:
    """The steps of one job that ran, by id or name, and the outputs they set."""

    steps: dict[str, subprocess.CompletedProcess[str]]
    outputs: dict[str, dict[str, str]]

    @property
    def ok(self) -> bool:
        return all(step.returncode == 0 for step in self.steps.values())

    def log(self) -> str:
        return "\n".join(
            f"[{k}] {v.returncode}\n{v.stdout}{v.stderr}" for k, v in self.steps.items()
        )


def read_outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def step_runs(condition: str | None, outputs: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether a ``run:`` step with this ``if:`` runs; only step-output tests are supported."""
    if condition is None:
        return True
    match = STEP_OUTPUT_CONDITION.fullmatch(condition.strip())
    if match is None:
        pytest.fail(f"the test cannot evaluate `if: {condition}` on a run step")
    step, key, value = match.groups()
    return outputs.get(step, {}).get(key) == value


def run_github_job(
    workflow: Mapping[str, Any],
    name: str,
    sandbox: Sandbox,
    cwd: Path,
    summary: Path,
    matrix: Mapping[str, str] | None = None,
) -> JobRun:
    """Run a job's ``run:`` steps in order, as a runner does: each in its own bash, with the
    workflow, job and step env, GITHUB_OUTPUT per step; a failed step skips the rest.
    ``matrix``: the env entries a matrix job's expressions would give (``TARGET``)."""
    job = workflow["jobs"][name]
    outputs: dict[str, dict[str, str]] = {}
    ran: dict[str, subprocess.CompletedProcess[str]] = {}
    for index, step in enumerate(job["steps"]):
        if "run" not in step:
            continue  # `uses:` steps: checkout, setup-python, AWS credentials, comment, artifact
        if "pip install" in step["run"]:
            continue  # needs the network; the venv's reconciler is on PATH instead
        if not step_runs(step.get("if"), outputs):
            continue
        output = cwd / f".github-output-{index}"
        output.write_text("")
        extra = {
            **literal_env(workflow.get("env"), job.get("env"), step.get("env")),
            **(matrix or {}),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(output),
        }
        key = step.get("id") or step.get("name") or f"step-{index}"
        ran[key] = sandbox.bash(step["run"], cwd, extra)
        if "id" in step:
            outputs[step["id"]] = read_outputs(output)
        if ran[key].returncode != 0:
            break
    return JobRun(ran, outputs)


@pytest.fixture(scope="module")
def workflow() -> Any:
    return load(GITHUB)


def uses(job: Mapping[str, Any], action: str) -> list[Mapping[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(action + "@")]


def test_github_workflow_triggers_permissions_and_credentials(workflow: Any) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as True
    assert "manifests/**" in triggers["pull_request"]["paths"]
    assert triggers["push"]["branches"] == ["main"]
    assert "manifests/**" in triggers["push"]["paths"]
    assert workflow["permissions"] == {"contents": "read"}
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    assert "pull_request" in plan["if"] and "refs/heads/main" in apply["if"]
    for job in (plan, apply):
        assert job["permissions"]["id-token"] == "write"
        assert job["permissions"]["contents"] == "read"
        (python,) = uses(job, "actions/setup-python")
        assert python["with"]["python-version"] == "3.11"
        (credentials,) = uses(job, "aws-actions/configure-aws-credentials")
        assert credentials["uses"].endswith("@v4")
        assert credentials["with"]["role-to-assume"].startswith("${{ vars.")
        assert credentials["with"]["aws-region"]
        (upload,) = uses(job, "actions/upload-artifact")
        assert "plan.json" in upload["with"]["path"]
    assert plan["permissions"]["pull-requests"] == "write"
    assert "pull-requests" not in apply["permissions"]
    assert apply["concurrency"]["group"]
    assert apply["concurrency"]["cancel-in-progress"] is False
    # A run queued behind another apply checks out the newest main, never older manifests.
    (checkout,) = uses(apply, "actions/checkout")
    assert checkout["with"]["ref"] == "main"
    # Credentials only after the offline validation, in both jobs.
    for job in (plan, apply):
        names = [s.get("name", s.get("uses", "")) for s in job["steps"]]
        assert names.index("Validate manifests") < next(
            i for i, n in enumerate(names) if "configure-aws-credentials" in n
        )
    (comment,) = uses(plan, "actions/github-script")
    assert comment["if"] == "always()"


def test_github_plan_then_apply_against_the_sandbox(workflow: Any, sandbox: Sandbox) -> None:
    pull_request = sandbox.checkout("pull-request")
    summary = sandbox.root / "plan-summary.md"
    summary.write_text("earlier step\n")

    plan = run_github_job(workflow, "plan", sandbox, pull_request, summary)
    assert plan.ok, plan.log()
    assert list(plan.steps) == ["Validate manifests", "plan"]
    assert plan.outputs["plan"] == {"exitcode": "2"}  # changes pending, and the job passes
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, not overwritten
    assert HEADING in text and "**2 create**" in text
    comment = (pull_request / "plan.md").read_text()  # the pull-request comment's body
    assert comment.startswith(HEADING)
    for name in MODELS:
        assert f"`{name}`" in text and f"`{name}`" in comment
    document = json.loads((pull_request / "plan.json").read_text())
    assert document["format"] == "bedrock-reconciler/plan"
    assert sorted(a["name"] for a in document["actions"]) == list(MODELS)

    main = sandbox.checkout("main")
    apply_summary = sandbox.root / "apply-summary.md"
    apply = run_github_job(workflow, "apply", sandbox, main, apply_summary)
    assert apply.ok, apply.log()
    assert list(apply.steps) == ["Validate manifests", "plan", "Apply exactly that plan"]
    assert apply.outputs["plan"] == {"exitcode": "2"}
    report = apply_summary.read_text()
    assert HEADING in report
    assert "### Bedrock custom models: apply for scope `prod` in `123456789012/us-east-1`" in report
    assert report.count("| done |") == 2

    env = literal_env(workflow["env"])
    check = sandbox.reconciler(
        "plan", "--detailed-exitcode", "--output", "json", cwd=main, extra=env
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert {a["name"]: a["action"] for a in json.loads(check.stdout)["actions"]} == {
        name: "noop" for name in MODELS
    }

    # In sync: the plan job passes with exit code 0, and the apply job applies nothing.
    again = run_github_job(workflow, "plan", sandbox, sandbox.checkout("pull-request-2"), summary)
    assert again.ok and again.outputs["plan"] == {"exitcode": "0"}, again.log()
    idle = run_github_job(workflow, "apply", sandbox, sandbox.checkout("main-2"), apply_summary)
    assert idle.ok and list(idle.steps) == ["Validate manifests", "plan"], idle.log()


def test_github_jobs_fail_on_an_invalid_manifest(workflow: Any, sandbox: Sandbox) -> None:
    sandbox.manifests["chat/small.yml"] = manifest(MODELS[1], s3_uri="https://not-s3/")
    checkout = sandbox.checkout("broken")
    summary = sandbox.root / "summary.md"
    for name in ("plan", "apply"):
        run = run_github_job(workflow, name, sandbox, checkout, summary)
        assert list(run.steps) == ["Validate manifests"]  # nothing after it runs
        assert run.steps["Validate manifests"].returncode == 1
        assert "chat/small.yml:8: spec.modelSourceConfig.s3DataSource.s3Uri" in (
            run.steps["Validate manifests"].stderr
        )

    # The plan step alone treats exit code 1 as a failure, and keeps the errors for the
    # comment.
    (step,) = [s for s in workflow["jobs"]["plan"]["steps"] if s.get("id") == "plan"]
    output = sandbox.root / "output"
    output.write_text("")
    extra = {**literal_env(workflow["env"]), "GITHUB_OUTPUT": str(output)}
    result = sandbox.bash(step["run"], checkout, extra)
    assert result.returncode == 1
    assert read_outputs(output) == {"exitcode": "1"}
    assert "s3Uri" in (checkout / "plan.err").read_text()
    assert "s3Uri" in result.stderr  # and shows them in the log
    assert not (checkout / "plan.json").exists()


def test_github_plan_with_a_conflict_fails_and_keeps_the_plan_for_the_comment(
    workflow: Any, sandbox: Sandbox
) -> None:
    checkout = sandbox.checkout("pull-request")
    # Another scope already owns chat-small: a conflict, which plan prints and exits 1 on.
    other = {"RECONCILER_SCOPE": "other"}
    taken = sandbox.reconciler("apply", "manifests/chat/small.yml", cwd=checkout, extra=other)
    assert taken.returncode == 0, taken.stderr
    summary = sandbox.root / "summary.md"
    run = run_github_job(workflow, "plan", sandbox, checkout, summary)
    assert run.steps["plan"].returncode == 1 and run.outputs["plan"] == {"exitcode": "1"}
    report = (checkout / "plan.md").read_text()
    assert report.startswith(HEADING) and "conflict" in report and "`chat-small`" in report
    assert "conflict" in summary.read_text()
    assert "cannot be applied" in (checkout / "plan.err").read_text()


COMMENT_HARNESS = """
const calls = [];
const github = {
  paginate: async () => JSON.parse(process.env.EXISTING),
  rest: { issues: {
    listComments: () => {},
    createComment: async (args) => { calls.push(['create', args]); },
    updateComment: async (args) => { calls.push(['update', args]); },
  } },
};
const context = {
  payload: { pull_request: { head: { sha: '0123456789abcdef' } } },
  serverUrl: 'https://github.example', repo: { owner: 'acme', repo: 'models' }, runId: 42,
  issue: { number: 7 },
};
(async () => {
SCRIPT
})().then(() => console.log(JSON.stringify(calls)), (e) => { console.error(e); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_github_comment_script_creates_then_edits_one_comment(
    workflow: Any, tmp_path: Path
) -> None:
    (step,) = uses(workflow["jobs"]["plan"], "actions/github-script")
    harness = tmp_path / "comment.js"
    harness.write_text(COMMENT_HARNESS.replace("SCRIPT", step["with"]["script"]))

    def comment(exitcode: str, existing: list[dict[str, Any]]) -> list[Any]:
        extra = {"EXITCODE": exitcode, "EXISTING": json.dumps(existing)}
        result = subprocess.run(
            ["node", str(harness)],
            cwd=tmp_path,
            env=Sandbox(tmp_path).environ(extra),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        calls: list[Any] = json.loads(result.stdout)
        return calls

    (tmp_path / "plan.md").write_text(f"{HEADING}\n\n**1 create**\n")
    ((kind, args),) = comment("2", [{"id": 5, "user": {"type": "User"}, "body": "LGTM"}])
    assert kind == "create" and args["issue_number"] == 7
    assert args["body"].startswith("<!-- bedrock-reconciler-plan -->\n" + HEADING)
    assert "Commit 0123456" in args["body"]

    mine = {"id": 9, "user": {"type": "Bot"}, "body": args["body"]}
    ((kind, args),) = comment("2", [mine])
    assert kind == "update" and args["comment_id"] == 9

    # A plan with a conflict exits 1 but is printed: shown, marked failed, with the error.
    (tmp_path / "plan.err").write_text("error: 1 action(s) cannot be applied\n")
    ((kind, args),) = comment("1", [mine])
    assert kind == "update" and args["body"].startswith(mine["body"].split("<sub>")[0].strip())
    assert "The plan failed" in args["body"] and "1 action(s) cannot be applied" in args["body"]

    # Invalid manifests print no plan: the errors replace the old plan, never kept.
    (tmp_path / "plan.md").write_text("")
    (tmp_path / "plan.err").write_text("a.yaml:8: spec: bad\n")
    ((kind, args),) = comment("1", [mine])
    assert kind == "update" and "no plan for 0123456" in args["body"]
    assert HEADING not in args["body"] and "a.yaml:8: spec: bad" in args["body"]
    for file in ("plan.md", "plan.err"):
        (tmp_path / file).unlink()
    ((kind, args),) = comment("", [mine])  # validation failed: the plan step never ran
    assert kind == "update" and "no plan for 0123456" in args["body"]


Parse = Callable[[list[str]], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def mermaid() -> Parse:
    """Mermaid's own parser under node: ``npm ci`` from the lock file into
    tests/mermaid/node_modules (ignored by git) once per lock file, then one node run per
    call, parsing every source given."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    modules = MERMAID / "node_modules"
    stamp = modules / ".installed-lock-sha256"
    wanted = hashlib.sha256((MERMAID / "package-lock.json").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=MERMAID,
            check=True,
            timeout=600,
        )
        stamp.write_text(wanted)

    def parse(sources: list[str]) -> list[dict[str, Any]]:
        result = subprocess.run(
            ["node", str(MERMAID / "parse.mjs")],
            input=json.dumps(sources),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )
        parsed: list[dict[str, Any]] = json.loads(result.stdout)
        return parsed

    return parse


def readme_diagram() -> str:
    """The README's example diagram, still indented as the list item it belongs to."""
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"^  ```mermaid\n.*?^  ```\n", readme, flags=re.MULTILINE | re.DOTALL)
    return str(block)


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.timeout(600)  # the first run installs mermaid (about 10 s, more on a slow link)
def test_github_plan_and_apply_draw_a_rollout_mermaid_parses(
    workflow: Any, sandbox: Sandbox, mermaid: Parse
) -> None:
    sandbox.manifests = {
        "v1.yaml": manifest("support-v1"),
        "prod.yaml": throughput("support-prod", model="support-v1"),
    }
    env = literal_env(workflow["env"])
    first = sandbox.reconciler("apply", "--wait", "manifests", cwd=sandbox.checkout("c"), extra=env)
    assert first.returncode == 0, first.stdout + first.stderr
    sandbox.manifests = {
        "v2.yaml": manifest("support-v2"),
        "prod.yaml": throughput("support-prod", model="support-v2"),
    }
    pull_request = sandbox.checkout("pull-request")
    plan = run_github_job(workflow, "plan", sandbox, pull_request, sandbox.root / "plan.md")
    assert plan.ok, plan.log()
    (drawn,) = mermaid_blocks((pull_request / "plan.md").read_text())
    assert "support-prod<br/>throughput · switching" in drawn
    assert "support-v1<br/>model · to be deleted" in drawn
    assert "support-v2<br/>model · new" in drawn
    assert "n2 --> n1" in drawn and "n2 -. was .-> n0" in drawn
    (readme,) = mermaid_blocks(textwrap.dedent(readme_diagram()))
    assert readme == drawn  # the README shows what a rollout draws
    summary = sandbox.root / "apply.md"
    apply = run_github_job(workflow, "apply", sandbox, sandbox.checkout("main"), summary)
    assert apply.ok, apply.log()
    (planned, applied) = mermaid_blocks(summary.read_text())  # the plan step, then the apply
    assert planned == applied == drawn

    valid = [drawn, *(flowchart(hostile_plan(name)) or "" for name in HOSTILE)]
    # And the check can fail: a label left open, a quote inside a label.
    broken = [drawn.replace('"]', "", 1), drawn.replace("v2<br/>", 'v"2<br/>', 1)]
    results = mermaid(valid + broken)  # one node run: mermaid takes a second to load
    assert results[: len(valid)] == [{"ok": True, "type": "flowchart-v2"}] * len(valid), results
    assert [r["ok"] for r in results[len(valid) :]] == [False, False], broken


TARGETS_WORKFLOW = ROOT / "examples" / "github-actions" / "targets.yml"
TWO_TARGETS = """\
apiVersion: bedrock.gitops/v1
kind: Target
metadata: {name: prod-use1}
spec: {region: us-east-1, accountId: "123456789012", paths: [../manifests]}
---
apiVersion: bedrock.gitops/v1
kind: Target
metadata: {name: prod-usw2}
spec: {region: us-west-2, accountId: "123456789012", paths: [../manifests]}
"""


def test_github_targets_matrix_plans_and_applies_each_target(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    workflow = load(TARGETS_WORKFLOW)
    for name in ("plan", "apply"):
        job = workflow["jobs"][name]
        assert job["needs"] == "targets" and job["strategy"]["fail-fast"] is False
        assert "matrix.target.name" in job["concurrency"]["group"]
        (credentials,) = uses(job, "aws-actions/configure-aws-credentials")
        assert "matrix.target.account" in credentials["with"]["role-to-assume"]
        assert credentials["with"]["aws-region"] == "${{ matrix.target.region }}"
    assert workflow["jobs"]["apply"]["concurrency"]["cancel-in-progress"] is False

    sandbox.manifests["../deploy/targets.yaml"] = TWO_TARGETS
    checkout = sandbox.checkout("pull-request")
    listing = run_github_job(workflow, "targets", sandbox, checkout, tmp_path / "s.md")
    assert listing.ok, listing.log()
    matrix = json.loads(listing.outputs["matrix"]["matrix"])
    assert [(t["name"], t["region"]) for t in matrix] == [
        ("prod-use1", "us-east-1"),
        ("prod-usw2", "us-west-2"),
    ]
    for target in matrix:
        summary = tmp_path / f"plan-{target['name']}.md"
        plan = run_github_job(
            workflow, "plan", sandbox, checkout, summary, {"TARGET": target["name"]}
        )
        assert plan.ok and plan.outputs["plan"] == {"exitcode": "2"}, plan.log()
        sections = re.findall(r"^## Target `([\w-]+)`", summary.read_text(), re.MULTILINE)
        assert sections == [target["name"]]  # each job plans its own target only
    main = sandbox.checkout("main")
    for target in matrix:
        apply = run_github_job(
            workflow, "apply", sandbox, main, tmp_path / "a.md", {"TARGET": target["name"]}
        )
        assert apply.ok, apply.log()
        assert list(apply.steps) == ["plan", "Apply exactly that plan"]
    check = sandbox.reconciler(
        "plan",
        "--targets",
        "deploy/targets.yaml",
        "--detailed-exitcode",
        cwd=main,
        extra=literal_env(workflow["env"]),
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.endswith("Total over 2 targets: 4 noop.\n")


# --- GitLab CI --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline() -> Any:
    return load(GITLAB)


def run_gitlab_job(
    pipeline: Mapping[str, Any], name: str, sandbox: Sandbox, cwd: Path, part: str = "script"
) -> subprocess.CompletedProcess[str]:
    """A job's ``script:`` (or ``after_script:``) lines, in one shell, as the runner does."""
    job = pipeline[name]
    extra = literal_env(pipeline.get("variables"), job.get("variables"))
    # The pipeline sets AWS_REGION; a runner's other region variable must not win over it.
    extra.setdefault("AWS_DEFAULT_REGION", "eu-west-3")
    return sandbox.bash("\n".join(job[part]), cwd, extra)


def test_gitlab_pipeline_plans_merge_requests_and_applies_one_at_a_time(pipeline: Any) -> None:
    template = pipeline[".reconciler"]
    assert template["image"].startswith("python:3.11")
    assert template["id_tokens"]["AWS_ID_TOKEN"]["aud"]
    setup = "\n".join(template["before_script"])
    assert 'export AWS_WEB_IDENTITY_TOKEN_FILE="$(mktemp)"' in setup
    assert '"$AWS_ID_TOKEN" > "$AWS_WEB_IDENTITY_TOKEN_FILE"' in setup
    plan, apply = pipeline["bedrock:plan"], pipeline["bedrock:apply"]
    for job in (plan, apply):
        assert job["extends"] == ".reconciler"
        assert job["variables"]["AWS_ROLE_ARN"].startswith("$BEDROCK_")
        assert "plan.json" in job["artifacts"]["paths"]
    assert plan["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert "plan.md" in plan["artifacts"]["paths"]
    assert apply["rules"][0] == {
        "if": '$CI_PIPELINE_SOURCE == "merge_request_event"',
        "when": "never",
    }
    assert apply["rules"][1]["if"] == "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
    assert apply["resource_group"] == "bedrock-reconciler"
    assert apply["environment"]["name"]  # so GitLab refuses outdated deployment jobs
    assert plan["variables"]["AWS_ROLE_ARN"] != apply["variables"]["AWS_ROLE_ARN"]


def test_gitlab_plan_then_apply_against_the_sandbox(pipeline: Any, sandbox: Sandbox) -> None:
    merge_request = sandbox.checkout("merge-request")
    plan = run_gitlab_job(pipeline, "bedrock:plan", sandbox, merge_request)
    assert plan.returncode == 0, plan.stdout + plan.stderr  # exit code 2 is a success
    assert "plan exit code 2" in plan.stdout
    report = (merge_request / "plan.md").read_text()
    assert report.startswith(HEADING)
    assert all(f"`{name}`" in report and f"`{name}`" in plan.stdout for name in MODELS)
    assert (merge_request / "plan.json").exists()

    main = sandbox.checkout("main")
    apply = run_gitlab_job(pipeline, "bedrock:apply", sandbox, main)
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert "Results: 2 done, 0 in sync, 0 failed, 0 skipped" in apply.stdout
    env = literal_env(pipeline["variables"])
    check = sandbox.reconciler("plan", "--detailed-exitcode", cwd=main, extra=env)
    assert check.returncode == 0, check.stdout + check.stderr

    idle = run_gitlab_job(pipeline, "bedrock:apply", sandbox, sandbox.checkout("main-2"))
    assert idle.returncode == 0 and "Apply" not in idle.stdout, idle.stdout + idle.stderr


def test_gitlab_jobs_fail_on_an_invalid_manifest(pipeline: Any, sandbox: Sandbox) -> None:
    sandbox.manifests["chat/small.yml"] = manifest("Not A Valid Name!")
    checkout = sandbox.checkout("broken")
    for name in ("bedrock:plan", "bedrock:apply"):
        run = run_gitlab_job(pipeline, name, sandbox, checkout)
        assert run.returncode == 1
        assert "chat/small.yml:4: metadata.name" in run.stderr
    assert not (checkout / "plan.json").exists()


class NotesApi(BaseHTTPRequestHandler):
    """A GitLab notes API on 127.0.0.1 that records requests."""

    requests: list[tuple[str, str, str | None, Any]]
    existing: list[dict[str, Any]]

    def _answer(self, payload: Any) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((self.command, self.path, self.headers["PRIVATE-TOKEN"], body))
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(self.existing)

    def do_POST(self) -> None:
        self._answer({"id": 1})

    def do_PUT(self) -> None:
        self._answer({"id": 1})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def notes_api() -> Iterator[tuple[str, type[NotesApi]]]:
    handler = type("Handler", (NotesApi,), {"requests": [], "existing": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v4", handler
    finally:
        server.shutdown()
        server.server_close()


def test_gitlab_merge_request_note(
    pipeline: Any, sandbox: Sandbox, notes_api: tuple[str, type[NotesApi]], tmp_path: Path
) -> None:
    url, api = notes_api
    job = pipeline["bedrock:plan"]
    script = "\n".join(job["after_script"])
    checkout = sandbox.checkout("merge-request")
    (checkout / "plan.md").write_text(f"{HEADING}\n\n**2 create**\n")
    ci = {
        "CI_API_V4_URL": url,
        "CI_PROJECT_ID": "12",
        "CI_MERGE_REQUEST_IID": "34",
        "CI_COMMIT_SHORT_SHA": "abc1234",
        "CI_JOB_URL": "https://gitlab.example/jobs/5",
        "CI_JOB_STATUS": "success",
    }

    skipped = sandbox.bash(script, checkout, ci)  # no token: no note, no failure
    assert skipped.returncode == 0 and api.requests == []
    assert "RECONCILER_NOTE_TOKEN is not set" in skipped.stdout

    ci["RECONCILER_NOTE_TOKEN"] = "glpat-test"
    created = sandbox.bash(script, checkout, ci)
    assert created.returncode == 0, created.stderr
    notes = "/api/v4/projects/12/merge_requests/34/notes"
    (listed, posted) = api.requests
    assert listed[:3] == ("GET", notes + "?per_page=100&sort=desc", "glpat-test")
    assert posted[:3] == ("POST", notes, "glpat-test")
    assert posted[3]["body"].startswith("<!-- bedrock-reconciler-plan -->\n" + HEADING)

    api.requests.clear()
    api.existing = [{"id": 3, "body": "LGTM"}, {"id": 8, "body": posted[3]["body"]}]
    ci["CI_JOB_STATUS"] = "failed"  # a plan with a conflict: printed, and the job fails
    edited = sandbox.bash(script, checkout, ci)
    assert edited.returncode == 0, edited.stderr
    (_, put) = api.requests
    assert put[:2] == ("PUT", notes + "/8")
    assert HEADING in put[3]["body"] and "The plan failed" in put[3]["body"]

    api.requests.clear()
    (checkout / "plan.md").unlink()  # invalid manifests: no plan at all
    assert sandbox.bash(script, checkout, ci).returncode == 0
    (_, put) = api.requests
    assert "no plan for abc1234" in put[3]["body"] and HEADING not in put[3]["body"]


# --- pre-commit and editors -------------------------------------------------------------


def test_pre_commit_hook_validates_manifests(tmp_path: Path) -> None:
    hooks = load(HOOKS)
    (hook,) = hooks
    assert hook["id"] == "reconciler-validate"
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["language"] == "python" and hook["pass_filenames"] is True
    assert hook["entry"] == "reconciler validate"
    # language: python installs this repository, which must provide the entry's command.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["reconciler"] == "reconciler.cli:main"

    files = re.compile(hook["files"])
    assert files.search("manifests/support/support-nova-lite.yaml")
    assert files.search("manifests/search/rerankers.yml")
    assert not files.search("README.md")
    assert not files.search("examples/github-actions/reconcile.yml")
    assert not files.search("manifests/README.md")

    def hook_run(*paths: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*shlex.split(hook["entry"]), *paths],
            cwd=ROOT,
            env=Sandbox(tmp_path).environ({}),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    good = hook_run("manifests/support/support-nova-lite.yaml")
    assert good.returncode == 0, good.stderr
    both = hook_run("manifests/support/support-nova-lite.yaml", "manifests/search/rerankers.yaml")
    assert both.returncode == 0, both.stderr
    bad = write(tmp_path, "bad.yaml", manifest("ok-name", s3_uri="s3:/missing-slash"))
    failed = hook_run("manifests/support/support-nova-lite.yaml", str(bad))
    assert failed.returncode == 1
    assert f"{bad}:8: spec.modelSourceConfig.s3DataSource.s3Uri" in failed.stderr


def test_editor_schema_matches_the_manifests_and_is_documented(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    readme = EXAMPLES_README.read_text()
    assert "reconciler schema > custommodel.schema.json" in readme
    assert "# yaml-language-server: $schema=" in readme and '"yaml.schemas"' in readme
    assert "id: reconciler-validate" in readme
    result = subprocess.run(
        ["reconciler", "schema"],
        env=Sandbox(tmp_path).environ({}),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    schema = json.loads(result.stdout)
    for path in sorted((ROOT / "manifests").rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            jsonschema.validate(document, schema)
    unknown_field = yaml.safe_load(manifest("x") + "  replicas: 2\n")
    with pytest.raises(jsonschema.ValidationError, match="replicas"):
        jsonschema.validate(unknown_field, schema)
