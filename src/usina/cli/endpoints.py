"""``usina endpoints``: serving names, the versions behind them, traffic splits and stats."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when

if TYPE_CHECKING:
    from usina.serving import Endpoint, EndpointStore

app = typer.Typer(
    help="Online endpoints: follow an alias or split traffic, shadow, stats.", no_args_is_help=True
)


JSON = typer.Option(False, "--json", help="Print the endpoint as JSON.")


def _store() -> EndpointStore:
    """The endpoint store: on the database, or through the server USINA_URL (--url) names."""
    return client().endpoints


def _print(endpoint: Endpoint, json: bool = False) -> None:
    if json:
        print_json(endpoint)
        return
    shadow = f", shadow v{endpoint.shadow_version}" if endpoint.shadow_version else ""
    console.print(f"{endpoint.name} → {endpoint.target}{shadow}")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The endpoint's name, used in its URLs."),
    model: str = typer.Option(
        ..., "--model", "-m", help="models:/NAME@ALIAS to follow, or models:/NAME/VERSION to pin."
    ),
    sample_rate: float = typer.Option(
        1.0, "--sample-rate", min=0.0, max=1.0, help="Share of requests kept in the request log."
    ),
    max_batch_size: int = typer.Option(
        0, "--max-batch-size", min=0, help="Micro-batch up to this many rows (0: off)."
    ),
    max_latency_ms: float = typer.Option(
        5.0, "--max-latency-ms", help="Longest a request waits for its micro-batch (≤ 10 ms)."
    ),
    json: bool = JSON,
) -> None:
    """Create an endpoint that follows an alias (or serves one pinned version)."""
    endpoint = _store().create(
        name,
        model,
        sample_rate=sample_rate,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
    )
    _print(endpoint, json)


@app.command("list")
def list_endpoints(
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List endpoints with what they serve."""
    endpoints = _store().list()
    if json:
        print_json(endpoints)
        return
    if not endpoints:
        console.print(
            "No endpoints yet. Create one with "
            "'usina endpoints create NAME --model models:/M@champion'."
        )
        return
    from rich.table import Table

    table = Table("name", "serves", "shadow", "log sample", "batching", "updated")
    for e in endpoints:
        batching = (
            f"{e.max_batch_size} rows / {e.max_latency_ms:g} ms" if e.max_batch_size else "off"
        )
        table.add_row(
            e.name,
            e.target,
            f"v{e.shadow_version}" if e.shadow_version else "-",
            f"{e.sample_rate:.0%}",
            batching,
            when(e.updated_at),
        )
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="The endpoint's name."),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show one endpoint: its target, shadow, sampling and batching."""
    e = _store().get(name)
    if json:
        print_json(e)
        return
    _print(e)
    console.print(f"  model       {e.model}")
    console.print(f"  log sample  {e.sample_rate:.0%} of requests")
    console.print(f"  log policy  {_log_policy(e.log_policy)}", markup=False)
    batching = (
        f"up to {e.max_batch_size} rows, {e.max_latency_ms:g} ms" if e.max_batch_size else "off"
    )
    console.print(f"  batching    {batching}")
    console.print(
        f"  created     {when(e.created_at)} by {e.created_by}; updated {when(e.updated_at)}"
    )


def _log_policy(policy: dict[str, Any] | None) -> str:
    """An endpoint's request-log PII policy in one line."""
    if policy is None:
        return "none of its own (a server's USINA_REQUEST_LOG_PII_POLICY may apply)"
    rules = [f"{c}: {_rule(r)}" for c, r in policy["columns"].items()]
    if "others" in policy:
        rules.append(f"other text: {_rule(policy['others'])}")
    return "; ".join(rules) or "errors redacted only"


def _rule(rule: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in rule.items())


