"""``usina audit``: list the audit log, verify its chain, export signed checkpoints.

``verify`` and ``checkpoint`` exit 0 when the log is intact, 1 when tampering was found (the
record is named), 2 on bad input (a bad filter, a missing key, an unreadable or wrongly signed
checkpoint file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, errors, print_json, when

if TYPE_CHECKING:
    from usina.audit import Verification

app = typer.Typer(help="The audit log: list, verify, checkpoint.", no_args_is_help=True)

TAMPERED = 1


def _key() -> str | None:
    from usina.settings import Settings

    secret = Settings().audit_key
    return None if secret is None else secret.get_secret_value()


@app.command("list")
def list_records(
    actor: Optional[str] = typer.Option(None, "--actor", help="Only this actor's records."),  # noqa: UP045
    resource: Optional[str] = typer.Option(  # noqa: UP045
        None, "--resource", help="Only this resource (models/credit); a trailing * is a prefix."
    ),
    action: Optional[str] = typer.Option(  # noqa: UP045
        None, "--action", help="Only this action (usina.models.deploy); a trailing * is a prefix."
    ),
    since: Optional[str] = typer.Option(  # noqa: UP045
        None, "--since", help="From this time: 2026-12-01T10:00Z, seconds since 1970, or 2h ago."
    ),
    until: Optional[str] = typer.Option(  # noqa: UP045
        None, "--until", help="Before this time (same forms as --since)."
    ),
    decision: Optional[str] = typer.Option(None, "--decision", help="allow or deny."),  # noqa: UP045
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="Most records shown."),
    json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """Audit records, newest first."""
    from rich.table import Table

    from usina.audit.checks import parse_time

    found = client().audit.list(
        actor=actor,
        resource=resource,
        action=action,
        decision=decision,
        since=None if since is None else parse_time(since, "since"),
        until=None if until is None else parse_time(until, "until"),
        limit=limit,
    )
    if json:
        print_json(found)
        return
    if not found:
        console.print("No audit records match.")
        return
    table = Table("seq", "time", "actor", "action", "resource", "decision", "status", "client")
    for r in found:
        table.add_row(
            str(r.seq),
            when(r.time),
            r.actor,
            r.action,
            r.resource or "-",
            str(r.decision),
            "-" if r.status is None else str(r.status),
            r.client or "-",
        )
    console.print(table)


def _report(v: Verification, json: bool) -> None:
    """Print a verification; exit 1 when it found tampering."""
    if json:
        print_json(v)
    elif v.ok:
        line = f"audit log intact: {v.checked} records, head {v.head.seq} ({v.head.hash[:16]}…)"
        if v.checkpoint_seq is not None:
            line += f"; matches the checkpoint at record {v.checkpoint_seq}"
        console.print(line, soft_wrap=True)
    else:
        assert v.problem is not None
        errors.print(
            f"TAMPERED: {v.problem.message} (record {v.problem.seq}; {v.problem.kind}); "
            f"{v.checked} records read",
            markup=False,
            soft_wrap=True,
        )
    if not v.ok:
        raise typer.Exit(TAMPERED)


@app.command("verify")
def verify(
    checkpoint: Optional[Path] = typer.Option(  # noqa: UP045
        None,
        "--checkpoint",
        help="A checkpoint from 'usina audit checkpoint': also detect a log cut short after it "
        "(its signature is checked under USINA_AUDIT_KEY).",
    ),
    json: bool = typer.Option(False, "--json", help="Print the verification as JSON."),
) -> None:
    """Walk the hash chain and name the first edited, deleted or reordered record.

    Exits 0 when the log is intact, 1 when tampering was found, 2 on bad input."""
    from usina.audit import checkpoints

    trusted = None if checkpoint is None else checkpoints.read(checkpoint, _key())
    _report(client().audit.verify(trusted), json)


@app.command("checkpoint")
def checkpoint(
    out: Path = typer.Option(..., "--out", "-o", help="The file to write the checkpoint to."),
    json: bool = typer.Option(False, "--json", help="Print the checkpoint as JSON."),
) -> None:
    """Verify the log, then write its head (seq, hash, time) signed with USINA_AUDIT_KEY.

    Keep the file away from the database; 'usina audit verify --checkpoint FILE' then detects
    records deleted after it. A log that fails verification is not checkpointed (exit 1)."""
    from usina.audit import checkpoints

    key = _key()
    checkpoints.check_key(key)  # before walking the log: the key is missing more often
    v = client().audit.verify()
    if not v.ok:
        _report(v, json)
    content = checkpoints.write(out, v.head, key)
    if json:
        print_json(content)
        return
    console.print(
        f"checkpoint of record {v.head.seq} ({v.head.hash[:16]}…, {when(v.head.time)}) "
        f"written to {out}",
        soft_wrap=True,
    )


def register(root: typer.Typer) -> None:
    """Add the audit commands to the ``usina`` app."""
    root.add_typer(app, name="audit")
