"""The contract of a dataset store, as a function any backend's tests call: versions numbered
from 1 per dataset, the same content returned rather than registered twice, the latest and a
numbered version read back with their schema and profile, expectations replaced and checked,
a table saved and loaded through the client, a PII policy kept on the dataset and applied to
every version written into it, and bad input refused naming its field with nothing stored."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from usina.artifacts import blob_key, put_bytes
from usina.datasets.entities import VersionIn
from usina.errors import Conflict, InvalidInput, MissingReference, NotFound
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
    _check_policy(make_client)


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


def _check_policy(make_client: Callable[[], Any]) -> None:
    """A dataset keeps its PII policy, spelt out; every version saved into it has the policy
    applied, the store refuses a version not written under it, and a malformed policy is
    refused naming the field, nothing stored."""
    import os
    import tempfile

    import pyarrow as pa

    from usina.datasets import ingest, load, save, set_policy

    client = make_client()
    store = client.datasets
    spec = {"columns": {"cpf": {"operator": "mask", "keep": 2}}, "others": {"detect": "redact"}}
    found = store.set_policy("clients", spec)
    assert found.pii_policy == {
        "columns": {"cpf": {"operator": "mask", "keep": 2}},
        "others": {"detect": "redact"},
        "threshold": 0.5,
    }
    assert found.latest == 0 and store.get("clients") == found  # declared before any version
    digest = found.pii_policy_digest
    assert len(digest) == 64

    table = pa.table({"cpf": ["111.444.777-35"], "nota": ["ligar (11) 98765-4321"], "n": [1]})
    saved = save(table, "clients", client=client)
    assert saved.pii_policy == digest
    assert load("datasets:/clients@latest", client=client).to_pylist() == [
        {"cpf": "************35", "nota": "ligar <phone>", "n": 1}
    ]
    assert "98765" not in str(saved.profile), "the profile is of the protected values"

    # The store refuses a version not written under the dataset's current policy.
    raw = _version(client, 7)
    expect_error(Conflict, lambda: store.register("clients", raw), "pii_policy")
    assert store.get("clients").latest == 1
    # A policy given for one write must be the dataset's own.
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "clients.csv")
        with open(source, "w") as f:
            f.write("cpf,nota,n\n529.982.247-25,sem contato,2\n")
        other = {"columns": {"cpf": "redact"}}
        expect_error(InvalidInput, lambda: ingest(source, "clients", client=client, protect=other))
        done = ingest(source, "clients", client=client, protect=spec)
        assert done.version.version == 2
        assert load("datasets:/clients/2", client=client).column("cpf").to_pylist() == [
            "************25"
        ]
    # A keyed policy needs the PII key where the data is written.
    store.set_policy("keyed", {"columns": {"cpf": "token"}})
    expect_error(InvalidInput, lambda: save(table, "keyed", client=client), "USINA_PII_KEY")
    assert store.get("keyed").latest == 0
    # A policy naming a column the table lacks is refused: it may have been renamed.
    expect_error(InvalidInput, lambda: save(table.drop(["cpf"]), "clients", client=client))

    for bad, field in (
        ({"columns": {"cpf": "hash"}}, "columns.cpf"),
        ({"columns": {"cpf": {"operator": "mask", "keep": -1}}}, "columns.cpf"),
        ({"columns": {"cpf": {"detect": "redact", "kinds": ["rg"]}}}, "kinds"),
        ({"columns": ["cpf"]}, "columns"),
    ):
        expect_error(InvalidInput, functools.partial(store.set_policy, "clients", bad), field)
    server = client.server
    if server is not None:  # the server checks what any caller sends, as the store does
        body = {"policy": {"others": "hash"}}
        expect_error(
            InvalidInput,
            lambda: server.call("PUT", "/datasets/clients/policy", json=body),
            "others",
        )
    assert store.get("clients").pii_policy == found.pii_policy, "nothing stored"

    cleared = set_policy("clients", None, client=client)
    assert cleared.pii_policy is None and cleared.pii_policy_digest == ""
    assert store.register("clients", raw).version.pii_policy == ""
