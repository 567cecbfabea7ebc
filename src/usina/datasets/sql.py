"""Datasets and their versions in the metadata database."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.artifacts import ArtifactStore, blob_key
from usina.datasets.entities import (
    Dataset,
    DatasetVersion,
    Registered,
    VersionIn,
    check_name,
    check_pii_policy,
    check_version_in,
    check_version_number,
    check_written_under,
)
from usina.datasets.expectations import check_expectations
from usina.errors import MissingReference, NotFound
from usina.store import Database
from usina.store import schema as t
from usina.store.paging import check_page

T = TypeVar("T")


def dataset_from_row(row: Any) -> Dataset:
    return Dataset(
        name=row.name,
        latest=int(row.latest),
        expectations=tuple(json.loads(row.expectations)),
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        pii_policy=json.loads(row.pii_policy) if row.pii_policy else None,
    )


SEALED = "sealed:"  # a profile stored sealed under the master key (base64 after the prefix)


def dump_profile(profile: dict[str, Any], keys: Any, name: str) -> str:
    """A version's profile as stored: JSON, sealed under ``keys`` when there are keys. The
    profile holds values of the data (top categories, minimums), so it is protected as the
    data's Parquet file is."""
    text = json.dumps(profile, allow_nan=False)
    if keys is None:
        return text
    import base64

    from usina.crypto import seal_bytes

    sealed = seal_bytes(keys, text.encode(), f"usina-dataset:{name}".encode())
    return SEALED + base64.b64encode(sealed).decode()


def load_profile(text: str, keys: Any, name: str) -> dict[str, Any]:
    if not text.startswith(SEALED):
        found: dict[str, Any] = json.loads(text)
        return found
    import base64

    from usina.crypto import open_bytes, require_keys

    data = base64.b64decode(text[len(SEALED) :])
    keys = require_keys(keys, f"reading the profile of dataset {name}")
    opened = open_bytes(keys, data, f"usina-dataset:{name}".encode(), name)
    found = json.loads(opened)
    return found


def version_from_row(row: Any, keys: Any = None) -> DatasetVersion:
    return DatasetVersion(
        name=row.name,
        version=int(row.version),
        digest=row.digest,
        uri=row.uri,
        schema=tuple(json.loads(row.columns)),
        rows=int(row.rows),
        bytes=int(row.bytes),
        profile=load_profile(row.profile, keys, row.name),
        source=row.source,
        created_at=row.created_at,
        created_by=row.created_by,
        run_id=row.run_id,
        pii_policy=row.pii_policy,
    )


