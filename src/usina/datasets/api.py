"""What a user calls: ingest files into a new version, save a table from code (a pipeline
step), load a version, declare expectations, validate a version and compare two.

Each takes the client to act through; without one, the default client (inside a pipeline
step, the runner's, so a version saved there records the step's run as its producer).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usina.artifacts import put_file, read_bytes
from usina.artifacts.parquet import read_parquet
from usina.datasets.entities import (
    Dataset,
    DatasetVersion,
    VersionIn,
    check_name,
)
from usina.datasets.expectations import ExpectationFailed, Report, evaluate
from usina.datasets.profile import connect, count_offending, profile_file
from usina.datasets.readers import Progress, bad_input, list_sources, read_batches
from usina.datasets.staging import Staged, write_parquet
from usina.datasets.validation import resolve_version, validate_version
from usina.errors import InvalidInput, NotFound

Transform = Callable[[Any], Any]  # a pyarrow Table in, a Table (or RecordBatch) out


@dataclass(frozen=True)
class Ingested:
    """The version an ingest or save registered (or found: ``created=False`` when the same
    content was already a version), and the expectations report it passed."""

    version: DatasetVersion
    created: bool
    report: Report


def _client(client: Any) -> Any:
    if client is not None:
        return client
    # The default client, as usina.start_run uses: imported here, at the call, because the
    # api module sits above this package (see the import contracts in pyproject.toml).
    from usina.api import get_client

    return get_client()


def _step_run_id() -> str:
    from usina.pipelines.step_context import current_step

    step = current_step()
    return step.run_id if step is not None else ""


def ingest(
    source: str,
    dataset: str,
    *,
    client: Any = None,
    progress: Progress | None = None,
    run_id: str | None = None,
    transform: Transform | None = None,
    protect: Any = None,
) -> Ingested:
    """Stream ``source`` (a CSV, Parquet or JSON lines file, a folder of them, or an
    ``s3://``/``gs://`` URL) into a new version of ``dataset``, and register it.

    Memory stays bounded by a block of the input and a row group of the output. Nothing is
    registered when the input cannot be read or the version fails the dataset's expectations.

    Raises:
        InvalidInput: the input is missing or unreadable, or its types are inconsistent (the
            message names the file and the column).
        ExpectationFailed: the new version fails an expectation; its ``report`` says which.

    ``transform`` rewrites each record batch before it is written (a table or a batch in,
    the same out), so nothing it removes reaches the version. The dataset's PII policy (see
    ``usina datasets protect`` and docs/pii.md) is applied after it to every batch, so no raw
    value it replaces reaches the version; ``protect`` (a policy, as ``usina ingest
    --protect``) is applied to a dataset without one, and refused when it differs from the
    dataset's own.
    """
    check_name(dataset)
    c = _client(client)
    files = list_sources(source)
    current, protector = _protection(c, dataset, protect)
    if protector is not None:
        transform = _then(transform, protector.protect)
    with _scratch() as scratch:
        path = str(Path(scratch, "version.parquet"))
        schema, batches = _open_all(files)
        if transform is not None:
            schema, batches = _transformed(schema, batches, transform)
        staged = write_parquet(path, schema, batches, progress)
        label = source if len(files) == 1 else f"{source} ({len(files)} files)"
        return _register(c, dataset, current, staged, scratch, label, run_id)


def _protection(client: Any, dataset: str, given: Any) -> tuple[Dataset | None, Any]:
    """The dataset's record (None before its first write) and the compiled PII policy to
    write under: the dataset's own, else ``given``; a ``given`` one that differs from the
    dataset's own is refused, so nobody writes under a policy other than the one the dataset
    declares."""
    try:
        current: Dataset | None = client.datasets.get(dataset)
    except NotFound:
        current = None
    own = current.pii_policy if current is not None else None
    if given is None and own is None:
        return current, None
    from usina.privacy.policy import Policy, check_policy

    if given is not None:
        given = check_policy(given.to_dict() if isinstance(given, Policy) else given)
        if own is not None and given != own:
            raise InvalidInput(
                f"dataset {dataset} keeps a PII policy of its own, which every version is "
                "written under, and the one given differs; leave it out (the dataset's is "
                f"applied), or change the dataset's with 'usina datasets protect {dataset} "
                "POLICY'",
                field="protect",
            )
    policy = Policy.from_dict(own if own is not None else given)
    key = _pii_key(client, dataset) if policy.keyed else None
    return current, policy.compile(key)


def _pii_key(client: Any, dataset: str) -> Any:
    """The client's PII key, or a clear refusal naming the settings."""
    key = getattr(client, "pii_key", None)
    if key is None:
        raise InvalidInput(
            f"the PII policy of dataset {dataset} uses a keyed operator (token, encrypt or "
            "surrogate), and no PII key is set here: set USINA_PII_KEY to base64 of 32 random "
            "bytes, or USINA_PII_KEY_FILE to a file holding it, where the data is written",
            field="USINA_PII_KEY",
        )
    return key


