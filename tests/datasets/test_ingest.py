"""Ingesting files: CSV, Parquet and JSON lines (a file, a folder, an fsspec URL) become one
content-addressed version each; the same rows give the same digest and the existing version;
unreadable input fails naming the file and the column, with nothing stored."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import usina.datasets as ds
from datasets.conftest import write_csv
from usina.datasets.readers import BLOCK
from usina.errors import InvalidInput


def stored_blobs(client) -> list[str]:  # type: ignore[no-untyped-def]
    return client.artifacts.list("sha256/")


def test_a_csv_becomes_a_version_with_schema_rows_digest_and_profile(client, tmp_path) -> None:
    got = ds.ingest(str(write_csv(tmp_path / "a.csv", 1000)), "applications", client=client)
    v = got.version
    assert got.created and v.reference == "datasets:/applications/1"
    assert [c["name"] for c in v.schema] == ["id", "age", "plan", "income"]
    assert [c["type"] for c in v.schema] == ["int64", "int64", "string", "double"]
    assert v.rows == 1000 and v.uri == f"sha256/{v.digest[:2]}/{v.digest}"
    assert v.source.endswith("a.csv") and v.bytes > 0
    age = v.profile["age"]
    assert (age["nulls"], age["min"], age["max"]) == (0, 18, 77)
    assert 40 < age["quantiles"]["0.5"] < 55
    assert v.profile["plan"]["top"] == [["a", 334], ["b", 333], ["c", 333]]
    table = ds.load("datasets:/applications@latest", client=client)
    assert table.num_rows == 1000 and table.column("id")[999].as_py() == 999


def test_the_same_rows_from_any_format_give_the_same_version(client, tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "a.csv", 500)
    first = ds.ingest(str(csv_path), "applications", client=client).version
    rows = pcsv.read_csv(csv_path)
    pq.write_table(rows, tmp_path / "a.parquet", row_group_size=77)  # other row groups
    lines = "\n".join(json.dumps(r) for r in rows.to_pylist())
    (tmp_path / "a.jsonl").write_text(lines + "\n")
    with gzip.open(tmp_path / "a.csv.gz", "wt") as f:
        f.write(csv_path.read_text())
    for name in ("a.parquet", "a.jsonl", "a.csv.gz"):
        again = ds.ingest(str(tmp_path / name), "applications", client=client)
        assert not again.created and again.version == first, name
    assert [v.version for v in client.datasets.versions("applications")] == [1]
    assert ds.save(rows, "copy", client=client).digest == first.digest


def test_a_folder_is_one_version_of_all_its_files(client, tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    folder.mkdir()
    write_csv(folder / "2026-12-01.csv", 100)
    write_csv(folder / "2026-12-02.csv", 50, start=100)
    v = ds.ingest(str(folder), "applications", client=client).version
    assert v.rows == 150 and v.source.endswith("(2 files)")
    ids = ds.load("datasets:/applications/1", client=client).column("id").to_pylist()
    assert ids == list(range(150))


def test_an_fsspec_url_is_read_through_fsspec(client, tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe("/landing/applications.csv", write_csv(tmp_path / "a.csv", 20).read_bytes())
    try:
        v = ds.ingest("memory://landing", "applications", client=client).version
    finally:
        fs.rm("/landing", recursive=True)
    assert v.rows == 20 and v.source == "memory://landing"


def test_a_type_change_past_the_first_block_names_the_file_and_column(client, tmp_path) -> None:
    path = tmp_path / "drift.csv"
    width = len("123456,1.5\n")
    rows = BLOCK // width + 10_000  # past the first block, whose rows typed the columns
    with open(path, "w") as f:
        f.write("id,score\n")
        f.writelines(f"{i:06d},1.5\n" for i in range(rows))
        f.write("000001,high\n")
    with pytest.raises(InvalidInput) as failed:
        ds.ingest(str(path), "scores", client=client)
    message = str(failed.value)
    assert str(path) in message and "column 'score' (typed double" in message
    assert "invalid value 'high'" in message and failed.value.field == "source"
    assert client.datasets.list() == [] and stored_blobs(client) == []


def test_bad_input_is_refused_with_nothing_stored(client, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="holds no CSV, Parquet or JSON lines file"):
        ds.ingest(str(tmp_path / "missing.csv"), "applications", client=client)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInput, match=r"unknown format; name it \.csv"):
        ds.ingest(str(tmp_path / "notes.txt"), "applications", client=client)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InvalidInput, match=r"cannot read .*broken\.parquet"):
        ds.ingest(str(tmp_path / "broken.parquet"), "applications", client=client)
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_csv(folder / "a.csv", 10)
    pq.write_table(pa.table({"id": ["x"]}), folder / "b.parquet")
    with pytest.raises(InvalidInput, match=r"b\.parquet does not have the columns of .*a\.csv"):
        ds.ingest(str(folder), "applications", client=client)
    with pytest.raises(InvalidInput) as bad_name:
        ds.ingest(str(folder / "a.csv"), "bad name", client=client)
    assert bad_name.value.field == "name"
    assert client.datasets.list() == [] and stored_blobs(client) == []


def test_a_failed_expectation_registers_and_stores_nothing(client, tmp_path: Path) -> None:
    ds.expect("applications", {"kind": "row_count", "min": 100}, client=client)
    with pytest.raises(ds.ExpectationFailed) as failed:
        ds.ingest(str(write_csv(tmp_path / "a.csv", 10)), "applications", client=client)
    assert failed.value.report.failures[0].observed == 10
    assert client.datasets.get("applications").latest == 0 and stored_blobs(client) == []


def test_diff_compares_schemas_and_profiles(client, tmp_path: Path) -> None:
    ds.ingest(str(write_csv(tmp_path / "a.csv", 100)), "applications", client=client)
    newer = pcsv.read_csv(write_csv(tmp_path / "b.csv", 80, plans="abd"))
    newer = newer.drop_columns(["income"]).append_column("score", pa.array([0.5] * 80))
    newer = newer.set_column(1, "age", newer.column("age").cast(pa.float64()))
    ds.save(newer, "applications", client=client)
    found = ds.diff("datasets:/applications/1", "datasets:/applications@latest", client=client)
    assert found["rows"] == [100, 80] and not found["same_content"]
    assert found["added"] == {"score": "double"} and found["removed"] == {"income": "double"}
    assert found["retyped"] == {"age": ["int64", "double"]}
    assert found["columns"]["plan"]["top"] == {"new": ["d"], "gone": ["c"]}
    assert found["columns"]["id"]["max"] == [99, 79]
