"""What names a resource: its kind and its name (and, once targets land, its target).

Everything that used to key on a bare model name (plans, saved plans, backoff, metrics
labels, rendering) keys on a ``ResourceKey`` instead: a model and a throughput may share a
name. Kinds sort in serving order (models, then what serves from them), then by name, so
plans diff cleanly and read top-down. Pure data; imported by every layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# A scope is written as a tag value: the service's tag value characters, at most 256.
SCOPE_PATTERN = r"[a-zA-Z0-9\s._:/=+@-]{1,256}"


class Kind(StrEnum):
    """The kinds of resource the reconciler manages, as the manifests spell them."""

    CUSTOM_MODEL = "CustomModel"
    PROVISIONED_THROUGHPUT = "ProvisionedThroughput"
    CUSTOM_MODEL_DEPLOYMENT = "CustomModelDeployment"

    @property
    def rank(self) -> int:
        """Position in serving order: what is served from comes before what serves."""
        return KIND_ORDER.index(self)

    @property
    def serves(self) -> bool:
        """Whether resources of this kind serve from a model."""
        return self is not Kind.CUSTOM_MODEL


KIND_ORDER: tuple[Kind, ...] = (
    Kind.CUSTOM_MODEL,
    Kind.PROVISIONED_THROUGHPUT,
    Kind.CUSTOM_MODEL_DEPLOYMENT,
)


@dataclass(frozen=True)
class ResourceKey:
    """One resource's identity: ``kind/name``."""

    kind: Kind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}/{self.name}"

    @property
    def order(self) -> tuple[int, str]:
        """The sort key: kind in serving order, then name."""
        return (self.kind.rank, self.name)

    @classmethod
    def parse(cls, text: str) -> ResourceKey:
        """``Kind/name`` (or a bare name, a CustomModel, as v1 wrote it) as a key."""
        kind, sep, name = text.partition("/")
        if not sep:
            return cls(Kind.CUSTOM_MODEL, text)
        return cls(Kind(kind), name)


@dataclass(frozen=True)
class Place:
    """Where a run's resources live: an account (learned from the credentials) and a region.

    The first step to targets: every plan, report and saved plan names its place.
    """

    region: str
    account: str = ""

    def __str__(self) -> str:
        return f"{self.account}/{self.region}" if self.account else self.region

    @classmethod
    def of(cls, where: Place | str) -> Place:
        return where if isinstance(where, Place) else cls(region=where)