def _then(first: Transform | None, second: Transform) -> Transform:
    if first is None:
        return second
    return lambda table: second(to_arrow(first(table)))


def _transformed(
    schema: Any, batches: Iterator[Any], transform: Transform
) -> tuple[Any, Iterator[Any]]:
    """The schema and batches ``transform`` makes of ``batches`` (the first one is read now, for
    the schema the version will have)."""
    import itertools

    import pyarrow as pa

    def apply(batch: Any) -> list[Any]:
        out = transform(pa.Table.from_batches([batch]))
        return list(out.to_batches()) if isinstance(out, pa.Table) else [out]

    it = iter(batches)
    first = next(it, None)
    if first is None:
        empty = transform(schema.empty_table())
        return empty.schema, iter(())
    head = apply(first)
    new_schema = head[0].schema if head else transform(pa.Table.from_batches([first])).schema
    return new_schema, itertools.chain(head, (b for batch in it for b in apply(batch)))


def save(data: Any, dataset: str, *, client: Any = None) -> DatasetVersion:
    """Save a table (an Arrow table, a pandas or polars DataFrame) as the next version of
    ``dataset``; inside a pipeline step its run is recorded as the producer and a failed
    expectation fails the step, naming each failed expectation and the value observed.

    The dataset's PII policy, when it keeps one, is applied to the table first: the version
    never holds the raw values it replaces.

    Raises:
        ExpectationFailed: the version fails the dataset's expectations (nothing registered).
        InvalidInput: the policy names a column the table lacks, or needs the PII key and
            none is set (``USINA_PII_KEY``).
    """
    check_name(dataset)
    c = _client(client)
    table = to_arrow(data)
    current, protector = _protection(c, dataset, None)
    if protector is not None:
        table = protector.protect(table)
    with _scratch() as scratch:
        path = str(Path(scratch, "version.parquet"))
        staged = write_parquet(path, table.schema, table.to_batches())
        return _register(c, dataset, current, staged, scratch, "python", None).version


def _register(
    client: Any,
    dataset: str,
    current: Dataset | None,
    staged: Staged,
    scratch: str,
    source: str,
    run_id: str | None,
) -> Ingested:
    """Profile, check and register ``staged``, written under ``current``'s PII policy (the
    store refuses it if the dataset's policy changed meanwhile)."""
    store = client.datasets
    previous = store.get_version(dataset) if current is not None and current.latest else None
    connection = connect(scratch)
    try:
        profile = profile_file(connection, staged.path, staged.schema)
        number = (current.latest if current else 0) + 1
        report = evaluate(
            current.expectations if current else (),
            dataset,
            number,
            rows=staged.rows,
            profile=profile,
            previous_rows=previous.rows if previous else None,
            schema=staged.columns(),
            count_rows=lambda spec: count_offending(connection, staged.path, spec),
        )
    finally:
        connection.close()
    if previous is not None and previous.digest == staged.digest:
        return Ingested(previous, False, report)
    if not report.ok:
        raise ExpectationFailed(report)
    put_file(client.artifacts, staged.path)
    registered = store.register(
        dataset,
        VersionIn(
            staged.digest,
            staged.columns(),
            staged.rows,
            staged.bytes,
            profile,
            source[:4096],
            _step_run_id() if run_id is None else run_id,
            current.pii_policy_digest if current is not None else "",
        ),
    )
    return Ingested(registered.version, registered.created, report)


def _open_all(files: list[Any]) -> tuple[Any, Iterator[Any]]:
    """The first file's schema, and the batches of every file read as that schema."""
    import pyarrow as pa

    unreadable = (OSError, ValueError, pa.ArrowException)
    try:
        schema, first = read_batches(files[0])
    except InvalidInput:
        raise
    except unreadable as exc:
        raise bad_input(exc, files[0].url) from None

    def batches() -> Iterator[Any]:
        yield from first
        for f in files[1:]:
            try:
                found, rest = read_batches(f, schema if f.format != "parquet" else None)
            except InvalidInput:
                raise
            except unreadable as exc:
                raise bad_input(exc, f.url, schema) from None
            if found.remove_metadata() != schema.remove_metadata():
                theirs = {x.name: str(x.type) for x in found}
                ours = {x.name: str(x.type) for x in schema}
                differ = sorted(
                    n for n in ours.keys() | theirs.keys() if ours.get(n) != theirs.get(n)
                )
                raise InvalidInput(
                    f"{f.url} does not have the columns of {files[0].url}: column "
                    f"{differ[0]!r} is {theirs.get(differ[0], 'missing')} there and "
                    f"{ours.get(differ[0], 'missing')} in the first file; ingest them as "
                    "separate datasets or align their types",
                    field="source",
                )
            yield from rest

    return schema, batches()