@app.command("split")
def split(
    name: str = typer.Argument(..., help="The endpoint's name."),
    shares: list[str] = typer.Argument(
        ..., help="VERSION=PERCENT pairs summing to 100: 3=90 4=10."
    ),
    json: bool = JSON,
) -> None:
    """Serve explicit versions with a traffic split (the endpoint stops following its alias)."""
    from usina.serving import parse_split

    _print(_store().split(name, parse_split(shares)), json)


@app.command("follow")
def follow(
    name: str = typer.Argument(..., help="The endpoint's name."),
    alias: str = typer.Argument(..., help="The alias to follow, for example champion."),
    json: bool = JSON,
) -> None:
    """Make the endpoint serve whichever version ALIAS points at."""
    _print(_store().follow(name, alias), json)


@app.command("shadow")
def shadow(
    name: str = typer.Argument(..., help="The endpoint's name."),
    version: Optional[int] = typer.Argument(None, help="The version to shadow."),  # noqa: UP045
    off: bool = typer.Option(False, "--off", help="Stop shadowing."),
    json: bool = JSON,
) -> None:
    """Send a copy of every request to VERSION; its answers are logged, never returned."""
    from usina.errors import InvalidInput

    if version is None and not off:
        raise InvalidInput(
            f"give a version to shadow, e.g. 'usina endpoints shadow {name} 4', or --off",
            field="version",
        )
    _print(_store().set_shadow(name, None if off else version), json)


@app.command("configure")
def configure(
    name: str = typer.Argument(..., help="The endpoint's name."),
    sample_rate: Optional[float] = typer.Option(  # noqa: UP045
        None, "--sample-rate", help="Share of requests kept in the request log (0 to 1)."
    ),
    max_batch_size: Optional[int] = typer.Option(  # noqa: UP045
        None, "--max-batch-size", help="Micro-batch up to this many rows (0: off)."
    ),
    max_latency_ms: Optional[float] = typer.Option(  # noqa: UP045
        None, "--max-latency-ms", help="Longest a request waits for its micro-batch (≤ 10 ms)."
    ),
    log_policy: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--log-policy",
        help="A PII policy (YAML, docs/pii.md) applied to the endpoint's request log rows "
        "before they are queued, by running servers from their next poll; 'none' removes it.",
    ),
    json: bool = JSON,
) -> None:
    """Change an endpoint's request-log sampling, PII policy or micro-batching."""
    store = _store()
    policy: Any = None
    if log_policy is not None and log_policy != "none":
        from usina.privacy.policy import Policy

        policy = Policy.load(log_policy).to_dict()  # read and checked before anything changes
    options = (sample_rate, max_batch_size, max_latency_ms) != (None, None, None)
    if options or log_policy is None:
        e = store.configure(
            name,
            sample_rate=sample_rate,
            max_batch_size=max_batch_size,
            max_latency_ms=max_latency_ms,
        )
    if log_policy is not None:
        e = store.set_log_policy(name, policy)
    _print(e, json)


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="The endpoint's name."),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Delete an endpoint; servers stop answering for it at their next poll."""
    _store().delete(name)
    if json:
        print_json({"deleted": name})
        return
    console.print(f"endpoint {name} deleted.")


@app.command("stats")
def stats(
    name: str = typer.Argument(..., help="The endpoint's name."),
    since: float = typer.Option(3600.0, "--since", min=1.0, help="Look back this many seconds."),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Latency p50/p95/p99, error rate and dropped log rows per version, from the request log."""
    found = _store().stats(name, since)
    if json:
        print_json([{**vars(s), "error_rate": s.error_rate} for s in found])
        return
    if not found:
        console.print(f"No logged requests to {name!r} in the last {since:g} s.")
        return
    from rich.table import Table

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    table = Table(
        "version", "requests", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms", "dropped"
    )
    for s in found:
        table.add_row(
            f"v{s.version}" if s.version is not None else "-",
            str(s.requests),
            str(s.errors),
            f"{s.error_rate:.2%}",
            ms(s.p50_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            str(sum(s.dropped.values())),
        )
    console.print(table)
