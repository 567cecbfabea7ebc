"""Endpoints in the metadata database: the versions behind a serving name.

An endpoint either follows an alias (``models:/credit-risk@champion``: whichever version the
alias points at gets all traffic) or serves explicit deployments with a traffic split in whole
percent. Either kind may add a shadow version that receives a copy of every request; its
answers are logged and never returned. Every change bumps ``generation``, so a serving worker
learns about it, and about alias moves, from :meth:`SqlEndpointStore.watch`.

Versions and aliases are the registry's: this store asks the registry protocol for them and
never reads the registry's tables.
"""

from __future__ import annotations

import builtins
import json
import re
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.artifacts import ArtifactStore
from usina.errors import Conflict, InvalidInput, NotFound
from usina.privacy.policy import check_policy
from usina.registry import ModelRef, SqlRegistryStore, VersionStore, parse_model_uri
from usina.serving.entities import Deployment, Endpoint, WatchRow
from usina.serving.logquery import VersionStats, endpoint_stats
from usina.store import Database
from usina.store import schema as t
from usina.store.paging import check_page

__all__ = [
    "Deployment",
    "Endpoint",
    "SqlEndpointStore",
    "WatchRow",
    "check_endpoint_name",
    "parse_split",
]

ENDPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")


def check_endpoint_name(name: str, field: str = "name") -> str:
    """An endpoint name: letters, digits, ``_`` and ``-``, at most 64 characters."""
    if not isinstance(name, str) or not ENDPOINT_NAME.fullmatch(name):
        raise InvalidInput(
            f"endpoint name {name!r} is not valid; use letters, digits, '_' and '-' "
            "(starting with a letter or digit, at most 64 characters)",
            field=field,
        )
    return name


def check_split(split: Any) -> dict[int, int]:
    """A traffic split: positive version numbers to whole percent."""
    if not isinstance(split, dict) or not all(
        not isinstance(k, bool) and isinstance(k, int) and k >= 1 for k in split
    ):
        raise InvalidInput(
            f"split {split!r} is not a mapping of version numbers to percent", field="split"
        )
    if not all(not isinstance(v, bool) and isinstance(v, int) for v in split.values()):
        raise InvalidInput(
            "traffic shares are whole percent; write the split as 3=90 4=10", field="split"
        )
    return split


def parse_split(items: list[str]) -> dict[int, int]:
    """``["3=90", "4=10"]`` -> ``{3: 90, 4: 10}``; shares are whole percent summing to 100."""
    split: dict[int, int] = {}
    for item in items:
        version, sep, share = item.partition("=")
        if not sep or not version.lstrip("v").isdigit() or not share.rstrip("%").isdigit():
            raise InvalidInput(
                f"{item!r} is not VERSION=PERCENT; write the split as 3=90 4=10", field="split"
            )
        split[int(version.lstrip("v"))] = int(share.rstrip("%"))
    return split


