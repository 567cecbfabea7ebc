"""``usina policies`` (apply, plan, list, show, delete) and ``usina events`` (the record of
their decisions); ``engine_for`` builds the loop ``usina scheduler`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when

if TYPE_CHECKING:
    from usina.client import Client
    from usina.policies.engine import PolicyEngine
    from usina.policies.entities import Change, Event

app = typer.Typer(
    help="Policies: retrain on a monitor's breaches, gate, canary, promote or roll back.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON.")
_FILE = typer.Argument(..., help="A policy file (YAML; several policies separated by ---).")


def _read(path: Path) -> str:
    from usina.errors import InvalidInput

    if not path.is_file():
        raise InvalidInput(f"no policy file {str(path)!r}", field="file")
    return path.read_text()


def _changes(path: Path, dry_run: bool) -> list[Change]:
    return client().policies.apply(
        _read(path),
        filename=str(path),
        base=str(path.resolve().parent),
        dry_run=dry_run,
    )


def _print_changes(found: list[Change], applied: bool) -> None:
    verbs = {"create": "created", "update": "updated", "unchanged": "unchanged"}
    for c in found:
        verb = verbs[c.action] if applied else f"would be {verbs[c.action]}"
        if c.action == "unchanged":
            verb = "unchanged"
        fields = f" ({', '.join(c.fields)})" if c.fields else ""
        console.print(f"policy {c.policy}: {verb}{fields}", markup=False, soft_wrap=True)


@app.command("apply")
def apply(path: Path = _FILE, json: bool = _JSON) -> None:
    """Check every policy of a file and store them all, or none."""
    found = _changes(path, dry_run=False)
    if json:
        print_json(found)
        return
    _print_changes(found, applied=True)


@app.command("plan")
def plan(path: Path = _FILE, json: bool = _JSON) -> None:
    """Say what 'usina policies apply' would change; change nothing."""
    found = _changes(path, dry_run=True)
    if json:
        print_json(found)
        return
    _print_changes(found, applied=False)


@app.command("list")
def list_policies(json: bool = _JSON) -> None:
    """List policies and where each loop stands."""
    from rich.table import Table

    c = client()
    found = c.policies.list()
    if json:
        print_json([{**p.to_dict(), "rollout": c.policies.rollout(p.name)} for p in found])
        return
    if not found:
        console.print("No policies. Write one (docs/policies.md) and 'usina policies apply' it.")
        return
    table = Table("name", "monitor", "model", "endpoint", "state", "candidate", "since")
    for p in found:
        r = c.policies.rollout(p.name)
        table.add_row(
            p.name,
            p.spec.monitor,
            p.spec.model,
            p.spec.endpoint or "-",
            r.state,
            str(r.candidate or "-"),
            when(r.since),
        )
    console.print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help="The policy's name."), json: bool = _JSON) -> None:
    """A policy's spec and where its loop stands."""
    c = client()
    p = c.policies.get(name)
    r = c.policies.rollout(name)
    if json:
        print_json({**p.to_dict(), "rollout": r})
        return
    import yaml

    console.print(yaml.safe_dump(p.spec.to_dict(), sort_keys=False), markup=False)
    console.print(
        f"state {r.state} since {when(r.since)}; champion v{r.champion or '-'}, candidate "
        f"v{r.candidate or '-'}; {r.breaches} breached windows counted",
        markup=False,
    )


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="The policy's name."),
    json: bool = typer.Option(False, "--json", help="Print what was deleted as JSON."),
) -> None:
    """Delete a policy (its events stay on the record)."""
    client().policies.delete(name)
    if json:
        print_json({"deleted": name})
        return
    console.print(f"policy {name} deleted")


def print_event(e: Event) -> None:
    version = f" v{e.version}" if e.version is not None else ""
    console.print(
        f"{when(e.at)}  #{e.id} {e.policy}: {e.kind} {e.model}{version}: {e.reason}",
        markup=False,
        soft_wrap=True,
    )


