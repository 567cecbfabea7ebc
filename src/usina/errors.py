"""Every error usina raises on purpose.

A user can trigger each of these; each message says what was wrong and what to do. The
command line prints the message on one line and exits with status 2.

    UsinaError
     ├── InvalidInput            a value given by the caller is malformed (names the field)
     │    ├── InvalidUri         a models:/ or datasets:/ URI that cannot be parsed
     │    └── InvalidKey         an artifact key that could escape the store's root
     ├── NotFound                an experiment, run, model, version or alias that does not exist
     ├── Conflict                the request contradicts what is stored (duplicate, finished run)
     ├── IntegrityError          stored bytes do not match their recorded SHA-256 digest
     ├── UnsafeModel             a model file would need code the platform does not trust
     ├── MissingDependency       an optional extra is needed (the message names the pip command)
     └── StoreUnavailable        the metadata database cannot be reached or kept failing
"""

from __future__ import annotations


class UsinaError(Exception):
    """Base of every error usina raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidInput(UsinaError):
    """A value given by the caller is malformed."""


class InvalidUri(InvalidInput):
    """A resource URI cannot be parsed."""


class InvalidKey(InvalidInput):
    """An artifact key is not a plain relative path inside the store."""


class NotFound(UsinaError):
    """The named resource does not exist."""


class Conflict(UsinaError):
    """The request contradicts the stored state."""


class IntegrityError(UsinaError):
    """Stored bytes do not match the digest recorded when they were written."""


class UnsafeModel(UsinaError):
    """Loading the model would run code outside the platform's trust list."""


class MissingDependency(UsinaError):
    """An optional dependency is not installed."""


class StoreUnavailable(UsinaError):
    """The metadata store cannot be reached, or kept failing after retries."""
