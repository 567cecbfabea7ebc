"""``AuditRecorder``: audit records from the request path, written in batches off it.

``record(event)`` puts the event in a bounded in-memory queue and returns: no database round
trip per request. A background thread appends what is queued in batches, each batch chained in
one transaction, whenever ``max_batch`` events wait or ``flush_interval`` seconds have passed;
``close()`` (the server's graceful stop) writes what is left.

Bounds and losses, said plainly:

- At most ``max_queued`` events wait, plus one batch being written. When the queue is full
  (the database is slow or down), ``record`` blocks the caller up to ``block`` seconds for
  room; if there is still none, the event is dropped, counted in
  ``usina_audit_records_dropped_total{reason="queue_full"}`` and logged at ERROR (at most once
  a second, with the running count). An audit log must not lose records silently.
- A batch the database refuses is kept and retried with backoff (doubling up to
  ``retry_max`` seconds), so an outage loses nothing until the queue is full.
- A malformed event is a bug of its caller: it is logged at ERROR with the reason and counted
  (``reason="invalid"``); the rest of its batch is written.
- A process killed without a graceful stop (SIGKILL, a crash, power loss) loses what was
  queued: the events of the last ``flush_interval`` seconds and the batch being written.
  ``close()`` writes everything queued, waiting up to its timeout; what it cannot write is
  counted (``reason="stopped"``) and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter

from usina.audit.base import AuditLog
from usina.audit.checks import check_event
from usina.audit.entities import AuditEvent
from usina.errors import UsinaError

log = logging.getLogger("usina.audit")

DEFAULT_MAX_QUEUED = 10_000
DEFAULT_MAX_BATCH = 500
DEFAULT_FLUSH_INTERVAL = 0.25
DEFAULT_BLOCK = 0.05
_LOG_EVERY = 1.0


class AuditRecorder:
    """Queue audit events and append them in batches from a background thread.

    Args:
        log: where records go (``SqlAuditStore``).
        max_queued: most events waiting to be written; beyond, ``record`` blocks then drops.
        max_batch: most events appended in one transaction; a full batch is written at once.
        flush_interval: seconds after which queued events are written even if few.
        block: seconds ``record`` waits for room in a full queue before dropping the event.
        retry_max: longest wait between retries of a batch the database refused.
        registry: the Prometheus registry of ``usina_audit_records_written_total`` and
            ``usina_audit_records_dropped_total{reason}``; a private one when ``None``.

    Example:
        >>> from usina.audit import AuditEvent, SqlAuditStore
        >>> from usina.store import Database
        >>> store = SqlAuditStore(Database("sqlite://"))
        >>> recorder = AuditRecorder(store).start()
        >>> recorder.record(AuditEvent("ana", "usina.models.read", "models/credit", "allow", 200))
        True
        >>> recorder.close()
        >>> (recorder.written, recorder.dropped)
        (1, 0)
    """

    def __init__(
        self,
        log: AuditLog,
        *,
        max_queued: int = DEFAULT_MAX_QUEUED,
        max_batch: int = DEFAULT_MAX_BATCH,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        block: float = DEFAULT_BLOCK,
        retry_max: float = 5.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.log = log
        self.max_queued = max_queued
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.block = block
        self.retry_max = retry_max
        self.registry = registry if registry is not None else CollectorRegistry()
        self._written_metric = Counter(
            "usina_audit_records_written",
            "Audit records appended to the log.",
            registry=self.registry,
        )
        self._dropped_metric = Counter(
            "usina_audit_records_dropped",
            "Audit records lost, by reason (queue_full, invalid, stopped).",
            ["reason"],
            registry=self.registry,
        )
        self.written = 0
        self.dropped = 0
        self._queue: deque[AuditEvent] = deque()
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)  # the writer waits for work
        self._room = threading.Condition(self._lock)  # callers wait for room
        self._idle = threading.Condition(self._lock)  # flush() waits for an empty queue
        self._stop = threading.Condition(self._lock)  # a retry's backoff, cut short by close()
        self._in_flight = 0
        self._flush_now = False
        self._closing = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._last_loss_log: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def start(self) -> AuditRecorder:
        """Start the writer thread (once)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="usina-audit-writer", daemon=True
                )
                self._thread.start()
        return self

    def record(self, event: AuditEvent) -> bool:
        """Queue ``event`` for the log; ``False`` when it was dropped (counted and logged).

        Costs a lock and an append; the event is checked by the writer thread. An event
        without a time is stamped now, not when it is written."""
        if event.time is None:
            event = AuditEvent(
                event.actor,
                event.action,
                event.resource,
                event.decision,
                event.status,
                event.request_id,
                event.client,
                event.details,
                time.time(),
            )
        with self._lock:
            if self._closed:
                self._lose(1, "stopped")
                return False
            if len(self._queue) >= self.max_queued:
                deadline = time.monotonic() + self.block
                while len(self._queue) >= self.max_queued and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._room.wait(remaining)
                if len(self._queue) >= self.max_queued or self._closed:
                    self._lose(1, "queue_full" if not self._closed else "stopped")
                    return False
            self._queue.append(event)
            if len(self._queue) >= self.max_batch:
                self._wakeup.notify()
        return True

    @property
    def queued(self) -> int:
        """Events waiting to be written (the batch being written not included)."""
        return len(self._queue)

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything queued now; ``True`` once it is written within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._flush_now = True
            self._wakeup.notify()
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to ``timeout`` seconds), then stop; later events are
        dropped and counted (``stopped``)."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._wakeup.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            # The batch being written, if any, is the writer's to count when its write ends.
            self._closed = True
            left = len(self._queue)
            self._queue.clear()
            self._room.notify_all()
            self._stop.notify_all()
            if left:
                self._lose(left, "stopped", force_log=True)

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                deadline = time.monotonic() + self.flush_interval
                while (
                    len(self._queue) < self.max_batch and not self._closing and not self._flush_now
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wakeup.wait(remaining)
                n = min(len(self._queue), self.max_batch)
                batch = [self._queue.popleft() for _ in range(n)]
                if not self._queue:
                    self._flush_now = False
                self._room.notify_all()
                if not batch:
                    self._idle.notify_all()
                    if self._closing:
                        return
                    continue
                self._in_flight = n
            self._write_until_done(self._valid(batch))
            with self._lock:
                self._in_flight = 0
                if not self._queue:
                    self._idle.notify_all()

    def _valid(self, batch: list[AuditEvent]) -> list[AuditEvent]:
        valid = []
        for event in batch:
            try:
                valid.append(check_event(event))
            except UsinaError as exc:
                # Its details are left out of the log: they may hold what was refused.
                log.error(
                    "audit event refused, a bug of its caller: %s (actor %r, action %r, "
                    "resource %r)",
                    exc,
                    event.actor,
                    event.action,
                    event.resource,
                )
                with self._lock:
                    self._lose(1, "invalid")
        return valid

    def _write_until_done(self, batch: list[AuditEvent]) -> None:
        """Append ``batch``, retrying with backoff while the database refuses it; once the
        recorder is closed, a batch that still fails is counted as lost."""
        backoff = 0.0
        while batch:
            try:
                self.log.append(batch)
            except Exception as exc:  # noqa: BLE001 - any failure is retried; the queue bounds it
                log.error(
                    "cannot append %d audit records (%s: %s); retrying, %d more queued",
                    len(batch),
                    type(exc).__name__,
                    exc,
                    len(self._queue),
                )
                with self._lock:
                    if self._closed:
                        self._lose(len(batch), "stopped", force_log=True)
                        return
                    backoff = min(max(backoff * 2, 0.05), self.retry_max)
                    # Not on _wakeup: callers notify it on every event once a batch waits,
                    # which would retry a failing database at the request rate.
                    self._stop.wait(backoff)
                continue
            with self._lock:
                self.written += len(batch)
            self._written_metric.inc(len(batch))
            return

    def _lose(self, n: int, reason: str, *, force_log: bool = False) -> None:
        """Count ``n`` lost records (the lock is held) and say so, at most once a second."""
        self.dropped += n
        self._dropped_metric.labels(reason).inc(n)
        self._unlogged[reason] = self._unlogged.get(reason, 0) + n
        now = time.monotonic()
        if force_log or now - self._last_loss_log.get(reason, -_LOG_EVERY) >= _LOG_EVERY:
            log.error(
                "LOST %d audit records (%s); %d lost since start: %s",
                self._unlogged[reason],
                reason,
                self.dropped,
                {
                    "queue_full": "the log cannot keep up or the database is down",
                    "invalid": "malformed events",
                    "stopped": "recorded after or during stop",
                }[reason],
            )
            self._unlogged[reason] = 0
            self._last_loss_log[reason] = now
