"""The emulated Bedrock backend: custom models, their tags, idempotency tokens and test hooks.

moto builds one instance per (account, region) once ``install()`` ran. It subclasses moto's
Bedrock backend, so the operations this module does not touch (customization jobs, logging
configuration) keep moto's behaviour; models made by moto's customization jobs are adopted
into the same store, so every custom model is listed, described and deleted the same way.

It is also one of moto's ``TaggableResourcesMixin`` backends: the Resource Groups Tagging API
(GetResources) reads the account's custom models and their tags from it, as resource type
``bedrock:custom-model``. ``freeze_tag_index`` makes that view lag behind, as AWS's does.
"""

from __future__ import annotations

import math
import os
import secrets
import string
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from types import ModuleType
from typing import Any, ClassVar

import moto.bedrock.urls
from moto.bedrock.models import BedrockBackend
from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource

from reconciler.sandbox.errors import (
    AccessDeniedException,
    BedrockError,
    ConflictException,
    ResourceNotFoundException,
    SandboxError,
    SandboxStateError,
    ServiceQuotaExceededException,
    TooManyTagsException,
    ValidationException,
    error_for,
)
from reconciler.sandbox.faults import LATENCY, Faults, Verdict, faults_from_env
from reconciler.sandbox.listing import ListQuery, fingerprint, page
from reconciler.sandbox.model import (
    DEFAULT_FAILURE_MESSAGE,
    STATUSES,
    EmulatedModel,
    TokenRecord,
    expect,
    parse_tags,
    parse_tokens,
)
from reconciler.sandbox.serving import ServingStore

ENV_IMPORT_SECONDS = "RECONCILER_SANDBOX_IMPORT_SECONDS"
DEFAULT_IMPORT_SECONDS = 2.0
MAX_TAGS_PER_RESOURCE = 50
# What the Resource Groups Tagging API calls a custom model (ResourceTypeFilters).
CUSTOM_MODEL_RESOURCE_TYPE = "bedrock:custom-model"
_ID_ALPHABET = string.ascii_lowercase + string.digits
_DETAIL_KEYS = (
    "hyperParameters",
    "trainingDataConfig",
    "validationDataConfig",
    "outputDataConfig",
    "trainingMetrics",
    "validationMetrics",
)


def import_seconds_from_env() -> float:
    """How long an import stays ``Creating``: ``RECONCILER_SANDBOX_IMPORT_SECONDS`` or 2.0."""
    raw = os.environ.get(ENV_IMPORT_SECONDS, "").strip()
    if not raw:
        return DEFAULT_IMPORT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise SandboxError(f"{ENV_IMPORT_SECONDS} must be a number of seconds >= 0, got {raw!r}")
    return seconds


