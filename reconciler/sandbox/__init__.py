"""A local Amazon Bedrock emulator for custom models, built on moto; behind ``--sandbox``.

moto's Bedrock backend has no CreateCustomModel and models imported models loosely. This
package extends it, once ``install()`` is called, with Bedrock's documented behaviour:
imported-model ARNs and status, unique names, idempotency tokens, tags, shared models,
real pagination, quotas and AWS-shaped errors. It also answers the Resource Groups Tagging
API's GetResources for the custom models (resource type ``bedrock:custom-model``), counted
and faulted like Bedrock's operations, with a tag index that can be made to lag
(``freeze_tag_index``). Nothing is patched at import time.

Modules: ``errors`` (exceptions, Bedrock's and the tagging API's), ``model`` (one model
record), ``listing`` (ListCustomModels filters and pages), ``validation`` (service-model input
checks), ``backend`` (the emulated backend, its GetResources view and test hooks), ``wire``
(HTTP handlers of both APIs and ``install``), ``runtime`` (state, ``running`` and ``serve``),
``faults`` (random latency, throttling, errors, a rate quota and dropped connections,
deterministic with a seed).
"""

from reconciler.sandbox.backend import (
    DEFAULT_IMPORT_SECONDS,
    ENV_IMPORT_SECONDS,
    MAX_TAGS_PER_RESOURCE,
    EmulatedBedrockBackend,
)
from reconciler.sandbox.errors import SandboxError, SandboxStateError
from reconciler.sandbox.faults import ENV_FAULTS, Faults, faults_from_env
from reconciler.sandbox.listing import ListQuery
from reconciler.sandbox.model import EmulatedModel
from reconciler.sandbox.runtime import (
    DEFAULT_ACCOUNT,
    dump_state,
    get_backend,
    load_state,
    reset_state,
    running,
    serve,
)
from reconciler.sandbox.wire import install, is_installed

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_IMPORT_SECONDS",
    "ENV_FAULTS",
    "ENV_IMPORT_SECONDS",
    "MAX_TAGS_PER_RESOURCE",
    "EmulatedBedrockBackend",
    "EmulatedModel",
    "Faults",
    "ListQuery",
    "SandboxError",
    "SandboxStateError",
    "dump_state",
    "faults_from_env",
    "get_backend",
    "install",
    "is_installed",
    "load_state",
    "reset_state",
    "running",
    "serve",
]
