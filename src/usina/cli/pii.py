"""``usina pii``: scan a file for personal data, and reverse encrypted values (audited)."""

from __future__ import annotations

from typing import Any

import typer

from usina.cli.context import client, remote_url
from usina.cli.output import console, print_json

app = typer.Typer(
    help="Personal data: scan files for CPF, CNPJ, cards, e-mails and phones; reverse "
    "encrypted values.",
    no_args_is_help=True,
)


@app.command("scan")
def scan_file(
    path: str = typer.Argument(
        ..., help="A .csv, .parquet or .jsonl file, or a dataset version (datasets:/NAME@latest)."
    ),
    threshold: float = typer.Option(
        0.5, "--threshold", min=0.0, max=1.0, help="Lowest score reported."
    ),
    json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Which columns hold personal data, of which kinds, how much; samples are masked."""
    from rich.table import Table

    from usina.pii import read_table, scan

    if path.startswith("datasets:/"):
        from usina.datasets.api import load

        table = load(path, client=client())  # digest-checked; text columns scanned as text
    else:
        table = read_table(path)
    report = scan(table, threshold=threshold)
    if json:
        print_json(report.to_dict())
        return
    if not report.columns:
        console.print(f"No personal data found in {report.rows} rows.")
        return
    table = Table("column", "kind", "values", "rows", "samples (row:start-end masked)")
    for c in report.columns:
        samples = ", ".join(f"{s.row}:{s.start}-{s.end} {s.masked}" for s in c.samples)
        table.add_row(c.column, c.kind, str(c.count), str(c.rows), samples)
    console.print(table)
    console.print(f"{report.rows} rows scanned.")


@app.command("reidentify")
def reidentify_values(
    values: list[str] = typer.Argument(..., help="Values made by the encrypt operator."),
    json: bool = typer.Option(False, "--json", help="Print the values as a JSON list."),
) -> None:
    """The original values of encrypted ones (``enc:KEYID:...``). Needs the permission
    ``usina.pii.reidentify``; every call is audited, allowed or refused."""
    found: list[str]
    if remote_url():
        server = client().server
        assert server is not None
        answer: Any = server.call("POST", "/pii:reidentify", json={"values": values})
        found = list(answer["values"])
    else:
        from usina.audit import SqlAuditStore
        from usina.pii import grants_of, load_key, reidentify
        from usina.settings import Settings

        settings = Settings()
        secret = settings.pii_key.get_secret_value() if settings.pii_key else None
        key = load_key(secret, settings.pii_key_file)
        principal = settings.actor if ":" in settings.actor else f"user:{settings.actor}"
        local = client()
        assert local.db is not None  # no USINA_URL: the client is on the database
        found = reidentify(
            values,
            key=key,
            audit=SqlAuditStore(local.db),
            actor=principal,
            grants=grants_of(local.identity, principal),
        )
    if json:
        print_json(found)
        return
    for value in found:
        console.print(value, markup=False, highlight=False)
