"""What flows between steps: Datasets, Models, Metrics and plain JSON values.

A step's annotations say which kind each input and output is. Outputs are stored in the
artifact store under their SHA-256 digest (JSON values travel inline) and described by an
``Artifact`` record; a step reading one gets a ``Dataset`` or ``Model`` handle, a metrics dict or
the JSON value itself.
"""

from __future__ import annotations

import hashlib
import io
import typing
from dataclasses import dataclass, field
from typing import Any

import orjson

from usina.artifacts import ArtifactStore, put_bytes, read_bytes
from usina.artifacts.parquet import read_parquet
from usina.errors import InvalidInput

DATASET = "dataset"
MODEL = "model"
METRICS = "metrics"
JSON = "json"


class Dataset:
    """A table passed between steps, stored as Parquet under its digest.

    A step may return a pandas or polars DataFrame or an Arrow table where ``-> Dataset`` is
    declared; a step receiving one reads it with ``to_pandas()``, ``to_arrow()`` or
    ``to_polars()``.

    Example:
        >>> @usina.step  # doctest: +SKIP
        ... def clean(raw: Dataset) -> Dataset:
        ...     return raw.to_pandas().dropna()
    """

    def __init__(self, artifact: Artifact, store: ArtifactStore) -> None:
        self.artifact = artifact
        self._store = store
        self._table: Any = None

    @property
    def digest(self) -> str:
        return self.artifact.digest

    @property
    def rows(self) -> int | None:
        return self.artifact.rows

    def to_arrow(self) -> Any:
        """The table as a ``pyarrow.Table``."""
        if self._table is None:
            # A BufferReader, not io.BytesIO: Arrow's read-ahead threads must not hold a
            # Python object (one released at interpreter exit aborts the process).
            data = read_bytes(self._store, self.digest)
            self._table = read_parquet(data)
        return self._table

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        """The table as a polars DataFrame (needs polars installed)."""
        import polars as pl

        return pl.from_arrow(self.to_arrow())

    def __repr__(self) -> str:
        return f"<Dataset sha256:{self.digest[:12]} rows={self.rows}>"


class Model:
    """A trained model passed between steps, stored in a safe registry format.

    A step declaring ``-> Model`` returns the estimator itself; a step receiving one calls
    ``load()``.
    """

    def __init__(self, artifact: Artifact, store: ArtifactStore) -> None:
        self.artifact = artifact
        self._store = store

    @property
    def digest(self) -> str:
        return self.artifact.digest

    def load(self, *, trusted: bool = False) -> Any:
        """The model object, after verifying its digest."""
        from usina.registry import load_model_bytes

        data = read_bytes(self._store, self.digest)
        return load_model_bytes(
            data, self.artifact.format or "", self.artifact.model_class or "", trusted=trusted
        )

    def __repr__(self) -> str:
        return f"<Model {self.artifact.model_class} sha256:{self.digest[:12]}>"


class Metrics(dict[str, float]):
    """Named numbers a step reports; they are also logged as the step run's metrics."""


@dataclass(frozen=True)
class Artifact:
    """One stored output: its kind, digest and what is needed to read it back."""

    kind: str
    digest: str
    size: int = 0
    rows: int | None = None
    format: str | None = None
    model_class: str | None = None
    features: tuple[str, ...] | None = None  # a model's input columns, when it knows them
    value: Any = None  # JSON values and metrics travel inline
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "digest": self.digest, "size": self.size}
        for key in ("rows", "format", "model_class"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.features is not None:
            data["features"] = list(self.features)
        if self.kind in (JSON, METRICS):
            data["value"] = self.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            kind=data["kind"],
            digest=data["digest"],
            size=data.get("size", 0),
            rows=data.get("rows"),
            format=data.get("format"),
            model_class=data.get("model_class"),
            features=tuple(data["features"]) if data.get("features") is not None else None,
            value=data.get("value"),
        )


_JSON_TYPES: tuple[type, ...] = (int, float, str, bool, list, dict, type(None))


def kind_of(annotation: Any) -> tuple[str, Any]:
    """The kind an annotation declares, and the Python type for JSON values (or ``Any``).

    Raises:
        TypeError: the annotation is none of Dataset, Model, Metrics or a JSON type.
    """
    if annotation is Dataset:
        return DATASET, Dataset
    if annotation is Model:
        return MODEL, Model
    if annotation is Metrics:
        return METRICS, Metrics
    if annotation is Any or annotation is None or annotation is typing.Any:
        return JSON, Any
    origin = typing.get_origin(annotation) or annotation
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return JSON, Any
    if isinstance(origin, type) and issubclass(origin, _JSON_TYPES):
        return JSON, origin
    raise TypeError(
        f"{annotation!r} is not a step type; use Dataset, Model, Metrics, or a JSON type "
        "(int, float, str, bool, list, dict)"
    )


