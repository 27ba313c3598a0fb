"""Creating models exactly once: the request, its idempotency token, lost races, stale answers.

The ``clientRequestToken`` is a digest of the full create request, so a retried or re-run
create never makes a second model. Bedrock answers a reused token with the ARN it first
made, even after that model was deleted (a manifest removed, then restored unchanged), so an
answer may be stale. ``stale_arns`` finds those for a whole apply at once: one
``ListCustomModels`` shows which answered ARNs exist, and ``GetCustomModel`` decides only
for those the list does not show (it may lag behind a create). A stale create is sent again
with a token derived from the stale ARN, which is as deterministic as the first, so a crash
anywhere still converges without duplicates. A create refused because the name is taken
(``ConflictException``) is a success when the model holding the name is exactly the one
declared: another run won the race. Called by ``executor``.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import botocore.exceptions

from reconciler.aws.apis import request_token
from reconciler.aws.errors import calling, describe
from reconciler.aws.reader import list_models, read_tags
from reconciler.desired import DeclaredResource
from reconciler.errors import CloudError, ConflictError
from reconciler.kinds import custom_model, tags_for
from reconciler.observed import TAG_MANAGED_BY, TAG_SPEC_HASH

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_bedrock.type_defs import CreateCustomModelRequestTypeDef


__all__ = ["Sent", "create_request", "request_token", "send", "stale_arns"]


@dataclass(frozen=True)
class Sent:
    """A create the service answered with ``arn``; ``after`` is the stale ARN it moved past.

    ``confirmed``: the model is known to exist (the ARN of a race's winner was looked up).
    """

    model: DeclaredResource
    arn: str
    after: str = ""
    confirmed: bool = False


def create_request(model: DeclaredResource, scope: str) -> CreateCustomModelRequestTypeDef:
    """The full CreateCustomModel request for a declared model, tags included."""
    return custom_model.create_request(model, scope, "")


def send(client: BedrockClient, model: DeclaredResource, scope: str, after: str = "") -> Sent:
    """Send one create (its answer unconfirmed), or adopt the twin that won a race for it."""
    request = create_request(model, scope)
    sent: CreateCustomModelRequestTypeDef = {
        **request,
        "clientRequestToken": request_token(request, after),
    }
    try:
        with calling("CreateCustomModel", model.name):
            response = client.create_custom_model(**sent)
    except ConflictError as e:
        return Sent(model, _concurrent_twin(client, model, scope, e), after, confirmed=True)
    return Sent(model, str(response["modelArn"]), after)


def stale_arns(
    client: BedrockClient, sent: Collection[Sent], pool: Executor
) -> dict[str, CloudError | None]:
    """The ARNs among ``sent`` that name no model, each with None, or with the error that
    kept it from being checked."""
    try:
        listed = {summary["modelArn"] for summary in list_models(client)}
    except CloudError:
        listed = set()  # ask for each instead
    unlisted = [s for s in sent if s.arn not in listed]
    found = pool.map(lambda s: _exists(client, s.arn, s.model.name), unlisted)
    return {
        s.arn: None if result is False else result
        for s, result in zip(unlisted, found, strict=True)
        if result is not True
    }


def _exists(client: BedrockClient, arn: str, name: str) -> bool | CloudError:
    try:
        client.get_custom_model(modelIdentifier=arn)
    except botocore.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        return describe(e, "GetCustomModel", name)
    except botocore.exceptions.BotoCoreError as e:
        return describe(e, "GetCustomModel", name)
    return True


def _concurrent_twin(
    client: BedrockClient, model: DeclaredResource, scope: str, error: CloudError
) -> str:
    """The ARN of the model another run just created under this name, if it is this very one.

    Two applies racing on one name: the loser's create is refused, but when the winner made
    exactly the model declared (same scope, same spec hash) there is nothing to fail.
    """
    with calling("GetCustomModel", model.name):
        arn = str(client.get_custom_model(modelIdentifier=model.name)["modelArn"])
    tags = {t["key"]: t["value"] for t in read_tags(client, arn, model.name) or []}
    wanted = tags_for(model, scope)
    if all(tags.get(k) == wanted[k] for k in (TAG_MANAGED_BY, TAG_SPEC_HASH)):
        return arn
    raise CloudError(
        f"{error}; the name was taken meanwhile by another model ({arn})",
        code=error.code,
        model=model.name,
    )
