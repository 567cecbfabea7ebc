"""Labels through a usina server: ``POST /api/v1/endpoints/{name}/labels`` and its list."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from usina.connection import ServerConnection
from usina.monitoring.labels import Label, LabelReceipt, check_endpoint, check_labels
from usina.store.paging import check_page


class HttpLabelStore:
    """The labels kept by the server ``server`` talks to; the server checks the requests
    against its request log."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def ingest(
        self, endpoint: str, labels: Iterable[Mapping[str, Any]], now: float | None = None
    ) -> LabelReceipt:
        check_endpoint(endpoint)
        body = [dict(entry) for entry in labels]
        check_labels(body)  # refuse bad input before sending it
        params = {"now": now} if now is not None else None
        found = self.server.call("POST", f"/endpoints/{endpoint}/labels", json=body, params=params)
        return LabelReceipt(found["endpoint"], found["stored"], found["replaced"])

    def list(
        self, endpoint: str, *, since: float | None = None, limit: int = 1000, offset: int = 0
    ) -> builtins.list[Label]:
        check_endpoint(endpoint)
        check_page(limit, offset)
        page = self.server.call(
            "GET",
            f"/endpoints/{endpoint}/labels",
            params={"since": since, "limit": limit, "offset": offset},
        )
        return [Label(**item) for item in page["items"]]
