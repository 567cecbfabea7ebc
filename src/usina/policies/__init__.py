"""Policies close the loop: a monitor's breaches retrain a model, a gate compares the candidate
with the champion, a canary puts it on live traffic, and it is promoted, withdrawn or rolled
back, each decision an event on the record (see ``docs/policies.md``)."""

from usina.policies.base import EventStore, PolicyStore
from usina.policies.entities import Change, Event, Policy, Rollout
from usina.policies.spec import GateRule, PolicySpec, parse_rule

__all__ = [
    "Change",
    "Event",
    "EventStore",
    "GateRule",
    "Policy",
    "PolicySpec",
    "PolicyStore",
    "Rollout",
    "parse_rule",
]
