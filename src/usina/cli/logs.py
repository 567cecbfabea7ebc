"""``usina logs``: SQL over the serving request log."""

from __future__ import annotations

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json

app = typer.Typer(
    help="The request log of online endpoints, queried with SQL.", no_args_is_help=True
)


@app.command("query")
def query(
    sql: str = typer.Argument(..., help='DuckDB SQL over the view "requests".'),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Run SQL over the request log (view: requests; columns: request_id, time, endpoint, model,
    version, shadow, protocol, status, latency_ms, inputs, outputs, error)."""
    from usina.serving import query_log

    result = query_log(client().artifacts, sql)
    if json:
        print_json([dict(zip(result.columns, row, strict=True)) for row in result.rows])
        return
    from rich.table import Table

    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
