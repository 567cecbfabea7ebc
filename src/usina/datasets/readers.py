"""Files read as a stream of Arrow record batches: CSV (``pyarrow.csv.open_csv``, block by
block), Parquet (row group by row group) and JSON lines (``pyarrow.json.open_json``, block by
block); local paths, folders of such files, and ``s3://``/``gs://`` URLs through fsspec.

Only a block or a row group is in memory at a time, whatever the file's size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usina.errors import InvalidInput

BLOCK = 8 << 20  # bytes of CSV or JSON parsed at a time; types are inferred from the first
FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}
FORMATS.update({".jsonl": "json", ".ndjson": "json", ".json": "json"})
_CSV_COLUMN = re.compile(r"CSV column #(\d+)")


@dataclass(frozen=True)
class SourceFile:
    """One file to read: where it is, and its format."""

    url: str
    format: str


def format_of(name: str) -> str | None:
    lower = name.lower().removesuffix(".gz")
    for suffix, fmt in FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    return None


def list_sources(source: str) -> list[SourceFile]:
    """The files ``source`` names: a file, a folder (its CSV, Parquet and JSON lines files,
    sorted), or an object-store URL of either.

    Raises:
        InvalidInput: nothing there, or a file of an unknown format (``field="source"``).
    """
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput("give a file, a folder, s3://... or gs://...", field="source")
    if "://" in source:
        import fsspec

        fs, path = fsspec.core.url_to_fs(source)
        protocol = source.split("://", 1)[0]
        if fs.isdir(path):
            names = sorted(p for p in fs.find(path) if format_of(p))
            files = [SourceFile(f"{protocol}://{p}", format_of(p) or "") for p in names]
        elif fs.exists(path):
            files = [SourceFile(source, _format(source))]
        else:
            files = []
    else:
        p = Path(source).expanduser()
        if p.is_dir():
            files = [
                SourceFile(str(f), format_of(f.name) or "")
                for f in sorted(p.rglob("*"))
                if f.is_file() and format_of(f.name) and not f.name.startswith(".")
            ]
        elif p.is_file():
            files = [SourceFile(str(p), _format(str(p)))]
        else:
            files = []
    if not files:
        raise InvalidInput(
            f"{source!r} holds no CSV, Parquet or JSON lines file; give a file, a folder, "
            "s3://... or gs://...",
            field="source",
        )
    return files


def _format(name: str) -> str:
    found = format_of(name)
    if found is None:
        raise InvalidInput(
            f"{name!r}: unknown format; name it .csv, .tsv, .parquet or .jsonl",
            field="source",
        )
    return found


def read_batches(file: SourceFile, schema: Any = None) -> tuple[Any, Iterator[Any]]:
    """The schema of ``file`` and an iterator of its record batches.

    With ``schema`` (the first file's, for a folder) CSV and JSON columns are parsed as those
    types, so every file of a folder gives one table.
    """
    import fsspec

    handle = fsspec.open(file.url, "rb", compression="infer").open()
    try:
        if file.format == "csv":
            reader = _csv(handle, file.url, schema)
        elif file.format == "json":
            reader = _json(handle, schema)
        else:
            reader = _parquet(handle)
    except BaseException:
        handle.close()
        raise
    return reader.schema, _closing(iter(reader), handle, file.url, reader.schema)


def _csv(handle: Any, url: str, schema: Any) -> Any:
    import pyarrow.csv as csv

    read = csv.ReadOptions(block_size=BLOCK)
    parse = csv.ParseOptions(delimiter="\t" if url.lower().endswith(".tsv") else ",")
    convert = csv.ConvertOptions(column_types=schema) if schema is not None else None
    return csv.open_csv(handle, read_options=read, parse_options=parse, convert_options=convert)


def _json(handle: Any, schema: Any) -> Any:
    import pyarrow.json as pj

    parse = pj.ParseOptions(explicit_schema=schema) if schema is not None else None
    return pj.open_json(handle, read_options=pj.ReadOptions(block_size=BLOCK), parse_options=parse)


def _parquet(handle: Any) -> Any:
    import pyarrow.parquet as pq

    class Groups:
        def __init__(self, f: Any) -> None:
            self.file = pq.ParquetFile(f, pre_buffer=False)
            self.schema = self.file.schema_arrow

        def __iter__(self) -> Iterator[Any]:
            for i in range(self.file.num_row_groups):
                yield from self.file.read_row_group(i, use_threads=False).to_batches()

    return Groups(handle)


def _closing(batches: Iterator[Any], handle: Any, url: str, schema: Any) -> Iterator[Any]:
    import pyarrow as pa

    try:
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise bad_input(exc, url, schema) from None
            yield batch
    finally:
        handle.close()


def bad_input(exc: BaseException, url: str, schema: Any = None) -> InvalidInput:
    """A reader's error as ``InvalidInput`` naming the file and, when known, the column."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    found = _CSV_COLUMN.search(text)
    if found and schema is not None and int(found.group(1)) < len(schema.names):
        index = int(found.group(1))
        name = schema.names[index]
        text = text.replace(
            found.group(0), f"column {name!r} (typed {schema.types[index]} from the first rows)"
        )
        text += "; fix the value, or convert the file to Parquet with the type you want"
    return InvalidInput(f"cannot read {url}: {text[:500]}", field="source")


Progress = Callable[[int], None]
