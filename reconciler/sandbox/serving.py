"""The emulator's serving resources: Provisioned Throughputs and custom model deployments.

Faithful to the API where the reconciler relies on it: a throughput is ``Creating`` then
``InService`` (``Updating`` during a switch, when ``modelArn`` is still the old model and
``desiredModelArn`` the new one); a deployment is ``Creating`` then ``Active``, with
``updateDetails`` while an update runs. The model must be ``Active``; a throughput switches
only between models of one base model; a commitment runs for its term and the throughput
cannot be deleted before it ends; hourly (no-commitment) model units have an account quota;
idempotency tokens replay their first ARN, even after a delete. Each create or switch takes
the backend's ``import_seconds`` as it was when it started (the same knob as imports), and
``clock_offset`` moves the emulated clock for commitment tests. Owned by ``backend``;
served by ``serving_wire``.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.errors import (
    ConflictException,
    ResourceNotFoundException,
    SandboxStateError,
    ServiceQuotaExceededException,
    ValidationException,
)
from reconciler.sandbox.listing import fingerprint

if TYPE_CHECKING:
    from reconciler.sandbox.backend import EmulatedBedrockBackend

THROUGHPUT_TYPE = "bedrock:provisioned-model"
DEPLOYMENT_TYPE = "bedrock:custom-model-deployment"
TERMS = {"OneMonth": 30 * 86400.0, "SixMonths": 182 * 86400.0}
# Hourly model units an account may hold for custom models (a quota AWS raises on request).
DEFAULT_HOURLY_UNIT_QUOTA = 10
_ID = string.ascii_lowercase + string.digits


def _new_id() -> str:
    return "".join(_ID[b % len(_ID)] for b in secrets.token_bytes(12))


def _iso(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@dataclass
class Throughput:
    arn: str
    name: str
    model_arn: str
    foundation_model_arn: str
    units: int
    created: float
    commitment: str | None = None
    desired_model_arn: str = ""
    switched: float = 0.0  # when the last switch was asked for
    pinned_status: str | None = None
    ready_at: float = 0.0  # when it comes into service, or the switch completes

    def status(self, delay: float, now: float) -> str:
        if self.pinned_status is not None:
            return self.pinned_status
        if now < self.ready_at:
            return "Updating" if self.desired_model_arn else "Creating"
        return "InService"

    def settle(self, delay: float, now: float) -> None:
        """A switch whose time has come is complete: the new model serves."""
        if self.desired_model_arn and now >= self.ready_at:
            self.model_arn, self.desired_model_arn = self.desired_model_arn, ""

    def view(self, delay: float, now: float) -> dict[str, Any]:
        """Both the list summary and the Get answer (Get has the same members and more)."""
        status = self.status(delay, now)
        body: dict[str, Any] = {
            "provisionedModelName": self.name,
            "provisionedModelArn": self.arn,
            "modelArn": self.model_arn,
            "desiredModelArn": self.desired_model_arn or self.model_arn,
            "foundationModelArn": self.foundation_model_arn,
            "modelUnits": self.units,
            "desiredModelUnits": self.units,
            "status": status,
            "creationTime": _iso(self.created),
            "lastModifiedTime": _iso(max(self.created, self.switched)),
        }
        if self.commitment:
            body["commitmentDuration"] = self.commitment
            body["commitmentExpirationTime"] = _iso(self.created + TERMS[self.commitment])
        if status == "Failed":
            body["failureMessage"] = "The provisioned throughput failed."
        return body


@dataclass
class Deployment:
    arn: str
    name: str
    model_arn: str
    created: float
    description: str | None = None
    update_model_arn: str = ""
    updated: float = 0.0
    pinned_status: str | None = None
    ready_at: float = 0.0  # when it becomes Active, or the update completes

    def status(self, delay: float, now: float) -> str:
        if self.pinned_status is not None:
            return self.pinned_status
        return "Creating" if now < self.ready_at and not self.update_model_arn else "Active"

    def settle(self, delay: float, now: float) -> None:
        if self.update_model_arn and now >= self.ready_at:
            self.model_arn, self.update_model_arn = self.update_model_arn, ""

    def summary(self, delay: float, now: float) -> dict[str, Any]:
        body: dict[str, Any] = {
            "customModelDeploymentArn": self.arn,
            "customModelDeploymentName": self.name,
            "modelArn": self.model_arn,
            "createdAt": _iso(self.created),
            "status": self.status(delay, now),
            "lastUpdatedAt": _iso(max(self.created, self.updated)),
        }
        return body

    def view(self, delay: float, now: float) -> dict[str, Any]:
        body = self.summary(delay, now)
        body["modelDeploymentName"] = body.pop("customModelDeploymentName")
        if self.description is not None:
            body["description"] = self.description
        if self.update_model_arn:
            body["updateDetails"] = {"modelArn": self.update_model_arn, "updateStatus": "Updating"}
        return body


@dataclass
class ServingStore:
    """The throughputs and deployments of one emulated account and region."""

    backend: EmulatedBedrockBackend
    throughputs: dict[str, Throughput] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    hourly_unit_quota: int | None = DEFAULT_HOURLY_UNIT_QUOTA
    clock_offset: float = 0.0
    base_models: dict[str, str] = field(default_factory=dict)  # model ARN -> base, for tests

    def now(self) -> float:
        return time.time() + self.clock_offset

    @property
    def delay(self) -> float:
        return self.backend.import_seconds

    def settle(self) -> None:
        now = self.now()
        for throughput in self.throughputs.values():
            throughput.settle(self.delay, now)
        for deployment in self.deployments.values():
            deployment.settle(self.delay, now)

    # Models, as the serving calls see them

    def _active_model(self, identifier: str) -> str:
        """The ARN of the Active model ``identifier`` names (a foundation model is served
        as given)."""
        if ":foundation-model/" in identifier:
            return identifier
        model = self.backend._find(identifier)
        if model is None:
            raise ResourceNotFoundException(f"Model {identifier} not found.")
        status = model.status(self.backend.import_seconds)
        if status != "Active":
            raise ValidationException(f"Model {model.name} is {status}; it must be Active.")
        return model.arn

    def base_of(self, model_arn: str) -> str:
        if model_arn in self.base_models:
            return self.base_models[model_arn]
        model = self.backend.models.get(model_arn)
        if model is not None and model.base_model_arn:
            return model.base_model_arn
        if ":foundation-model/" in model_arn:
            return model_arn
        return "imported"

    def uses(self, model_arn: str) -> list[str]:
        """The names of what serves from ``model_arn`` (or is switching to or from it)."""
        self.settle()
        users = [
            t.name
            for t in self.throughputs.values()
            if model_arn in (t.model_arn, t.desired_model_arn)
        ]
        users += [
            d.name
            for d in self.deployments.values()
            if model_arn in (d.model_arn, d.update_model_arn)
        ]
        return users

    # Tokens

    def _replayed(self, token: str | None, digest: str) -> str | None:
        if token is None:
            return None
        record = self.backend.tokens.get(token)
        if record is None:
            return None
        if record.fingerprint != digest:
            raise ValidationException(
                f"The client request token {token} was already used with different parameters."
            )
        return record.model_arn

    def _request(
        self, params: Mapping[str, Any]
    ) -> tuple[dict[str, str], str | None, str, str | None]:
        """A create's tags, token and fingerprint, and the ARN a replayed token answers."""
        tags = {t["key"]: t["value"] for t in params.get("tags") or []}
        digest = fingerprint({k: v for k, v in params.items() if k != "clientRequestToken"})
        token = params.get("clientRequestToken")
        return tags, token, digest, self._replayed(token, digest)

    def _remember(self, token: str | None, digest: str, arn: str) -> None:
        from reconciler.sandbox.model import TokenRecord

        if token is not None:
            self.backend.tokens[token] = TokenRecord(digest, arn)

    # Provisioned Throughput

    def create_throughput(self, params: Mapping[str, Any]) -> str:
        name = params["provisionedModelName"]
        tags, token, digest, replayed = self._request(params)
        if replayed is not None:
            return replayed
        if any(t.name == name for t in self.throughputs.values()):
            raise ConflictException(f"A provisioned throughput named {name} already exists.")
        model_arn = self._active_model(params["modelId"])
        units, commitment = int(params["modelUnits"]), params.get("commitmentDuration")
        if commitment is None:
            self._check_hourly_quota(units)
        arn = self._arn("provisioned-model")
        self.throughputs[arn] = Throughput(
            arn=arn,
            name=name,
            model_arn=model_arn,
            foundation_model_arn=self.base_of(model_arn),
            units=units,
            created=self.now(),
            commitment=commitment,
            ready_at=self.now() + self.delay,
        )
        self.backend._put_tags(arn, tags)
        self._remember(token, digest, arn)
        return arn

    def _check_hourly_quota(self, units: int) -> None:
        if self.hourly_unit_quota is None:
            return
        held = sum(t.units for t in self.throughputs.values() if not t.commitment)
        if held + units > self.hourly_unit_quota:
            raise ServiceQuotaExceededException(
                f"The account may hold {self.hourly_unit_quota} model units without a "
                f"commitment; {held} are in use and {units} were asked for."
            )

    def get_throughput(self, identifier: str) -> Throughput:
        self.settle()
        for throughput in self.throughputs.values():
            if identifier in (throughput.arn, throughput.name):
                return throughput
        raise ResourceNotFoundException(f"Provisioned throughput {identifier} not found.")

    def update_throughput(self, params: Mapping[str, Any]) -> None:
        throughput = self.get_throughput(params["provisionedModelId"])
        if "desiredProvisionedModelName" in params:
            throughput.name = params["desiredProvisionedModelName"]
        if "desiredModelId" not in params:
            return
        status = throughput.status(self.delay, self.now())
        if status != "InService":
            raise ConflictException(f"Provisioned throughput {throughput.name} is {status}.")
        target = self._active_model(params["desiredModelId"])
        if self.base_of(target) != self.base_of(throughput.model_arn):
            raise ValidationException(
                "A provisioned throughput can only switch between models of the same base "
                f"model: {throughput.model_arn} and {target} differ."
            )
        if target != throughput.model_arn:
            throughput.desired_model_arn, throughput.switched = target, self.now()
            throughput.ready_at = self.now() + self.delay
            throughput.settle(self.delay, self.now())

    def delete_throughput(self, identifier: str) -> None:
        throughput = self.get_throughput(identifier)
        if throughput.commitment:
            expiry = throughput.created + TERMS[throughput.commitment]
            if self.now() < expiry:
                raise ValidationException(
                    f"Provisioned throughput {throughput.name} has a {throughput.commitment} "
                    f"commitment until {_iso(expiry).isoformat()}; it cannot be deleted before."
                )
        del self.throughputs[throughput.arn]
        self.backend.tagger.delete_all_tags_for_resource(throughput.arn)

    # Custom model deployments

    def create_deployment(self, params: Mapping[str, Any]) -> str:
        name = params["modelDeploymentName"]
        tags, token, digest, replayed = self._request(params)
        if replayed is not None:
            return replayed
        if any(d.name == name for d in self.deployments.values()):
            raise ConflictException(f"A custom model deployment named {name} already exists.")
        model_arn = self._active_model(params["modelArn"])
        arn = self._arn("custom-model-deployment")
        self.deployments[arn] = Deployment(
            arn=arn,
            name=name,
            model_arn=model_arn,
            created=self.now(),
            description=params.get("description"),
            ready_at=self.now() + self.delay,
        )
        self.backend._put_tags(arn, tags)
        self._remember(token, digest, arn)
        return arn

    def get_deployment(self, identifier: str) -> Deployment:
        self.settle()
        for deployment in self.deployments.values():
            if identifier in (deployment.arn, deployment.name):
                return deployment
        raise ResourceNotFoundException(f"Custom model deployment {identifier} not found.")

    def update_deployment(self, params: Mapping[str, Any]) -> str:
        deployment = self.get_deployment(params["customModelDeploymentIdentifier"])
        if deployment.update_model_arn:
            raise ConflictException(f"Custom model deployment {deployment.name} is updating.")
        target = self._active_model(params["modelArn"])
        if target != deployment.model_arn:
            deployment.update_model_arn, deployment.updated = target, self.now()
            deployment.ready_at = self.now() + self.delay
            deployment.settle(self.delay, self.now())
        return deployment.arn

    def delete_deployment(self, identifier: str) -> None:
        deployment = self.get_deployment(identifier)
        del self.deployments[deployment.arn]
        self.backend.tagger.delete_all_tags_for_resource(deployment.arn)

    # Tags, the tagging index, state

    def arns(self) -> Iterator[tuple[str, str]]:
        """(ARN, resource type) of every serving resource."""
        for arn in self.throughputs:
            yield arn, THROUGHPUT_TYPE
        for arn in self.deployments:
            yield arn, DEPLOYMENT_TYPE

    def owns(self, arn: str) -> bool:
        return arn in self.throughputs or arn in self.deployments

    def _arn(self, path: str) -> str:
        backend = self.backend
        return (
            f"arn:{backend.partition}:bedrock:{backend.region_name}:{backend.account_id}:"
            f"{path}/{_new_id()}"
        )

    def is_empty(self) -> bool:
        return not self.throughputs and not self.deployments

    def export_state(self) -> dict[str, Any]:
        return {
            "throughputs": [asdict(t) for t in self.throughputs.values()],
            "deployments": [asdict(d) for d in self.deployments.values()],
        }

    def import_state(self, data: Mapping[str, Any]) -> None:
        self.throughputs = {t.arn: t for t in _records(Throughput, data.get("throughputs", []))}
        self.deployments = {d.arn: d for d in _records(Deployment, data.get("deployments", []))}


def _records(cls: Any, data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise SandboxStateError(f"{cls.__name__} records should be a list")
    names = {f.name for f in fields(cls)}
    records = []
    for entry in data:
        if not isinstance(entry, dict) or not set(entry) <= names:
            raise SandboxStateError(f"bad {cls.__name__} record: {entry!r}")
        try:
            records.append(cls(**entry))
        except TypeError as e:
            raise SandboxStateError(f"bad {cls.__name__} record: {e}") from e
    return records
