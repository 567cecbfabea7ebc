"""The demo's story: each chapter is a function, so later capabilities add chapters."""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from usina.artifacts.parquet import read_parquet
from usina.client import Client
from usina.demo.data import LABEL
from usina.errors import NotFound
from usina.registry import ModelVersion

if TYPE_CHECKING:
    from usina.pipelines import PipelineRun

MODEL = "credit-risk"
TRAFFIC = 800  # requests the serving chapter sends; a few seconds of a pipeline model's time


@dataclass
class Candidate:
    """A trained model, its hold-out metrics and the version it was registered as."""

    title: str
    metrics: dict[str, float]
    version: ModelVersion


@dataclass
class Story:
    """What the chapters share: the client, the console, the pipeline run and what it made."""

    client: Client
    console: Console
    rows: int
    seed: int
    run: PipelineRun | None = None
    candidates: list[Candidate] = field(default_factory=list)
    champion: Candidate | None = None
    monitor_run: Any = None  # the monitoring chapter's run, its first alert e-mail, the report
    alert: Any = None
    report: Path | None = None
    batch: Any = None  # the batch chapter's finished job
    dataset: Any = None  # the data chapter's dataset version, the load it stopped, its run
    stopped: Any = None
    retraining: Any = None
    loop_events: Any = None  # the loop chapter's events, as they were recorded
    pii_key_file: Path = Path("demo-pii.key")
    chapter: int = 0

    def title(self, text: str) -> None:
        self.chapter += 1
        self.console.print()
        self.console.print(f"[bold cyan]{self.chapter}. {text}[/bold cyan]")

    def say(self, text: str) -> None:
        self.console.print(f"   {text}")


CANDIDATES = {
    "train-logistic": "logistic regression (the baseline)",
    "train-boosting": "gradient boosting (the challenger)",
}


def chapter_train(story: Story) -> None:
    story.title(
        "Training through a pipeline: load → validate → pseudonymize → features (SQL) → two "
        "candidates"
    )
    from usina.demo.pipeline import training

    started = time.perf_counter()
    run = training.run(
        story.client, rows=story.rows, seed=story.seed, pii_key_file=str(story.pii_key_file)
    )
    story.run = run
    if not run.ok:
        failed = [s for s in run.steps if s.status == "failed"]
        raise RuntimeError(
            f"the training pipeline failed: {failed[0].error if failed else run.status}"
        )
    raw = run.output("load")
    story.say(
        f"Pipeline run {run.id[:8]} finished in {time.perf_counter() - started:.1f} s; "
        f"{raw.rows:,} synthetic applications, sha256:{raw.digest[:12]}…"
    )
    for s in run.steps:
        took = f"{s.end_time - s.start_time:.1f} s" if s.start_time and s.end_time else ""
        story.say(f"  {s.node:<15} {s.status.value:<7} {took}")
    if all(s.status == "cached" for s in run.steps):
        story.say("Nothing changed since the last run, so every step came from the cache.")
    tokens = _table(story.client, run.output("pseudonymize").digest).slice(0, 1).to_pylist()[0]
    story.say(
        f"cpf and email are personal data: pseudonymize turns them into keyed tokens "
        f"({tokens['cpf'][:24]}…) with the key in {story.pii_key_file.name} (USINA_PII_KEY_FILE), "
        "and the SQL features step leaves them behind."
    )
    versions = {v.run_id: v for v in story.client.registry.list_versions(MODEL)}
    for node, title in CANDIDATES.items():
        step = run.step(node)
        version = versions[step.cached_from or step.id]
        story.candidates.append(Candidate(title, version.metrics, version))
        story.say(
            f"{title}: AUC {version.metrics['auc']:.4f}, log-loss "
            f"{version.metrics['log_loss']:.4f} → [bold]{MODEL} v{version.version}[/bold]"
        )
    story.say("Each version keeps its digest, signature, metrics and lineage to the raw data.")


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


def _table(client: Client, digest: str) -> Any:
    """A Parquet artifact as a ``pyarrow.Table`` (whole, digest-checked bytes)."""

    from usina.artifacts import read_bytes

    return read_parquet(read_bytes(client.artifacts, digest))


