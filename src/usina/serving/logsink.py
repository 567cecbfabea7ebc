"""Rows on their way into the store: a bounded buffer, writes retried with backoff, drops counted.

Both the request log's writer process and a serving worker that writes its log itself put their
rows here. ``write`` turns the buffer into Parquet files (see :mod:`usina.serving.logfiles`) and
removes each file's rows once the store has it, so a failure halfway never writes a row twice.
Rows wait for ``file_interval`` seconds after the first of them arrived (or until half of
``max_buffered`` wait), so a busy worker writes one larger file per endpoint and interval rather
than many small ones: a file costs a few milliseconds of CPU whatever its size, which a second's
rows would share. When the store fails, the rows stay and the next attempt waits ``retry_min``
seconds, doubling up to ``retry_max``; one log line says so at the first failure and at most one
a minute after that, and one more when writes succeed again.

The buffer holds at most ``max_buffered`` rows. Rows that arrive when it is full are dropped
(the newest, so the oldest are kept for when the store is back), with the reason
``store_error`` while writes are failing and ``queue_full`` when the store is merely slower than
the traffic. Every drop is reported to ``on_dropped`` and kept as a drop record, written to the
store with the next successful write.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from usina.artifacts import ArtifactStore
from usina.serving.logfiles import (
    QUEUE_FULL,
    ROW_KEY,
    STORE_ERROR,
    TIME,
    DropKey,
    Row,
    RowKey,
    drop_files,
    file_name,
    row_file,
    row_groups,
    row_key,
    table_drops,
    table_file,
    table_groups,
    table_keys,
)

log = logging.getLogger("usina.serving")

SAY_EVERY_SECONDS = 60.0
# A graceful stop keeps retrying a failing store this long before it gives the rows up.
CLOSE_RETRY_SECONDS = 10.0

Written = Callable[[Counter[RowKey]], None]
Dropped = Callable[[Counter[RowKey], str], None]


class Undecoded(NamedTuple):
    """Rows kept as they arrived until they are written: ``decode()`` makes their Arrow table
    (``logfiles.packed_batch``'s schema). The writer process keeps each batch from the worker
    so, and decodes a file's batches together when it writes them: decoding a batch took
    several times the CPU in a process that had slept since the last one (cold caches) as right
    after another."""

    num_rows: int
    decode: Callable[[], Any]


def _table(table: Any) -> Any:
    """The Arrow table of an item of ``LogSink._tables``."""
    return table.decode() if isinstance(table, Undecoded) else table


def _ignore_written(counts: Counter[RowKey]) -> None:
    pass


def _ignore_dropped(counts: Counter[RowKey], reason: str) -> None:
    pass


class LogSink:
    """A bounded buffer of rows for the store, written with retries (thread-safe ``add``)."""

    def __init__(
        self,
        store: ArtifactStore,
        tag: str,
        *,
        max_buffered: int = 100_000,
        retry_min: float = 0.5,
        retry_max: float = 30.0,
        file_interval: float = 0.0,
        on_written: Written = _ignore_written,
        on_dropped: Dropped = _ignore_dropped,
    ) -> None:
        self.store = store
        self.tag = tag
        self.max_buffered = max_buffered
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.file_interval = file_interval
        # Rows that are written at once, whatever the interval: room stays for as many more.
        self.file_rows = max(max_buffered // 2, 1)
        self.on_written = on_written
        self.on_dropped = on_dropped
        self._rows: list[Row] = []
        # Rows the writer process read from its pipe, as Arrow tables or ``Undecoded``; written
        # before ``_rows``.
        self._tables: list[Any] = []
        self._table_rows = 0
        self._drops: Counter[DropKey] = Counter()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seq = itertools.count()
        self._failing_since: float | None = None
        self._dropped_while_failing = 0
        self._backoff = retry_min
        self._next_try = 0.0
        self._said_full: float = -SAY_EVERY_SECONDS
        self._said: float = -SAY_EVERY_SECONDS
        # When the oldest row or drop record not yet written arrived (monotonic), or None.
        self._since: float | None = None

    def add(self, rows: list[Row]) -> None:
        """Buffer ``rows``; those beyond ``max_buffered`` are dropped and counted."""
        with self._lock:
            room = max(self.max_buffered - len(self._rows), 0)
            self._rows.extend(rows[:room])
            if room and rows:
                self._arrived()
        if len(rows) > room:
            failing = self._failing_since is not None
            self.drop(rows[room:], STORE_ERROR if failing else QUEUE_FULL)

    def add_table(self, table: Any) -> None:
        """Buffer a table of rows (``logfiles.packed_batch``'s schema), or ``Undecoded`` rows,
        as ``add`` does rows."""
        with self._lock:
            room = max(self.max_buffered - len(self._rows) - self._table_rows, 0)
            if table.num_rows > room:
                table = _table(table)  # some are kept, some dropped: both need the rows
            kept = table if table.num_rows <= room else table.slice(0, room)
            if kept.num_rows:
                self._tables.append(kept)
                self._table_rows += kept.num_rows
                self._arrived()
        if table.num_rows > room:
            failing = self._failing_since is not None
            self.drop_table(table.slice(room), STORE_ERROR if failing else QUEUE_FULL)

    def drop_table(self, table: Any, reason: str) -> None:
        """Count the rows of ``table`` as dropped for ``reason``, as ``drop`` does rows."""
        self.on_dropped(table_keys(table), reason)
        self._dropped(table_drops(table, reason), table.num_rows, reason)

    def drop(self, rows: list[Row], reason: str) -> None:
        """Count ``rows`` as dropped for ``reason``, and keep their drop records."""
        counts = Counter(row_key(r) for r in rows)
        self.on_dropped(counts, reason)
        records = Counter((int(TIME(row)), *row_key(row), reason) for row in rows)
        self._dropped(records, len(rows), reason)

    def _dropped(self, records: Counter[DropKey], count: int, reason: str) -> None:
        with self._lock:
            self._drops.update(records)
            self._arrived()
            if self._failing_since is not None:
                self._dropped_while_failing += count
            now = time.monotonic()
            say = now - self._said_full >= SAY_EVERY_SECONDS
            if say:
                self._said_full = now
        if say:
            log.warning(
                "request log: %d rows dropped (%s): %d rows are waiting for the store already; "
                "counted in usina_request_log_rows_dropped_total",
                count,
                reason,
                self.max_buffered,
            )

    def add_drops(self, drops: Counter[DropKey]) -> None:
        """Keep drop records counted elsewhere (the serving worker's full queue) for the store."""
        with self._lock:
            if drops:
                self._drops.update(drops)
                self._arrived()

    def _arrived(self) -> None:
        """Something to write arrived: the interval starts if it had not. Under ``_lock``."""
        if self._since is None:
            self._since = time.monotonic()

    @property
    def pending(self) -> int:
        """Rows waiting for the store."""
        return len(self._rows) + self._table_rows

    @property
    def failing(self) -> bool:
        """Whether the last write failed (the next one waits for its retry time)."""
        return self._failing_since is not None

    def wait_time(self) -> float | None:
        """Seconds until the next write is due; ``None`` when there is nothing to write. A
        write is due ``file_interval`` seconds after the oldest row waiting arrived, at once
        when ``file_rows`` wait, and, while the store is failing, at the next retry."""
        if not self._rows and not self._tables and not self._drops:
            return None
        now = time.monotonic()
        if self._failing_since is not None:
            return max(self._next_try - now, 0.0)
        if self.pending >= self.file_rows or self._since is None:
            return 0.0
        return max(self._since + self.file_interval - now, 0.0)

    def write(self, pause: float = 0.0, *, force: bool = False) -> int:
        """Write the buffered rows and drop records, unless they are not due yet (see
        ``wait_time``; ``force`` writes anyway); returns the rows written. ``pause`` is the
        sleep between chunks of rows that lets request threads take the GIL (0 when none run
        here)."""
        with self._write_lock:
            if not force and self.wait_time() != 0.0:
                return 0
            with self._lock:
                rows = self._rows[:]
                tables = self._tables[:]
                drops = Counter(self._drops)
            done: list[Sequence[int]] = []
            try:
                self._decode(tables)
                count = self._write_tables(tables)
            except Exception as exc:  # noqa: BLE001 - any store failure is retried
                self._failed(exc)
                return 0
            try:
                for (endpoint, day), indices in row_groups(rows).items():
                    name = file_name(self.tag, next(self._seq))
                    key, data = row_file(rows, indices, pause, endpoint, day, name)
                    self.store.write(key, data)
                    done.append(indices)
                    written = rows if len(indices) == len(rows) else [rows[i] for i in indices]
                    self.on_written(Counter(map(ROW_KEY, written)))
                if drops:
                    for key, data in drop_files(dict(drops), self.tag, self._seq):
                        self.store.write(key, data)
                    with self._lock:
                        self._drops.subtract(drops)
                        self._drops = +self._drops  # forget the zero counts
            except Exception as exc:  # noqa: BLE001 - any store failure is retried
                count += self._forget(rows, done)
                self._failed(exc)
                return count
            count += self._forget(rows, done)
            with self._lock:  # what arrived meanwhile starts the next interval
                waiting = self._rows or self._tables or self._drops
                self._since = time.monotonic() if waiting else None
            self._recovered()
            return count

    def _decode(self, tables: list[Any]) -> None:
        """Make the ``Undecoded`` items of ``tables`` (the first of ``_tables``) tables, there
        and in ``_tables``, one at a time: each batch's bytes are freed as its table is made,
        and a retry after a failure starts from the tables."""
        for i, table in enumerate(tables):
            if isinstance(table, Undecoded):
                tables[i] = table.decode()
                with self._lock:
                    self._tables[i] = tables[i]

    def _write_tables(self, tables: list[Any]) -> int:
        """Write ``tables`` (the first of ``_tables``), one file per (endpoint, UTC day), and
        forget them; on a failure, those not written yet stay first in ``_tables``. Returns
        the rows written."""
        if not tables:
            return 0
        import pyarrow as pa

        groups = list(table_groups(pa.concat_tables(tables)).items())
        done = written = 0
        try:
            for (endpoint, day), table in groups:
                name = file_name(self.tag, next(self._seq))
                key, data = table_file(table, endpoint, day, name)
                self.store.write(key, data)
                done += 1
                written += table.num_rows
                self.on_written(table_keys(table))
        finally:
            with self._lock:
                self._tables[: len(tables)] = [table for _, table in groups[done:]]
                self._table_rows -= written
        return written

    def close(self, pause: float = 0.0) -> None:
        """Write everything, retrying a failing store for up to ``CLOSE_RETRY_SECONDS``; rows
        still unwritten then are dropped (``store_error``) and said in the log."""
        deadline = time.monotonic() + CLOSE_RETRY_SECONDS
        while self.wait_time() is not None:
            self.write(pause, force=True)
            if self.wait_time() is None or time.monotonic() + self._backoff > deadline:
                break
            time.sleep(min(self._backoff, max(deadline - time.monotonic(), 0.0)))
        with self._lock:
            rows, self._rows = self._rows, []
            tables, self._tables, self._table_rows = self._tables, [], 0
        lost = len(rows) + sum(t.num_rows for t in tables)
        if lost:
            log.error(
                "request log: the store is still failing at shutdown; dropping the %d rows "
                "waiting for it",
                lost,
            )
        if rows:
            self.drop(rows, STORE_ERROR)
        for table in tables:
            self.drop_table(_table(table), STORE_ERROR)
        if self._drops:
            lost = sum(self._drops.values())
            log.error(
                "request log: the store is still failing at shutdown; the records of %d dropped "
                "rows could not be stored (usina endpoints stats will not show them)",
                lost,
            )

    def _forget(self, rows: list[Row], done: list[Sequence[int]]) -> int:
        """Remove the written rows from the front of the buffer (only ``write`` removes, and
        ``add`` only appends, so the first ``len(rows)`` are still ``rows``); returns how many."""
        count = sum(map(len, done))
        if not count:
            return 0
        with self._lock:
            if count == len(rows):
                del self._rows[:count]
            else:
                gone = set().union(*done)
                self._rows[: len(rows)] = [r for i, r in enumerate(rows) if i not in gone]
        return count

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            self._backoff = self.retry_min
        else:
            self._backoff = min(self._backoff * 2, self.retry_max)
        self._next_try = now + self._backoff
        if now - self._said >= SAY_EVERY_SECONDS:
            self._said = now
            log.error(
                "request log: writing to the store failed (%s: %s); %d rows waiting (at most "
                "%d), retrying in %.1f s; %d dropped since the first failure",
                type(exc).__name__,
                exc,
                len(self._rows),
                self.max_buffered,
                self._backoff,
                self._dropped_while_failing,
            )

    def _recovered(self) -> None:
        if self._failing_since is None:
            return
        log.warning(
            "request log: the store is writable again after %.1f s; %d rows dropped meanwhile",
            time.monotonic() - self._failing_since,
            self._dropped_while_failing,
        )
        self._failing_since = None
        self._dropped_while_failing = 0
        self._backoff = self.retry_min
        self._next_try = 0.0