class EmulatedBedrockBackend(BedrockBackend, TaggableResourcesMixin):
    """moto's Bedrock backend with Bedrock's custom-model semantics.

    Some overrides change moto's signatures (they return this module's records): only the
    request handlers in ``wire`` call them, and they are replaced as well.
    """

    SERVICE_NAMESPACE: ClassVar[str] = "bedrock"

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        # moto's server is threaded and the CLI's executor is concurrent.
        self.lock = threading.RLock()
        self.models: dict[str, EmulatedModel] = {}
        # Owned names are unique; this finds one without a scan (kept by _store and _drop).
        self._owned_arn_by_name: dict[str, str] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.import_seconds = import_seconds_from_env()
        self.model_quota: int | None = None
        self.calls: Counter[str] = Counter()
        self._faults: defaultdict[str, deque[BedrockError]] = defaultdict(deque)
        # Random faults (latency, throttling, errors, a rate quota, drops); see ``faults``.
        self.faults: Faults | None = faults_from_env()
        self.faults_injected: Counter[str] = Counter()
        # What GetResources answers from while frozen (see freeze_tag_index); None: live.
        self._frozen_tag_index: list[tuple[str, dict[str, str], str]] | None = None
        # Provisioned Throughputs and custom model deployments (see ``serving``).
        self.serving = ServingStore(self)

    @property
    def _url_module(self) -> ModuleType:
        # moto derives the URL module from the backend class's module name.
        return moto.bedrock.urls

    # CreateCustomModel

    def create_custom_model(
        self,
        *,
        model_name: str,
        model_source_config: Mapping[str, Any] | None = None,
        custom_model_data_source: Mapping[str, Any] | None = None,
        model_kms_key_arn: str | None = None,
        role_arn: str | None = None,
        model_tags: Sequence[Mapping[str, str]] | None = None,
        client_request_token: str | None = None,
    ) -> str:
        """Create an imported model and its tags in one step; return its ARN."""
        source = _source(model_source_config, custom_model_data_source)
        tags = _tag_dict(model_tags or [])
        request = {"name": model_name, "source": source, "kms": model_kms_key_arn}
        digest = fingerprint({**request, "role": role_arn, "tags": sorted(tags.items())})
        with self.lock:
            if client_request_token is not None:
                replayed = self._replay(client_request_token, digest)
                if replayed is not None:
                    return replayed
            self._check_can_create(model_name, tags)
            model = EmulatedModel(
                arn=self._new_arn(self.account_id),
                name=model_name,
                owner_account_id=self.account_id,
                creation_time=time.time(),
                source=dict(source),
                kms_key_arn=model_kms_key_arn,
                role_arn=role_arn,
            )
            self._store(model)
            self._put_tags(model.arn, tags)
            if client_request_token is not None:
                self.tokens[client_request_token] = TokenRecord(digest, model.arn)
            return model.arn

    def _replay(self, token: str, digest: str) -> str | None:
        # Tokens outlive their models: a replay answers the first ARN even after a delete.
        record = self.tokens.get(token)
        if record is None:
            return None
        if record.fingerprint != digest:
            raise ValidationException(
                f"The client request token {token} was already used with different parameters."
            )
        return record.model_arn

    def _check_can_create(self, name: str, tags: Mapping[str, str]) -> None:
        if self._owned_named(name) is not None:
            raise ConflictException(f"A custom model named {name} already exists.")
        if len(tags) > MAX_TAGS_PER_RESOURCE:
            raise TooManyTagsException(
                f"A model can have at most {MAX_TAGS_PER_RESOURCE} tags; {len(tags)} were given."
            )
        if self.model_quota is None:
            return
        owned = sum(1 for model in self.models.values() if self._owns(model))
        if owned >= self.model_quota:
            raise ServiceQuotaExceededException(
                f"The account has reached its quota of {self.model_quota} custom models."
            )

    def _new_arn(self, owner: str) -> str:
        prefix = f"arn:{self.partition}:bedrock:{self.region_name}:{owner}:custom-model/imported/"
        while True:
            arn = prefix + _new_model_id()
            if arn not in self.models:
                return arn

    # GetCustomModel, DeleteCustomModel, ListCustomModels

    def get_custom_model(self, model_identifier: str) -> EmulatedModel:  # type: ignore[override]
        """The model named by a name (of an owned model) or an ARN."""
        with self.lock:
            model = self._find(model_identifier)
        if model is None:
            raise ResourceNotFoundException(f"Model {model_identifier} not found.")
        return model

    def delete_custom_model(self, model_identifier: str) -> None:
        """Delete an owned model that nothing uses, with its tags."""
        with self.lock:
            model = self.get_custom_model(model_identifier)
            if not self._owns(model):
                raise AccessDeniedException(
                    f"Model {model.arn} is owned by account {model.owner_account_id}."
                )
            users = self.serving.uses(model.arn)
            if model.in_use or users:
                by = f" by {', '.join(sorted(users))}" if users else ""
                raise ConflictException(
                    f"Model {model.name} is in use{by} (for example by a provisioned throughput)."
                )
            self._drop(model)
            self.tagger.delete_all_tags_for_resource(model.arn)

    def list_custom_models(  # type: ignore[override]
        self,
        query: ListQuery | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> tuple[list[EmulatedModel], str | None]:
        """One page of the models ``query`` selects, and the token of the next page."""
        query = query or ListQuery()
        now = time.time()
        with self.lock:
            selected = [
                model
                for model in self.models.values()
                if query.matches(model, self.account_id, self.import_seconds, now)
            ]
        return page(selected, query, max_results, next_token)

    # TagResource, UntagResource, ListTagsForResource

    # Bedrock's signature, not TaggableResourcesMixin's (a dict): see owns_arn.
    def tag_resource(  # type: ignore[override]
        self, resource_arn: str, tags: list[dict[str, str]]
    ) -> None:
        new = _tag_dict(tags)
        with self.lock:
            self._check_taggable(resource_arn)
            merged = {**self.tagger.get_tag_dict_for_resource(resource_arn), **new}
            if len(merged) > MAX_TAGS_PER_RESOURCE:
                raise TooManyTagsException(
                    f"A resource can have at most {MAX_TAGS_PER_RESOURCE} tags; "
                    f"this request would give it {len(merged)}.",
                    resourceName=resource_arn,
                )
            self._put_tags(resource_arn, new)

    def untag_resource(self, resource_arn: str, tag_keys: list[str]) -> None:
        with self.lock:
            self._check_taggable(resource_arn)
            self.tagger.untag_resource_using_names(resource_arn, tag_keys)

    def list_tags_for_resource(self, resource_arn: str) -> list[dict[str, str]]:
        with self.lock:
            self._check_taggable(resource_arn)
            tags = self.tagger.get_tag_dict_for_resource(resource_arn)
        return [{"key": key, "value": value} for key, value in tags.items()]

    def _check_taggable(self, arn: str) -> None:
        if self.serving.owns(arn):
            return
        model = self.models.get(arn)
        if model is not None and not self._owns(model):
            raise AccessDeniedException(f"Resource {arn} belongs to another account.")
        # moto's own resources (customization jobs) stay taggable.
        if model is None and arn not in super()._list_arns():
            raise ResourceNotFoundException(f"Resource {arn} not found.")

    def _put_tags(self, arn: str, tags: Mapping[str, str]) -> None:
        if tags:
            self.tagger.tag_resource(arn, [{"Key": k, "Value": v} for k, v in tags.items()])

    # GetResources (the Resource Groups Tagging API)

    def iter_tagged_resources(self) -> Iterator[TaggedResource]:
        """The account's own custom models with their tags, as GetResources reads them.

        Shared models are left out: their tags belong to their owner's account. The list is
        taken when this is called, so a listing moto pages through later is not disturbed by
        models deleted in between (as a reconciler deletes them).
        """
        with self.lock:
            frozen = self._frozen_tag_index
            entries = self._tag_index() if frozen is None else frozen
            resources = [TaggedResource(arn, dict(tags), kind) for arn, tags, kind in entries]
        return iter(resources)

    def owns_arn(self, arn: str) -> bool:
        # moto's TagResources and UntagResources would call tag_resource with the mixin's
        # arguments, not Bedrock's; disowning every ARN makes moto report them as failed
        # resources ("Service not yet supported"), as it did before Bedrock joined in.
        return False

    def freeze_tag_index(self) -> None:
        """Make GetResources answer from the models and tags of this moment until
        ``thaw_tag_index`` (or ``reset``): deleted models are still reported, new ones are
        missing and changed tags keep their old values, as AWS's lagging tag index does."""
        with self.lock:
            self._frozen_tag_index = self._tag_index()

    def thaw_tag_index(self) -> None:
        """Make GetResources answer from the live models and tags again."""
        with self.lock:
            self._frozen_tag_index = None

    def _tag_index(self) -> list[tuple[str, dict[str, str], str]]:
        owned = [
            (arn, CUSTOM_MODEL_RESOURCE_TYPE)
            for arn, model in self.models.items()
            if self._owns(model)
        ]
        return [
            (arn, dict(self.tagger.get_tag_dict_for_resource(arn)), kind)
            for arn, kind in [*owned, *self.serving.arns()]
        ]

    # moto's customization jobs

    def create_model_customization_job(self, **kwargs: Any) -> str:  # type: ignore[override]
        """moto's job, whose output model then lives in this backend's model store."""
        name = kwargs["custom_model_name"]
        with self.lock:
            if self._owned_named(name) is not None:
                raise ConflictException(f"A custom model named {name} already exists.")
            job_arn: str = super().create_model_customization_job(**kwargs)
            self._adopt(self.custom_models.pop(name))
        return job_arn

    def _adopt(self, stock: Any) -> None:
        details = stock.to_dict()
        self._store(
            EmulatedModel(
                arn=stock.model_arn,
                name=stock.model_name,
                owner_account_id=self.account_id,
                creation_time=time.time(),
                customization_type=stock.customization_type or "FINE_TUNING",
                kms_key_arn=stock.model_kms_key_arn,
                base_model_arn=stock.base_model_arn,
                base_model_name=stock.base_model_name,
                job_arn=stock.job_arn,
                job_name=stock.job_name,
                pinned_status="Active",
                details={key: details[key] for key in _DETAIL_KEYS if key in details},
            )
        )

    # Lookups

    def _owns(self, model: EmulatedModel) -> bool:
        return model.owner_account_id == self.account_id

    def _owned_named(self, name: str) -> EmulatedModel | None:
        arn = self._owned_arn_by_name.get(name)
        return None if arn is None else self.models[arn]

    def _store(self, model: EmulatedModel) -> None:
        self.models[model.arn] = model
        if self._owns(model):
            self._owned_arn_by_name[model.name] = model.arn

    def _drop(self, model: EmulatedModel) -> None:
        del self.models[model.arn]
        if self._owns(model):
            del self._owned_arn_by_name[model.name]

    def _find(self, identifier: str) -> EmulatedModel | None:
        # Names are unique per account only, so a name never resolves to a shared model.
        if identifier.startswith("arn:"):
            return self.models.get(identifier)
        return self._owned_named(identifier)

    # Test hooks

    def add_shared_model(self, name: str, owner_account_id: str) -> str:
        """Make an Active model of another account visible here (as a shared model is)."""
        if len(owner_account_id) != 12 or not owner_account_id.isdigit():
            raise ValueError(f"owner_account_id must be 12 digits, got {owner_account_id!r}")
        if owner_account_id == self.account_id:
            raise ValueError("a shared model is owned by another account than the backend's")
        with self.lock:
            arn = self._new_arn(owner_account_id)
            self._store(
                EmulatedModel(
                    arn=arn,
                    name=name,
                    owner_account_id=owner_account_id,
                    creation_time=time.time(),
                    pinned_status="Active",
                )
            )
        return arn

    def set_in_use(self, arn_or_name: str, in_use: bool) -> None:
        """Mark a model used (DeleteCustomModel then fails with ConflictException) or not."""
        with self.lock:
            self._hook_target(arn_or_name).in_use = in_use

    def set_status(self, arn_or_name: str, status: str, failure_message: str | None = None) -> None:
        """Pin a model's status (no longer derived from its age); Failed carries a message."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        with self.lock:
            model = self._hook_target(arn_or_name)
            model.pinned_status = status
            model.failure_message = (
                (failure_message or DEFAULT_FAILURE_MESSAGE) if status == "Failed" else None
            )

    def fail_next(
        self, operation: str, code: str, message: str | None = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` with the error ``code``."""
        text = message or f"Injected {code} for {operation}."
        with self.lock:
            self._faults[operation].extend(error_for(code, text) for _ in range(times))

    def record_call(self, operation: str) -> BedrockError | None:
        """Count one call of ``operation``; the injected error it must fail with, if any."""
        with self.lock:
            self.calls[operation] += 1
            faults = self._faults.get(operation)
            return faults.popleft() if faults else None

    def judge(self, operation: str) -> Verdict | None:
        """The random faults one call of ``operation`` meets (None: none are configured)."""
        faults = self.faults
        if faults is None:
            return None
        verdict = faults.judge(operation)
        with self.lock:
            if verdict.latency > 0:
                self.faults_injected[LATENCY] += 1
            if verdict.kind is not None:
                self.faults_injected[verdict.kind] += 1
        return verdict

    def _hook_target(self, arn_or_name: str) -> EmulatedModel:
        model = self._find(arn_or_name) or next(
            (m for m in self.models.values() if m.name == arn_or_name), None
        )
        if model is None:
            raise KeyError(f"no model {arn_or_name!r} in {self.account_id}/{self.region_name}")
        return model

    # State

    def is_empty(self) -> bool:
        return not self.models and not self.tokens and self.serving.is_empty()

    def export_state(self) -> dict[str, Any]:
        """Models, their tags and the idempotency tokens, as JSON-ready data."""
        with self.lock:
            arns = [*self.models, *(arn for arn, _ in self.serving.arns())]
            tags = {arn: self.tagger.get_tag_dict_for_resource(arn) for arn in arns}
            return {
                "models": [model.to_state() for model in self.models.values()],
                "tags": {arn: values for arn, values in tags.items() if values},
                "tokens": {token: asdict(record) for token, record in self.tokens.items()},
                **self.serving.export_state(),
            }

    def import_state(self, state: Any) -> None:
        """Replace models, tags and tokens with ``export_state`` output (validated first)."""
        data = expect(state, dict, "backend state")
        records = expect(data.get("models", []), list, "models")
        models = [EmulatedModel.from_state(record) for record in records]
        by_arn = {model.arn: model for model in models}
        owned_names = [model.name for model in models if self._owns(model)]
        if len(by_arn) < len(models) or len(set(owned_names)) < len(owned_names):
            raise SandboxStateError("state has two models with one ARN, or one owned name")
        serving = ServingStore(self)
        serving.import_state(data)
        taggable = {**by_arn, **{arn: None for arn, _ in serving.arns()}}
        tags = parse_tags(data.get("tags", {}), taggable)
        tokens = parse_tokens(data.get("tokens", {}))
        with self.lock:
            for arn in [*self.models, *(arn for arn, _ in self.serving.arns())]:
                self.tagger.delete_all_tags_for_resource(arn)
            self.serving = serving
            self.models = {}
            self._owned_arn_by_name = {}
            for model in models:
                self._store(model)
            self.tokens = tokens
            for arn, values in tags.items():
                self._put_tags(arn, values)


def _new_model_id() -> str:
    # One read of the system's randomness per id, not one per letter: 3.6 us an id instead
    # of 38 us, and one syscall (a release of the interpreter lock) instead of twelve. Ids
    # must be unique, not uniform: the modulo's slight bias towards early letters is fine.
    return "".join(_ID_ALPHABET[byte % len(_ID_ALPHABET)] for byte in secrets.token_bytes(12))


def _source(
    model_source_config: Mapping[str, Any] | None,
    custom_model_data_source: Mapping[str, Any] | None,
) -> Mapping[str, Any]:
    if (model_source_config is None) == (custom_model_data_source is None):
        raise ValidationException(
            "Exactly one of modelSourceConfig and customModelDataSource must be given."
        )
    if model_source_config is not None:
        return {"modelSourceConfig": model_source_config}
    return {"customModelDataSource": custom_model_data_source}


def _tag_dict(tags: Sequence[Mapping[str, str]]) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in tags}
