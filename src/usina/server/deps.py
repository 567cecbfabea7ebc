"""What routes share: the server's stores, and the actor a request acts as."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Header, Request

from usina.artifacts import ArtifactStore
from usina.crypto.keys import KeyProvider
from usina.errors import InvalidInput
from usina.pipelines.sql import SqlPipelineStore
from usina.pipelines.sql_schedules import SqlScheduleStore
from usina.registry import SqlRegistryStore
from usina.store import Database
from usina.tracking import SqlTrackingStore

if TYPE_CHECKING:
    from usina.serving import SqlEndpointStore

_ACTOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@\-]{0,127}")
MAX_PAGE = 1000


@dataclass(frozen=True)
class Backends:
    """The metadata database and artifact store one server process works on."""

    db: Database
    artifacts: ArtifactStore
    heartbeat_timeout: float
    keys: KeyProvider | None = None


def backends(request: Request) -> Backends:
    found: Backends = request.app.state.backends
    return found


def actor(
    request: Request,
    x_usina_actor: Annotated[
        str | None,
        Header(
            description="Who is acting, recorded on writes, when the server runs with "
            "USINA_AUTH=off (self-declared). With USINA_AUTH=on it is ignored: the actor is "
            "the principal of the bearer token."
        ),
    ] = None,
) -> str:
    caller = getattr(request.state, "caller", None)
    if caller is not None:
        # A verified token names the actor; a header never overrides it.
        name: str = caller.name
        return name
    if request.app.state.gate.auth:
        return "anonymous"  # a public route: nobody verified
    if x_usina_actor is None:
        return "anonymous"
    if not _ACTOR.fullmatch(x_usina_actor):
        raise InvalidInput(
            f"actor {x_usina_actor!r} is not valid; use letters, digits and '._@-'",
            field="X-Usina-Actor",
        )
    return x_usina_actor


def tracking(request: Request, who: str) -> SqlTrackingStore:
    b = backends(request)
    return SqlTrackingStore(b.db, who, b.heartbeat_timeout, artifacts=b.artifacts)


def registry(request: Request, who: str) -> SqlRegistryStore:
    b = backends(request)
    return SqlRegistryStore(b.db, who, artifacts=b.artifacts)


def endpoints(request: Request, who: str) -> SqlEndpointStore:
    # Imported here: the serving package loads numpy, which only endpoint routes need.
    from usina.serving import SqlEndpointStore

    b = backends(request)
    return SqlEndpointStore(b.db, who, artifacts=b.artifacts, registry=registry(request, who))


def next_offset(count: int, limit: int, offset: int) -> int | None:
    """The next page's offset, or ``None`` when this page was short (the last)."""
    return offset + limit if count == limit else None


def pipelines(request: Request, who: str) -> SqlPipelineStore:
    return SqlPipelineStore(backends(request).db, who)


def schedules(request: Request, who: str) -> SqlScheduleStore:
    return SqlScheduleStore(backends(request).db, who)
