"""Run a Plan against Bedrock: one function per action kind, bounded concurrency.

One failed action never stops the others; every action gets a result. Creates carry all
their tags in the create call itself (a model never exists untagged) and a
``clientRequestToken`` derived from the full request, so a retried or re-run create never
makes a second model. Called by ``cli`` with a client from ``aws.client``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.exceptions

from reconciler.aws.errors import calling
from reconciler.aws.reader import read_tags
from reconciler.desired import DeclaredModel
from reconciler.errors import CloudError
from reconciler.observed import TAG_MANAGED_BY, TAG_SPEC_HASH
from reconciler.plan import PRUNES, Action, ActionKind, Plan, desired_tags
from reconciler.report import ActionResult, ApplyReport, Outcome

# Bedrock answers a reused token with the first ARN even after that model was deleted;
# each such stale answer moves to a new token derived from it, a few times at most.
MAX_TOKEN_ROLLS = 5


def apply(
    plan: Plan,
    client: Any,
    *,
    concurrency: int = 8,
    prune: bool = True,
    stopping: Callable[[], bool] = lambda: False,
) -> ApplyReport:
    """Execute every action of ``plan``; failures are recorded, never raised.

    Once ``stopping()`` is true no new action starts (they are reported skipped); an action
    already running finishes, so a replace whose delete was sent still sends its create.
    """
    runner = _Runner(client, plan.scope, prune, stopping)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = tuple(pool.map(runner.run, plan.actions))
    return ApplyReport(plan=plan, results=results)


class _Runner:
    def __init__(self, client: Any, scope: str, prune: bool, stopping: Callable[[], bool]) -> None:
        self.client = client
        self.stopping = stopping
        self.scope = scope
        self.prune = prune
        self._handlers: Mapping[ActionKind, Callable[[Action], str | None]] = {
            ActionKind.CREATE: self._create,
            ActionKind.REPLACE: self._replace,
            ActionKind.UPDATE_TAGS: self._update_tags,
            ActionKind.DELETE: self._delete,
            ActionKind.RELEASE: self._release,
        }

    def run(self, action: Action) -> ActionResult:
        if action.kind is ActionKind.NOOP:
            return ActionResult(action, Outcome.DONE, arn=action.arn)
        if action.kind in (ActionKind.CONFLICT, ActionKind.BLOCKED):
            return ActionResult(action, Outcome.FAILED, action.reason, action.arn)
        if action.kind in PRUNES and not self.prune:
            return ActionResult(action, Outcome.SKIPPED, "skipped: --no-prune", action.arn)
        if self.stopping():
            return ActionResult(action, Outcome.SKIPPED, "skipped: shutting down", action.arn)
        try:
            arn = self._handlers[action.kind](action)
        except CloudError as e:
            return ActionResult(action, Outcome.FAILED, str(e), action.arn, e.code or None)
        return ActionResult(action, Outcome.DONE, arn=arn)

    def _create(self, action: Action) -> str:
        assert action.declared is not None
        return create_model(self.client, action.declared, self.scope)

    def _replace(self, action: Action) -> str:
        assert action.declared is not None and action.arn is not None
        try:
            delete_model(self.client, action.arn, action.name)
        except CloudError as e:
            raise CloudError(f"{e}; the create was skipped", code=e.code, model=e.model) from e
        return create_model(self.client, action.declared, self.scope)

    def _update_tags(self, action: Action) -> str | None:
        assert action.arn is not None
        if action.set_tags:
            tags = [{"key": k, "value": v} for k, v in action.set_tags]
            with calling("TagResource", action.name):
                self.client.tag_resource(resourceARN=action.arn, tags=tags)
        self._untag(action)
        return action.arn

    def _delete(self, action: Action) -> None:
        assert action.arn is not None
        delete_model(self.client, action.arn, action.name)

    def _release(self, action: Action) -> str | None:
        self._untag(action)
        return action.arn

    def _untag(self, action: Action) -> None:
        if action.remove_tag_keys:
            with calling("UntagResource", action.name):
                keys = list(action.remove_tag_keys)
                self.client.untag_resource(resourceARN=action.arn, tagKeys=keys)


def create_request(model: DeclaredModel, scope: str) -> dict[str, Any]:
    """The full CreateCustomModel request for a declared model, tags included."""
    spec = model.spec
    request: dict[str, Any] = {
        "modelName": model.name,
        "modelSourceConfig": {"s3DataSource": {"s3Uri": spec.modelSourceConfig.s3DataSource.s3Uri}},
        "modelTags": [{"key": k, "value": v} for k, v in desired_tags(model, scope).items()],
    }
    if spec.roleArn is not None:
        request["roleArn"] = spec.roleArn
    if spec.modelKmsKeyArn is not None:
        request["modelKmsKeyArn"] = spec.modelKmsKeyArn
    return request


def request_token(request: Mapping[str, Any], after: str = "") -> str:
    """A deterministic idempotency token for ``request`` (``after``: a stale ARN to move past)."""
    canonical = json.dumps({"request": request, "after": after}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_model(client: Any, model: DeclaredModel, scope: str) -> str:
    """Create the model and return its ARN, moving past tokens that replay a deleted model."""
    request = create_request(model, scope)
    token = request_token(request)
    for _ in range(MAX_TOKEN_ROLLS):
        try:
            with calling("CreateCustomModel", model.name):
                response = client.create_custom_model(**request, clientRequestToken=token)
        except CloudError as e:
            if e.code != "ConflictException":
                raise
            return _concurrent_twin(client, model, scope, e)
        arn = str(response["modelArn"])
        if model_exists(client, arn, model.name):
            return arn
        token = request_token(request, after=arn)
    raise CloudError(
        f"CreateCustomModel {model.name} failed: the service kept answering with deleted models",
        model=model.name,
    )


def _concurrent_twin(client: Any, model: DeclaredModel, scope: str, error: CloudError) -> str:
    """The ARN of the model another run just created under this name, if it is this very one.

    Two applies racing on one name: the loser's create is refused, but when the winner made
    exactly the model declared (same scope, same spec hash) there is nothing to fail.
    """
    with calling("GetCustomModel", model.name):
        arn = str(client.get_custom_model(modelIdentifier=model.name)["modelArn"])
    tags = {t["key"]: t["value"] for t in read_tags(client, arn, model.name)}
    wanted = desired_tags(model, scope)
    if all(tags.get(k) == wanted[k] for k in (TAG_MANAGED_BY, TAG_SPEC_HASH)):
        return arn
    raise CloudError(
        f"{error}; the name was taken meanwhile by another model ({arn})",
        code=error.code,
        model=model.name,
    )


def model_exists(client: Any, arn: str, name: str) -> bool:
    """Whether a model ARN still exists (a replayed token may name a deleted one)."""
    try:
        client.get_custom_model(modelIdentifier=arn)
    except botocore.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        with calling("GetCustomModel", name):
            raise
    except botocore.exceptions.BotoCoreError:
        with calling("GetCustomModel", name):
            raise
    return True


def delete_model(client: Any, arn: str, name: str) -> None:
    """Delete one model by ARN."""
    with calling("DeleteCustomModel", name):
        client.delete_custom_model(modelIdentifier=arn)
