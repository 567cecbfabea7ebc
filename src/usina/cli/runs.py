"""``usina runs``: tracked runs with their params, metrics, tags and artifacts."""

from __future__ import annotations

from typing import Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, fmt_metric, print_json, when

app = typer.Typer(help="Runs: what one training or evaluation logged.", no_args_is_help=True)


@app.command("list")
def list_runs(
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Only this experiment."),
    status: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--status",
        "-s",
        help="Only runs with this status: running, finished, failed or killed.",
    ),
    limit: int = typer.Option(
        20, "--limit", "-n", min=1, max=10000, help="At most this many, newest first."
    ),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List runs, newest first."""
    runs = client().tracking.list_runs(experiment=experiment, status=status, limit=limit)
    if json:
        print_json(runs)
        return
    if not runs:
        console.print("No runs match.")
        return
    from rich.table import Table

    table = Table("id", "experiment", "name", "status", "started", "metrics")
    for r in runs:
        metrics = "\n".join(f"{k}={fmt_metric(v)}" for k, v in list(r.metrics.items())[:4])
        table.add_row(r.id[:8], r.experiment, r.name, r.status.value, when(r.start_time), metrics)
    console.print(table)


@app.command("show")
def show_run(
    run_id: str = typer.Argument(
        ..., help="The run id, or a unique prefix of at least 6 characters."
    ),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show one run: params, latest metrics, tags, artifacts and input datasets."""
    run = client().tracking.get_run(run_id)
    if json:
        print_json(run)
        return
    console.print(f"[bold]run {run.id}[/bold]  {run.name}  ({run.experiment})")
    console.print(f"  status   {run.status.value}")
    console.print(
        f"  started  {when(run.start_time)}   ended {when(run.end_time)}   by {run.created_by}"
    )
    for title, items in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if items:
            console.print(f"  {title}")
            for k, v in items.items():
                console.print(f"    {k} = {fmt_metric(v) if isinstance(v, float) else v}")
    if run.inputs:
        console.print("  inputs")
        for i in run.inputs:
            rows = f", {i.rows} rows" if i.rows is not None else ""
            console.print(f"    {i.name}  sha256:{i.digest[:12]}{rows}")
    if run.artifacts:
        console.print("  artifacts")
        for a in run.artifacts:
            console.print(f"    {a.path}  {a.size} bytes  sha256:{a.digest[:12]}")
