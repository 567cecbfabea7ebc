"""The console's sections, in the order of the navigation.

A section is a page family: its title, the list page it opens at, and the permission needed to
see it (the navigation hides what a viewer may not open; the server refuses it anyway). A new
page family (policies, say) is one router module in ``usina.server.ui``, one ``Section`` here,
its module in ``PAGES`` of ``usina.server.ui.console``, and its routes' permissions in
``usina.identity.permissions.ROUTES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """One entry of the navigation."""

    key: str
    title: str
    path: str
    permission: str


SECTIONS: tuple[Section, ...] = (
    Section("models", "Models", "/ui/models", "usina.models.read"),
    Section("endpoints", "Endpoints", "/ui/endpoints", "usina.endpoints.read"),
    Section("experiments", "Experiments", "/ui/experiments", "usina.runs.read"),
    Section("pipelines", "Pipeline runs", "/ui/pipeline-runs", "usina.pipelines.read"),
    Section("monitors", "Monitors", "/ui/monitors", "usina.monitors.read"),
    Section("alerts", "Alerts", "/ui/alerts", "usina.alerts.read"),
    Section("policies", "Policies", "/ui/policies", "usina.policies.read"),
    Section("batch", "Batch jobs", "/ui/batch", "usina.batch.read"),
    Section("datasets", "Datasets", "/ui/datasets", "usina.datasets.read"),
    Section("audit", "Audit log", "/ui/audit", "usina.audit.read"),
)


def visible_sections(allowed: Callable[[str], bool]) -> list[Section]:
    """The sections whose permission ``allowed`` grants."""
    return [s for s in SECTIONS if allowed(s.permission)]
