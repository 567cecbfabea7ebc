"""``usina run``, ``usina lineage``, ``usina compile``, ``usina submit`` and ``usina pipelines``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, errors, print_json, when
from usina.errors import InvalidInput

if TYPE_CHECKING:
    from usina.pipelines.lineage import StepLineage

app = typer.Typer(help="Pipeline runs: list them, show their steps and logs.", no_args_is_help=True)

PARAM_HELP = "A pipeline parameter, KEY=VALUE; repeat for several."


def run(
    ref: Optional[str] = typer.Argument(  # noqa: UP045
        None, metavar="FILE.py:NAME", help="The pipeline, e.g. src/pipeline.py:training."
    ),
    param: list[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
    resume: Optional[str] = typer.Option(  # noqa: UP045
        None, "--resume", help="Rerun only what failed or did not run in this earlier run."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Execute every step, reusing nothing."),
    workers: Optional[int] = typer.Option(  # noqa: UP045
        None, "--workers", min=1, help="Steps run at once (default: the number of cores)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the finished run as JSON."),
) -> None:
    """Run a pipeline on this machine, with caching, and show its steps as they go.

    With USINA_URL (or --url) the run and its steps are recorded through that server; the
    steps still execute here."""
    from usina.pipelines import LocalRunner
    from usina.pipelines.loader import load_pipeline, parse_params

    c = client()
    if ref is None:
        if resume is None:
            raise InvalidInput(
                "give the pipeline (FILE.py:NAME) or --resume RUN_ID", field="pipeline"
            )
        ref = c.pipelines.get_run(resume).ref
    pipeline = load_pipeline(ref)
    params = parse_params(pipeline, param)
    runner = LocalRunner(c, max_workers=workers, show=not json)
    result = runner.run(pipeline, params, cache=not no_cache, resume=resume)
    if json:
        print_json(result)
        if not result.ok:
            raise typer.Exit(1)
        return
    counts: dict[str, int] = {}
    for s in result.steps:
        counts[s.status.value] = counts.get(s.status.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    if result.ok:
        console.print(f"[green]succeeded[/green] run {result.id} ({summary})")
        return
    for s in result.steps:
        if s.error:
            errors.print(f"step {s.node} failed:\n{s.error.rstrip()}", markup=False)
    errors.print(
        f"run {result.id} failed ({summary}); fix it and run: usina run --resume {result.id}",
        markup=False,
    )
    raise typer.Exit(1)


def lineage(
    target: str = typer.Argument(
        ...,
        help="models:/NAME/VERSION, models:/NAME@ALIAS, datasets:/NAME/VERSION, "
        "datasets:/NAME@latest, or sha256:DIGEST.",
    ),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a tree."),
) -> None:
    """Show where a model came from, back to its input datasets (or who produced and read a
    dataset version or a blob)."""
    from rich.tree import Tree

    from usina.pipelines.lineage import artifact_lineage, model_lineage

    c = client()
    if target.startswith("datasets:/"):
        _dataset_lineage(c, target, json)
        return
    if target.startswith("sha256:"):
        links = artifact_lineage(c.pipelines, target.removeprefix("sha256:"))
        if json:
            print_json(links)
            return
        tree = Tree(f"[bold]sha256:{links.digest}[/bold]")
        made = tree.add("produced by")
        for s in links.producers:
            made.add(f"step {s.node}  (step run {s.id}, pipeline run {s.pipeline_run_id})")
        read = tree.add("read by")
        for s in links.readers:
            read.add(f"step {s.node}  (step run {s.id}, pipeline run {s.pipeline_run_id})")
        console.print(tree)
        return
    if not target.startswith("models:/"):
        raise InvalidInput(
            f"{target!r} is neither a models:/ URI nor sha256:DIGEST, nor datasets:/NAME/N; "
            "e.g. models:/credit-risk/3",
            field="target",
        )
    found = model_lineage(c.registry, c.pipelines, target)
    if json:
        print_json(found)
        return
    v = found.version
    tree = Tree(f"[bold]{v.uri}[/bold]  {v.model_class} sha256:{v.digest[:12]}")
    if found.producer is None:
        # Registered from a plain tracked run: its logged input datasets are the lineage.
        run = c.lineage(target).run
        if run is None:
            tree.add("registered outside a pipeline, with no run recorded")
        else:
            branch = tree.add(f"run {run.id}  ({run.experiment}/{run.name}, outside a pipeline)")
            for i in run.inputs:
                rows = f", {i.rows} rows" if i.rows is not None else ""
                branch.add(f"{i.name}: dataset sha256:{i.digest[:12]}{rows}")
    else:
        _add_step(tree, found.producer)
        sources = found.producer.sources()
        if sources:
            tree.add(
                "input datasets: "
                + ", ".join(f"sha256:{d.digest[:12]} ({d.rows} rows)" for d in sources)
            )
    console.print(tree)


def _dataset_lineage(c: Any, uri: str, json: bool) -> None:
    """Who produced a dataset version (its run, a pipeline step's when saved in one) and
    which step runs read it."""
    from rich.tree import Tree

    from usina.datasets import parse_dataset_uri
    from usina.pipelines.lineage import artifact_lineage, trace_step

    name, number = parse_dataset_uri(uri)
    version = c.datasets.get_version(name, number)
    links = artifact_lineage(c.pipelines, version.digest)
    producer = trace_step(c.pipelines, version.run_id) if version.run_id else None
    if json:
        print_json({"version": version, "producer": producer, "readers": links.readers})
        return
    tree = Tree(
        f"[bold]{version.reference}[/bold]  {version.rows:,} rows sha256:{version.digest[:12]}"
    )
    if producer is not None:
        _add_step(tree.add("produced by"), producer)
    elif version.run_id:
        tree.add(f"produced by run {version.run_id}")
    else:
        tree.add(f"ingested from {version.source or '-'} by {version.created_by}")
    read = tree.add("read by")
    for s in links.readers:
        read.add(f"step {s.node}  (step run {s.id}, pipeline run {s.pipeline_run_id})")
    console.print(tree)


def _add_step(parent: Any, step: StepLineage) -> None:
    s = step.step
    branch = parent.add(
        f"step [bold]{s.node}[/bold]  pipeline {step.pipeline}, run {s.pipeline_run_id[:12]}, "
        f"step run {s.id[:12]}, {when(s.end_time)}"
    )
    for i in step.inputs:
        rows = f", {i.rows} rows" if i.rows is not None else ""
        leaf = branch.add(f"{i.name}: {i.kind} sha256:{i.digest[:12]}{rows}")
        if i.produced_by is not None:
            _add_step(leaf, i.produced_by)


@app.command("runs")
def runs(
    pipeline: Optional[str] = typer.Option(None, "--pipeline", help="Only runs of this pipeline."),  # noqa: UP045
    limit: int = typer.Option(20, "--limit", min=1, help="How many runs to list."),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List pipeline runs, newest first, with what triggered them."""
    from rich.table import Table

    found = client().pipelines.list_runs(pipeline, limit=limit)
    if json:
        print_json(found)
        return
    table = Table("run", "pipeline", "status", "trigger", "started", "by")
    for r in found:
        table.add_row(r.id, r.pipeline, r.status.value, r.trigger, when(r.start_time), r.created_by)
    console.print(table)


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="The pipeline run id."),
    json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show a pipeline run's steps: state, attempts, time, outputs, errors."""
    from rich.table import Table

    r = client().pipelines.get_run(run_id)
    if json:
        print_json(r)
        return
    console.print(f"[bold]{r.pipeline}[/bold] run {r.id}  {r.status.value}  trigger {r.trigger}")
    console.print(f"  params {r.params}")
    table = Table("step", "state", "attempts", "seconds", "outputs", "error")
    for s in r.steps:
        secs = f"{s.end_time - s.start_time:.2f}" if s.start_time and s.end_time else "-"
        outs = ", ".join(f"{k}:{a.kind}" for k, a in s.outputs.items())
        err = s.error.strip().splitlines()[-1] if s.error.strip() else ""
        table.add_row(s.node, s.status.value, str(s.attempts), secs, outs, err)
    console.print(table)


