"""What every kind shares: the rules record a kind module fills in, the spec digest, tags.

A kind is one module (``custom_model``, ``provisioned_throughput``, ``model_deployment``)
that describes, as pure data and functions, what the planner and the executor need to know
of it: its manifest model, what its spec hash covers, the create request it sends, the
status it is ready in, what it references, and what of a declared resource can be read
back and compared before an unmanaged one is adopted. The API calls themselves are in
``aws.apis``, keyed by kind. No I/O here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.desired import AnyManifest, DeclaredResource
from reconciler.identity import Kind
from reconciler.observed import (
    TAG_DELETION_POLICY,
    TAG_MANAGED_BY,
    TAG_SPEC_HASH,
    ObservedResource,
)

if TYPE_CHECKING:
    from mypy_boto3_bedrock.type_defs import TagTypeDef

SPEC_HASH_LENGTH = 32


def digest(canonical: Mapping[str, Any]) -> str:
    """The spec hash of the fields a kind cannot change in place."""
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:SPEC_HASH_LENGTH]


@dataclass(frozen=True)
class KindRules:
    """One kind, as the planner and the executor see it.

    ``hash_fields`` names what ``spec_hash`` covers (for plan reasons). ``create_request``
    takes the declared resource, the scope and the ARN of the model it serves from (empty
    for a model) and returns the create call's parameters, tags included, token excluded
    (each kind's module types them as the stubs' request ``TypedDict``).
    ``adoption_mismatches`` compares a declared resource with the unmanaged one holding its
    name on everything the API lets us read back, one ``field: account has X, manifest has
    Y`` line per difference (empty: it may be adopted); ``unreadable`` says what it cannot
    compare (empty when everything can be).
    """

    kind: Kind
    manifest: type[AnyManifest]
    hash_fields: str
    spec_hash: Callable[[DeclaredResource], str]
    create_request: Callable[[DeclaredResource, str, str], Mapping[str, Any]]
    adoption_mismatches: Callable[[DeclaredResource, ObservedResource], list[str]]
    commitment: Callable[[DeclaredResource], str | None] = lambda _: None
    unreadable: Callable[[DeclaredResource], str] = lambda _: ""


def desired_tags(resource: DeclaredResource, scope: str, spec_hash: str) -> dict[str, str]:
    """Every tag the resource should carry: the user's and the reconciler's own."""
    spec = resource.spec
    tags = dict(spec.tags)
    tags[TAG_MANAGED_BY] = scope
    tags[TAG_SPEC_HASH] = spec_hash
    if spec.deletionPolicy == "Retain":
        tags[TAG_DELETION_POLICY] = "Retain"
    return dict(sorted(tags.items()))


def tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    """Bedrock's ``[{"key", "value"}]`` shape."""
    return [{"key": k, "value": v} for k, v in tags.items()]


def mismatch(field: str, account: object, manifest: object) -> str:
    """One adoption mismatch, as plans word it ("none" for an absent value)."""
    return f"{field}: account has {_shown(account)}, manifest has {_shown(manifest)}"


def _shown(value: object) -> str:
    return "none" if value is None or value == "" else str(value)