class SqlEndpointStore:
    """Endpoints and deployments in the metadata database; ``actor`` signs every write.

    ``registry`` answers which versions and aliases exist (by default the registry on the same
    database); ``artifacts`` holds the request log that :meth:`stats` reads.

    Example:
        >>> from usina.artifacts.memory import MemoryArtifactStore
        >>> store = SqlEndpointStore(Database("sqlite://"), artifacts=MemoryArtifactStore())
        >>> store.list()
        []
    """

    def __init__(
        self,
        db: Database,
        actor: str = "local",
        *,
        artifacts: ArtifactStore,
        registry: VersionStore | None = None,
    ) -> None:
        self.db = db
        self.actor = actor
        self.artifacts = artifacts
        self.registry: VersionStore = registry or SqlRegistryStore(db, actor, artifacts=artifacts)

    def create(
        self,
        name: str,
        model_uri: str,
        *,
        sample_rate: float = 1.0,
        max_batch_size: int = 0,
        max_latency_ms: float = 5.0,
    ) -> Endpoint:
        """Create an endpoint following ``models:/m@alias``, or pinned to ``models:/m/N``.

        ``models:/m`` (no alias, no version) pins the latest version at creation time.
        """
        check_endpoint_name(name)
        ref = parse_model_uri(model_uri)
        version = self.registry.resolve(ref)  # NotFound names what is missing
        _check_options(sample_rate, max_batch_size, max_latency_ms)
        now = time.time()

        def tx(conn: Connection) -> None:
            exists = conn.execute(
                sa.select(t.endpoints.c.id).where(t.endpoints.c.name == name)
            ).first()
            if exists:
                raise Conflict(
                    f"endpoint {name!r} already exists; change it with 'usina endpoints split' "
                    "or 'follow', or delete it first",
                    field="name",
                )
            endpoint_id = conn.execute(
                t.endpoints.insert()
                .values(
                    name=name,
                    model=ref.name,
                    alias=ref.alias,
                    shadow_version=None,
                    sample_rate=sample_rate,
                    max_batch_size=max_batch_size,
                    max_latency_ms=max_latency_ms,
                    generation=1,
                    created_at=now,
                    created_by=self.actor,
                    updated_at=now,
                )
                .returning(t.endpoints.c.id)
            ).scalar_one()
            if ref.alias is None:
                conn.execute(
                    t.endpoint_deployments.insert().values(
                        endpoint_id=endpoint_id, version=version.version, traffic=100
                    )
                )

        self.db.write(tx)
        return self.get(name)

    def get(self, name: str) -> Endpoint:
        """The endpoint called ``name``; ``NotFound`` if there is none."""
        check_endpoint_name(name, "endpoint")
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.endpoints).where(t.endpoints.c.name == name)).first()
            if row is None:
                raise NotFound(
                    f"no endpoint {name!r}; create it with 'usina endpoints create {name} "
                    "--model models:/NAME@champion'",
                    field="endpoint",
                )
            return self._to_endpoint(conn, row)

    def list(self, limit: int | None = None, offset: int = 0) -> builtins.list[Endpoint]:
        """Endpoints by name, paged with ``limit`` and ``offset``."""
        check_page(limit, offset)
        query = sa.select(t.endpoints).order_by(t.endpoints.c.name).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            return [self._to_endpoint(conn, row) for row in rows]

    def stats(self, name: str, since_s: float = 3600.0) -> builtins.list[VersionStats]:
        """Latency percentiles and errors per version, from the request log."""
        if isinstance(since_s, bool) or not isinstance(since_s, int | float) or since_s <= 0:
            raise InvalidInput(
                f"since {since_s!r} is not a positive number of seconds", field="since"
            )
        self.get(name)
        return endpoint_stats(self.artifacts, name, since_s)

    def split(self, name: str, split: dict[int, int]) -> Endpoint:
        """Serve explicit versions with shares in whole percent summing to 100 (stops following)."""
        check_split(split)
        if not split or any(share < 0 for share in split.values()) or sum(split.values()) != 100:
            raise InvalidInput(
                f"traffic shares must be whole percent summing to 100, got {sum(split.values())}; "
                "for example 3=90 4=10",
                field="split",
            )
        endpoint = self.get(name)
        for version in split:
            self.registry.resolve(ModelRef(endpoint.model, version=version))

        def tx(conn: Connection) -> None:
            endpoint_id = self._bump(conn, name, alias=None)
            conn.execute(
                t.endpoint_deployments.delete().where(
                    t.endpoint_deployments.c.endpoint_id == endpoint_id
                )
            )
            conn.execute(
                t.endpoint_deployments.insert(),
                [
                    {"endpoint_id": endpoint_id, "version": v, "traffic": s}
                    for v, s in split.items()
                ],
            )

        self.db.write(tx)
        return self.get(name)

    def follow(self, name: str, alias: str) -> Endpoint:
        """Serve whichever version ``alias`` points at, from now on."""
        endpoint = self.get(name)
        self.registry.resolve(ModelRef(endpoint.model, alias=alias))

        def tx(conn: Connection) -> None:
            endpoint_id = self._bump(conn, name, alias=alias)
            conn.execute(
                t.endpoint_deployments.delete().where(
                    t.endpoint_deployments.c.endpoint_id == endpoint_id
                )
            )

        self.db.write(tx)
        return self.get(name)

    def set_shadow(self, name: str, version: int | None) -> Endpoint:
        """Send a copy of every request to ``version`` (``None`` stops shadowing)."""
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1
        ):
            raise InvalidInput(f"version {version!r} is not a positive integer", field="version")
        endpoint = self.get(name)
        if version is not None:
            self.registry.resolve(ModelRef(endpoint.model, version=version))
        self.db.write(lambda conn: self._bump(conn, name, shadow_version=version))
        return self.get(name)

    def configure(
        self,
        name: str,
        *,
        sample_rate: float | None = None,
        max_batch_size: int | None = None,
        max_latency_ms: float | None = None,
    ) -> Endpoint:
        """Change the request-log sampling rate or micro-batching of an endpoint."""
        endpoint = self.get(name)
        values: dict[str, Any] = {
            "sample_rate": endpoint.sample_rate if sample_rate is None else sample_rate,
            "max_batch_size": endpoint.max_batch_size if max_batch_size is None else max_batch_size,
            "max_latency_ms": endpoint.max_latency_ms if max_latency_ms is None else max_latency_ms,
        }
        _check_options(values["sample_rate"], values["max_batch_size"], values["max_latency_ms"])
        self.db.write(lambda conn: self._bump(conn, name, **values))
        return self.get(name)

    def set_log_policy(self, name: str, policy: dict[str, Any] | None) -> Endpoint:
        """Keep ``policy`` (a PII policy) on the endpoint's record, for its request log rows;
        ``None`` removes it. Serving workers apply it from their next poll."""
        check_endpoint_name(name, "endpoint")
        stored = None if policy is None else json.dumps(check_policy(policy))
        self.db.write(lambda conn: self._bump(conn, name, log_policy=stored))
        return self.get(name)

    def delete(self, name: str) -> None:
        """Remove an endpoint; serving workers stop answering for it within a poll interval."""
        check_endpoint_name(name, "endpoint")

        def tx(conn: Connection) -> None:
            endpoint_id = self._bump(conn, name)
            conn.execute(
                t.endpoint_deployments.delete().where(
                    t.endpoint_deployments.c.endpoint_id == endpoint_id
                )
            )
            conn.execute(t.endpoints.delete().where(t.endpoints.c.id == endpoint_id))

        self.db.write(tx)

    def watch(self) -> builtins.list[WatchRow]:
        """Every endpoint's generation and the version its alias points at: one query of the
        endpoints, and one registry lookup per model that an endpoint follows an alias of."""
        e = t.endpoints
        with self.db.read() as conn:
            rows = conn.execute(sa.select(e.c.name, e.c.generation, e.c.model, e.c.alias)).all()
        aliases: dict[str, dict[str, int]] = {}
        for row in rows:
            if row.alias is not None and row.model not in aliases:
                try:
                    aliases[row.model] = self.registry.get_model(row.model).aliases
                except NotFound:
                    aliases[row.model] = {}
        return [
            WatchRow(
                r.name, r.generation, aliases.get(r.model, {}).get(r.alias) if r.alias else None
            )
            for r in rows
        ]

    # -- helpers --------------------------------------------------------------------------

    def _bump(self, conn: Connection, name: str, **values: Any) -> int:
        row = conn.execute(
            t.endpoints.update()
            .where(t.endpoints.c.name == name)
            .values(generation=t.endpoints.c.generation + 1, updated_at=time.time(), **values)
            .returning(t.endpoints.c.id)
        ).first()
        if row is None:
            raise NotFound(f"no endpoint {name!r}", field="endpoint")
        return int(row[0])

    @staticmethod
    def _to_endpoint(conn: Connection, row: Any) -> Endpoint:
        d = t.endpoint_deployments
        deployments = conn.execute(
            sa.select(d.c.version, d.c.traffic)
            .where(d.c.endpoint_id == row.id)
            .order_by(d.c.version)
        ).all()
        return Endpoint(
            name=row.name,
            model=row.model,
            alias=row.alias,
            deployments=tuple(Deployment(v, s) for v, s in deployments),
            shadow_version=row.shadow_version,
            sample_rate=row.sample_rate,
            max_batch_size=row.max_batch_size,
            max_latency_ms=row.max_latency_ms,
            generation=row.generation,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
            log_policy=json.loads(row.log_policy) if row.log_policy else None,
        )


def _check_options(sample_rate: float, max_batch_size: int, max_latency_ms: float) -> None:
    if not 0.0 <= sample_rate <= 1.0:
        raise InvalidInput(f"sample rate {sample_rate} is not between 0 and 1", field="sample_rate")
    if not 0 <= max_batch_size <= 10_000:
        raise InvalidInput(
            f"max batch size {max_batch_size} is not between 0 (off) and 10000",
            field="max_batch_size",
        )
    if not 0.0 < max_latency_ms <= 10.0:
        raise InvalidInput(
            f"max batching latency {max_latency_ms} ms is not in (0, 10]", field="max_latency_ms"
        )
