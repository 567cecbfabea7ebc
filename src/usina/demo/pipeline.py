"""The demo's training pipeline: load, validate, features in SQL, two candidates in parallel.

Each training step registers its model as a version of ``credit-risk`` with its hold-out
metrics and lineage back to the raw applications.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import usina.pipelines as up
from usina.demo.data import CATEGORICAL, FEATURES, LABEL
from usina.pipelines import Dataset, Metrics, Model

MODEL = "credit-risk"
FEATURES_SQL = str(Path(__file__).parent / "queries" / "credit_features.sql")
NUMERIC = [f for f in FEATURES if f not in CATEGORICAL] + ["loan_to_income", "late_share"]


class Trained(NamedTuple):
    model: Model
    metrics: Metrics


@up.step
def load(rows: int, seed: int) -> Dataset:
    """Raw loan applications (synthetic, seeded)."""
    from usina.demo.data import credit_applications

    return credit_applications(rows, seed)


@up.step
def validate(applications: Dataset, min_rows: int = 1000) -> Dataset:
    """Gate the run: schema, volume, nulls and ranges; a failure stops everything downstream."""
    frame = applications.to_pandas()
    problems = []
    expected = {"cpf", "email", "age", "income", "loan_amount", "credit_score", LABEL, *CATEGORICAL}
    if missing := expected - set(frame.columns):
        problems.append(f"missing columns {sorted(missing)}")
    if len(frame) < min_rows:
        problems.append(f"only {len(frame)} rows (at least {min_rows} expected)")
    if nulls := [c for c in frame.columns if frame[c].isna().any()]:
        problems.append(f"nulls in {nulls}")
    if not frame["age"].between(18, 120).all():
        problems.append("age outside 18..120")
    if not frame["credit_score"].between(0, 1000).all():
        problems.append("credit_score outside 0..1000")
    if not frame[LABEL].isin([0, 1]).all():
        problems.append(f"{LABEL} is not 0/1")
    if problems:
        raise ValueError("validation failed: " + "; ".join(problems))
    print(f"{len(frame)} rows passed validation; default rate {frame[LABEL].mean():.1%}")
    return applications


PSEUDONYMS = {"columns": {"cpf": "token", "email": "token"}}


@up.step
def pseudonymize(applications: Dataset, pii_key_file: str) -> Dataset:
    """CPF and e-mail become keyed HMAC-SHA-256 tokens: the same person gets the same token
    (joins and counts still work), and nobody without the key can tell who it is."""
    from usina.pii import load_key, protect

    key = load_key(None, pii_key_file)
    return protect(applications.to_arrow(), PSEUDONYMS, key)


def _holdout(features: Dataset, seed: int) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    frame = features.to_pandas()
    x, y = frame.drop(columns=[LABEL]), frame[LABEL]
    return tuple(train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y))


def _metrics(model: Any, x_test: Any, y_test: Any) -> Metrics:
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

    proba = model.predict_proba(x_test)[:, 1]
    return Metrics(
        {
            "auc": float(roc_auc_score(y_test, proba)),
            "log_loss": float(log_loss(y_test, proba)),
            "brier": float(brier_score_loss(y_test, proba)),
            "accuracy": float(accuracy_score(y_test, proba >= 0.5)),
        }
    )


@up.step(register=MODEL)
def train_logistic(features: Dataset, seed: int, C: float = 0.5) -> Trained:
    """The baseline: a regularized logistic regression on scaled and one-hot features."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x_train, x_test, y_train, y_test = _holdout(features, seed)
    model = make_pipeline(
        make_column_transformer(
            (StandardScaler(), NUMERIC), (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)
        ),
        LogisticRegression(C=C, max_iter=500),
    ).fit(x_train, y_train)
    return Trained(model, _metrics(model, x_test, y_test))


@up.step(register=MODEL)
def train_boosting(
    features: Dataset, seed: int, learning_rate: float = 0.1, max_iter: int = 100
) -> Trained:
    """The challenger: gradient-boosted trees with native categorical splits."""
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    x_train, x_test, y_train, y_test = _holdout(features, seed)
    model = make_pipeline(
        make_column_transformer(
            (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), CATEGORICAL),
            remainder="passthrough",
        ),
        HistGradientBoostingClassifier(
            max_iter=max_iter,
            learning_rate=learning_rate,
            categorical_features=list(range(len(CATEGORICAL))),
            random_state=seed,
        ),
    ).fit(x_train, y_train)
    return Trained(model, _metrics(model, x_test, y_test))


@up.pipeline(name="credit-risk-training")
def training(rows: int = 20_000, seed: int = 7, pii_key_file: str = ""):  # type: ignore[no-untyped-def]
    raw = load(rows, seed)
    valid = validate(raw)
    private = pseudonymize(valid, pii_key_file)
    features = up.sql_step(FEATURES_SQL, inputs={"applications": private}, name="features")
    train_logistic(features, seed)
    train_boosting(features, seed)


@up.pipeline(name="credit-risk-retraining")
def retraining(  # type: ignore[no-untyped-def]
    applications: str = "datasets:/applications@latest", seed: int = 7, pii_key_file: str = ""
):
    """The challenger again, on the applications that arrived as events (a dataset)."""
    valid = validate(applications)
    private = pseudonymize(valid, pii_key_file)
    features = up.sql_step(FEATURES_SQL, inputs={"applications": private}, name="features")
    train_boosting(features, seed)