def _applicants(story: Story, rows: int | None = None) -> Any:
    """Feature rows (without the label) from the pipeline's features step."""

    from usina.artifacts import read_bytes

    assert story.run is not None
    # Whole, digest-checked bytes: Parquet seeks, and a blob read through a server is a stream.
    data = read_bytes(story.client.artifacts, story.run.output("features").digest)
    frame = read_parquet(data).to_pandas().drop(columns=[LABEL])
    return frame if rows is None else frame.head(rows)


def chapter_serve(story: Story) -> None:
    story.title("Serving the champion, and rolling back under live traffic")
    assert story.champion is not None
    if story.champion is story.candidates[0]:
        story.say("Only one model was ever champion, so there is nothing to roll back to.")
        return
    from usina.demo.traffic import roll_back_under_traffic

    current = story.champion.version.version
    instances = _applicants(story, 200).to_dict(orient="records")
    with story.console.status(f"   sending {TRAFFIC:,} requests to the endpoint…"):
        report = roll_back_under_traffic(
            story.client,
            MODEL,
            instances,
            endpoint="credit",
            requests=TRAFFIC,
        )
    story.say(
        f"Endpoint [bold]credit[/bold] follows models:/{MODEL}@champion; "
        f"{report.requests:,} requests from 4 clients (Vertex AI :predict format)."
    )
    story.say(
        f"Halfway, `usina models rollback {MODEL}`: champion v{report.rollback.from_version} → "
        f"v{report.rollback.to_version}, swapped in while requests kept coming."
    )
    answered = ", ".join(f"v{v}: {n:,}" for v, n in report.answers_by_version.items())
    story.say(f"Answers by version: {answered}. Failed requests: [bold]{report.failed}[/bold].")
    for st in report.stats:
        if st.version is None or not st.requests:
            continue
        story.say(
            f"  v{st.version}: {st.requests:,} logged, p50 {st.p50_ms:.1f} ms, "
            f"p99 {st.p99_ms:.1f} ms, errors {st.error_rate:.1%}"
        )
    story.client.set_alias(MODEL, "champion", current, reason="drill over: roll forward")
    story.say(f"Rolling forward is just moving the alias again: champion → v{current}.")
    story.say("See it again with: usina endpoints stats credit")


SHIFTED = 1200  # requests of the drifted traffic the monitoring chapter sends


def _shifted(applicants: Any) -> list[dict[str, Any]]:
    """The applicants a month later: older, asking for much larger loans."""
    moved = applicants.copy()
    if "age" in moved:
        moved["age"] = (moved["age"] + 18).clip(upper=90)
    if "loan_amount" in moved:
        moved["loan_amount"] = (moved["loan_amount"] * 2.5).round(-1)
    return list(moved.to_dict(orient="records"))