@app.command("logs")
def logs(
    run_id: str = typer.Argument(..., help="The pipeline run id."),
    step: str = typer.Argument(..., help="The step's name in the pipeline."),
    json: bool = typer.Option(False, "--json", help="Print the step and its log as JSON."),
) -> None:
    """Print what a step wrote to stdout and stderr."""
    c = client()
    s = c.pipelines.get_run(run_id).step(step)
    text = None
    if s.log_digest is not None:
        text = c.download_artifact(s.log_digest).decode(errors="replace")
    if json:
        print_json({"run": run_id, "step": step, "step_run": s.id, "log": text})
        return
    if text is None:
        console.print(f"step {step} wrote no output")
        return
    sys.stdout.write(text)


def _env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(
                f"--env {item!r} is not KEY=VALUE; e.g. --env USINA_ARTIFACTS=gs://b", field="env"
            )
        env[key] = value
    return env


def _check_target(target: str, allowed: str) -> None:
    if target != allowed:
        raise InvalidInput(
            f"--target {target!r} is not supported here; use --target {allowed}", field="target"
        )


IMAGE_HELP = "Container image with Python, usina[kfp] and this project's code."
ENV_HELP = "Environment for every step, KEY=VALUE (USINA_DB_URL, USINA_ARTIFACTS...)."
REF_HELP = "How the image finds the pipeline; the reference given, by default."


