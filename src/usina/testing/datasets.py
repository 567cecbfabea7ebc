"""The contract of a dataset store, as a function any backend's tests call: versions numbered
from 1 per dataset, the same content returned rather than registered twice, the latest and a
numbered version read back with their schema and profile, expectations replaced and checked,
a table saved and loaded through the client, and bad input refused naming its field with
nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from usina.artifacts import blob_key, put_bytes
from usina.datasets.entities import VersionIn
from usina.errors import InvalidInput, MissingReference, NotFound
from usina.testing.tracking import expect_error

_SCHEMA = ({"name": "id", "type": "int64"}, {"name": "plan", "type": "string"})


def _version(client: Any, n: int, **change: Any) -> VersionIn:
    # Each version's file is stored first, as ingest does: the store refuses a version
    # whose file is not in the artifact store.
    fields: dict[str, Any] = {
        "digest": put_bytes(client.artifacts, f"parquet bytes {n}".encode()).digest,
        "schema": _SCHEMA,
        "rows": 100 * n,
        "bytes": 1000 * n,
        "profile": {"id": {"type": "int64", "nulls": 0, "min": 0, "max": 100 * n - 1}},
        "source": f"applications-{n}.csv",
        **change,
    }
    return VersionIn(**fields)


def check_dataset_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().datasets`` (a fresh, empty installation) keeps the dataset
    store's contract.

    Args:
        make_client: a factory of ``usina.Client`` objects on one empty installation.
    """
    client = make_client()
    store = client.datasets
    assert store.list() == []
    expect_error(NotFound, lambda: store.get("applications"), "name")
    expect_error(NotFound, lambda: store.get_version("applications"), "name")

    first = store.register("applications", _version(client, 1))
    assert first.created and first.version.version == 1
    v1 = first.version
    assert (v1.name, v1.rows, v1.bytes, v1.schema) == ("applications", 100, 1000, _SCHEMA)
    assert v1.uri == blob_key(v1.digest) and v1.profile["id"]["max"] == 99
    assert v1.reference == "datasets:/applications/1" and v1.run_id == ""
    again = store.register("applications", _version(client, 1, source="copy.csv"))
    assert not again.created and again.version == v1

    v2 = store.register("applications", _version(client, 2, run_id="r" * 32)).version
    assert v2.version == 2 and v2.run_id == "r" * 32
    other = store.register("scores", _version(client, 1)).version
    assert other.version == 1  # numbered per dataset; the same content may be in two datasets

    assert store.get_version("applications") == v2
    assert store.get_version("applications", 1) == v1
    assert [v.version for v in store.versions("applications")] == [2, 1]
    assert [v.version for v in store.versions("applications", limit=1, offset=1)] == [1]
    assert [d.name for d in store.list()] == ["applications", "scores"]
    assert store.get("applications").latest == 2

    specs = [{"kind": "volume", "max_drop": 0.3}, {"kind": "nulls", "column": "id", "max_rate": 0}]
    found = store.set_expectations("applications", specs)
    assert found.expectations == tuple(specs) and found.latest == 2
    assert store.get("applications").expectations == tuple(specs)
    fresh = store.set_expectations("incoming", [{"kind": "row_count", "min": 1}])
    assert fresh.latest == 0  # declared before its first version
    expect_error(NotFound, lambda: store.get_version("incoming"), "version")

    expect_error(NotFound, lambda: store.get_version("applications", 9), "version")
    expect_error(NotFound, lambda: store.versions("nothing"), "name")
    expect_error(InvalidInput, lambda: store.get("bad name"), "name")
    expect_error(InvalidInput, lambda: store.get_version("applications", 0), "version")
    expect_error(
        InvalidInput, lambda: store.register("applications", _version(client, 3, rows=-1)), "rows"
    )
    expect_error(
        InvalidInput,
        lambda: store.register("applications", _version(client, 3, digest="abc")),
        "digest",
    )
    expect_error(
        MissingReference,
        lambda: store.register("applications", _version(client, 3, digest="e" * 64)),
        "digest",
    )
    expect_error(
        InvalidInput,
        lambda: store.register("applications", _version(client, 3, schema=())),
        "schema",
    )
    expect_error(
        InvalidInput,
        lambda: store.set_expectations("applications", [{"kind": "volume", "max_fall": 1}]),
        "max_fall",
    )
    expect_error(
        InvalidInput, lambda: store.set_expectations("applications", [{"kind": "size"}]), "kind"
    )
    assert store.get("applications").expectations == tuple(specs)
    assert [v.version for v in store.versions("applications")] == [2, 1]

    _check_save_and_load(make_client)


def _check_save_and_load(make_client: Callable[[], Any]) -> None:
    import pyarrow as pa

    from usina.datasets import ExpectationFailed, expect, load, save

    client = make_client()
    table = pa.table({"id": list(range(10)), "plan": ["a", "b"] * 5})
    saved = save(table, "saved", client=client)
    assert (saved.version, saved.rows, saved.schema[0]) == (1, 10, {"name": "id", "type": "int64"})
    assert saved.profile["plan"]["top"] == [["a", 5], ["b", 5]]
    assert load("datasets:/saved@latest", client=client).equals(table)
    assert save(table, "saved", client=client) == saved  # same content: the same version
    expect("saved", {"kind": "row_count", "min": 5}, client=client)
    failed = expect_error(
        ExpectationFailed, lambda: save(table.slice(0, 2), "saved", client=client)
    )
    assert "row_count: expected rows >= 5, observed 2" in str(failed)
    assert client.datasets.get("saved").latest == 1
