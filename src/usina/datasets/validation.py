"""Checking a stored version against its dataset's expectations, on the client given."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from usina.artifacts import blob_key
from usina.datasets.entities import SCHEME, DatasetVersion, parse_dataset_uri
from usina.datasets.expectations import Report, evaluate
from usina.datasets.profile import connect, count_offending
from usina.errors import NotFound


def resolve_version(client: Any, uri: str) -> DatasetVersion:
    """The version ``datasets:/name@latest``, ``datasets:/name/3`` (or a bare name) points at."""
    name, number = parse_dataset_uri(uri if uri.startswith(SCHEME) else SCHEME + uri)
    version: DatasetVersion = client.datasets.get_version(name, number)
    return version


@contextlib.contextmanager
def scratch_folder() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="usina-dataset-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def validate_version(client: Any, uri: str) -> Report:
    """Check the version ``uri`` points at against its dataset's current expectations; the
    volume change is against the version before it."""
    version = resolve_version(client, uri)
    dataset = client.datasets.get(version.name)
    previous = None
    if version.version > 1:
        with contextlib.suppress(NotFound):
            previous = client.datasets.get_version(version.name, version.version - 1)
    with scratch_folder() as scratch, local_copy(client.artifacts, version.digest, scratch) as path:
        connection = connect(scratch)
        try:
            return evaluate(
                dataset.expectations,
                version.name,
                version.version,
                rows=version.rows,
                profile=version.profile,
                previous_rows=previous.rows if previous else None,
                schema=version.schema,
                count_rows=lambda spec: count_offending(connection, path, spec),
            )
        finally:
            connection.close()


@contextlib.contextmanager
def local_copy(artifacts: Any, digest: str, scratch: str) -> Iterator[str]:
    """A local path of the blob ``digest``: in place in a folder store, else a copy."""
    root = getattr(artifacts, "root", None)
    if isinstance(root, Path):
        yield str(root / blob_key(digest))
        return
    target = Path(scratch, f"{digest}.parquet")
    with artifacts.open(blob_key(digest)) as data, open(target, "wb") as out:
        while chunk := data.read(1 << 20):
            out.write(chunk)
    yield str(target)
