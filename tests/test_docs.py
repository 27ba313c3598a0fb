"""The README stays true: its commands are the ones CI runs, and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(python3 -m venv .*?)\n```", README)


def test_readme_has_the_two_setup_commands() -> None:
    sandbox, tests = readme_commands()
    assert "--sandbox apply" in sandbox and "'.[sandbox]'" in sandbox
    assert "'.[test]'" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = readme_commands()
    install, run = tests.split(" && ")[1:]
    # The README's install and test steps, as .ci/run spells them (its venv is .venv too).
    ci_lines = [line.strip() for line in CI.splitlines() if not line.startswith("#")]
    assert install in ci_lines, install
    assert run in ci_lines, run


def test_every_command_is_documented() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        assert f"reconciler {name}" in README
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in README, f"{name} {flag} is not in the README"


def test_the_json_schema_accepts_the_examples_and_flags_what_validate_would() -> None:
    import jsonschema
    import yaml

    from reconciler.desired import json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    for path in (ROOT / "manifests").rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            assert list(validator.iter_errors(document)) == [], path
    bad = next(yaml.safe_load_all((ROOT / "manifests/support/support-nova-lite.yaml").read_text()))
    bad["metadata"]["name"] = "two--dashes"
    bad["spec"]["tags"]["reconciler:x"] = "y"
    bad["spec"]["modelSourceConfig"]["s3DataSource"]["s3Uri"] = "http://nope"
    messages = [e.message for e in validator.iter_errors(bad)]
    assert len(messages) == 3, messages


def test_the_json_schema_wants_exactly_one_source() -> None:
    import jsonschema
    import yaml

    from reconciler.desired import json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    path = ROOT / "manifests/support/support-nova-lite.yaml"
    s3 = next(yaml.safe_load_all(path.read_text()))
    package = {"modelPackageArnDataSource": {"modelPackageArn": PACKAGE}}
    by_package = {**s3, "spec": {**s3["spec"], "customModelDataSource": package}}
    del by_package["spec"]["modelSourceConfig"]
    both = {**s3, "spec": {**s3["spec"], "customModelDataSource": package}}
    neither = {**s3, "spec": {"tags": {}}}
    null = {**by_package, "spec": {**by_package["spec"], "modelSourceConfig": None}}
    assert list(validator.iter_errors(by_package)) == []
    for document in (both, neither):
        assert len(list(validator.iter_errors(document))) == 1, document
    assert list(validator.iter_errors(null)) != []


PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/support-nova/3"


def test_the_readme_manifests_are_valid() -> None:
    import yaml

    from reconciler.desired import Manifest
    from reconciler.targets import TargetDocument

    blocks = re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)
    documents = [d for b in blocks for d in yaml.safe_load_all(b) if d and "kind" in d]
    sources = {
        next(k for k in ("modelSourceConfig", "customModelDataSource") if k in d["spec"])
        for d in documents
        if d["kind"] == "CustomModel"
    }
    assert sources == {"modelSourceConfig", "customModelDataSource"}
    for document in documents:
        if document["kind"] == "Target":
            TargetDocument.model_validate(document)
        else:
            Manifest.validate_python(document)
    assert "Target" in {d["kind"] for d in documents}


def test_the_readme_rollout_walkthrough_works_on_the_sandbox(tmp_path: Path) -> None:
    """The rollout section's commands, run as written (the reconciler from this venv)."""
    import shutil
    import subprocess
    import sys

    section = README.split("### Rolling out new weights", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    reconciler = f"{sys.executable} -m reconciler"
    script = block.replace(".venv/bin/reconciler", reconciler)
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"}
    setup = f"{reconciler} --sandbox apply --wait manifests/"
    for step in (setup, script):
        done = subprocess.run(
            ["bash", "-euc", step],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"\+ create\s+support-nova-lite-v2:", out), out
    assert re.search(r"~> update-model\s+ProvisionedThroughput/support-prod:", out), out
    assert re.search(r"- delete\s+support-nova-lite:", out), out
    assert "Results: 3 done, 2 in sync, 0 failed, 0 skipped" in out
    final = subprocess.run(
        ["bash", "-euc", f"{reconciler} --sandbox plan --output json manifests/"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    import json

    actions = {(a["kind"], a["name"]): a["action"] for a in json.loads(final.stdout)["actions"]}
    assert set(actions.values()) == {"noop"}
    assert ("CustomModel", "support-nova-lite") not in actions
