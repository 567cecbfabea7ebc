"""The demo's story: each chapter is a function, so later capabilities add chapters."""

from __future__ import annotations

import io
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from usina.client import Client
from usina.demo.data import CATEGORICAL, FEATURES, LABEL, credit_applications
from usina.registry import ModelVersion

MODEL = "credit-risk"
EXPERIMENT = "credit-risk"


@dataclass
class Candidate:
    """A trained model, its hold-out metrics and the version it was registered as."""

    title: str
    model: Any
    metrics: dict[str, float]
    version: ModelVersion


@dataclass
class Story:
    """What the chapters share: the client, the console, the data and what was made."""

    client: Client
    console: Console
    rows: int
    seed: int
    data: Any = None
    dataset_digest: str = ""
    split: tuple[Any, Any, Any, Any] | None = None
    candidates: list[Candidate] = field(default_factory=list)
    champion: Candidate | None = None
    chapter: int = 0

    def title(self, text: str) -> None:
        self.chapter += 1
        self.console.print()
        self.console.print(f"[bold cyan]{self.chapter}. {text}[/bold cyan]")

    def say(self, text: str) -> None:
        self.console.print(f"   {text}")


def chapter_data(story: Story) -> None:
    story.title("Data: loan applications")
    from sklearn.model_selection import train_test_split

    df = credit_applications(story.rows, story.seed)
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    from usina.artifacts import put_bytes

    blob = put_bytes(story.client.artifacts, buffer.getvalue())
    story.data, story.dataset_digest = df, blob.digest
    story.split = train_test_split(
        df[FEATURES], df[LABEL], test_size=0.25, random_state=story.seed, stratify=df[LABEL]
    )
    story.say(
        f"Generated {len(df):,} synthetic applications ({df[LABEL].mean():.1%} defaulted), "
        f"{len(FEATURES)} features ({len(CATEGORICAL)} categorical)."
    )
    story.say(
        "Columns cpf and email are personal data: they stay out of the features "
        "(a later stage pseudonymizes them)."
    )
    story.say(
        f"Stored as Parquet, content-addressed: sha256:{blob.digest[:16]}… ({blob.size:,} bytes)."
    )


def _candidates() -> list[tuple[str, dict[str, Any], Any]]:
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric = [f for f in FEATURES if f not in CATEGORICAL]
    logistic_params = {"model": "logistic_regression", "C": 0.5, "max_iter": 500}
    logistic = make_pipeline(
        make_column_transformer(
            (StandardScaler(), numeric), (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)
        ),
        LogisticRegression(C=0.5, max_iter=500),
    )
    boosting_params = {"model": "hist_gradient_boosting", "max_iter": 100, "learning_rate": 0.1}
    boosting = make_pipeline(
        make_column_transformer(
            (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), CATEGORICAL),
            remainder="passthrough",
        ),
        HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, categorical_features=[0, 1, 2, 3], random_state=7
        ),
    )
    return [
        ("logistic regression (the baseline)", logistic_params, logistic),
        ("gradient boosting (the challenger)", boosting_params, boosting),
    ]


