"""The reconciler's own error types.

Every failure a user can meet is one of these. They are raised deep inside (chained with
``from`` the library error that caused them) and rendered exactly once, by ``cli``, as a
one-line message and exit code 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class ReconcilerError(Exception):
    """Base of every error the CLI turns into a message and exit code 1."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one manifest, located at a file, line and field path."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ManifestError(ReconcilerError):
    """The manifests are invalid; carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem], found_in: str = "manifests") -> None:
        self.problems = tuple(sorted(set(problems)))
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        body = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{body}\n{count} {noun} found in {found_in}; nothing was sent to AWS")


class SourceError(ReconcilerError):
    """A manifest PATH argument cannot be read (missing, unreadable)."""


class UsageError(ReconcilerError):
    """A command-line option has a value the reconciler cannot use."""


class UnsafePlanError(ReconcilerError):
    """The plan is refused by a safety check (for example the empty-source guard)."""


class CloudError(ReconcilerError):
    """An AWS call failed: names the operation, the model when there is one, and the cause."""

    def __init__(self, message: str, *, code: str = "", model: str = "") -> None:
        self.code = code
        self.model = model
        super().__init__(message)


class NotFoundError(CloudError):
    """The resource does not exist (any more)."""


class ConflictError(CloudError):
    """The service refused because of the resource's state: busy, in use, or name taken."""


class InvalidRequestError(CloudError):
    """The service refused the request's content (``ValidationException``)."""


class AccessDeniedError(CloudError):
    """The credentials lack a permission."""


class QuotaExceededError(CloudError):
    """An account quota is reached; retrying does not help."""


class TemporaryError(CloudError):
    """A failure that may pass: throttling after every retry, a 5xx, a lost connection."""


class ThrottledError(TemporaryError):
    """AWS kept throttling the call after every retry."""


class SandboxError(ReconcilerError):
    """The local Bedrock emulator cannot be started or its state file is unusable."""


class StalePlanError(ReconcilerError):
    """A saved plan no longer matches the account (or scope, or region); nothing was changed."""
