"""Every error usina raises on purpose.

A user can trigger each of these; each message says what was wrong and what to do. The
command line prints the message on one line and exits with status 2.

    UsinaError
     ├── InvalidInput            a value given by the caller is malformed (names the field)
     │    ├── InvalidUri         a models:/ or datasets:/ URI that cannot be parsed
     │    └── InvalidKey         an artifact key that could escape the store's root
     ├── NotFound                an experiment, run, model, version or alias that does not exist
     │    └── MissingReference   a write points at a missing target (also a Conflict)
     ├── Conflict                the request contradicts what is stored (duplicate, finished run)
     ├── IntegrityError          stored bytes do not match their recorded SHA-256 digest
     ├── UnsafeModel             a model file would need code the platform does not trust
     ├── MissingDependency       an optional extra is needed (the message names the pip command)
     ├── StoreUnavailable        the metadata database cannot be reached or kept failing
     ├── KeyUnavailable          encrypted data whose key is not configured, or a wrong key
     ├── EndpointUnavailable     an endpoint exists but none of its versions could be loaded
     ├── Unauthenticated         no valid credentials: a wrong password, a bad or expired token
     │    └── TooManyAttempts    logins for that name are locked for a while after failures
     ├── PermissionDenied        the caller's roles do not allow the action
     └── ServerError             a usina server failed without saying why (a bug)

    InvalidInput also has PayloadTooLarge: a request body over the server's limit.

``HTTP_STATUS`` maps each error to the HTTP status every usina server answers it with (the REST
API and every inference protocol alike); anything else is a bug, answered with a 500.
"""

from __future__ import annotations


class UsinaError(Exception):
    """Base of every error usina raises on purpose.

    ``code`` is the stable name the server puts in its JSON errors; a remote client turns it
    back into the same class with :func:`error_for_code`.
    """

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidInput(UsinaError):
    """A value given by the caller is malformed."""

    code = "invalid_input"


class InvalidUri(InvalidInput):
    """A resource URI cannot be parsed."""

    code = "invalid_uri"


class InvalidKey(InvalidInput):
    """An artifact key is not a plain relative path inside the store."""

    code = "invalid_key"


class NotFound(UsinaError):
    """The named resource does not exist."""

    code = "not_found"


class Conflict(UsinaError):
    """The request contradicts the stored state."""

    code = "conflict"


class MissingReference(NotFound, Conflict):
    """A write points at something that does not exist (an alias at a missing version).

    It is both: the target is not found, and the write contradicts the stored state; the server
    answers it with 409, like any conflict.
    """

    code = "missing_reference"


class IntegrityError(UsinaError):
    """Stored bytes do not match the digest recorded when they were written."""

    code = "integrity_error"


class UnsafeModel(UsinaError):
    """Loading the model would run code outside the platform's trust list."""

    code = "unsafe_model"


class MissingDependency(UsinaError):
    """An optional dependency is not installed."""

    code = "missing_dependency"


class StoreUnavailable(UsinaError):
    """The metadata store cannot be reached, or kept failing after retries."""

    code = "store_unavailable"


class KeyUnavailable(UsinaError):
    """Encrypted data needs a key that is not configured, or the configured key is wrong."""

    code = "key_unavailable"


class PayloadTooLarge(InvalidInput):
    """A request body is larger than the server accepts."""

    code = "payload_too_large"


class EndpointUnavailable(UsinaError):
    """An endpoint exists but none of its versions could be loaded (the message names why)."""

    code = "endpoint_unavailable"


class Unauthenticated(UsinaError):
    """The caller gave no valid credentials (a wrong password, an unknown, expired, revoked or
    malformed token). The message never says which, so it tells an attacker nothing."""

    code = "unauthenticated"


class TooManyAttempts(Unauthenticated):
    """Logins for this name failed too often; they are refused until the lockout ends."""

    code = "too_many_attempts"


class PermissionDenied(UsinaError):
    """The caller is known, but no role bound to them allows the action."""

    code = "permission_denied"


class ServerError(UsinaError):
    """The server failed in a way it could not explain (a bug: please report it)."""

    code = "internal"


# Most specific first: the first class an error is an instance of decides its status.
HTTP_STATUS: tuple[tuple[type[UsinaError], int], ...] = (
    (PayloadTooLarge, 413),
    (MissingReference, 409),
    (InvalidInput, 400),
    (NotFound, 404),
    (Conflict, 409),
    (IntegrityError, 409),
    (UnsafeModel, 400),
    (MissingDependency, 501),
    (StoreUnavailable, 503),
    (KeyUnavailable, 503),
    (EndpointUnavailable, 503),
    (TooManyAttempts, 429),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
)


def http_status(exc: BaseException) -> int:
    """The HTTP status for ``exc``: from ``HTTP_STATUS``, or 500 for anything not listed."""
    for cls, status in HTTP_STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _subclasses(cls: type[UsinaError]) -> list[type[UsinaError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def error_for_code(code: str) -> type[UsinaError]:
    """The error class the server named with ``code`` (``UsinaError`` for an unknown one)."""
    for cls in _subclasses(UsinaError):
        if cls.code == code:
            return cls
    return UsinaError
