"""The Ray engine: Ray Data reads the input and an actor pool scores it; the driver writes.

What runs where:

- **the driver** (the process that called :func:`usina.batch.run`) resolves the version,
  checks the input's schema against the signature, reads a ``select ...`` through DuckDB (its
  record batches are put in Ray's object store), receives every scored batch back in order,
  and writes them through the same staged, atomic partition writer as the local engine, so
  publication and the rejects policy are the local engine's exactly;
- **the actors** (``ScoringActor``, one per CPU the cluster offers, at least one) each load the
  version once with :func:`usina.serving.runtime.load_version` from the bytes the driver read
  (so they need no access to the registry or the artifact store, only usina and the model's
  library installed) and score each block with :class:`usina.batch.scoring.Scorer`, the local
  engine's scorer, so both engines write the same columns and values;
- **Ray Data's readers** read Parquet and CSV files and folders where the tasks run: the path
  must be readable there (a shared file system, or ``gs://`` / ``s3://``).

Results come back as one row per scored record batch: the output and the rejects as Arrow IPC
bytes, with the batch's input row count and first rejected row. ``preserve_order`` keeps them in
the input's order, so ``on_error="fail"`` names the same first row as the local engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from usina.batch.scoring import Scored
from usina.batch.sources import BATCH_ROWS, describe
from usina.errors import MissingDependency
from usina.registry import ModelVersion


class ScoringActor:
    """Loads one version once and scores the blocks it is given (a Ray Data actor)."""

    def __init__(
        self,
        version: ModelVersion,
        blob: Any,
        keys: list[str],
        partition: dict[str, str],
        trusted: bool,
        fast_predict: bool = True,
    ) -> None:
        from usina.artifacts.content import put_bytes
        from usina.artifacts.memory import MemoryArtifactStore
        from usina.batch.scoring import Scorer
        from usina.serving.runtime import load_version

        if not isinstance(blob, bytes):  # an object reference: the bytes are fetched once
            import ray

            blob = ray.get(blob)
        store = MemoryArtifactStore()
        put_bytes(store, blob)  # load_version checks the digest again, here
        loaded = load_version(version, store, trusted=trusted, fast_predict=fast_predict)
        self.scorer = Scorer(loaded, keys, partition)

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa

        rows: dict[str, list[Any]] = {
            "output": [],
            "rejects": [],
            "rows_in": [],
            "first_rejected": [],
        }
        for batch in table.combine_chunks().to_batches():
            if batch.num_rows == 0:
                continue
            scored = self.scorer.score(batch)
            rows["output"].append(_to_ipc(scored.output))
            rows["rejects"].append(_to_ipc(scored.rejects))
            rows["rows_in"].append(batch.num_rows)
            rows["first_rejected"].append(scored.first_rejected)
        return pa.table(
            {
                "output": pa.array(rows["output"], pa.large_binary()),
                "rejects": pa.array(rows["rejects"], pa.large_binary()),
                "rows_in": pa.array(rows["rows_in"], pa.int64()),
                "first_rejected": pa.array(rows["first_rejected"], pa.int64()),
            }
        )


def _to_ipc(batch: Any) -> bytes | None:
    import pyarrow as pa

    if batch is None:
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def _from_ipc(data: bytes | None) -> Any:
    import pyarrow as pa

    if data is None:
        return None
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_next_batch()


@contextlib.contextmanager
def connected(address: str | None) -> Iterator[None]:
    """Ray, connected: the running one if this process has one, else ``ray.init(address)``
    (``ray://host:10001`` or ``auto``; ``None`` or empty starts a local Ray unless
    ``RAY_ADDRESS`` names one), shut down at the end when it was started here."""
    try:
        import ray
    except ImportError:
        raise MissingDependency("the Ray engine needs Ray Data: pip install 'usina[ray]'") from None

    if ray.is_initialized():
        yield
        return
    ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def dataset(source: str, reader: Any) -> Any:
    """A Ray dataset over ``source``: Ray Data's readers for files and folders; a query's
    record batches (read by DuckDB on the driver from ``reader``) put in the object store."""
    import pyarrow as pa
    import pyarrow.csv as csv
    import ray
    import ray.data

    kind = describe(source)
    if kind == "sql":
        refs: list[Any] = [ray.put(pa.Table.from_batches([b])) for b in reader if b.num_rows]
        if not refs:
            return ray.data.from_arrow(pa.Table.from_batches([], schema=reader.schema))
        return ray.data.from_arrow_refs(refs)
    path = str(Path(source).expanduser().resolve())
    if kind == "csv":
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
        return ray.data.read_csv(path, parse_options=csv.ParseOptions(delimiter=delimiter))
    return ray.data.read_parquet(path)


def score_on_ray(
    source: str,
    reader: Any,
    version: ModelVersion,
    blob: bytes,
    *,
    keys: list[str],
    partition: dict[str, str],
    trusted: bool,
    fast_predict: bool = True,
) -> Generator[tuple[int, Scored], None, None]:
    """Score ``source`` on the connected Ray; yields each record batch's input row count and
    its scored rows, in the input's order."""
    import ray
    import ray.data

    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    scored = dataset(source, reader).map_batches(
        ScoringActor,
        batch_size=BATCH_ROWS,
        batch_format="pyarrow",
        zero_copy_batch=True,
        fn_constructor_kwargs={
            "version": version,
            "blob": ray.put(blob),
            "keys": keys,
            "partition": partition,
            "trusted": trusted,
            "fast_predict": fast_predict,
        },
        concurrency=(1, cpus),
        num_cpus=1,
    )
    # This dataset's own context (a copy), so the process's Ray Data settings stay as they were.
    scored.context.execution_options.preserve_order = True
    scored.context.enable_progress_bars = False
    blocks = iter(scored.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1))
    try:
        for table in blocks:
            for row in table.to_pylist():
                output, rejects = _from_ipc(row["output"]), _from_ipc(row["rejects"])
                yield row["rows_in"], Scored(output, rejects, row["first_rejected"])
    finally:
        # Stops the execution now when the driver stops reading (a row failed the job).
        close = getattr(blocks, "close", None)
        if close is not None:
            close()
