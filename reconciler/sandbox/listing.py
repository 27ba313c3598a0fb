"""ListCustomModels: its filters, its order and its page tokens.

A page token names the last model returned (creation time and ARN) rather than the next
one, so deleting models between pages, as a reconciler does, never invalidates it. The
token also carries a digest of the filters: reusing it with other filters is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.sandbox.errors import ValidationException
from reconciler.sandbox.model import STATUSES, EmulatedModel

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
SORT_ORDERS = ("Ascending", "Descending")


@dataclass(frozen=True)
class ListQuery:
    """The filters and order of one ListCustomModels listing (every page of it)."""

    creation_time_before: datetime | None = None
    creation_time_after: datetime | None = None
    name_contains: str | None = None
    base_model_arn_equals: str | None = None
    foundation_model_arn_equals: str | None = None
    is_owned: bool = False
    model_status: str | None = None
    sort_by: str = "CreationTime"
    sort_order: str = "Descending"

    def __post_init__(self) -> None:
        if self.sort_by != "CreationTime":
            raise ValidationException(f"Invalid sortBy {self.sort_by!r}; use CreationTime.")
        if self.sort_order not in SORT_ORDERS:
            raise ValidationException(f"Invalid sortOrder {self.sort_order!r}.")
        if self.model_status is not None and self.model_status not in STATUSES:
            raise ValidationException(f"Invalid modelStatus {self.model_status!r}.")

    def matches(
        self, model: EmulatedModel, account_id: str, import_seconds: float, now: float
    ) -> bool:
        """Whether ``model`` is listed to ``account_id`` at ``now``."""
        if self.is_owned and model.owner_account_id != account_id:
            return False
        if self.name_contains is not None and self.name_contains not in model.name:
            return False
        if not self._in_time_window(model.creation_time):
            return False
        if not self._base_matches(model):
            return False
        return self.model_status in (None, model.status(import_seconds, now))

    def _in_time_window(self, created: float) -> bool:
        before, after = self.creation_time_before, self.creation_time_after
        if before is not None and not created < _epoch(before):
            return False
        return after is None or created > _epoch(after)

    def _base_matches(self, model: EmulatedModel) -> bool:
        wanted = {self.base_model_arn_equals, self.foundation_model_arn_equals} - {None}
        return all(model.base_model_arn == arn for arn in wanted)

    def digest(self) -> str:
        return fingerprint(asdict(self))


def fingerprint(value: Any) -> str:
    """A stable digest of JSON-like data (the same in every process, unlike ``hash``)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def page(
    models: Sequence[EmulatedModel],
    query: ListQuery,
    max_results: int | None,
    next_token: str | None,
) -> tuple[list[EmulatedModel], str | None]:
    """The page of ``models`` (sorted by ``query``) that ``next_token`` points at."""
    size = DEFAULT_PAGE_SIZE if max_results is None else max_results
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationException(f"maxResults must be between 1 and {MAX_PAGE_SIZE}.")
    descending = query.sort_order == "Descending"
    ordered = sorted(models, key=_position, reverse=descending)
    start = 0
    if next_token is not None:
        last = _decode(next_token, query.digest())
        start = sum(1 for model in ordered if _not_after(_position(model), last, descending))
    chunk = ordered[start : start + size]
    more = start + size < len(ordered)
    return chunk, _encode(query.digest(), _position(chunk[-1])) if more else None


def _position(model: EmulatedModel) -> tuple[float, str]:
    return (model.creation_time, model.arn)


def _not_after(position: tuple[float, str], last: tuple[float, str], descending: bool) -> bool:
    return position >= last if descending else position <= last


def _encode(digest: str, last: tuple[float, str]) -> str:
    payload = json.dumps({"q": digest, "after": list(last)}).encode()
    return base64.urlsafe_b64encode(payload).decode()


def _decode(token: str, digest: str) -> tuple[float, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        created, arn = data["after"]
        position = (float(created), str(arn))
        same_query = data["q"] == digest
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise ValidationException("Invalid pagination token.") from None
    if not same_query:
        raise ValidationException("The pagination token belongs to a different query.")
    return position


def _epoch(moment: datetime) -> float:
    # The request parser yields naive datetimes for UTC timestamps.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