def events(
    policy: Optional[str] = typer.Option(None, "--policy", help="Only this policy's."),  # noqa: UP045
    model: Optional[str] = typer.Option(None, "--model", help="Only this model's."),  # noqa: UP045
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new ones."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many."),
    json: bool = _JSON,
) -> None:
    """The decisions of the policies' loops, oldest first: retraining, gate, canary,
    promotion, withdrawal, rollback, each with its reason."""
    import time

    store = client().events
    found = store.list(policy=policy, model=model, limit=limit)
    if json and not follow:
        print_json(found)
        return
    if not found and not follow:
        console.print("No events: no policy has decided anything yet.")
        return
    cursor = 0
    while True:
        for e in found:
            cursor = max(cursor, e.id)
            if json:
                print_json(e)
            else:
                print_event(e)
        if not follow:
            return
        time.sleep(1.0)
        found = store.list(policy=policy, model=model, after=cursor, limit=1000)


def engine_for(c: Client, holder: str, workers: int | None = None) -> PolicyEngine:
    """The loop ``usina scheduler`` runs: each policy acts as its service account
    (``policy-NAME``), and each decision goes to its monitor's alert channels."""
    from usina.cli.context import settings as current_settings
    from usina.client import Client
    from usina.monitoring.channels import DeliveryConfig
    from usina.policies.engine import PolicyEngine
    from usina.policies.notify import send_event
    from usina.secrets.references import resolve_references

    settings = resolve_references(current_settings(), lambda: c.secrets)
    config = DeliveryConfig.from_settings(settings)
    acting: dict[str, Client] = {}

    def client_for(name: str) -> Client:
        if name not in acting:
            account = provision(c, name)
            acting[name] = Client.from_settings(settings.model_copy(update={"actor": account}))
        return acting[name]

    def notify(policy: Any, event: Event) -> None:
        monitor = c.monitors.get(policy.spec.monitor)
        if monitor.spec.alerts:
            send_event(event, monitor.spec.alerts, config)

    return PolicyEngine(c, holder, client_for=client_for, notify=notify, max_workers=workers)


ROLE = "policy-engine"
ROLE_PERMISSIONS = (
    "usina.monitors.read",
    "usina.models.read",
    "usina.models.write",
    "usina.models.deploy",
    "usina.endpoints.read",
    "usina.endpoints.write",
    "usina.pipelines.read",
    "usina.pipelines.run",
    "usina.runs.read",
    "usina.runs.write",
    "usina.artifacts.read",
    "usina.artifacts.write",
    "usina.datasets.read",
    "usina.datasets.write",
    "usina.logs.read",
    "usina.policies.read",
    "usina.policies.write",
)


def provision(c: Client, policy: str) -> str:
    """The policy's service account (``policy-NAME``), created with a binding to the role
    ``policy-engine`` on first use, so the audit log and alias history name it. Through a
    server whose caller may not manage identity, the account is only named (a warning says so):
    with ``USINA_AUTH=on`` the scheduler's own token then acts."""
    import logging

    from usina.errors import NotFound, UsinaError

    name = f"policy-{policy}"
    ref = f"service-account:{name}"
    try:
        try:
            c.identity.get_role(ROLE)
        except NotFound:
            c.identity.create_role(
                ROLE, ROLE_PERMISSIONS, "What a policy's service account needs to close its loop."
            )
        try:
            c.identity.get_principal(ref)
        except NotFound:
            c.identity.create_principal(
                "service-account", name, description=f"acts for policy {policy}"
            )
            c.identity.bind(ref, ROLE)
    except UsinaError as exc:
        logging.getLogger("usina.policies").warning(
            "policy %s: its service account could not be set up (%s)", policy, exc
        )
    return name


def register(root: typer.Typer) -> None:
    """Add the policy commands to the ``usina`` app."""
    root.add_typer(app, name="policies")
    root.command("events")(events)