class SqlDatasetStore:
    """Datasets on the metadata database (``usina.datasets.base.DatasetStore``)."""

    def __init__(
        self,
        db: Database,
        actor: str = "local",
        artifacts: ArtifactStore | None = None,
        keys: Any = None,
    ) -> None:
        self.db = db
        self.actor = actor
        self.artifacts = artifacts
        self.keys = keys  # the master key ring: profiles are sealed with it

    def register(self, name: str, version: VersionIn) -> Registered:
        check_name(name)
        v = check_version_in(version)
        if self.artifacts is not None and not self.artifacts.exists(blob_key(v.digest)):
            # Files are written before their versions (and never deleted under them), so a
            # version always has its file.
            raise MissingReference(
                f"no file sha256:{v.digest[:12]}... in the artifact store; store the version's "
                "Parquet file first (usina.datasets.ingest and save do)",
                field="digest",
            )

        def tx(conn: Connection) -> Registered:
            current = self._ensure(conn, name)
            check_written_under(current, v)
            c = t.dataset_versions.c
            same = conn.execute(
                sa.select(t.dataset_versions)
                .where(c.name == name, c.digest == v.digest)
                .order_by(c.version.desc())
            ).first()
            if same is not None:
                return Registered(version_from_row(same, self.keys), False)
            number = current.latest + 1
            now = time.time()
            conn.execute(
                t.dataset_versions.insert().values(
                    name=name,
                    version=number,
                    digest=v.digest,
                    uri=blob_key(v.digest),
                    columns=json.dumps(list(v.schema)),
                    rows=v.rows,
                    bytes=v.bytes,
                    profile=dump_profile(v.profile, self.keys, name),
                    source=v.source,
                    run_id=v.run_id,
                    pii_policy=v.pii_policy,
                    created_at=now,
                    created_by=self.actor,
                )
            )
            conn.execute(
                t.datasets.update()
                .where(t.datasets.c.name == name)
                .values(latest=number, updated_at=now)
            )
            return Registered(self._version(conn, name, number), True)

        return self._write(tx)

    def get(self, name: str) -> Dataset:
        check_name(name)
        with self.db.read() as conn:
            return self._dataset(conn, name)

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[Dataset]:
        check_page(limit, offset)
        query = sa.select(t.datasets).order_by(t.datasets.c.name).limit(limit).offset(offset)
        with self.db.read() as conn:
            return [dataset_from_row(r) for r in conn.execute(query)]

    def versions(
        self, name: str, *, limit: int = 100, offset: int = 0
    ) -> builtins.list[DatasetVersion]:
        check_name(name)
        check_page(limit, offset)
        c = t.dataset_versions.c
        query = (
            sa.select(t.dataset_versions)
            .where(c.name == name)
            .order_by(c.version.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.db.read() as conn:
            self._dataset(conn, name)
            return [version_from_row(r, self.keys) for r in conn.execute(query)]

    def get_version(self, name: str, version: int | None = None) -> DatasetVersion:
        check_name(name)
        if version is not None:
            check_version_number(version)
        with self.db.read() as conn:
            dataset = self._dataset(conn, name)
            if version is None:
                if dataset.latest == 0:
                    raise NotFound(
                        f"dataset {name} has no version yet; 'usina ingest FILE --dataset "
                        f"{name}' adds one",
                        field="version",
                    )
                version = dataset.latest
            return self._version(conn, name, version)

    def set_expectations(self, name: str, expectations: builtins.list[dict[str, Any]]) -> Dataset:
        check_name(name)
        checked = check_expectations(expectations)

        def tx(conn: Connection) -> Dataset:
            self._ensure(conn, name)
            conn.execute(
                t.datasets.update()
                .where(t.datasets.c.name == name)
                .values(expectations=json.dumps(list(checked)), updated_at=time.time())
            )
            return self._dataset(conn, name)

        return self._write(tx)

    def set_policy(self, name: str, policy: dict[str, Any] | None) -> Dataset:
        check_name(name)
        checked = check_pii_policy(policy)
        stored = None if checked is None else json.dumps(checked)

        def tx(conn: Connection) -> Dataset:
            self._ensure(conn, name)
            conn.execute(
                t.datasets.update()
                .where(t.datasets.c.name == name)
                .values(pii_policy=stored, updated_at=time.time())
            )
            return self._dataset(conn, name)

        return self._write(tx)

    def _ensure(self, conn: Connection, name: str) -> Dataset:
        # Locked: two writers of one dataset number their versions one after the other.
        row = conn.execute(
            sa.select(t.datasets).where(t.datasets.c.name == name).with_for_update()
        ).first()
        if row is not None:
            return dataset_from_row(row)
        now = time.time()
        conn.execute(
            t.datasets.insert().values(
                name=name,
                latest=0,
                expectations="[]",
                created_at=now,
                updated_at=now,
                created_by=self.actor,
            )
        )
        return self._dataset(conn, name)

    def _write(self, tx: Callable[[Connection], T]) -> T:
        try:
            return self.db.write(tx)
        except sa.exc.IntegrityError:
            # Another writer created the same dataset first (PostgreSQL): its row now exists.
            return self.db.write(tx)

    @staticmethod
    def _dataset(conn: Connection, name: str) -> Dataset:
        row = conn.execute(sa.select(t.datasets).where(t.datasets.c.name == name)).first()
        if row is None:
            raise NotFound(f"no dataset {name}; 'usina datasets list' lists them", field="name")
        return dataset_from_row(row)

    def _version(self, conn: Connection, name: str, version: int) -> DatasetVersion:
        c = t.dataset_versions.c
        row = conn.execute(
            sa.select(t.dataset_versions).where(c.name == name, c.version == version)
        ).first()
        if row is None:
            raise NotFound(
                f"dataset {name} has no version {version}; 'usina datasets versions {name}' "
                "lists them",
                field="version",
            )
        return version_from_row(row, self.keys)