def chapter_monitor(story: Story) -> None:
    story.title("Watching the endpoint: drift, an alert by e-mail, a report")
    from usina.demo.mailbox import Mailbox, body_text
    from usina.demo.traffic import send, serving, wait_logged
    from usina.monitoring.alerter import Alerter
    from usina.monitoring.channels import DeliveryConfig, SmtpConfig
    from usina.monitoring.monitors import report_runs, window_summaries
    from usina.monitoring.monitors_sql import SqlMonitorStore
    from usina.monitoring.report import write_report

    client = story.client
    champion = f"models:/{MODEL}@champion"
    try:
        client.endpoints.get("credit")
    except NotFound:  # the serving chapter had nothing to roll back, and made no endpoint
        client.endpoints.create("credit", champion)
    train = _applicants(story)
    summary = client.set_reference(champion, train)
    version = client.get_version(champion).version
    story.say(
        f"Reference of v{version}: {len(summary.names)} columns summarised from "
        f"{len(train):,} training rows (bins and category counts; never reread)."
    )
    with contextlib.suppress(NotFound):  # a second demo starts the monitor afresh
        client.monitors.delete("credit-watch")
    firing = {a.check for a in client.alerts.list(monitor="credit-watch", state="firing")}
    monitor = client.monitors.create(
        {
            "name": "credit-watch",
            "endpoint": "credit",
            "window": "1h",
            "profile": "vertex",
            "drift_threshold": 0.1,
            "metrics": ["error_rate<=0.01"],
            "alerts": ["email:ml-team@example.com"],
        }
    )
    story.say(
        "Monitor [bold]credit-watch[/bold]: the last hour of endpoint credit against the "
        "reference (Vertex AI's profile: Jensen-Shannon for numbers, L-infinity for "
        "categories; drift above 0.1), alerts to ml-team@example.com."
    )
    with Mailbox() as box:
        monitors = client.monitors
        if isinstance(monitors, SqlMonitorStore):
            smtp = SmtpConfig("127.0.0.1", box.port, sender="usina@localhost", starttls=False)
            monitors.alerter = Alerter(client.alerts, DeliveryConfig(smtp=smtp))
        logged = sum(s.requests for s in client.endpoints.stats("credit", since_s=3600.0))
        with story.console.status(f"   sending {SHIFTED:,} requests from older applicants…"):
            with serving(client, "credit") as url:
                _, failed = send(url, _shifted(_applicants(story, 300)), SHIFTED)
            wait_logged(client, "credit", logged + SHIFTED - failed)
        run = monitors.run(monitor.name)
        drifted = sorted({b["name"] for b in run.breaches if b["kind"] == "drift"})
        story.say(
            f"Run over the last hour: [bold]{run.status}[/bold]; drifted: "
            f"{', '.join(drifted) or 'nothing'} ({run.seconds:.2f} s)."
        )
        new = {f"drift:{name}" for name in drifted} - firing
        expected = isinstance(monitors, SqlMonitorStore) and bool(new)
        mails = box.wait(1, timeout=15) if expected else []
    story.monitor_run = run
    if mails:
        mail = story.alert = mails[0]
        story.say(f"The alert arrived at the demo's mailbox (SMTP on 127.0.0.1:{box.port}):")
        story.console.print(f"     From: {mail['From']}", markup=False)
        story.console.print(f"     To: {mail['To']}", markup=False)
        story.console.print(f"     Subject: {mail['Subject']}", markup=False)
        for line in body_text(mail).strip().splitlines()[:6]:
            story.console.print(f"     {line}", markup=False, soft_wrap=True)
    elif client.server is not None:
        story.say("Through a usina server, the server sends alerts with its USINA_SMTP_* settings.")
    elif drifted and not new:
        story.say(
            "These alerts have fired since an earlier demo, so no e-mail now: a reminder "
            "follows after the cooldown (USINA_ALERT_COOLDOWN, 4 h). See: usina alerts list"
        )
    else:
        story.say("No alert e-mail arrived; see the log for the channel's error.")
    folder = _beside_the_data(client)
    latest = max(run.figures.get("versions", []), key=lambda v: v["figures"]["requests"])
    pairs = window_summaries(monitor, client.artifacts, run.window_start, run.window_end)
    reference, current = pairs.get(latest["version"], (None, None))
    written = write_report(
        folder / "monitor-report.html",
        monitor.name,
        report_runs(monitor, [run]),
        endpoint="credit",
        profile=monitor.spec.profile,
        window=monitor.spec.window_s,
        reference=reference,
        current=current,
    )
    story.report = written
    story.say(f"Report with plots, viewable offline: {written}")
    story.say("Again later: usina monitors run credit-watch; usina monitors report credit-watch")


def chapter_score(story: Story) -> None:
    story.title("Loading the champion by its alias")
    uri = f"models:/{MODEL}@champion"
    model = story.client.load_model(uri)
    version = story.client.get_version(uri)
    sample = _applicants(story, 3)
    proba = model.predict_proba(sample)[:, 1]
    story.say(f"usina.load_model({uri!r}) → v{version.version}, digest checked before loading.")
    for (_, row), p in zip(sample.iterrows(), proba, strict=True):
        story.say(
            f"applicant aged {row['age']}, score {row['credit_score']}, "
            f"R$ {row['loan_amount']:,.0f} for {row['purpose']}: {p:.1%} chance of default"
        )