def compile_pipeline(
    ref: str = typer.Argument(..., metavar="FILE.py:NAME", help="The pipeline to compile."),
    target: str = typer.Option("kfp", "--target", help="kfp: Kubeflow Pipelines v2 YAML."),
    output: str = typer.Option(..., "--output", "-o", help="The YAML file to write."),
    image: str = typer.Option(..., "--image", help=IMAGE_HELP),
    env: list[str] = typer.Option([], "--env", help=ENV_HELP),
    image_ref: Optional[str] = typer.Option(None, "--image-ref", help=REF_HELP),  # noqa: UP045
) -> None:
    """Compile a pipeline to Kubeflow Pipelines v2 YAML (Vertex AI Pipelines runs it too)."""
    from usina.pipelines.kfp import compile_kfp
    from usina.pipelines.loader import load_pipeline

    _check_target(target, "kfp")
    pipeline = load_pipeline(ref)
    path = compile_kfp(pipeline, output, image=image, ref=image_ref or ref, env=_env(env))
    console.print(f"wrote {path} ({len(pipeline.graph)} steps, image {image})")


def submit(
    ref: str = typer.Argument(..., metavar="FILE.py:NAME", help="The pipeline to submit."),
    target: str = typer.Option("vertex", "--target", help="vertex: Vertex AI Pipelines."),
    project: str = typer.Option(..., "--project", help="Google Cloud project id."),
    region: str = typer.Option(..., "--region", help="Vertex AI region, e.g. us-central1."),
    image: str = typer.Option(..., "--image", help=IMAGE_HELP),
    pipeline_root: str = typer.Option(
        ..., "--pipeline-root", help="gs:// folder for the run's files."
    ),
    param: list[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
    env: list[str] = typer.Option([], "--env", help=ENV_HELP),
    service_account: Optional[str] = typer.Option(  # noqa: UP045
        None, "--service-account", help="The account the steps run as."
    ),
    image_ref: Optional[str] = typer.Option(None, "--image-ref", help=REF_HELP),  # noqa: UP045
) -> None:
    """Compile a pipeline and submit it to Vertex AI Pipelines."""
    from usina.pipelines.loader import load_pipeline, parse_params
    from usina.pipelines.vertex import submit_vertex

    _check_target(target, "vertex")
    pipeline = load_pipeline(ref)
    submitted = submit_vertex(
        pipeline,
        project=project,
        region=region,
        image=image,
        pipeline_root=pipeline_root,
        params=parse_params(pipeline, param),
        ref=image_ref or ref,
        env=_env(env),
        service_account=service_account,
    )
    console.print(f"submitted {submitted.name}\n{submitted.console_url}")


def register(root: typer.Typer) -> None:
    """Add the pipeline commands to the ``usina`` app."""
    root.command("run")(run)
    root.command("lineage")(lineage)
    root.command("compile")(compile_pipeline)
    root.command("submit")(submit)
    root.add_typer(app, name="pipelines")
