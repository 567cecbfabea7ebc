"""``usina``: the entry point. Sub-commands live in their own modules; heavy imports happen
inside the commands, so ``usina --help`` answers at once."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from usina import __version__
from usina.cli import (
    access,
    alerts,
    audit,
    auth,
    batch,
    context,
    datasets,
    endpoints,
    experiments,
    labels,
    logs,
    models,
    monitors,
    pii,
    pipelines,
    policies,
    principals,
    runs,
    schedules,
    secrets,
    serve,
    server,
    topics,
)

app = typer.Typer(
    name="usina",
    help="Self-hostable MLOps: tracking, a model registry with rollback, and more.\n\n"
    "State lives in USINA_HOME (default ./.usina): a SQLite database and an artifact folder. "
    "Set USINA_DB_URL (e.g. postgresql+psycopg://user@host/db) and USINA_ARTIFACTS "
    "(a folder, gs://bucket/prefix or s3://bucket/prefix) to move to shared engines, or "
    "USINA_URL (or --url) to work through a shared 'usina server'.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
pipelines.register(app)
schedules.register(app)
app.command("server")(server.server)
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(pii.app, name="pii")
app.add_typer(logs.app, name="logs")
app.command("serve")(serve.serve)
audit.register(app)
alerts.register(app)
labels.register(app)
monitors.register(app)
batch.register(app)
app.add_typer(topics.app, name="topics")
secrets.register(app)
datasets.register(app)
policies.register(app)
app.add_typer(principals.users, name="users")
app.add_typer(principals.groups, name="groups")
app.add_typer(principals.service_accounts, name="service-accounts")
app.add_typer(access.roles, name="roles")
app.add_typer(access.bindings, name="bindings")
app.add_typer(access.tokens, name="tokens")
app.add_typer(auth.auth, name="auth")
app.add_typer(auth.admin, name="admin")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"usina {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Optional[bool] = typer.Option(  # noqa: UP045
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    url: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--url",
        envvar="USINA_URL",
        help="Work through the usina server at this URL "
        "(http://host:port) instead of the local database. Also USINA_URL.",
    ),
    ca_bundle: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--ca-bundle",
        help="Check an https:// server's certificate against these CA certificates (PEM) "
        "instead of the system's. Also USINA_CA_BUNDLE.",
    ),
) -> None:
    """Self-hostable MLOps."""
    if ca_bundle:
        import os

        os.environ["USINA_CA_BUNDLE"] = ca_bundle
    context.use_url(url)


@app.command()
def demo(
    rows: int = typer.Option(
        20_000, "--rows", min=1_000, max=2_000_000, help="Rows of synthetic data."
    ),
    seed: int = typer.Option(7, "--seed", help="Random seed for the synthetic data."),
) -> None:
    """Run the end-to-end story: data, two candidates, registry, champion, rollback."""
    from usina.demo.story import run_demo

    run_demo(rows=rows, seed=seed, client=context.client())


def main() -> None:
    """Run the CLI; a usina error or a refused setting prints one line and exits 2."""
    from usina.errors import UsinaError

    try:
        app()
    except UsinaError as exc:
        from usina.cli.output import errors

        errors.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        from pydantic import ValidationError

        if not (isinstance(exc, ValidationError) and exc.title == "Settings"):
            raise
        from usina.cli.output import errors
        from usina.settings import describe_invalid

        errors.print(f"error: {describe_invalid(exc)}", markup=False, soft_wrap=True)
        sys.exit(2)
