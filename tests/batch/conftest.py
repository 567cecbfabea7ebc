"""Batch fixtures: a client on a SQLite database and a folder artifact store, a registered
classifier with a ``champion`` alias, and the rows it scores as Parquet, CSV and a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

MODEL = "credit-risk"
CHAMPION = f"models:/{MODEL}@champion"


def applicants(rows: int, seed: int = 0) -> pd.DataFrame:
    """Rows with an ``id`` key and the model's two inputs."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(5.0, 2.0, rows),
        }
    )


@dataclass
class Scenario:
    """A client holding two versions of ``credit-risk`` (the champion is v1)."""

    client: Any
    models: dict[int, Any]
    root: Path

    def table(self, name: str) -> pd.DataFrame:
        """Every published row of ``tables/<name>``, with its partition columns, by id."""
        keys = self.client.artifacts.list(f"tables/{name}")
        if not keys:
            return pd.DataFrame()
        # Through the store, which decrypts when the suite runs with a master key.
        tables = []
        for key in keys:
            with self.client.artifacts.open(key) as f:
                tables.append(pq.read_table(pa.BufferReader(f.read())))
        frame = pa.concat_tables(tables).to_pandas()
        return frame.sort_values(["id"] if "id" in frame else list(frame.columns)).reset_index(
            drop=True
        )

    def published(self, name: str) -> list[str]:
        return self.client.artifacts.list(f"tables/{name}")


@pytest.fixture
def scenario(tmp_path: Path, client_factory: Any) -> Scenario:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    root = tmp_path / "artifacts"
    client = client_factory(f"sqlite:///{tmp_path / 'usina.db'}", str(root))
    train = applicants(2000, seed=1)
    x, y = train[["age", "income"]], (train.income > 5.0).astype(int)
    first = LogisticRegression().fit(x, y)
    second = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    client.register_model(first, MODEL, input_example=x.head())
    client.register_model(second, MODEL, input_example=x.head())
    client.set_alias(MODEL, "champion", 1)
    return Scenario(client, {1: first, 2: second}, root)


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path
