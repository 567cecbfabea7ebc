"""Quality and operations of a window: the figures equal scikit-learn's and numpy's on the
same rows, whatever the order labels arrive in."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as m

from usina.client import Client
from usina.errors import InvalidInput
from usina.monitoring.logwindow import connect, days
from usina.monitoring.quality import quality, window_figures
from usina.testing.monitoring import T0, log_row, write_log

HOUR = 3600.0


@pytest.fixture
def local() -> Client:
    return Client("sqlite://", "memory://")


def _served(client: Client, rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two versions' answers (scores) over one hour, and the truth for each request."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(rows) < 0.4).astype(int)
    scores = np.clip(truth * 0.3 + rng.random(rows) * 0.7, 0.001, 0.999)
    logged = [
        log_row(
            f"q{i}",
            T0 + i * HOUR / rows,
            {"age": float(i)},
            float(scores[i]),
            version=1 + i % 2,
            status=500 if i % 50 == 7 else 200,
            latency_ms=float(rng.gamma(2.0, 5.0)),
        )
        for i in range(rows)
    ]
    write_log(client.artifacts, logged)
    return scores, truth


def _labels(truth: np.ndarray, ids: range) -> list[dict[str, object]]:
    return [{"request_id": f"q{i}", "label": int(truth[i])} for i in ids]


def test_classification_figures_equal_sklearn_per_version(local: Client) -> None:
    scores, truth = _served(local)
    local.labels.ingest("credit", _labels(truth, range(len(truth))))
    conn = connect(local.artifacts, "credit", T0, T0 + HOUR)
    found = {
        f.version: f
        for f in window_figures(conn, "credit", T0, T0 + HOUR, local.labels.table("credit"))
    }
    assert set(found) == {1, 2}
    for version in (1, 2):
        ok = [i for i in range(len(truth)) if 1 + i % 2 == version and i % 50 != 7]
        y, s = truth[ok], scores[ok]
        figures = found[version].quality
        assert found[version].labelled == len(ok)
        assert figures["auc"] == pytest.approx(m.roc_auc_score(y, s), abs=1e-12)
        assert figures["log_loss"] == pytest.approx(m.log_loss(y, s), abs=1e-12)
        predicted = (s >= 0.5).astype(int)
        assert figures["accuracy"] == pytest.approx(m.accuracy_score(y, predicted))
        assert figures["precision"] == pytest.approx(m.precision_score(y, predicted))
        assert figures["recall"] == pytest.approx(m.recall_score(y, predicted))
        assert figures["f1"] == pytest.approx(m.f1_score(y, predicted))


def test_operations_equal_numpy_per_version(local: Client) -> None:
    _served(local)
    rows = local.artifacts.list("request-log")
    assert rows
    conn = connect(local.artifacts, "credit", T0, T0 + HOUR)
    everything = conn.execute("select version, status, latency_ms from requests").fetchall()
    for f in window_figures(conn, "credit", T0, T0 + HOUR):
        latency = np.array([r[2] for r in everything if r[0] == f.version])
        errors = sum(1 for r in everything if r[0] == f.version and r[1] >= 400)
        assert f.requests == len(latency) == 200
        assert f.errors == errors and f.error_rate == errors / 200
        for q, got in ((50, f.latency_p50), (95, f.latency_p95), (99, f.latency_p99)):
            assert got == pytest.approx(np.percentile(latency, q))


def test_labels_in_three_batches_give_the_auc_of_one(local: Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, truth = _served(local)
    other = Client(f"sqlite:///{tmp_path / 'other.db'}", local.artifacts)
    local.labels.ingest("credit", _labels(truth, range(0, 120)), now=T0 + 2 * HOUR)
    local.labels.ingest("credit", _labels(truth, range(120, 300)), now=T0 + 3 * HOUR)
    local.labels.ingest("credit", _labels(truth, range(300, 400)), now=T0 + 4 * HOUR)
    other.labels.ingest("credit", _labels(truth, range(400)), now=T0 + 2 * HOUR)
    conn = connect(local.artifacts, "credit", T0, T0 + HOUR)
    three = window_figures(conn, "credit", T0, T0 + HOUR, local.labels.table("credit", since=T0))
    one = window_figures(conn, "credit", T0, T0 + HOUR, other.labels.table("credit", since=T0))
    assert [f.quality for f in three] == [f.quality for f in one]
    assert all("auc" in f.quality for f in three)


def test_regression_figures_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(100, 20, 300)
    predicted = truth + rng.normal(0, 5, 300)
    figures = quality(list(predicted), list(truth))
    assert figures["mae"] == pytest.approx(m.mean_absolute_error(truth, predicted))
    assert figures["rmse"] == pytest.approx(np.sqrt(m.mean_squared_error(truth, predicted)))
    assert figures["mape"] == pytest.approx(m.mean_absolute_percentage_error(truth, predicted))
    assert figures["r2"] == pytest.approx(m.r2_score(truth, predicted))


def test_class_answers_and_string_labels() -> None:
    figures = quality(["a", "b", "c", "b"], ["a", "b", "b", "b"])
    assert figures["accuracy"] == 0.75
    assert figures["f1"] == pytest.approx(
        m.f1_score(["a", "b", "b", "b"], ["a", "b", "c", "b"], average="macro", zero_division=0)
    )
    assert "auc" not in figures
    probabilities = quality([[0.8, 0.2], [0.3, 0.7]], [0, 1])
    assert probabilities["auc"] == 1.0 and probabilities["accuracy"] == 1.0
    with pytest.raises(InvalidInput, match="task"):
        quality([1], [1], task="ranking")


def test_a_window_reads_only_its_date_partitions(local: Client) -> None:
    write_log(local.artifacts, [log_row("old", T0 - 3 * 86_400, {"age": 1.0}, 0.5)])
    _served(local, rows=10)
    assert days(T0, T0 + HOUR) == ["2026-05-28"]
    conn = connect(local.artifacts, "credit", T0, T0 + HOUR)
    assert conn.execute("select count(*) from requests").fetchone() == (10,)


def test_class_answers_as_booleans_or_numbers_equal_sklearn() -> None:
    rng = np.random.default_rng(5)
    truth = (rng.random(500) < 0.3).astype(int)
    answers = np.where(rng.random(500) < 0.8, truth, 1 - truth)
    for given in (answers.astype(bool).tolist(), answers.tolist(), answers.astype(float).tolist()):
        figures = quality(given, truth.tolist())
        assert figures["accuracy"] == pytest.approx(m.accuracy_score(truth, answers))
        assert figures["f1"] == pytest.approx(m.f1_score(truth, answers))
        assert figures["auc"] == pytest.approx(m.roc_auc_score(truth, answers))
        assert "log_loss" not in figures, "classes are no probabilities"
