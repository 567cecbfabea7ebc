"""usina: self-hostable MLOps, from a laptop to PostgreSQL and the cloud.

    >>> import usina
    >>> with usina.start_run(experiment="credit-risk") as run:  # doctest: +SKIP
    ...     run.log_params({"C": 0.5}); run.log_metrics({"auc": 0.91})
    ...     usina.register_model(model, name="credit-risk", run=run, input_example=X[:5])

The names below are imported on first use, so ``import usina`` (and ``usina --help``) stays
fast and loads no database or model code until it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Client": "usina.client",
    "Dataset": "usina.pipelines",
    "Metrics": "usina.pipelines",
    "Model": "usina.pipelines",
    "get_client": "usina.api",
    "lineage": "usina.api",
    "load_model": "usina.api",
    "register_model": "usina.api",
    "rollback": "usina.api",
    "set_alias": "usina.api",
    "pipeline": "usina.pipelines",
    "set_client": "usina.api",
    "sql_step": "usina.pipelines",
    "start_run": "usina.api",
    "step": "usina.pipelines",
}

if TYPE_CHECKING:
    from usina.api import (
        get_client,
        lineage,
        load_model,
        register_model,
        rollback,
        set_alias,
        set_client,
        start_run,
    )
    from usina.client import Client
    from usina.pipelines import Dataset, Metrics, Model, pipeline, sql_step, step


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'usina' has no attribute {name!r}")


__all__ = [
    "Client",
    "Dataset",
    "Metrics",
    "Model",
    "__version__",
    "get_client",
    "lineage",
    "load_model",
    "pipeline",
    "register_model",
    "rollback",
    "set_alias",
    "set_client",
    "sql_step",
    "start_run",
    "step",
]
