"""Shared fixtures: metadata databases on SQLite and PostgreSQL, artifact stores, clients,
and subprocesses that end with their test.

PostgreSQL tests use a fresh database per test on the server at ``USINA_TEST_PG_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), copied from one migrated once
(empty for tests marked ``empty_database``). When the server is absent
they skip with the reason, unless ``USINA_REQUIRE_SERVICES=1``, where they fail instead; under
that setting every skip fails (see ``resources/requirements.py``), so CI skips nothing.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from resources.keys import TEST_KEY_TEXT, keys_under_test
from resources.processes import StartedProcesses
from resources.requirements import require_service, services_required

__all__ = ["require_service"]

PG_URL = os.environ.get("USINA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Encryption at rest under test (resources/keys.py): commands tests start get the key too.
if TEST_KEY_TEXT:
    os.environ["USINA_MASTER_KEY"] = TEST_KEY_TEXT


def _fail_the_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Turn a skip into a failure that gives the skip's reason."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under USINA_REQUIRE_SERVICES=1, where nothing may skip: {reason}\n"
        "Install what is missing (pip install -e '.[dev]'), start the service, or unset the "
        "variable to allow skips."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and services_required() and not hasattr(report, "wasxfail"):
        _fail_the_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield  # a module that skips itself (pytest.importorskip at its top, say)
    if report.skipped and services_required():
        _fail_the_skip(report)
    return report


# pytest-xdist's --dist loadfile (make test) hands the test files to its two workers in
# collection order, each file to the first worker that needs work. A long file collected late
# (tests/test_docs.py, two minutes on a busy 2-core machine) then runs while the other worker
# has nothing left, and the suite ends later than it could. The longest files, as measured on
# a `make test` run, go first, longest first; the others keep their order after them.
LONGEST_FIRST = (
    "test_docs.py",
    "audit/test_tampering.py",
    "demo/test_demo.py",
    "policies/test_loop.py",
    "server/test_conformance.py",
    "cli/test_remote_parity.py",
    "registry/test_concurrency.py",
    "server/test_ui.py",
    "server/test_cli.py",
    "batch/test_cli.py",
    "serving/test_bad_input.py",
    "identity/test_matrix.py",
    "pipelines/test_remote_cli.py",
    "pipelines/test_cli.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def place(item: pytest.Item) -> int:
        try:
            name = item.path.relative_to(tests).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(name, len(rank))

    items.sort(key=place)  # stable: a file's tests keep their order


@pytest.fixture
def processes() -> Iterator[StartedProcesses]:
    """Start subprocesses (``processes.start(args, **popen)``) that end with the test: each
    one still running then gets SIGTERM, then SIGKILL, by its pid (its group's, for one
    started with ``own_group=True``)."""
    started = StartedProcesses()
    yield started
    started.end_all()


class _Dropper:
    """Drops the tests' PostgreSQL databases in a thread of its own. A DROP DATABASE takes about
    half a second (the server removes and syncs the database's files); the next test need not
    wait for it. ``close()`` waits until every database handed over is dropped and fails if one
    could not be."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.names: queue.Queue[str | None] = queue.Queue()
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._run, name="test-pg-dropper", daemon=True)
        self.thread.start()

    def drop(self, name: str) -> None:
        self.names.put(name)

    def _run(self) -> None:
        while (name := self.names.get()) is not None:
            try:
                with self.engine.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception as exc:  # noqa: BLE001 - reported by close()
                self.failures.append(f"{name}: {exc}")

    def close(self) -> None:
        self.names.put(None)
        self.thread.join()
        assert not self.failures, f"test databases not dropped: {self.failures}"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means the server is unusable
        problem = str(exc).splitlines()[0]
    else:
        problem = None
    if problem is not None:
        require_service("PostgreSQL", f"{PG_URL}: {problem}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _pg_dropper(pg_admin: sa.Engine) -> Iterator[_Dropper]:
    dropper = _Dropper(pg_admin)
    yield dropper
    dropper.close()


@pytest.fixture(scope="session")
def _pg_template(pg_admin: sa.Engine, _pg_dropper: _Dropper) -> Iterator[str]:
    """A PostgreSQL database migrated to the newest schema once per test process (each
    pytest-xdist worker has its own), which each test's database copies: migrating one takes
    about a second, copying one a tenth of that. Nothing connects to it once migrated (a
    database being copied must have no other session)."""
    from usina.store import Database

    name = f"usina_template_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db = Database(pg_admin.url.set(database=name).render_as_string(hide_password=False))
    try:
        db.migrate()
    finally:
        db.dispose()
    yield name
    _pg_dropper.drop(name)


@pytest.fixture
def pg_url(
    request: pytest.FixtureRequest, pg_admin: sa.Engine, _pg_dropper: _Dropper
) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database at the newest schema, a copy of the migrated
    template (what the first client on an empty database would have made of it); empty for a
    test marked ``empty_database`` (those about migrating). Dropped after the test (in the
    background: no later test can reach it, its name being this test's alone)."""
    name = f"usina_t_{uuid.uuid4().hex[:12]}"
    create = f'CREATE DATABASE "{name}"'
    if request.node.get_closest_marker("empty_database") is None:
        create += f' TEMPLATE "{request.getfixturevalue("_pg_template")}"'
    with pg_admin.connect() as conn:
        conn.execute(sa.text(create))
    url = pg_admin.url.set(database=name)
    yield url.render_as_string(hide_password=False)
    _pg_dropper.drop(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'usina.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'usina.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def client_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Build clients and close them after the test."""
    from usina.client import Client

    made: list[Client] = []

    def make(db_url: str, artifacts: str | None = None, **kwargs: object) -> Client:
        kwargs.setdefault("keys", keys_under_test())
        c = Client(db_url, artifacts or str(tmp_path / "artifacts"), **kwargs)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(db_url: str, client_factory):  # type: ignore[no-untyped-def]
    """A client on SQLite and on PostgreSQL, with a folder artifact store."""
    return client_factory(db_url)
