"""``usina batch`` (run a batch prediction job, list jobs, schedule one) and ``usina sql``
(query the output tables with DuckDB)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when, with_row_progress
from usina.errors import InvalidInput

if TYPE_CHECKING:
    from usina.batch import BatchRun

app = typer.Typer(help="Batch prediction into partitioned tables.", no_args_is_help=True)

_MODEL = typer.Option(..., "--model", help="models:/NAME@ALIAS, models:/NAME/N or models:/NAME.")
_INPUT = typer.Option(
    ..., "--input", help='A Parquet file or folder, a CSV file, or "select ... from ...".'
)
_OUTPUT = typer.Option(..., "--output", help="The table written under tables/ (credit_scores).")
_PARTITION = typer.Option(
    [], "--partition", help="The partition written, KEY=VALUE (repeatable); a rerun replaces it."
)
_KEYS = typer.Option([], "--keys", help="An input column copied to the output (repeatable).")
_ON_ERROR = typer.Option(
    "fail", "--on-error", help="fail: stop at a row that cannot be scored; skip: reject it."
)


def parse_partition(items: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise InvalidInput(
                f"--partition {item!r} is not KEY=VALUE (for example run_date=2026-12-01)",
                field="partition",
            )
        found[key] = value
    return found


def _keys(items: list[str]) -> list[str]:
    return [k.strip() for item in items for k in item.split(",") if k.strip()]


@app.command("run")
def run_job(
    name: str = typer.Argument(..., help="The job's name."),
    model: str = _MODEL,
    input: str = _INPUT,
    output: str = _OUTPUT,
    partition: list[str] = _PARTITION,
    keys: list[str] = _KEYS,
    on_error: str = _ON_ERROR,
    trusted: bool = typer.Option(False, "--trusted", help="Allow a version stored as a pickle."),
    engine: str = typer.Option(
        "local", "--engine", help="local: score in this process; ray: on Ray Data (actors)."
    ),
    ray_address: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--ray-address",
        help="With --engine ray: ray://host:10001; USINA_RAY_ADDRESS by default, empty starts "
        "a local Ray.",
    ),
    json: bool = typer.Option(False, "--json", help="Print the finished job as JSON."),
) -> None:
    """Score a table with the version a model URI points at now, into a partitioned table."""
    from usina.batch import run
    from usina.batch.job import check_engine

    check_engine(engine)
    if ray_address is None and engine == "ray":
        from usina.settings import Settings

        ray_address = Settings().ray_address
    on: dict[str, Any] = {"trusted": trusted, "engine": engine, "ray_address": ray_address or None}
    parts = parse_partition(partition)
    c = client()
    if json or not console.is_terminal:
        done = run(name, model, input, output, parts, _keys(keys), on_error, c, **on)
    else:
        done = with_row_progress(
            "scoring",
            lambda progress: run(
                name,
                model,
                input,
                output,
                parts,
                _keys(keys),
                on_error,
                c,
                progress=progress,
                **on,
            ),
        )
    if json:
        print_json(done)
        return
    _summary(done)


def _summary(done: BatchRun) -> None:
    where = "/".join(f"{k}={v}" for k, v in done.partition.items()) or "(whole table)"
    console.print(
        f"job {done.job_name} ({done.id}): {done.rows_in:,} rows in, {done.rows_out:,} scored, "
        f"{done.rows_rejected:,} rejected, with {done.name} v{done.version}, in "
        f"{done.ended_at - done.started_at:.1f}s ({done.rows_per_second:,.0f} rows/s)",
        soft_wrap=True,
    )
    console.print(f"wrote {done.output} {where}: {len(done.files)} file(s)", soft_wrap=True)
    if done.rows_rejected:
        console.print(f"rejected rows, with their reason: {done.output}_rejects {where}")


@app.command("export")
def export(
    table: str = typer.Argument(..., help="The batch output table (credit_scores)."),
    partition: list[str] = typer.Option(
        [], "--partition", help="The partition exported, KEY=VALUE (repeatable)."
    ),
    to: str = typer.Option(
        ..., "--to", help="bigquery:PROJECT.DATASET.TABLE (Application Default Credentials)."
    ),
    write_disposition: str = typer.Option(
        "truncate",
        "--write-disposition",
        help="truncate: a rerun replaces the day (or the table); append: add the rows.",
    ),
    json: bool = typer.Option(False, "--json", help="Print what was loaded as JSON."),
) -> None:
    """Load a published partition of a batch table into BigQuery, as one load job."""
    from usina.batch.bigquery import export_bigquery

    if not to.startswith("bigquery:"):
        raise InvalidInput(
            f"--to {to!r} is not a destination usina exports to; give "
            "bigquery:PROJECT.DATASET.TABLE",
            field="to",
        )
    parts = parse_partition(partition)
    done = export_bigquery(
        client().artifacts, table, parts, to, write_disposition=write_disposition
    )
    if json:
        print_json(done)
        return
    console.print(
        f"loaded {done.rows:,} rows of {done.table} from {len(done.files)} file(s) into "
        f"{done.destination} ({done.write_disposition}, job {done.job_id})",
        soft_wrap=True,
    )


@app.command("jobs")
def list_jobs(
    name: Optional[str] = typer.Option(None, "--name", help="Only this job's runs."),  # noqa: UP045
    status: Optional[str] = typer.Option(  # noqa: UP045
        None, "--status", help="running, succeeded or failed."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="Most jobs shown."),
    json: bool = typer.Option(False, "--json", help="Print the jobs as JSON."),
) -> None:
    """Batch job runs, newest first."""
    from rich.table import Table

    found = client().batch.list(name=name, status=status, limit=limit)
    if json:
        print_json(found)
        return
    if not found:
        console.print("No batch jobs. Run one with 'usina batch run NAME --model ... --input ...'.")
        return
    table = Table(
        "id",
        "name",
        "status",
        "model",
        "output",
        "partition",
        "rows in/out/rej",
        "started",
        "error",
    )
    for j in found:
        table.add_row(
            j.id[:12],
            j.name,
            j.status.value,
            f"{j.model} v{j.version}",
            j.output,
            "/".join(f"{k}={v}" for k, v in j.partition.items()) or "-",
            f"{j.rows_in:,}/{j.rows_out:,}/{j.rows_rejected:,}",
            when(j.started_at),
            j.error[:60],
        )
    console.print(table)


@app.command("schedule")
def schedule(
    name: str = typer.Argument(..., help="The schedule's name, also the job's name."),
    cron: str = typer.Option(..., "--cron", help="Five-field cron in UTC, e.g. '0 3 * * *'."),
    model: str = _MODEL,
    input: str = _INPUT,
    output: str = _OUTPUT,
    partition: list[str] = typer.Option(
        [], "--partition", help="KEY=VALUE; VALUE may use {date}, {hour} or {tick} of the tick."
    ),
    keys: list[str] = _KEYS,
    on_error: str = _ON_ERROR,
    catchup: str = typer.Option(
        "skip", "--catchup", help="After downtime: skip (drop missed ticks) or once (one run)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the schedule as JSON."),
) -> None:
    """Run a batch job on a cron schedule (fired by 'usina scheduler', once per tick)."""
    from usina.batch.entities import check_job_name
    from usina.batch.schedules import TARGET, batch_params
    from usina.pipelines.schedules import check_cron

    check_cron(cron)
    check_job_name(name)
    params = batch_params(model, input, output, parse_partition(partition), _keys(keys), on_error)
    s = client().schedules.create(name, f"{TARGET}{name}", cron, params, catchup)
    if json:
        print_json(s)
        return
    console.print(
        f"schedule {s.name}: {s.cron} → batch job into {output}; next run {when(s.next_tick)}"
    )


def sql(
    query: str = typer.Argument(
        ...,
        help="A DuckDB query, or a .sql FILE; each table under tables/ and each dataset (at "
        "its latest version) is a view.",
    ),
    limit: int = typer.Option(1000, "--limit", "-n", min=1, help="Most rows printed."),
    dialect: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--dialect",
        help="Print the query translated to this engine's SQL (bigquery, postgres, snowflake, "
        "spark) instead of running it; exit 2 naming a construct it cannot express.",
    ),
    json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """Query the output tables and datasets with DuckDB (each table is a view named after it,
    partition columns included; each dataset a view of its latest version), or translate the
    query to another engine's SQL with --dialect."""
    text = _query_text(query)
    if dialect is not None:
        from usina.datasets.dialects import transpile

        translated = transpile(text, dialect, pretty=True)
        if json:
            print_json({"dialect": dialect, "sql": translated})
        else:
            typer.echo(translated)
        return
    from usina.batch.query import query_tables

    c = client()
    result = query_tables(c.artifacts, text, limit, datasets=c)
    if result is None:
        return
    columns = result.column_names
    rows = list(zip(*(column.to_pylist() for column in result.columns), strict=True))
    if json:
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
        return
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def _query_text(query: str) -> str:
    """The query itself, or the text of the .sql file it names."""
    from pathlib import Path

    if query.strip().lower().endswith(".sql") and "\n" not in query:
        path = Path(query.strip()).expanduser()
        try:
            return path.read_text()
        except OSError as exc:
            raise InvalidInput(f"cannot read {query}: {exc.strerror}", field="query") from None
    return query


def register(root: typer.Typer) -> None:
    """Add the batch commands and ``usina sql`` to the ``usina`` app."""
    root.add_typer(app, name="batch")
    root.command("sql")(sql)