DAILY = 5000  # applications of the day the batch chapter scores


def chapter_batch(story: Story) -> None:
    story.title("Scoring a day of applications into a table, and querying it")
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from usina.batch import run
    from usina.batch.query import query_tables
    from usina.demo.data import credit_applications
    from usina.demo.pipeline import FEATURES_SQL

    client = story.client
    day = dt.datetime.now(dt.UTC).date().isoformat()
    folder = _beside_the_data(client)
    raw = credit_applications(DAILY, seed=story.seed + 1000).drop(columns=[LABEL])
    source = folder / f"applications-{day}.parquet"
    pq.write_table(pa.Table.from_pandas(raw, preserve_index=False), source)
    # The same SQL as the pipeline's features step, over the day's file: the model sees the
    # columns it was trained on, and the application id rides along as the key.
    features = Path(FEATURES_SQL).read_text().split("SELECT", 1)[1]
    features = features.replace('"default"', "application_id").replace(
        "FROM applications", f"FROM read_parquet('{source.as_posix()}')"
    )
    story.say(
        f"{DAILY:,} applications of {day} in {source.name} (personal data included; the "
        "query below leaves it behind)."
    )
    with story.console.status("   scoring…"):
        job = run(
            "credit-daily",
            f"models:/{MODEL}@champion",
            "SELECT" + features,
            "credit_scores",
            partition={"run_date": day},
            keys=["application_id"],
            client=client,
        )
    story.batch = job
    story.say(
        f"Job credit-daily: {job.rows_out:,} rows scored with {job.name} v{job.version} in "
        f"{job.ended_at - job.started_at:.2f} s → table [bold]credit_scores[/bold], "
        f"partition run_date={day} (written atomically; a rerun replaces it)."
    )
    summary = query_tables(
        client.artifacts,
        "select run_date, version, count(*) as applications, "
        "round(avg(proba_1), 4) as mean_risk, count(*) filter (where proba_1 >= 0.5) as flagged "
        f"from credit_scores where run_date = '{day}' group by all",
    )
    table = Table(*summary.column_names, box=None, padding=(0, 2))
    for row in summary.to_pylist():
        table.add_row(*(str(v) for v in row.values()))
    story.say("usina sql over the table:")
    story.console.print(table)
    story.say(
        'Again: usina sql "select * from credit_scores limit 5"; every night at 03:00: '
        "usina batch schedule credit-daily --cron '0 3 * * *' ..."
    )


EVENTS = "applications"  # the topic the data chapter publishes to, and the dataset it fills


