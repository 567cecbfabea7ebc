"""The metadata database: migrations, concurrency and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from usina.errors import InvalidInput, StoreUnavailable
from usina.store import Database, normalize_url, schema


def test_head_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(schema.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == schema.HEAD


@pytest.mark.empty_database
def test_migrations_create_every_table(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    names = set(sa.inspect(db.engine).get_table_names())
    assert set(schema.metadata.tables) <= names
    with db.read() as conn:
        assert (
            conn.execute(sa.text("select version_num from alembic_version")).scalar() == schema.HEAD
        )
    db.dispose()


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.dispose()


@pytest.mark.empty_database
def test_migrations_run_once_when_processes_start_together(db_url: str, processes) -> None:  # type: ignore[no-untyped-def]
    script = (
        "import sys; from usina.store import Database; import sqlalchemy as sa\n"
        "db = Database(sys.argv[1]); db.migrate()\n"
        "q = sa.text('select count(*) from alembic_version')\n"
        "print(db.write(lambda c: c.execute(q).scalar()))"
    )
    procs = [
        processes.start(
            [sys.executable, "-c", script, db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in results]
    assert [out.strip() for out, _ in results] == ["1"] * 6


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_malformed_url_names_the_setting() -> None:
    with pytest.raises(InvalidInput, match="USINA_DB_URL"):
        Database("not a url")


def test_an_unreachable_database_is_a_clear_error() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StoreUnavailable, match="cannot reach the metadata database"):
        db.migrate()
