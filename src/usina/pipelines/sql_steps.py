"""SQL steps: a SQL file run on DuckDB over the input datasets, giving a Dataset.

The seed's project template keeps SQL in ``queries/``; ``usina.sql_step`` makes such a file a
step like any other, cached on the SQL text and its inputs' digests.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from usina.errors import InvalidInput
from usina.pipelines.dsl import Step, is_tracing
from usina.pipelines.types import DATASET, Dataset, to_arrow


class SqlStep(Step):
    """A SQL file run on DuckDB over its input datasets; the result is a Dataset."""

    def __init__(self, sql: str, path: str, inputs: list[str], name: str) -> None:
        self.sql = sql
        self.path = path
        self.table_names = inputs
        super().__init__(self._run, name=name, code=sql)
        self.inputs = {n: (DATASET, Dataset) for n in inputs}
        self.outputs = {"output": (DATASET, Dataset)}

    def _read_signature(self) -> None:
        pass

    def _run(self, **tables: Any) -> Any:
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            for table_name, data in tables.items():
                con.register(table_name, to_arrow(data))
            try:
                relation = con.sql(self.sql)
                if relation is None:
                    raise InvalidInput(
                        f"SQL step {self.name!r} ({self.path}) returns no rows; its last "
                        "statement must be a SELECT",
                        field="sql",
                    )
                return relation.to_arrow_table()
            except duckdb.Error as exc:
                raise InvalidInput(
                    f"SQL step {self.name!r} ({self.path}) failed: {exc}", field="sql"
                ) from None
        finally:
            con.close()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not is_tracing():
            return self._run(**kwargs)
        return super().__call__(*args, **kwargs)


def sql_step(path: str, inputs: dict[str, Any], *, name: str | None = None) -> Any:
    """Run the SQL file at ``path`` on DuckDB, with each input dataset as a table of its key.

    Inside a pipeline it adds a step and returns its handle; outside, it runs at once on
    the given tables and returns an Arrow table.

    Args:
        path: the SQL file, relative to the working folder or to the calling file.
        inputs: table name in the SQL -> the step output (or table) to read.
        name: the step's name; the file's stem by default.
    """
    if not isinstance(inputs, dict) or not inputs:
        raise InvalidInput("sql_step needs inputs={'table_name': step_output, ...}", field="inputs")
    frame = inspect.currentframe()
    caller = frame.f_back.f_code.co_filename if frame and frame.f_back else os.getcwd()
    sql_path = _find_sql(path, caller)
    s = SqlStep(sql_path.read_text(), path, list(inputs), name or sql_path.stem.replace("_", "-"))
    return s(**inputs)


def _find_sql(path: str, caller: str) -> Path:
    candidates = [Path(path), Path(caller).parent / path, Path(caller).parent.parent / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InvalidInput(
        f"sql_step: no SQL file {path!r} (looked in {os.getcwd()} and next to {caller}); "
        "keep SQL in queries/ at the project root",
        field="path",
    )