def chapter_data(story: Story) -> None:
    story.title("Applications arriving as events: a topic, a dataset, a volume check, retraining")
    import uuid

    import pyarrow as pa

    import usina.datasets
    from usina.datasets.expectations import ExpectationFailed
    from usina.demo.data import credit_applications
    from usina.demo.pipeline import retraining
    from usina.topics.entities import TopicColumn, TopicSpec

    client = story.client
    day = credit_applications(story.rows, seed=story.seed + 2000)
    types = {"i": "int64", "u": "int64", "f": "double", "b": "bool"}
    columns = tuple(TopicColumn(c, types.get(day[c].dtype.kind, "string")) for c in day.columns)
    try:
        client.topics.get(EVENTS)
    except NotFound:
        client.topics.create(TopicSpec(EVENTS, columns, description="loan applications"))
    usina.datasets.expect(
        EVENTS,
        {"kind": "row_count", "min": 1000},
        {"kind": "volume", "max_drop": 0.3},
        {"kind": "nulls", "column": "credit_score", "max_rate": 0.0},
        client=client,
    )

    def land(records: list[dict[str, Any]]) -> Any:
        """Publish ``records`` as events, read them back in a consumer group of their own, and
        save what arrived as the next version of the dataset."""
        group = f"demo-{uuid.uuid4().hex[:8]}"
        offsets = client.topics.publish(EVENTS, records)
        client.topics.seek(EVENTS, group, offset=offsets[0])
        arrived: list[dict[str, Any]] = []
        while len(arrived) < len(records):
            got = client.topics.poll(EVENTS, group, "demo", max_messages=5000, wait=1.0)
            if not got:
                break
            arrived += [m.json() for m in got if m.offset <= offsets[-1]]
            client.topics.commit(EVENTS, group, [m.offset for m in got])
        return usina.datasets.save(pa.Table.from_pylist(arrived), EVENTS, client=client)

    records = day.to_dict(orient="records")
    with story.console.status(f"   publishing {len(records):,} application events…"):
        version = land(records)
    story.say(
        f"{len(records):,} events on topic [bold]{EVENTS}[/bold] (embedded log; Redis or NATS "
        f"with USINA_TOPICS_URL) → dataset {version.reference}: {version.rows:,} rows, profiled, "
        "checked against its expectations (row count, volume, nulls)."
    )
    story.dataset = version
    half = records[: len(records) // 2]
    try:
        land(half)
    except ExpectationFailed as exc:
        story.stopped = exc.report
        story.say(
            f"The next load arrives halved ({len(half):,} events): the volume check stops it, "
            "and nothing is registered:"
        )
        for line in exc.report.summary().splitlines()[1:]:
            story.say(f"  {line.strip()}")
    started = time.perf_counter()
    run = retraining.run(
        client,
        applications=version.reference,
        seed=story.seed,
        pii_key_file=str(story.pii_key_file),
    )
    story.retraining = run
    if not run.ok:
        failed = [s for s in run.steps if s.status == "failed"]
        raise RuntimeError(f"the retraining failed: {failed[0].error if failed else run.status}")
    step = run.step("train-boosting")
    trained = {v.run_id: v for v in client.registry.list_versions(MODEL)}.get(
        step.cached_from or step.id
    )
    story.say(
        f"Retraining on {version.reference} ({time.perf_counter() - started:.1f} s): "
        + (f"{MODEL} v{trained.version}, AUC {trained.metrics['auc']:.4f}; " if trained else "")
        + f"usina lineage {version.reference} shows the run that read it."
    )


def _beside_the_data(client: Client) -> Path:
    """The folder that holds the artifact store (a local one), else the current folder."""
    root = getattr(client.artifacts, "root", None)
    return Path(root).parent if root is not None else Path.cwd()


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
    chapter_train,
    chapter_promote,
    chapter_serve,
    chapter_monitor,
    chapter_score,
    chapter_batch,
    chapter_data,
    chapter_history,
]


def _pii_key_file(client: Client) -> Path:
    """The key the demo pseudonymizes with: ``USINA_PII_KEY_FILE`` when set, else a key of its
    own made once beside the data (readable by its owner only)."""
    import base64
    import os

    from usina.settings import Settings

    given = Settings().pii_key_file
    if given:
        return Path(given)
    path = _beside_the_data(client) / "demo-pii.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    return path


def run_demo(
    rows: int = 20_000, seed: int = 7, client: Client | None = None, *, loop: bool = True
) -> Story:
    """Run every chapter on ``client`` (by default the one ``USINA_*`` settings describe);
    ``loop=False`` leaves out the last, the policies' closed loop."""
    console = Console(highlight=False)
    if client is None:
        from usina.settings import Settings

        client = Client.from_settings(Settings())
    started = time.perf_counter()
    console.print(
        "[bold]usina demo[/bold]: a credit-risk model from raw data to a champion "
        "you can roll back."
    )
    story = Story(client, console, rows, seed, pii_key_file=_pii_key_file(client))
    for chapter in CHAPTERS:
        chapter(story)
    if loop:
        from usina.demo.loop import chapter_loop

        chapter_loop(story)
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
        f"usina lineage models:/{MODEL}@champion",
        "usina pipelines runs",
        "usina endpoints stats credit",
        "usina monitors history credit-watch",
        "usina alerts list",
        "usina batch jobs",
        'usina sql "select * from credit_scores limit 5"',
        "usina datasets versions applications",
        "usina events --policy credit-loop",
        "usina lineage datasets:/applications@latest",
        "usina serve        # the endpoint over HTTP on 127.0.0.1:8080 (docs/serving.md)",
    ):
        console.print(f"   {command}")
    return story
