"""``usina ingest`` (files into a new dataset version) and ``usina datasets`` (list, show,
versions, diff, expect, protect, validate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, errors, print_json, when, with_row_progress
from usina.errors import InvalidInput

app = typer.Typer(
    help="Named, versioned tables with profiles and expectations.", no_args_is_help=True
)

_JSON = typer.Option(False, "--json", help="Print JSON.")


def _uri(value: str) -> str:
    """``NAME``, ``NAME/3``, ``NAME@latest`` or a ``datasets:/`` URI, as a URI."""
    return value if value.startswith("datasets:/") else f"datasets:/{value}"


def ingest(
    source: str = typer.Argument(
        ..., help="A CSV, Parquet or JSON lines file, a folder of them, s3://... or gs://..."
    ),
    dataset: str = typer.Option(..., "--dataset", "-d", help="The dataset to add a version to."),
    protect: Optional[Path] = typer.Option(  # noqa: UP045
        None,
        "--protect",
        help="A PII policy (YAML, docs/pii.md) applied to every batch before it is written: "
        "raw values it replaces never reach the version. A dataset with a policy of its own "
        "('usina datasets protect') has it applied without this, and refuses a different "
        "one. Keys: USINA_PII_KEY(_FILE).",
    ),
    json: bool = _JSON,
) -> None:
    """Stream files into a new version of a dataset and register it (exit 1: an expectation
    failed, nothing registered; exit 2: the input cannot be read)."""
    from usina.datasets import ExpectationFailed
    from usina.datasets.api import ingest

    policy = None
    if protect is not None:
        from usina.privacy.policy import Policy

        policy = Policy.load(protect)

    def run(progress: Any = None) -> Any:
        return ingest(source, dataset, client=c, progress=progress, protect=policy)

    c = client()
    try:
        done = run() if json or not console.is_terminal else with_row_progress("ingesting", run)
    except ExpectationFailed as exc:
        if json:
            print_json(exc.report.to_dict())
        else:
            _report(exc.report)
            errors.print("nothing was registered", markup=False)
        raise typer.Exit(1) from None
    if json:
        print_json(done)
        return
    v = done.version
    what = "new version" if done.created else "same content as version"
    console.print(
        f"{v.reference}: {what} {v.version}, {v.rows:,} rows, {len(v.schema)} columns, "
        f"{v.bytes / 1e6:,.1f} MB Parquet, sha256:{v.digest[:12]}",
        soft_wrap=True,
    )


@app.command("list")
def list_datasets(
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=10_000, help="Most shown."),
    json: bool = _JSON,
) -> None:
    """Datasets, with their latest version and expectations."""
    from rich.table import Table

    found = client().datasets.list(limit=limit)
    if json:
        print_json(found)
        return
    if not found:
        console.print("No datasets. Add one with 'usina ingest FILE --dataset NAME'.")
        return
    table = Table("name", "latest", "expectations", "PII policy", "updated")
    for d in found:
        table.add_row(
            d.name,
            str(d.latest or "-"),
            str(len(d.expectations)),
            d.pii_policy_digest[:12] or "-",
            when(d.updated_at),
        )
    console.print(table)


@app.command("versions")
def versions(
    name: str = typer.Argument(..., help="The dataset."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="Most shown."),
    json: bool = _JSON,
) -> None:
    """A dataset's versions, newest first."""
    from rich.table import Table

    found = client().datasets.versions(name, limit=limit)
    if json:
        print_json(found)
        return
    table = Table("version", "rows", "columns", "MB", "digest", "source", "run", "created")
    for v in found:
        table.add_row(
            str(v.version),
            f"{v.rows:,}",
            str(len(v.schema)),
            f"{v.bytes / 1e6:,.1f}",
            v.digest[:12],
            v.source[-40:],
            v.run_id[:12] or "-",
            when(v.created_at),
        )
    console.print(table)


@app.command("show")
def show(
    uri: str = typer.Argument(..., help="NAME (latest), NAME/3, datasets:/NAME@latest..."),
    json: bool = _JSON,
) -> None:
    """A version: its digest, rows, and per column its type and profile."""
    from rich.table import Table

    from usina.datasets.api import resolve

    c = client()
    v = resolve(_uri(uri), client=c)
    if json:
        print_json(v)
        return
    console.print(
        f"{v.reference}  {v.rows:,} rows  {v.bytes / 1e6:,.1f} MB  sha256:{v.digest}\n"
        f"  file {v.uri}  from {v.source or '-'}  run {v.run_id or '-'}  by {v.created_by} "
        f"at {when(v.created_at)}",
        soft_wrap=True,
    )
    _show_policy(c.datasets.get(v.name), v)
    table = Table("column", "type", "nulls", "min", "median", "max", "top / distinct")
    for column in v.schema:
        p = v.profile.get(column["name"], {})
        median = (p.get("quantiles") or {}).get("0.5")
        top = ", ".join(f"{k} ({n:,})" for k, n in p.get("top", [])[:3])
        if "distinct" in p:
            top = f"{top}; ~{p['distinct']:,} distinct"
        table.add_row(
            column["name"],
            column["type"],
            f"{p.get('nulls', 0):,}",
            _short(p.get("min")),
            _short(median),
            _short(p.get("max")),
            top,
        )
    console.print(table)


