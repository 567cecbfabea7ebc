"""``usina secrets``: named secrets stored encrypted (set, list, get, delete), and ``usina keys
generate`` for a new master key.

A value is read from a hidden prompt or stdin, never from an argument (which lands in shell
history and is visible to other users), and printed only by ``get NAME --reveal``."""

from __future__ import annotations

from typing import Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when
from usina.cli.secrets_input import read_secret

app = typer.Typer(
    help="Secrets stored encrypted with the master key (USINA_MASTER_KEY): set, list, get, delete.",
    no_args_is_help=True,
)
keys = typer.Typer(help="Master keys for encryption at rest: generate one.", no_args_is_help=True)


@app.command("set")
def set_secret(
    name: str = typer.Argument(..., help="The secret's name (smtp-password, aws.secret_key)."),
    json: bool = typer.Option(False, "--json", help="Print the secret's record as JSON."),
) -> None:
    """Store a value under NAME, read from a hidden prompt or one line of stdin; setting it
    again makes a new version."""
    value = read_secret("Value", confirm=True, field="value")
    info = client().secrets.set(name, value)
    if json:
        print_json(info)
        return
    console.print(f"Secret {info.name} set (version {info.version}).")


@app.command("list")
def list_secrets(
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=1000, help="Most shown."),
    json: bool = typer.Option(False, "--json", help="Print the secrets as JSON."),
) -> None:
    """Secrets by name, with their version and last change; never their values."""
    from rich.table import Table

    found = client().secrets.list(limit=limit)
    if json:
        print_json(found)
        return
    if not found:
        console.print("No secrets.")
        return
    table = Table("name", "version", "updated", "by")
    for s in found:
        table.add_row(s.name, str(s.version), when(s.updated_at), s.updated_by)
    console.print(table)


@app.command("get")
def get_secret(
    name: str = typer.Argument(..., help="The secret's name."),
    reveal: bool = typer.Option(
        False, "--reveal", help="Print the value (needs usina.secrets.read; audited)."
    ),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """A secret's version and last change; its value only with --reveal."""
    store = client().secrets
    if not reveal:
        info = store.get(name)
        if json:
            print_json(info)
            return
        console.print(
            f"{info.name}: version {info.version}, set {when(info.updated_at)} by "
            f"{info.updated_by} (the value is shown only with --reveal)"
        )
        return
    value = store.reveal(name)
    if json:
        print_json({"name": name, "value": value})
        return
    typer.echo(value)


@app.command("delete")
def delete_secret(
    name: str = typer.Argument(..., help="The secret's name."),
    json: bool = typer.Option(False, "--json", help="Print what was deleted as JSON."),
) -> None:
    """Remove a secret."""
    client().secrets.delete(name)
    if json:
        print_json({"deleted": name})
        return
    console.print(f"Secret {name} deleted.")


@keys.command("generate")
def generate(
    key_id: str = typer.Option("k1", "--id", help="The new key's id (k2, 2026-12, ...)."),
    aws_kms: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--aws-kms",
        help="Have this AWS KMS key (id, ARN or alias) make the key and print it wrapped "
        "(ID:aws-kms:BASE64); needs the kms extra.",
    ),
) -> None:
    """Print a new random 256-bit master key as ID:BASE64, for USINA_MASTER_KEY or a key
    file (mode 0600). To rotate, put the new entry first and keep the old ones after it."""
    from usina.crypto.keys import generate_key

    if aws_kms:
        from usina.crypto.kms import wrap_new_key

        generate_key(key_id)  # checks the id
        typer.echo(wrap_new_key(aws_kms, key_id))
        return
    typer.echo(generate_key(key_id))


def register(root: typer.Typer) -> None:
    """Add the secret and key commands to the ``usina`` app."""
    root.add_typer(app, name="secrets")
    root.add_typer(keys, name="keys")
