"""``usina labels``: send the ground truth of logged requests, from a CSV or Parquet file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json

app = typer.Typer(help="Labels (ground truth) of endpoints' logged requests.", no_args_is_help=True)


def read_labels(path: Path) -> Any:
    """The file's rows as an Arrow table; ``request_id`` (and any key column) read as text."""
    from usina.errors import InvalidInput

    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInput(f"no file {str(path)!r}", field="file")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    elif suffix in (".csv", ".txt"):
        import pyarrow as pa
        import pyarrow.csv as csv

        with path.open("rb") as f:
            header = f.readline().decode(errors="replace").strip().split(",")
        # Ids and keys stay text ("007" is not 7); the label's type is inferred.
        text = {n.strip(): pa.string() for n in header if n.strip() not in ("label", "row")}
        table = csv.read_csv(path, convert_options=csv.ConvertOptions(column_types=text))
    else:
        raise InvalidInput(
            f"{str(path)!r} is neither .csv nor .parquet; give a CSV with a header row or a "
            "Parquet file, with columns request_id,label",
            field="file",
        )
    if "label" not in table.column_names:
        raise InvalidInput(
            f"{str(path)!r} has no 'label' column (columns: {', '.join(table.column_names)})",
            field="file",
        )
    return table


@app.command("ingest")
def ingest(
    endpoint: str = typer.Argument(..., help="The endpoint whose requests are labelled."),
    file: Path = typer.Argument(
        ...,
        help="CSV or Parquet with columns request_id,label (optionally row), or one key column "
        "the requests carried and label.",
    ),
    batch_size: int = typer.Option(
        100_000,
        "--batch-size",
        min=1,
        max=100_000,
        help="Labels sent at once; each batch is stored whole or not at all.",
    ),
    json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Store labels of logged requests; a row labelled again keeps the later label.

    A request missing from the endpoint's log refuses its batch, naming it (exit 2); files up
    to --batch-size rows are all or nothing."""
    from rich.progress import Progress

    table = read_labels(file)
    labels = client().labels
    stored = replaced = 0
    total = table.num_rows
    with Progress(console=console, transient=True, disable=json or total <= batch_size) as bar:
        task = bar.add_task(f"labels for {endpoint}", total=total)
        for start in range(0, total, batch_size):
            chunk = table.slice(start, batch_size).to_pylist()
            rows = [{k: v for k, v in r.items() if v is not None or k == "label"} for r in chunk]
            try:
                receipt = labels.ingest(endpoint, rows)
            except Exception:
                if start:
                    console.print(
                        f"rows 1 to {start} were stored ({stored} labels, {replaced} replaced); "
                        f"the batch from row {start + 1} was refused",
                        soft_wrap=True,
                    )
                raise
            stored += receipt.stored
            replaced += receipt.replaced
            bar.advance(task, len(rows))
    if json:
        print_json({"endpoint": endpoint, "stored": stored, "replaced": replaced})
        return
    console.print(f"{stored} labels stored for {endpoint} ({replaced} replaced earlier labels)")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="labels")