def _evaluate(model: Any, x_test: Any, y_test: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

    proba = model.predict_proba(x_test)[:, 1]
    return {
        "auc": float(roc_auc_score(y_test, proba)),
        "log_loss": float(log_loss(y_test, proba)),
        "brier": float(brier_score_loss(y_test, proba)),
        "accuracy": float(accuracy_score(y_test, proba >= 0.5)),
    }


def chapter_train(story: Story) -> None:
    story.title("Training two candidates, each a tracked run")
    assert story.split is not None
    x_train, x_test, y_train, y_test = story.split
    for title, params, model in _candidates():
        started = time.perf_counter()
        with story.client.start_run(EXPERIMENT, name=params["model"], params=params) as run:
            run.log_input("credit-applications", story.dataset_digest, rows=len(story.data))
            with story.console.status(f"   training the {title}…"):
                model.fit(x_train, y_train)
            metrics = _evaluate(model, x_test, y_test)
            run.log_metrics(metrics)
            with tempfile.TemporaryDirectory() as tmp:
                report = Path(tmp, "evaluation.json")
                report.write_text(json.dumps({"holdout_rows": len(x_test), **metrics}, indent=2))
                run.log_artifact(report)
            version = story.client.register_model(
                model,
                MODEL,
                run=run,
                input_example=x_train.head(5),
                description=f"{title}; hold-out AUC {metrics['auc']:.4f}",
            )
        story.candidates.append(Candidate(title, model, metrics, version))
        story.say(
            f"{title}: AUC {metrics['auc']:.4f}, log-loss {metrics['log_loss']:.4f} "
            f"→ run {run.id[:8]}, registered as [bold]{MODEL} v{version.version}[/bold] "
            f"({time.perf_counter() - started:.1f} s)"
        )
    story.say("Each version keeps its artifact digest, signature, metrics and lineage to its run.")


def chapter_promote(story: Story) -> None:
    story.title("Choosing the champion")
    baseline, challenger = story.candidates
    c = story.client
    earlier = c.registry.get_model(MODEL).aliases.get("champion")
    if earlier:
        story.say(f"An earlier demo left champion at v{earlier}; this run replaces it.")
    c.set_alias(MODEL, "champion", baseline.version.version, reason="baseline goes live")
    story.say(f"The baseline goes live first: champion → v{baseline.version.version}.")
    gain = challenger.metrics["auc"] - baseline.metrics["auc"]
    if gain > 0:
        c.set_alias(
            MODEL,
            "champion",
            challenger.version.version,
            reason=f"challenger beats the champion by {gain:+.4f} AUC on the same hold-out",
        )
        story.champion = challenger
        story.say(
            f"The challenger beats it on the same hold-out ({gain:+.4f} AUC): "
            f"champion → v{challenger.version.version}."
        )
    else:
        story.champion = baseline
        story.say(f"The challenger does not beat it ({gain:+.4f} AUC): the baseline stays.")


def chapter_rollback(story: Story) -> None:
    story.title("Rolling back, and forward again")
    assert story.champion is not None
    c = story.client
    if story.champion is story.candidates[0]:
        story.say("Only one model was ever champion, so there is nothing to roll back to.")
        return
    current = story.champion.version.version
    change = c.rollback(MODEL, "champion", reason=f"drill: pretend v{current} misbehaves")
    story.say(
        f"`usina models rollback {MODEL}` puts the previous holder back: "
        f"champion v{change.from_version} → v{change.to_version}."
    )
    c.set_alias(MODEL, "champion", current, reason="drill over: roll forward")
    story.say(f"Rolling forward is just moving the alias again: champion → v{current}.")


def chapter_score(story: Story) -> None:
    story.title("Loading the champion by its alias")
    assert story.split is not None
    x_test = story.split[1]
    uri = f"models:/{MODEL}@champion"
    model = story.client.load_model(uri)
    version = story.client.get_version(uri)
    sample = x_test.head(3)
    proba = model.predict_proba(sample)[:, 1]
    story.say(f"usina.load_model({uri!r}) → v{version.version}, digest checked before loading.")
    for (_, row), p in zip(sample.iterrows(), proba, strict=True):
        story.say(
            f"applicant aged {row['age']}, score {row['credit_score']}, "
            f"R$ {row['loan_amount']:,.0f} for {row['purpose']}: {p:.1%} chance of default"
        )


def chapter_history(story: Story) -> None:
    story.title("The champion's history (append-only)")
    table = Table("when", "action", "from", "to", "by", "reason", box=None, padding=(0, 2))
    for ch in story.client.alias_history(MODEL, "champion")[-4:]:
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(ch.at)),
            ch.action,
            f"v{ch.from_version}" if ch.from_version else "-",
            f"v{ch.to_version}" if ch.to_version else "-",
            ch.actor,
            ch.reason,
        )
    story.console.print(table)


CHAPTERS = [
    chapter_data,
    chapter_train,
    chapter_promote,
    chapter_rollback,
    chapter_score,
    chapter_history,
]


def run_demo(rows: int = 20_000, seed: int = 7, client: Client | None = None) -> Story:
    """Run every chapter on ``client`` (by default the one ``USINA_*`` settings describe)."""
    console = Console(highlight=False)
    if client is None:
        from usina.settings import Settings

        client = Client.from_settings(Settings())
    started = time.perf_counter()
    console.print(
        "[bold]usina demo[/bold]: a credit-risk model from raw data to a champion "
        "you can roll back."
    )
    story = Story(client, console, rows, seed)
    for chapter in CHAPTERS:
        chapter(story)
    console.print()
    console.print(
        f"[bold green]Done in {time.perf_counter() - started:.1f} s.[/bold green] "
        "Everything is stored:"
    )
    if client.db is not None:
        metadata = client.db.engine.url.render_as_string(hide_password=True)
    else:
        metadata = f"the usina server at {client.artifacts.uri}"
    console.print(f"   metadata   {metadata}")
    console.print(f"   artifacts  {client.artifacts.uri}")
    bin_dir = Path(sys.executable).parent
    on_path = shutil.which("usina") == str(bin_dir / "usina")
    console.print("Look around:" if on_path else f"Look around (the command is {bin_dir}/usina):")
    for command in (
        "usina models list",
        f"usina models show models:/{MODEL}@champion",
        f"usina models history {MODEL}",
        f"usina runs list --experiment {EXPERIMENT}",
    ):
        console.print(f"   {command}")
    return story
