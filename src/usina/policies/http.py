"""Policies and events kept by a usina server, through ``/api/v1/policies`` and
``/api/v1/events``: the same protocols as the SQL stores, which the server runs."""

from __future__ import annotations

import builtins
from typing import Any

from usina.connection import ServerConnection, segment
from usina.policies.entities import Change, Event, NewEvent, Policy, Rollout
from usina.policies.spec import spec_from_dict
from usina.policies.sql import check_policy_name


def policy_from_json(d: dict[str, Any]) -> Policy:
    return Policy(spec_from_dict(d), d["created_at"], d["updated_at"], d["updated_by"])


def rollout_from_json(d: dict[str, Any]) -> Rollout:
    return Rollout(**d)


def event_from_json(d: dict[str, Any]) -> Event:
    return Event(**d)


class HttpPolicyStore:
    """Policies on the server ``server`` talks to (``usina.policies.base.PolicyStore``)."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def apply(
        self,
        text: str,
        *,
        filename: str = "policy.yaml",
        base: str | None = None,
        dry_run: bool = False,
    ) -> builtins.list[Change]:
        body = {"text": text, "filename": filename, "base": base, "dry_run": dry_run}
        found = self.server.call("POST", "/policies/apply", json=body)
        return [Change(c["policy"], c["action"], tuple(c["fields"])) for c in found["changes"]]

    def get(self, name: str) -> Policy:
        check_policy_name(name)
        return policy_from_json(self.server.call("GET", f"/policies/{segment(name)}"))

    def list(self) -> builtins.list[Policy]:
        return [policy_from_json(d) for d in self.server.call("GET", "/policies")["items"]]

    def delete(self, name: str) -> None:
        check_policy_name(name)
        self.server.call("DELETE", f"/policies/{segment(name)}")

    def rollout(self, name: str) -> Rollout:
        check_policy_name(name)
        return rollout_from_json(self.server.call("GET", f"/policies/{segment(name)}/rollout"))

    def transition(
        self,
        name: str,
        state: str,
        generation: int,
        changes: dict[str, Any],
        event: NewEvent | None = None,
    ) -> Rollout | None:
        check_policy_name(name)
        body = {
            "state": state,
            "generation": generation,
            "changes": changes,
            "event": None if event is None else event.__dict__,
        }
        found = self.server.call("POST", f"/policies/{segment(name)}/transitions", json=body)
        return None if found["rollout"] is None else rollout_from_json(found["rollout"])


class HttpEventStore:
    """The decisions' record on a server (``usina.policies.base.EventStore``)."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def list(
        self,
        *,
        policy: str | None = None,
        model: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> builtins.list[Event]:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if policy is not None:
            params["policy"] = policy
        if model is not None:
            params["model"] = model
        return [
            event_from_json(d) for d in self.server.call("GET", "/events", params=params)["items"]
        ]
