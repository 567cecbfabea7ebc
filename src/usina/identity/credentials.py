"""Secrets: password hashes (argon2id) and token secrets (random, shown once, kept as a hash).

A token reads ``usina_`` + 43 URL-safe characters (256 random bits) + 8 hex digits of
checksum. The prefix lets secret scanners and people recognise one; the checksum tells a
mistyped or edited token from an unknown one without asking the database. The checksum is
no secret: it guards against accidents, not forgery; the 256 random bits do that.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

PREFIX = "usina_"
_BODY = re.compile(r"[A-Za-z0-9_\-]{43}")
_CHECK = re.compile(r"[0-9a-f]{8}")
LENGTH = len(PREFIX) + 43 + 8

MALFORMED, TAMPERED = "malformed", "tampered"


def _checksum(body: str) -> str:
    return hashlib.sha256(f"{PREFIX}{body}".encode()).hexdigest()[:8]


def new_token_secret() -> str:
    """A fresh token secret: 256 random bits from ``secrets``."""
    body = secrets.token_urlsafe(32)
    return f"{PREFIX}{body}{_checksum(body)}"


def new_token_id() -> str:
    """A token's public handle (listed, used to revoke): 16 hex digits, unrelated to the
    secret."""
    return secrets.token_hex(8)


def secret_problem(secret: str) -> str | None:
    """``None`` for a well-formed token; ``malformed`` when it is not one at all, ``tampered``
    when its checksum does not match (a character changed)."""
    if not isinstance(secret, str) or len(secret) != LENGTH or not secret.startswith(PREFIX):
        return MALFORMED
    body, check = secret[len(PREFIX) : -8], secret[-8:]
    if not _BODY.fullmatch(body) or not _CHECK.fullmatch(check):
        return MALFORMED
    if not secrets.compare_digest(check, _checksum(body)):
        return TAMPERED
    return None


def secret_hash(secret: str) -> str:
    """What the database keeps of a token: the SHA-256 of its secret, in hex.

    A plain fast hash is enough here, unlike for passwords: the secret holds 256 random bits,
    so nobody can guess candidates to test against a leaked hash, and a fast hash keeps the
    lookup cheap. Passwords are chosen by people and guessable, hence argon2 for them.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


@cache
def _hasher() -> PasswordHasher:
    # Imported here: only commands and routes that handle passwords need argon2.
    from argon2 import PasswordHasher

    # argon2id at OWASP's first recommended setting (19 MiB, 2 passes, 1 lane): a guess costs
    # an attacker that much memory and time, and a login stays cheap for a server with few
    # cores. Hashes made with other settings still verify, and are redone at the next login.
    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; the parameters are kept in the hash)."""
    return _hasher().hash(password)


@cache
def _decoy() -> str:
    return hash_password(secrets.token_urlsafe(24))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``. With no stored hash (an unknown user, or one
    without a password) a decoy is checked, so the answer takes as long either way."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored or _decoy(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with weaker parameters than today's."""
    return _hasher().check_needs_rehash(stored)
