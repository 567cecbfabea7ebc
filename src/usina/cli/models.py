"""``usina models``: registered models, versions, aliases, rollback and history."""

from __future__ import annotations

from typing import Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, fmt_metric, print_json, when
from usina.errors import InvalidInput

app = typer.Typer(help="The model registry: versions, aliases, rollback.", no_args_is_help=True)


def _name_or_uri(target: str) -> tuple[str, str | None]:
    """``credit-risk`` or ``models:/credit-risk@champion`` -> (name, uri or None)."""
    if target.startswith("models:/"):
        from usina.registry import parse_model_uri

        return parse_model_uri(target).name, target
    if ":" in target or "/" in target:
        raise InvalidInput(
            f"{target!r} is neither a model name nor a models:/ URI; use credit-risk, "
            "models:/credit-risk/3 or models:/credit-risk@champion",
            field="model",
        )
    return target, None


@app.command("list")
def list_models(
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List registered models with their latest version and aliases."""
    models = client().registry.list_models()
    if json:
        print_json(models)
        return
    if not models:
        console.print(
            "No models registered yet. "
            "Register one with usina.register_model(...) or run 'usina demo'."
        )
        return
    from rich.table import Table

    table = Table("name", "latest", "aliases", "created", "by")
    for m in models:
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(
            m.name, f"v{m.latest_version}", aliases or "-", when(m.created_at), m.created_by
        )
    console.print(table)


@app.command("show")
def show(
    target: str = typer.Argument(
        ..., help="A model name, or a URI: models:/NAME/VERSION, models:/NAME@ALIAS."
    ),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show a version (by URI; the latest for a bare name) with its signature and lineage."""
    name, uri = _name_or_uri(target)
    lineage = client().lineage(uri or f"models:/{name}")
    if json:
        print_json(lineage)
        return
    v = lineage.version
    aliases = f"  [bold green]{', '.join(v.aliases)}[/bold green]" if v.aliases else ""
    console.print(f"[bold]{v.name} v{v.version}[/bold]{aliases}   {v.uri}")
    console.print(f"  class     {v.model_class} ({v.format})")
    console.print(f"  artifact  sha256:{v.digest}  {v.size} bytes")
    console.print(f"  created   {when(v.created_at)} by {v.created_by}")
    if v.description:
        console.print(f"  about     {v.description}")
    if v.signature.inputs:
        cols = ", ".join(f"{c.name}:{c.dtype}" for c in v.signature.inputs)
        console.print(f"  inputs    {cols}")
    if v.metrics:
        console.print(
            "  metrics   " + ", ".join(f"{k}={fmt_metric(x)}" for k, x in v.metrics.items())
        )
    _gate(v.name, v.version)
    run = lineage.run
    if run is None:
        console.print("  lineage   no run recorded")
        return
    console.print(f"  lineage   run {run.id} ({run.experiment}/{run.name}, {run.status.value})")
    if run.params:
        console.print("            params " + ", ".join(f"{k}={x}" for k, x in run.params.items()))
    for i in run.inputs:
        rows = f", {i.rows} rows" if i.rows is not None else ""
        console.print(f"            dataset {i.name} sha256:{i.digest[:12]}{rows}")


def _gate(name: str, version: int) -> None:
    """The gate's report on ``version``, when a policy gated it (its gate event)."""
    found = [
        e
        for e in client().events.list(model=name, limit=1000)
        if e.version == version and e.kind in ("gate_passed", "gate_failed")
    ]
    if not found:
        return
    report = found[-1].figures.get("gate") or {}
    verdict = "passed" if found[-1].kind == "gate_passed" else "failed"
    console.print(
        f"  gate      {verdict} ({found[-1].policy}, event {found[-1].id}) on "
        f"{report.get('rows', 0)} rows",
        markup=False,
    )
    for rule in report.get("rules", []):
        mark = "ok  " if rule.get("passed") else "FAIL"
        value, bound = rule.get("value"), rule.get("bound")
        figures = (
            f"{fmt_metric(value)} vs {fmt_metric(bound)}"
            if value is not None and bound is not None
            else rule.get("why", "not measured")
        )
        console.print(f"            {mark} {rule.get('rule')}: {figures}", markup=False)


@app.command("versions")
def versions(
    name: str = typer.Argument(..., help="The registered model's name."),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every version of a model, newest first."""
    found = client().registry.list_versions(name)
    if json:
        print_json(found)
        return
    from rich.table import Table

    table = Table("version", "aliases", "class", "metrics", "run", "created", "by")
    for v in found:
        metrics = "\n".join(f"{k}={fmt_metric(x)}" for k, x in list(v.metrics.items())[:4])
        table.add_row(
            f"v{v.version}",
            ", ".join(v.aliases) or "-",
            v.model_class.rsplit(".", 1)[-1],
            metrics,
            (v.run_id or "-")[:8],
            when(v.created_at),
            v.created_by,
        )
    console.print(table)


@app.command("alias")
def alias(
    name: str = typer.Argument(..., help="The registered model's name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="The alias, for example champion."),
    version: Optional[int] = typer.Argument(None, help="The version the alias should point at."),  # noqa: UP045
    reason: str = typer.Option("", "--reason", "-r", help="Why: kept in the alias history."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias instead of moving it."),
    json: bool = typer.Option(False, "--json", help="Print the recorded move as JSON."),
) -> None:
    """Point ALIAS of a model at VERSION (or remove it with --delete)."""
    c = client()
    if delete:
        change = c.registry.delete_alias(name, alias_name, reason)
        if json:
            print_json(change)
            return
        console.print(f"{name}@{alias_name} removed (was v{change.from_version}).")
        return
    if version is None:
        raise InvalidInput(
            f"give the version {alias_name!r} should point at, "
            f"e.g. 'usina models alias {name} {alias_name} 3'",
            field="version",
        )
    change = c.set_alias(name, alias_name, version, reason)
    if json:
        print_json(change)
        return
    before = f"v{change.from_version}" if change.from_version else "nothing"
    console.print(f"{name}@{alias_name} → v{version} (was {before}).")


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="The registered model's name."),
    alias_name: str = typer.Option("champion", "--alias", "-a", help="The alias to move back."),
    reason: str = typer.Option("", "--reason", "-r", help="Why: kept in the alias history."),
    json: bool = typer.Option(False, "--json", help="Print the recorded move as JSON."),
) -> None:
    """Move an alias back to the version it held before its current one."""
    change = client().rollback(name, alias_name, reason)
    if json:
        print_json(change)
        return
    console.print(
        f"{name}@{alias_name} rolled back: v{change.from_version} → v{change.to_version}."
    )


@app.command("history")
def history(
    name: str = typer.Argument(..., help="The registered model's name."),
    alias_name: Optional[str] = typer.Option(None, "--alias", "-a", help="Only this alias."),  # noqa: UP045
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show every alias move: when, who, from, to and why (oldest first)."""
    changes = client().alias_history(name, alias_name)
    if json:
        print_json(changes)
        return
    if not changes:
        console.print(f"No alias of {name!r} has moved yet.")
        return
    from rich.table import Table

    table = Table("when", "alias", "action", "from", "to", "by", "reason")
    for ch in changes:
        table.add_row(
            when(ch.at),
            ch.alias,
            ch.action,
            f"v{ch.from_version}" if ch.from_version else "-",
            f"v{ch.to_version}" if ch.to_version else "-",
            ch.actor,
            ch.reason or "",
        )
    console.print(table)
