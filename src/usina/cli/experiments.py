"""``usina experiments``: the experiments runs are grouped in."""

from __future__ import annotations

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when

app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)


@app.command("list")
def list_experiments(
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List experiments with their number of runs."""
    experiments = client().tracking.list_experiments()
    if json:
        print_json(experiments)
        return
    if not experiments:
        console.print(
            "No experiments yet. Start one with usina.start_run(experiment=...) or 'usina demo'."
        )
        return
    from rich.table import Table

    table = Table("name", "runs", "created", "by")
    for e in experiments:
        table.add_row(e.name, str(e.run_count), when(e.created_at), e.created_by)
    console.print(table)
