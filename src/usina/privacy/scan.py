"""``scan``: which columns of a table hold personal data, of which kinds, how much.

Every text column is searched with the detectors (numbers are read as text too: a CPF stored
as an integer is still a CPF); the report gives, per column and kind, the number of values
found, the number of rows holding one, and a few positions with the value masked, so the
report itself holds no personal data.

Example:
    >>> import pyarrow as pa
    >>> table = pa.table({"doc": ["111.444.777-35", "n/a"], "idade": [30, 41]})
    >>> [(c.column, c.kind, c.count, c.rows) for c in scan(table).columns]
    [('doc', 'cpf', 1, 1)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from usina.errors import InvalidInput
from usina.privacy.detectors import KINDS, THRESHOLD, detect
from usina.privacy.operators import Mask

SAMPLES = 3


@dataclass(frozen=True)
class Sample:
    """Where one value was found: row, character span, score and the value masked."""

    row: int
    start: int
    end: int
    score: float
    masked: str


@dataclass(frozen=True)
class ColumnKind:
    """One kind found in one column."""

    column: str
    kind: str
    count: int
    rows: int
    samples: tuple[Sample, ...] = ()


@dataclass(frozen=True)
class ScanReport:
    """What a scan found, column by column, over ``rows`` rows."""

    rows: int
    columns: tuple[ColumnKind, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (for ``--json``)."""
        return {
            "rows": self.rows,
            "columns": [
                {
                    "column": c.column,
                    "kind": c.kind,
                    "count": c.count,
                    "rows": c.rows,
                    "samples": [s.__dict__ for s in c.samples],
                }
                for c in self.columns
            ],
        }


def scan(table: Any, *, threshold: float = THRESHOLD, samples: int = SAMPLES) -> ScanReport:
    """Search every column of ``table`` (a pyarrow Table) for personal data."""
    import pyarrow as pa

    found: list[ColumnKind] = []
    for name in table.column_names:
        values = table.column(name)
        kind_of = values.type
        if not (pa.types.is_string(kind_of) or pa.types.is_large_string(kind_of)):
            if not pa.types.is_integer(kind_of):
                continue
            values = values.cast(pa.large_string())
        findings = detect(values, threshold=threshold, context=name)
        if not len(findings):
            continue
        masked = Mask(keep=2).apply(findings.values())
        starts, ends = findings.char_spans()
        for code in np.unique(findings.kind):
            where = np.flatnonzero(findings.kind == code)
            picks = where[:samples]
            found.append(
                ColumnKind(
                    name,
                    KINDS[int(code)],
                    len(where),
                    len(np.unique(findings.row[where])),
                    tuple(
                        Sample(
                            int(findings.row[i]),
                            int(starts[i]),
                            int(ends[i]),
                            round(float(findings.score[i]), 3),
                            str(masked[int(i)].as_py()),
                        )
                        for i in picks
                    ),
                )
            )
    return ScanReport(table.num_rows, tuple(found))


def read_table(path: str | Path) -> Any:
    """A CSV, Parquet or JSON-lines file as a pyarrow Table (text columns kept as text)."""
    import pyarrow as pa

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no file {path}", field="file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if suffix == ".csv":
            import pyarrow.csv as csv

            # Documents are text: read every column as text so leading zeros stay.
            names = csv.open_csv(path).schema.names
            types = {n: pa.large_string() for n in names}
            return csv.read_csv(path, convert_options=csv.ConvertOptions(column_types=types))
        if suffix in (".jsonl", ".ndjson", ".json"):
            import pyarrow.json as pj

            return pj.read_json(path)
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="file") from None
    raise InvalidInput(f"{path}: give a .csv, .parquet or .jsonl file", field="file")