@contextlib.contextmanager
def _scratch() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="usina-dataset-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def resolve(uri: str, *, client: Any = None) -> DatasetVersion:
    """The version ``datasets:/name@latest``, ``datasets:/name/3`` (or a bare name) points at."""
    return resolve_version(_client(client), uri)


def load(uri: str, *, client: Any = None) -> Any:
    """The version ``uri`` points at as a ``pyarrow.Table``, after checking its digest."""
    c = _client(client)
    version = resolve(uri, client=c)
    return read_parquet(read_bytes(c.artifacts, version.digest))


def set_policy(dataset: str, policy: Any, *, client: Any = None) -> Dataset:
    """Keep ``policy`` (a PII policy: a mapping, a ``usina.pii.Policy``, or a path to its YAML
    file) on ``dataset`` (created if new), or clear it with ``None``: every version written
    into the dataset from then on, by ``ingest`` or ``save``, has it applied."""
    from usina.privacy.policy import Policy

    if isinstance(policy, str | Path):
        policy = Policy.load(policy)
    if isinstance(policy, Policy):
        policy = policy.to_dict()
    found: Dataset = _client(client).datasets.set_policy(dataset, policy)
    return found


def expect(dataset: str, *expectations: Any, client: Any = None) -> Dataset:
    """Replace the expectations of ``dataset`` (created if new) with ``expectations``: dicts
    with a ``kind`` (see ``usina.datasets.expectations``), or one list of them."""
    specs: list[Any] = []
    for e in expectations:
        specs.extend(e if isinstance(e, list | tuple) else [e])
    dataset_record: Dataset = _client(client).datasets.set_expectations(dataset, specs)
    return dataset_record


def validate(uri: str, *, client: Any = None) -> Report:
    """Check the version ``uri`` points at against its dataset's current expectations."""
    return validate_version(_client(client), uri)


def diff(a: str, b: str, *, client: Any = None) -> dict[str, Any]:
    """How version ``b`` differs from ``a``: rows, columns added, removed or retyped, and per
    common column the change of nulls, min, max, mean, median and top categories."""
    c = _client(client)
    old, new = resolve(a, client=c), resolve(b, client=c)
    old_types = {col["name"]: col["type"] for col in old.schema}
    new_types = {col["name"]: col["type"] for col in new.schema}
    columns: dict[str, Any] = {}
    for name in new_types.keys() & old_types.keys():
        before, after = old.profile.get(name, {}), new.profile.get(name, {})
        change: dict[str, Any] = {}
        for key in ("nulls", "min", "max", "mean"):
            if before.get(key) != after.get(key):
                change[key] = [before.get(key), after.get(key)]
        median = [(p.get("quantiles") or {}).get("0.5") for p in (before, after)]
        if median[0] != median[1]:
            change["median"] = median
        tops = [[v for v, _ in p.get("top", [])] for p in (before, after)]
        if tops[0] != tops[1]:
            change["top"] = {
                "new": [v for v in tops[1] if v not in tops[0]],
                "gone": [v for v in tops[0] if v not in tops[1]],
            }
        if change:
            columns[name] = change
    return {
        "from": old.reference,
        "to": new.reference,
        "rows": [old.rows, new.rows],
        "same_content": old.digest == new.digest,
        "added": {n: new_types[n] for n in new_types if n not in old_types},
        "removed": {n: old_types[n] for n in old_types if n not in new_types},
        "retyped": {
            n: [old_types[n], new_types[n]]
            for n in new_types
            if n in old_types and old_types[n] != new_types[n]
        },
        "columns": columns,
    }


def to_arrow(value: Any) -> Any:
    """An Arrow table from an Arrow table or batch, or a pandas or polars DataFrame."""
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if hasattr(value, "to_arrow") and callable(value.to_arrow):  # polars, a step's Dataset
        return value.to_arrow()
    if type(value).__module__.split(".")[0] == "pandas":
        return pa.Table.from_pandas(value, preserve_index=False)
    raise InvalidInput(
        f"a dataset is saved from an Arrow table or a pandas or polars DataFrame, not "
        f"{type(value).__name__}",
        field="data",
    )
