"""The policy and event store protocols, kept by the SQL stores (``sql.py``) and the HTTP
stores (``http.py``)."""

from __future__ import annotations

import builtins
from typing import Any, Protocol, runtime_checkable

from usina.policies.entities import Change, Event, NewEvent, Policy, Rollout


@runtime_checkable
class PolicyStore(Protocol):
    """Policies applied from spec files, and the state of each one's loop.

    Example:
        >>> from usina.client import Client
        >>> client = Client("sqlite://", "memory://")
        >>> client.policies.list()
        []
    """

    def apply(
        self,
        text: str,
        *,
        filename: str = "policy.yaml",
        base: str | None = None,
        dry_run: bool = False,
    ) -> builtins.list[Change]:
        """Check every policy of a YAML file and store them all, or none (one transaction);
        ``dry_run`` only says what would change. ``base`` is the folder relative pipeline
        paths are read from. ``InvalidInput`` names the file's line and the value."""
        ...

    def get(self, name: str) -> Policy: ...

    def list(self) -> builtins.list[Policy]: ...

    def delete(self, name: str) -> None:
        """Delete the policy and its loop's state (its events stay on the record)."""
        ...

    def rollout(self, name: str) -> Rollout:
        """Where the policy's loop stands."""
        ...

    def transition(
        self,
        name: str,
        state: str,
        generation: int,
        changes: dict[str, Any],
        event: NewEvent | None = None,
    ) -> Rollout | None:
        """Compare-and-set: if the rollout is still at ``(state, generation)``, apply
        ``changes`` (fields of ``Rollout``), bump the generation and record ``event``, in one
        transaction; ``None`` when another scheduler moved it first."""
        ...


@runtime_checkable
class EventStore(Protocol):
    """The append-only record of the loops' decisions (appended by ``PolicyStore.transition``)."""

    def list(
        self,
        *,
        policy: str | None = None,
        model: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> builtins.list[Event]:
        """Events oldest first, those with an id above ``after`` (for following)."""
        ...
