"""The registry on the metadata database.

Version numbers come from ``models.last_version``, incremented with ``UPDATE ... RETURNING``
inside the transaction that inserts the version: the row lock (PostgreSQL) or the immediate
write transaction (SQLite) makes numbers gapless and unique under any number of writers.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.artifacts import ArtifactStore
from usina.errors import Conflict, InvalidInput, MissingReference, NotFound
from usina.registry.checks import check_metrics, check_size, require_blob, require_run
from usina.registry.entities import AliasChange, ModelVersion, RegisteredModel
from usina.registry.signature import Signature
from usina.registry.uri import ModelRef, check_alias, check_model_name
from usina.store import Database, insert_if_absent
from usina.store import schema as t
from usina.store.paging import check_page

SET, ROLLBACK, DELETE = "set", "rollback", "delete"


class SqlRegistryStore:
    """Models, versions and aliases in the metadata database; ``actor`` signs every write.

    Every check a write needs runs here (a server's routes only call this store), so both
    backends refuse the same things. ``artifacts`` holds the blobs versions point at: a version
    is registered only once its blob is there (``None`` makes a store that only reads versions
    and moves aliases, and refuses to register).
    """

    def __init__(
        self, db: Database, actor: str = "local", *, artifacts: ArtifactStore | None
    ) -> None:
        self.db = db
        self.actor = actor
        self.artifacts = artifacts

    # -- versions -------------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        *,
        digest: str,
        size: int,
        format: str,
        model_class: str,
        signature: Signature,
        metrics: dict[str, float],
        run_id: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        check_model_name(name)
        metrics = check_metrics(metrics)
        check_size(size)
        if self.artifacts is None:
            raise InvalidInput(
                "this registry store has no artifact store to check the model's blob in; "
                "register through usina.Client or a usina server",
                field="artifacts",
            )
        require_blob(self.artifacts, digest)
        now = time.time()

        def tx(conn: Connection) -> int:
            if run_id is not None:
                require_run(conn, run_id)
            insert_if_absent(
                conn,
                t.models,
                {"name": name, "created_at": now, "created_by": self.actor},
                unique=["name"],
            )
            model_id, version = conn.execute(
                t.models.update()
                .where(t.models.c.name == name)
                .values(last_version=t.models.c.last_version + 1)
                .returning(t.models.c.id, t.models.c.last_version)
            ).one()
            conn.execute(
                t.model_versions.insert().values(
                    model_id=model_id,
                    version=version,
                    digest=digest,
                    size=size,
                    format=format,
                    model_class=model_class,
                    signature=signature.to_json(),
                    metrics=orjson.dumps(metrics).decode(),
                    run_id=run_id,
                    description=description,
                    created_at=now,
                    created_by=self.actor,
                )
            )
            return int(version)

        version = self.db.write(tx)
        return ModelVersion(
            name,
            version,
            digest,
            size,
            format,
            model_class,
            signature,
            dict(metrics),
            run_id,
            description,
            now,
            self.actor,
        )

    def resolve(self, ref: ModelRef) -> ModelVersion:
        with self.db.read() as conn:
            model_id = self._model_id(conn, ref.name)
            if ref.alias:
                version = conn.execute(
                    sa.select(t.aliases.c.version).where(
                        t.aliases.c.model_id == model_id, t.aliases.c.alias == ref.alias
                    )
                ).scalar()
                if version is None:
                    held = self._aliases(conn, model_id)
                    hint = (
                        f"its aliases are {', '.join(sorted(held))}"
                        if held
                        else "it has no aliases"
                    )
                    raise NotFound(
                        f"model {ref.name!r} has no alias {ref.alias!r}; {hint} "
                        f"(set one with 'usina models alias {ref.name} {ref.alias} VERSION')",
                        field="alias",
                    )
            elif ref.version:
                version = ref.version
            else:
                version = conn.execute(
                    sa.select(t.models.c.last_version).where(t.models.c.id == model_id)
                ).scalar_one()
            return self._version(conn, model_id, ref.name, int(version))

    def list_versions(
        self,
        name: str,
        *,
        alias: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ModelVersion]:
        check_page(limit, offset)
        mv = t.model_versions
        with self.db.read() as conn:
            model_id = self._model_id(conn, name)
            query = sa.select(mv).where(mv.c.model_id == model_id).order_by(mv.c.version.desc())
            if alias is not None:
                check_alias(alias)
                query = query.where(
                    sa.exists().where(
                        t.aliases.c.model_id == model_id,
                        t.aliases.c.alias == alias,
                        t.aliases.c.version == mv.c.version,
                    )
                )
            if since is not None:
                query = query.where(mv.c.created_at >= since)
            if until is not None:
                query = query.where(mv.c.created_at < until)
            if limit is not None:
                query = query.limit(limit)
            rows = conn.execute(query.offset(offset)).all()
            by_version = self._aliases_by_version(conn, model_id)
            return [self._to_version(name, row, by_version.get(row.version, ())) for row in rows]

    def list_models(
        self,
        name: str | None = None,
        alias: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RegisteredModel]:
        check_page(limit, offset)
        query = sa.select(t.models).order_by(t.models.c.name).offset(offset)
        if name:
            query = query.where(t.models.c.name.contains(name, autoescape=True))
        if alias is not None:
            check_alias(alias)
            query = query.where(
                sa.exists().where(t.aliases.c.model_id == t.models.c.id, t.aliases.c.alias == alias)
            )
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            ids = [r.id for r in rows]
            alias_rows = conn.execute(
                sa.select(t.aliases).where(t.aliases.c.model_id.in_(ids))
            ).all()
        aliases: dict[int, dict[str, int]] = {}
        for a in alias_rows:
            aliases.setdefault(a.model_id, {})[a.alias] = a.version
        return [
            RegisteredModel(
                r.name,
                r.description,
                r.created_at,
                r.created_by,
                r.last_version,
                aliases.get(r.id, {}),
            )
            for r in rows
        ]

    def get_model(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            model_id = self._model_id(conn, name)
            row = conn.execute(sa.select(t.models).where(t.models.c.id == model_id)).one()
            return RegisteredModel(
                row.name,
                row.description,
                row.created_at,
                row.created_by,
                row.last_version,
                self._aliases(conn, model_id),
            )

    # -- aliases --------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, reason: str = "") -> AliasChange:
        check_alias(alias)

        def tx(conn: Connection) -> AliasChange:
            model_id = self._lock_model(conn, name)
            try:
                self._version(conn, model_id, name, version)
            except NotFound as exc:
                raise MissingReference(exc.message, field="version") from None
            return self._move(conn, model_id, name, alias, version, SET, reason)

        return self.db.write(tx)

    def delete_alias(self, name: str, alias: str, reason: str = "") -> AliasChange:
        check_alias(alias)

        def tx(conn: Connection) -> AliasChange:
            model_id = self._lock_model(conn, name)
            self._current(conn, model_id, name, alias)
            return self._move(conn, model_id, name, alias, None, DELETE, reason)

        return self.db.write(tx)

    def rollback(self, name: str, alias: str = "champion", reason: str = "") -> AliasChange:
        check_alias(alias)

        def tx(conn: Connection) -> AliasChange:
            model_id = self._lock_model(conn, name)
            self._current(conn, model_id, name, alias)
            stack = self._holders(conn, model_id, alias)
            if len(stack) < 2:
                raise Conflict(
                    f"alias {alias!r} of {name!r} has no earlier holder to roll back to; "
                    f"see 'usina models history {name}'",
                    field="alias",
                )
            return self._move(conn, model_id, name, alias, stack[-2], ROLLBACK, reason)

        return self.db.write(tx)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        if alias is not None:
            check_alias(alias)
        with self.db.read() as conn:
            model_id = self._model_id(conn, name)
            query = (
                sa.select(t.alias_history)
                .where(t.alias_history.c.model_id == model_id)
                .order_by(t.alias_history.c.id)
            )
            if alias is not None:
                query = query.where(t.alias_history.c.alias == alias)
            return [
                AliasChange(
                    name, r.alias, r.action, r.from_version, r.to_version, r.actor, r.reason, r.at
                )
                for r in conn.execute(query).all()
            ]

    # -- helpers --------------------------------------------------------------------------

    def _move(
        self,
        conn: Connection,
        model_id: int,
        name: str,
        alias: str,
        to: int | None,
        action: str,
        reason: str,
    ) -> AliasChange:
        current = conn.execute(
            sa.select(t.aliases.c.version).where(
                t.aliases.c.model_id == model_id, t.aliases.c.alias == alias
            )
        ).scalar()
        conn.execute(
            t.aliases.delete().where(t.aliases.c.model_id == model_id, t.aliases.c.alias == alias)
        )
        if to is not None:
            conn.execute(t.aliases.insert().values(model_id=model_id, alias=alias, version=to))
        change = AliasChange(name, alias, action, current, to, self.actor, reason, time.time())
        conn.execute(
            t.alias_history.insert().values(
                model_id=model_id,
                alias=alias,
                action=action,
                from_version=current,
                to_version=to,
                actor=self.actor,
                reason=reason,
                at=change.at,
            )
        )
        return change

    def _holders(self, conn: Connection, model_id: int, alias: str) -> list[int]:
        """Replay the history: a set pushes a version, a rollback pops, a delete clears."""
        stack: list[int] = []
        for action, to in conn.execute(
            sa.select(t.alias_history.c.action, t.alias_history.c.to_version)
            .where(t.alias_history.c.model_id == model_id, t.alias_history.c.alias == alias)
            .order_by(t.alias_history.c.id)
        ).all():
            if action == SET:
                if not stack or stack[-1] != to:
                    stack.append(to)
            elif action == ROLLBACK:
                stack.pop()
            else:
                stack.clear()
        return stack

    def _model_id(self, conn: Connection, name: str) -> int:
        check_model_name(name)
        found = conn.execute(sa.select(t.models.c.id).where(t.models.c.name == name)).scalar()
        if found is None:
            raise NotFound(f"no model named {name!r}; see 'usina models list'", field="name")
        return int(found)

    def _lock_model(self, conn: Connection, name: str) -> int:
        check_model_name(name)
        found = conn.execute(
            sa.select(t.models.c.id).where(t.models.c.name == name).with_for_update()
        ).scalar()
        if found is None:
            raise NotFound(f"no model named {name!r}; see 'usina models list'", field="name")
        return int(found)

    def _current(self, conn: Connection, model_id: int, name: str, alias: str) -> int:
        version = conn.execute(
            sa.select(t.aliases.c.version).where(
                t.aliases.c.model_id == model_id, t.aliases.c.alias == alias
            )
        ).scalar()
        if version is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}", field="alias")
        return int(version)

    def _version(self, conn: Connection, model_id: int, name: str, version: int) -> ModelVersion:
        row = conn.execute(
            sa.select(t.model_versions).where(
                t.model_versions.c.model_id == model_id, t.model_versions.c.version == version
            )
        ).first()
        if row is None:
            latest = conn.execute(
                sa.select(t.models.c.last_version).where(t.models.c.id == model_id)
            ).scalar()
            raise NotFound(
                f"model {name!r} has no version {version}; its versions are 1 to {latest}"
                if latest
                else f"model {name!r} has no versions yet",
                field="version",
            )
        held = tuple(a for a, v in self._aliases(conn, model_id).items() if v == version)
        return self._to_version(name, row, held)

    def _aliases(self, conn: Connection, model_id: int) -> dict[str, int]:
        return dict(
            conn.execute(
                sa.select(t.aliases.c.alias, t.aliases.c.version).where(
                    t.aliases.c.model_id == model_id
                )
            ).all()
        )

    def _aliases_by_version(self, conn: Connection, model_id: int) -> dict[int, tuple[str, ...]]:
        grouped: dict[int, list[str]] = {}
        for alias, version in sorted(self._aliases(conn, model_id).items()):
            grouped.setdefault(version, []).append(alias)
        return {v: tuple(a) for v, a in grouped.items()}

    @staticmethod
    def _to_version(name: str, row: Any, aliases: tuple[str, ...]) -> ModelVersion:
        return ModelVersion(
            name=name,
            version=row.version,
            digest=row.digest,
            size=row.size,
            format=row.format,
            model_class=row.model_class,
            signature=Signature.from_json(row.signature),
            metrics=orjson.loads(row.metrics),
            run_id=row.run_id,
            description=row.description,
            created_at=row.created_at,
            created_by=row.created_by,
            aliases=aliases,
        )