def compatible(produced: tuple[str, Any], expected: tuple[str, Any]) -> bool:
    """Whether an output of kind ``produced`` can feed an input declared ``expected``."""
    if produced[0] != expected[0]:
        if produced[0] == JSON and expected[0] == DATASET:  # a parameter holding a URI
            return produced[1] in (str, Any)
        return produced[0] == METRICS and expected[0] == JSON and expected[1] in (dict, Any)
    if produced[0] != JSON or Any in (produced[1], expected[1]):
        return True
    if produced[1] is expected[1]:
        return True
    return produced[1] is int and expected[1] is float


def describe(kind: tuple[str, Any]) -> str:
    """A kind as the user wrote it: ``Dataset``, ``int``..."""
    if kind[0] == JSON:
        return "a JSON value" if kind[1] is Any else kind[1].__name__
    return {DATASET: "Dataset", MODEL: "Model", METRICS: "Metrics"}[kind[0]]


def value_fits(value: Any, kind: tuple[str, Any]) -> bool:
    """Whether a literal or parameter value fits an input declared ``kind`` (a ``Dataset``
    input takes a ``datasets:/`` URI, resolved when the step runs)."""
    if kind[0] == DATASET:
        return isinstance(value, str) and value.startswith("datasets:/")
    if kind[0] != JSON:
        return False
    expected = kind[1]
    if expected is Any:
        return True
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def canonical_json(value: Any) -> bytes:
    """JSON bytes that are the same for equal values (sorted keys)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        raise InvalidInput(f"value {value!r} is not JSON: {exc}", field="value") from None


def encode(
    value: Any, kind: str, store: ArtifactStore | None, *, trusted: bool = False
) -> tuple[Artifact, bytes | None]:
    """Turn a step's return value into an ``Artifact``.

    Datasets and models are written to ``store``; with ``store=None`` their bytes are returned
    instead, for the caller to store (a worker process whose store lives only in memory).
    """
    if kind in (JSON, METRICS):
        if kind == METRICS:
            if not isinstance(value, dict):
                raise InvalidInput(
                    f"a Metrics output must be a dict of numbers, got {type(value).__name__}",
                    field="return",
                )
            value = {str(k): float(v) for k, v in value.items()}
        data = canonical_json(value)
        return Artifact(
            kind, hashlib.sha256(data).hexdigest(), len(data), value=orjson.loads(data)
        ), None
    if kind == DATASET:
        table = to_arrow(value)
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(table, buf)
        data = buf.getvalue()
        extra: dict[str, Any] = {"rows": table.num_rows}
    else:
        from usina.registry import dump_model
        from usina.registry.formats import class_name

        if isinstance(value, Model):
            return value.artifact, None
        fmt, data = dump_model(value, trusted=trusted)
        extra = {"format": fmt, "model_class": class_name(value)}
        names = getattr(value, "feature_names_in_", None)  # scikit-learn fitted on a DataFrame
        if names is not None:
            extra["features"] = tuple(str(n) for n in names)
    if store is None:
        return Artifact(kind, hashlib.sha256(data).hexdigest(), len(data), **extra), data
    blob = put_bytes(store, data)
    return Artifact(kind, blob.digest, blob.size, **extra), None


def decode(artifact: Artifact, store: ArtifactStore) -> Any:
    """What a step receives for a stored output."""
    if artifact.kind == DATASET:
        return Dataset(artifact, store)
    if artifact.kind == MODEL:
        return Model(artifact, store)
    if artifact.kind == METRICS:
        return Metrics(artifact.value)
    return artifact.value


def to_arrow(value: Any) -> Any:
    """An Arrow table from an Arrow table, a pandas or polars DataFrame, or a ``Dataset``."""
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    if isinstance(value, Dataset):
        return value.to_arrow()
    module = type(value).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(value, preserve_index=False)
    if module == "polars":
        return value.to_arrow()
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    raise InvalidInput(
        f"a Dataset output must be a pandas or polars DataFrame or an Arrow table, got "
        f"{type(value).__name__}",
        field="return",
    )
