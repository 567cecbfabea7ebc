"""``usina schedules`` (cron triggers for pipelines) and ``usina scheduler`` (the loop)."""

from __future__ import annotations

from typing import Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when

app = typer.Typer(help="Cron schedules for pipelines.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The schedule's name."),
    cron: str = typer.Option(..., "--cron", help="Five-field cron in UTC, e.g. '0 3 * * *'."),
    pipeline: str = typer.Option(..., "--pipeline", help="The pipeline, FILE.py:NAME."),
    param: list[str] = typer.Option([], "--param", "-p", help="A parameter, KEY=VALUE."),
    catchup: str = typer.Option(
        "skip", "--catchup", help="After downtime: skip (drop missed ticks) or once (one run)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the schedule as JSON."),
) -> None:
    """Run a pipeline on a cron schedule (fired by 'usina scheduler')."""
    from pathlib import Path

    from usina.pipelines.loader import load_pipeline, parse_params
    from usina.pipelines.schedules import check_cron

    check_cron(cron)
    loaded = load_pipeline(pipeline)
    params = parse_params(loaded, param)
    loaded.resolve_params(params)  # a missing required parameter fails now, not at 3 am
    where, _, attr = pipeline.rpartition(":")
    ref = f"{Path(where).resolve()}:{attr}" if where.endswith(".py") else pipeline
    s = client().schedules.create(name, ref, cron, params, catchup)
    if json:
        print_json(s)
        return
    console.print(f"schedule {s.name}: {s.cron} → {loaded.name}; next run {when(s.next_tick)}")


@app.command("list")
def list_schedules(json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List schedules with their next tick."""
    from rich.table import Table

    found = client().schedules.list()
    if json:
        print_json(found)
        return
    if not found:
        console.print(
            "No schedules. Create one with 'usina schedules create NAME --cron ... --pipeline ...'."
        )
        return
    table = Table("name", "cron", "pipeline", "params", "catch-up", "state", "next", "last")
    for s in found:
        table.add_row(
            s.name,
            s.cron,
            s.pipeline,
            str(s.params or ""),
            s.catchup,
            "paused" if s.paused else "active",
            when(s.next_tick),
            when(s.last_tick),
        )
    console.print(table)


JSON_HELP = "Print the schedule as JSON."


@app.command("pause")
def pause(
    name: str = typer.Argument(..., help="The schedule's name."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Stop firing a schedule until it is resumed."""
    s = client().schedules.set_paused(name, True)
    if json:
        print_json(s)
        return
    console.print(f"schedule {name} paused")


@app.command("resume")
def resume(
    name: str = typer.Argument(..., help="The schedule's name."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Fire a paused schedule again, from its next tick (missed ticks are not run)."""
    s = client().schedules.set_paused(name, False)
    if json:
        print_json(s)
        return
    console.print(f"schedule {name} resumed; next run {when(s.next_tick)}")


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="The schedule's name."),
    json: bool = typer.Option(False, "--json", help="Print what was deleted as JSON."),
) -> None:
    """Delete a schedule (its past runs stay)."""
    client().schedules.delete(name)
    if json:
        print_json({"deleted": name})
        return
    console.print(f"schedule {name} deleted")


def scheduler(
    interval: Optional[float] = typer.Option(  # noqa: UP045
        None, "--interval", min=0.1, help="Seconds between checks (USINA_SCHEDULER_INTERVAL)."
    ),
    once: bool = typer.Option(False, "--once", help="Check once, fire what is due, and exit."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Steps run at once."),  # noqa: UP045
    json: bool = typer.Option(False, "--json", help="With --once, print what fired as JSON."),
) -> None:
    """Fire due schedules (pipelines and batch jobs); several schedulers may run, each tick
    fires once.

    With USINA_URL (or --url) the lease and the runs go through that server; the pipelines
    run here."""
    from usina.batch.schedules import with_batch
    from usina.cli.context import settings as current_settings
    from usina.cli.monitors import alerting
    from usina.monitoring.monitors import launcher
    from usina.pipelines.schedules import Scheduler, run_inline

    c = alerting(client())
    settings = current_settings()
    interval = settings.scheduler_interval if interval is None else interval
    # Monitors' schedules (monitor:NAME) run the monitor, batch ones (batch:NAME) their job;
    # the others run their pipeline.
    pipelines = with_batch(c, run_inline(c, max_workers=workers))
    s = Scheduler(c.schedules, launcher(c.monitors, pipelines))
    if settings.policies:
        from usina.cli.policies import engine_for

        s.also = engine_for(c, s.holder, workers).tick
    if once:
        fired = s.run_pending()
        s.release_lease()
        if json:
            print_json(fired)
            return
        for fire in fired:
            what = f"run {fire.pipeline_run_id}" if fire.pipeline_run_id else "skipped (missed)"
            console.print(f"{fire.schedule} @ {when(fire.tick)}: {what}")
        return
    import contextlib
    import os
    import signal

    def _stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)  # unwinds through serve(), which gives the lease back

    signal.signal(signal.SIGTERM, _stop)
    console.print(f"scheduler {s.holder} checking every {interval:g}s; Ctrl-C to stop")
    parent = os.environ.get("USINA_SCHEDULER_PARENT")  # set by 'usina server' for its companion
    with contextlib.suppress(KeyboardInterrupt):
        s.serve(interval, stop=lambda: parent is not None and os.getppid() != int(parent))


def register(root: typer.Typer) -> None:
    """Add the schedule commands to the ``usina`` app."""
    root.add_typer(app, name="schedules")
    root.command("scheduler")(scheduler)