def _show_policy(dataset: Any, version: Any) -> None:
    """The dataset's PII policy, and whether this version was written under it."""
    if dataset.pii_policy is None:
        console.print("  PII policy: none ('usina datasets protect NAME POLICY' sets one)")
    else:
        digest = dataset.pii_policy_digest
        under = "written under it" if version.pii_policy == digest else "written before it"
        console.print(f"  PII policy {digest[:12]} (this version: {under})", markup=False)
        for column, rule in dataset.pii_policy["columns"].items():
            console.print(f"    {column}: {_rule(rule)}", markup=False)
        if "others" in dataset.pii_policy:
            console.print(f"    other text columns: {_rule(dataset.pii_policy['others'])}")


def _rule(rule: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in rule.items())


@app.command("protect")
def protect(
    name: str = typer.Argument(..., help="The dataset (created if new)."),
    file: Optional[Path] = typer.Argument(  # noqa: UP045
        None, help="A PII policy (YAML, docs/pii.md)."
    ),
    clear: bool = typer.Option(False, "--clear", help="Remove the dataset's policy."),
    json: bool = _JSON,
) -> None:
    """Keep a PII policy on a dataset: every version written into it from now on ('usina
    ingest', usina.datasets.save) has it applied, so raw values it replaces never reach a
    version."""
    if (file is None) == (not clear):
        raise InvalidInput(
            "give a policy file, or --clear to remove the dataset's policy", field="file"
        )
    from usina.datasets.api import set_policy

    found = set_policy(name, None if clear else file, client=client())
    if json:
        print_json(found)
        return
    if found.pii_policy is None:
        console.print(f"dataset {found.name}: no PII policy")
    else:
        columns = ", ".join(found.pii_policy["columns"]) or "-"
        console.print(
            f"dataset {found.name}: PII policy {found.pii_policy_digest[:12]} (columns "
            f"{columns}{'; other text columns too' if 'others' in found.pii_policy else ''})",
            markup=False,
        )


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)[:30]


@app.command("diff")
def diff(
    a: str = typer.Argument(..., help="The older version (NAME/2, datasets:/NAME/2)."),
    b: str = typer.Argument(..., help="The newer version (NAME, NAME/3...)."),
    json: bool = _JSON,
) -> None:
    """Compare two versions: rows, columns added, removed or retyped, and profile changes."""
    from usina.datasets.api import diff as compare

    found = compare(_uri(a), _uri(b), client=client())
    if json:
        print_json(found)
        return
    rows = found["rows"]
    change = f"{(rows[1] - rows[0]) / rows[0]:+.1%}" if rows[0] else "n/a"
    console.print(f"{found['from']} -> {found['to']}: rows {rows[0]:,} -> {rows[1]:,} ({change})")
    if found["same_content"]:
        console.print("same content (same digest)")
    for key in ("added", "removed"):
        for name, kind in found[key].items():
            console.print(f"  {key} column {name} ({kind})")
    for name, (old, new) in found["retyped"].items():
        console.print(f"  retyped column {name}: {old} -> {new}")
    for name, changes in found["columns"].items():
        parts = []
        for key, value in changes.items():
            if key == "top":
                parts.append(f"top categories new {value['new']} gone {value['gone']}")
            else:
                parts.append(f"{key} {_short(value[0])} -> {_short(value[1])}")
        console.print(f"  {name}: " + "; ".join(parts), soft_wrap=True)


@app.command("expect")
def expect(
    name: str = typer.Argument(..., help="The dataset (created if new)."),
    file: Path = typer.Argument(..., help="A YAML or JSON file: a list of expectations."),
    json: bool = _JSON,
) -> None:
    """Replace a dataset's expectations with those in FILE (see docs/data.md for the kinds)."""
    import yaml

    try:
        specs = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}", field="file") from None
    if isinstance(specs, dict) and "expectations" in specs:
        specs = specs["expectations"]
    found = client().datasets.set_expectations(name, specs)
    if json:
        print_json(found)
        return
    console.print(f"dataset {found.name}: {len(found.expectations)} expectation(s)")


@app.command("validate")
def validate(
    uri: str = typer.Argument(..., help="NAME (latest), NAME/3 or datasets:/NAME@latest."),
    json: bool = _JSON,
) -> None:
    """Check a version against its dataset's expectations (exit 1 when one fails)."""
    from usina.datasets import validate as check

    report = check(_uri(uri), client=client())
    if json:
        print_json(report.to_dict())
    else:
        _report(report)
    if not report.ok:
        raise typer.Exit(1)


def _report(report: Any) -> None:
    from rich.table import Table

    table = Table("", "expectation", "column", "expected", "observed")
    for r in report.results:
        table.add_row(
            "ok" if r.passed else "FAIL", r.kind, r.column, r.expected, _short(r.observed)
        )
    console.print(f"dataset {report.dataset} v{report.version}")
    console.print(table)
    if not report.ok:  # one line per failure, whatever the terminal's width
        console.print(report.summary(), soft_wrap=True, markup=False)
    if not report.results:
        console.print("no expectations; add some with 'usina datasets expect NAME FILE'")


def register(root: typer.Typer) -> None:
    """Add ``usina ingest`` and ``usina datasets`` to the ``usina`` app."""
    root.command("ingest")(ingest)
    root.add_typer(app, name="datasets")
