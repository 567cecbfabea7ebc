"""Connections to the metadata database: SQLite by default, PostgreSQL at scale.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way. Transient failures
("database is locked", PostgreSQL serialization failures and deadlocks) are retried with
backoff inside :meth:`Database.write`, so they never reach a caller. Migrations run on first
use, under a lock, so several processes can start at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from usina.errors import InvalidInput, StoreUnavailable
from usina.store import schema

T = TypeVar("T")
log = logging.getLogger("usina.store")

BUSY_TIMEOUT_S = 30.0
WRITE_ATTEMPTS = 12
_PG_TRANSIENT = {"40001", "40P01"}  # serialization_failure, deadlock_detected
_MIGRATION_LOCK_ID = 0x75_73_69_6E_61  # "usina"


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _is_transient(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) in _PG_TRANSIENT:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database is busy" in text


class Database:
    """One metadata database: an engine plus the transaction discipline usina relies on.

    Example:
        >>> db = Database("sqlite://")
        >>> db.write(lambda conn: conn.execute(sa.text("select 1")).scalar())
        1
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = _make_engine(self.url)
        self.dialect = self.engine.dialect.name
        self._migrated = False
        _OPEN.add(self)

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a write transaction, retrying transient lock failures."""
        self.migrate()
        delay = 0.005
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.engine.connect() as conn:
                    conn = conn.execution_options(usina_write=True)
                    with conn.begin():
                        return fn(conn)
            except sa.exc.DBAPIError as exc:
                if not _is_transient(exc) or attempt == WRITE_ATTEMPTS - 1:
                    if _is_transient(exc):
                        raise StoreUnavailable(
                            f"the metadata database stayed locked after {WRITE_ATTEMPTS} "
                            "attempts; another process holds a long write transaction"
                        ) from exc
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads, in a transaction that is rolled back at the end."""
        self.migrate()
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def migrate(self) -> None:
        """Bring the schema to ``schema.HEAD``; cheap once done, safe under concurrency."""
        if self._migrated:
            return
        if self._current_revision() != schema.HEAD:
            with self._migration_lock():
                if self._current_revision() != schema.HEAD:
                    log.info("migrating the metadata database to schema %s", schema.HEAD)
                    self._run_alembic()
        self._migrated = True

    def dispose(self) -> None:
        """Close pooled connections (tests and forked workers call this)."""
        self.engine.dispose()

    def _current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.DBAPIError as exc:
            if _is_transient(exc):
                return None
            # The table does not exist yet, or the database cannot be reached.
            self._check_reachable(exc)
            return None

    def _check_reachable(self, exc: sa.exc.DBAPIError) -> None:
        if isinstance(exc, sa.exc.OperationalError) and "no such table" not in str(exc).lower():
            first_line = (str(exc.orig).strip().splitlines() or ["unknown error"])[0]
            raise StoreUnavailable(
                f"cannot reach the metadata database at {_safe(self.url)}: {first_line}; "
                "check USINA_DB_URL"
            ) from exc

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.dialect == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(
                        sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_ID}
                    )
                    conn.commit()
            return
        path = self.engine.url.database
        if self.dialect != "sqlite" or not path or path == ":memory:":
            yield
            return
        with open(f"{path}.migrate.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _run_alembic(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()


def sqlite_files() -> list[str]:
    """The SQLite database files of this process's live ``Database`` objects (absolute paths).

    A process forked from this one opens each before it does anything else
    (``usina.pipelines.worker``): SQLite keeps one record per open file in a process, with a
    mutex, and a fork copies that mutex held if another thread was inside SQLite on the same
    file at that moment.
    """
    files = set()
    for db in list(_OPEN):
        database = db.engine.url.database
        if db.dialect == "sqlite" and database and database != ":memory:":
            files.add(str(Path(database).expanduser().absolute()))
    return sorted(files)


def _forget_inherited_connections() -> None:
    """In a forked child, drop the parent's pooled connections without closing them (closing
    would end the parent's PostgreSQL sessions); the child opens its own on first use. The
    one connection of an in-memory SQLite database is kept: it is that database."""
    for db in list(_OPEN):
        if not isinstance(db.engine.pool, sa.pool.StaticPool):
            db.engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_connections)


def insert_if_absent(
    conn: Connection, table: sa.Table, values: dict[str, Any], unique: list[str]
) -> bool:
    """Insert a row unless one with the same ``unique`` columns exists; race-free on PostgreSQL.
    ``True`` when the row was inserted."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        # RETURNING says whether a row went in (psycopg's rowcount is -1 here).
        inserted = conn.execute(
            pg_insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=unique)
            .returning(table.c[unique[0]])
        ).first()
        return inserted is not None
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        result = conn.execute(
            sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=unique)
        )
        return bool(result.rowcount)
    where = [table.c[col] == values[col] for col in unique]
    if conn.execute(sa.select(sa.literal(1)).select_from(table).where(*where)).first() is None:
        conn.execute(table.insert().values(**values))
        return True
    return False


def _safe(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _make_engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise InvalidInput(
            f"USINA_DB_URL {url!r} is not a database URL; use sqlite:///path/usina.db or "
            "postgresql+psycopg://user@host/db",
            field="db_url",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    try:
        return sa.create_engine(parsed, **kwargs)
    except ModuleNotFoundError as exc:
        from usina.errors import MissingDependency

        raise MissingDependency(
            f"the database driver for {parsed.drivername} is not installed: "
            "pip install 'usina[postgres]'"
        ) from exc


def _sqlite_engine(url: sa.engine.URL) -> Engine:
    database = url.database
    if database and database != ":memory:":
        Path(database).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )
    else:
        # One shared connection, so every caller sees the same in-memory database.
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=sa.pool.StaticPool,
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module: usina issues BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if database and database != ":memory:":
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("usina_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
