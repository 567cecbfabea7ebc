"""The top-level functions (``usina.start_run``, ``usina.register_model``...).

They act on a default ``Client`` built from ``USINA_*`` settings the first time one is called
(never at import), or on the one given to ``set_client``.
"""

from __future__ import annotations

import threading
from typing import Any

from usina.client import Client, Lineage
from usina.pipelines.step_context import current_step
from usina.registry import AliasChange, ModelVersion
from usina.tracking import ActiveRun

_client: Client | None = None
_lock = threading.Lock()


def get_client() -> Client:
    """The default client (from the environment's ``USINA_*`` settings); inside a pipeline
    step, the client the runner records through."""
    global _client
    step = current_step()
    if step is not None and isinstance(step.backend, Client):
        return step.backend
    with _lock:
        if _client is None:
            from usina.settings import Settings

            _client = Client.from_settings(Settings())
        return _client


def set_client(client: Client | None) -> None:
    """Make ``client`` the default (``None`` rebuilds it from settings on next use)."""
    global _client
    with _lock:
        _client = client


def start_run(experiment: str = "default", name: str | None = None, **kwargs: Any) -> ActiveRun:
    """Start a tracked run; see :meth:`Client.start_run`."""
    return get_client().start_run(experiment, name, **kwargs)


def register_model(model: Any, name: str, **kwargs: Any) -> ModelVersion:
    """Register a new model version; see :meth:`Client.register_model`."""
    return get_client().register_model(model, name, **kwargs)


def load_model(uri: str, *, trusted: bool = False) -> Any:
    """Load ``models:/name@alias`` or ``models:/name/N``; see :meth:`Client.load_model`."""
    return get_client().load_model(uri, trusted=trusted)


def set_alias(name: str, alias: str, version: int, reason: str = "") -> AliasChange:
    """Point an alias at a version; see :meth:`Client.set_alias`."""
    return get_client().set_alias(name, alias, version, reason)


def rollback(name: str, alias: str = "champion", reason: str = "") -> AliasChange:
    """Move an alias back to its previous holder; see :meth:`Client.rollback`."""
    return get_client().rollback(name, alias, reason)


def lineage(uri: str) -> Lineage:
    """Where a version came from; see :meth:`Client.lineage`."""
    return get_client().lineage(uri)
