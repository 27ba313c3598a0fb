"""The kinds of resource the reconciler manages, one module each, behind ``KindRules``.

``RULES`` maps each ``Kind`` to its rules; the planner, the executor and the renderers look a
kind up here instead of assuming custom models. Adding a kind is one module here, one
manifest model in ``desired`` and one entry in ``aws.apis``.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.desired import DeclaredResource
from reconciler.identity import Kind
from reconciler.kinds import custom_model, model_deployment, provisioned_throughput
from reconciler.kinds.base import KindRules, desired_tags

RULES: Mapping[Kind, KindRules] = {
    Kind.CUSTOM_MODEL: custom_model.RULES,
    Kind.PROVISIONED_THROUGHPUT: provisioned_throughput.RULES,
    Kind.CUSTOM_MODEL_DEPLOYMENT: model_deployment.RULES,
}


def spec_hash(resource: DeclaredResource) -> str:
    """The spec hash of any declared resource."""
    return RULES[resource.kind].spec_hash(resource)


def tags_for(resource: DeclaredResource, scope: str) -> dict[str, str]:
    """Every tag a declared resource should carry, the reconciler's own included."""
    return desired_tags(resource, scope, spec_hash(resource))


__all__ = ["RULES", "KindRules", "spec_hash", "tags_for"]
