"""The checks both identity stores run on input, so the SQL store and the HTTP store refuse
the same values with the same message."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from usina.errors import InvalidInput
from usina.identity.entities import KINDS, USER
from usina.identity.permissions import PERMISSIONS, RESOURCE_KINDS, WORKSPACE

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@\-]{0,127}")
_RESOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,255}")
_TOKEN_ID = re.compile(r"[0-9a-f]{16}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes any length; a bound keeps a login request cheap
DAY = 86_400.0


def check_name(name: Any, field: str = "name") -> str:
    """A principal's or role's name: letters, digits and ``._@-``, at most 128."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{field} {name!r} is not valid; use letters, digits and '._@-' (at most 128, "
            "starting with a letter or digit)",
            field=field,
        )
    return name


def check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"kind {kind!r} is not one of {', '.join(KINDS)}", field="kind")
    return str(kind)


def parse_ref(ref: Any, field: str = "principal") -> tuple[str, str]:
    """``kind:name`` as its two parts (``user:ana`` -> ``("user", "ana")``)."""
    kind, sep, name = ref.partition(":") if isinstance(ref, str) else ("", "", "")
    if not sep or kind not in KINDS or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{field} {ref!r} is not a principal; write KIND:NAME with KIND one of "
            f"{', '.join(KINDS)} (user:ana, group:data-science, service-account:trainer)",
            field=field,
        )
    return kind, name


def check_password(password: Any) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"the password must have at least {MIN_PASSWORD} characters; a passphrase of a "
            "few words is easy to type and hard to guess",
            field="password",
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            f"the password must have at most {MAX_PASSWORD} characters", field="password"
        )
    return password


def check_permissions(permissions: Any, field: str = "permissions") -> tuple[str, ...]:
    """Known permission names, sorted, without repeats."""
    if isinstance(permissions, str) or not isinstance(permissions, Iterable):
        raise InvalidInput(f"{field} must be a list of permission names", field=field)
    found = []
    for p in permissions:
        if p not in PERMISSIONS:
            raise InvalidInput(
                f"{field}: {p!r} is not a permission; see 'usina roles permissions' "
                "(for example usina.models.read, usina.endpoints.predict)",
                field=field,
            )
        found.append(p)
    return tuple(sorted(set(found)))


def check_resource(resource: Any) -> str:
    """``*`` (the workspace) or ``KIND/NAME`` with KIND one of the resource kinds."""
    if resource == WORKSPACE:
        return WORKSPACE
    kind, sep, name = resource.partition("/") if isinstance(resource, str) else ("", "", "")
    if not sep or kind not in RESOURCE_KINDS or not _RESOURCE_NAME.fullmatch(name):
        raise InvalidInput(
            f"resource {resource!r} is not valid; use '*' for the whole workspace or KIND/NAME "
            f"with KIND one of {', '.join(RESOURCE_KINDS)} (models/credit, endpoints/credit)",
            field="resource",
        )
    return resource


def check_expires_in(expires_in: Any, max_days: float) -> float:
    """A token's lifetime in seconds: positive, at most ``max_days`` days."""
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or not 0 < expires_in <= max_days * DAY
    ):
        raise InvalidInput(
            f"expires_in {expires_in!r} is not a lifetime in seconds within (0, "
            f"{max_days:g} days]; every token expires, at most USINA_TOKEN_MAX_DAYS after "
            "it is made",
            field="expires_in",
        )
    return float(expires_in)


def check_token_id(token_id: Any) -> str:
    if not isinstance(token_id, str) or not _TOKEN_ID.fullmatch(token_id):
        raise InvalidInput(
            f"token id {token_id!r} is not valid; it is 16 hex digits ('usina tokens list')",
            field="token_id",
        )
    return token_id


def check_user_ref(ref: Any, field: str = "user") -> str:
    """A user's name, given bare (``ana``) or as ``user:ana``."""
    if isinstance(ref, str) and ref.startswith(f"{USER}:"):
        ref = ref[len(USER) + 1 :]
    return check_name(ref, field)


def check_binding_id(binding_id: Any) -> int:
    if isinstance(binding_id, bool) or not isinstance(binding_id, int) or binding_id < 1:
        raise InvalidInput(
            f"binding id {binding_id!r} is not a positive integer ('usina bindings list')",
            field="binding_id",
        )
    return binding_id
