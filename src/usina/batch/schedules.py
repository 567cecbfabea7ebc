"""Batch jobs on a cron schedule, through the pipelines' scheduler.

A batch schedule is an ordinary schedule whose target is ``batch:<job name>`` and whose params
are the job's options, so the scheduler's lease and per-tick claims (exactly once per tick,
across processes) apply unchanged. :func:`with_batch` wraps the launcher a scheduler uses:
``batch:`` targets run a batch job here, anything else goes to the pipeline launcher.

A partition value may name the tick: ``{date}`` (``2026-12-01``), ``{hour}`` (``03``) and
``{tick}`` (``2026-12-01T03:00:00Z``), all in UTC.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from usina.batch.job import check_on_error, run
from usina.batch.tables import check_table_name, partition_path
from usina.errors import InvalidInput
from usina.pipelines.schedules import Launcher, Schedule
from usina.registry import parse_model_uri

log = logging.getLogger("usina.batch")

TARGET = "batch:"
_FIELDS = ("date", "hour", "tick")


def batch_params(
    model: str,
    input: str,
    output: str,
    partition: dict[str, str] | None = None,
    keys: list[str] | None = None,
    on_error: str = "fail",
) -> dict[str, Any]:
    """The params of a batch schedule, checked now rather than at the first tick."""
    parse_model_uri(model)
    check_table_name(output)
    check_on_error(on_error)
    partition = dict(partition or {})
    partition_path(tick_partition(partition, 0.0))  # placeholders filled, then checked
    if not isinstance(input, str) or not input.strip():
        raise InvalidInput("the batch input is empty; give a path or a select", field="input")
    return {
        "model": model,
        "input": input,
        "output": output,
        "partition": partition,
        "keys": list(keys or []),
        "on_error": on_error,
    }


def tick_partition(partition: dict[str, str], tick: float) -> dict[str, str]:
    """``partition`` with ``{date}``, ``{hour}`` and ``{tick}`` replaced by the tick's values."""
    when = dt.datetime.fromtimestamp(tick, dt.UTC)
    values = {
        "date": when.strftime("%Y-%m-%d"),
        "hour": when.strftime("%H"),
        "tick": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    filled = {}
    for key, template in partition.items():
        try:
            filled[key] = str(template).format(**values)
        except (KeyError, IndexError, ValueError):
            raise InvalidInput(
                f"partition {key}={template!r} names an unknown placeholder; use "
                + ", ".join("{" + f + "}" for f in _FIELDS),
                field="partition",
            ) from None
    return filled


def with_batch(client: Any, pipelines: Launcher) -> Launcher:
    """A launcher that runs ``batch:`` schedules as batch jobs on ``client`` and hands every
    other schedule to ``pipelines``. A failed job is recorded (status, error) and its id linked
    to the tick like a successful one; the scheduler goes on."""

    def launch(schedule: Schedule, tick: float) -> str | None:
        if not schedule.pipeline.startswith(TARGET):
            return pipelines(schedule, tick)
        p = schedule.params
        job_id = uuid.uuid4().hex
        when = dt.datetime.fromtimestamp(tick, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            run(
                schedule.pipeline[len(TARGET) :],
                p["model"],
                p["input"],
                p["output"],
                tick_partition(p.get("partition") or {}, tick),
                p.get("keys") or [],
                p.get("on_error", "fail"),
                client,
                trigger=f"schedule:{schedule.name}@{when}",
                job_id=job_id,
            )
        except Exception as exc:  # noqa: BLE001 - recorded on the job; the scheduler goes on
            log.error("batch schedule %s @ %s failed: %s", schedule.name, when, exc)
        return job_id

    return launch
