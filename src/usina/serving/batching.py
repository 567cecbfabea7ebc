"""Micro-batching: requests to one version that arrive close together share one predict call.

Off by default. When an endpoint sets ``max_batch_size`` > 0, requests are held until that
many rows are waiting or ``max_latency_ms`` (at most 10 ms) has passed since the first, then
predicted together and the rows handed back to each request. Batching runs on the event loop,
like the unbatched path, so it adds no thread hops. If the batched call fails, each request is
predicted alone, so one request's bad input never fails its neighbours.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from usina.serving.inputs import ModelInput
from usina.serving.runtime import LoadedVersion


class MicroBatcher:
    """Collects requests for one version and predicts them together."""

    def __init__(self, version: LoadedVersion, max_batch_size: int, max_latency_ms: float) -> None:
        self.version = version
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_ms / 1000.0
        self._pending: list[tuple[ModelInput, asyncio.Future[np.ndarray]]] = []
        self._rows = 0
        self._timer: asyncio.TimerHandle | None = None

    async def predict(self, batch: ModelInput) -> np.ndarray:
        """Queue ``batch`` and wait for its rows of the shared prediction."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((batch, future))
        self._rows += batch.rows
        if self._rows >= self.max_batch_size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_latency_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending, self._rows = self._pending, [], 0
        if not pending:
            return
        try:
            data = _concat([b.data for b, _ in pending])
            outputs = self.version.predict(ModelInput(data, sum(b.rows for b, _ in pending)))
        except Exception:  # noqa: BLE001 - isolate the request that broke the batch
            for batch, future in pending:
                _settle(future, lambda b=batch: self.version.predict(b))
            return
        start = 0
        for batch, future in pending:
            if not future.done():
                future.set_result(outputs[start : start + batch.rows])
            start += batch.rows


def _settle(future: asyncio.Future[np.ndarray], compute: Any) -> None:
    if future.done():
        return
    try:
        future.set_result(compute())
    except Exception as exc:  # noqa: BLE001 - handed to the waiting request
        future.set_exception(exc)


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.vstack(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)
