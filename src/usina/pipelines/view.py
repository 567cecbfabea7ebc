"""What a person sees while a pipeline runs: a live table of steps and their states."""

from __future__ import annotations

import time
from typing import Any, Protocol

_STYLE = {
    "pending": "dim",
    "running": "bold yellow",
    "cached": "cyan",
    "done": "green",
    "failed": "bold red",
    "skipped": "dim",
}


class View(Protocol):
    """Receives step state changes from the runner."""

    def update(self, node: str, status: str, detail: str = "") -> None:
        """``node`` is now ``status`` (pending, running, cached, done, failed, skipped)."""
        ...

    def tick(self) -> None:
        """Time passed (the runner calls this a few times a second while steps run)."""
        ...

    def close(self) -> None:
        """The run is over."""
        ...


class NullView:
    """Shows nothing (the Python API and tests)."""

    def update(self, node: str, status: str, detail: str = "") -> None:
        pass

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


class RichView:
    """A live rich table on a terminal; one line per finished step elsewhere."""

    def __init__(self, pipeline: str, run_id: str, nodes: list[str]) -> None:
        from rich.console import Console

        self.console = Console(highlight=False)
        self.pipeline = pipeline
        self.run_id = run_id
        self.rows: dict[str, list[Any]] = {n: ["pending", "", None] for n in nodes}
        self.live: Any = None
        if self.console.is_terminal:
            from rich.live import Live

            # Refreshed by the runner on each change: no refresh thread next to forked workers.
            self.live = Live(
                self._table(), console=self.console, auto_refresh=False, transient=False
            )
            self.live.start()
        else:
            self.console.print(f"pipeline {pipeline} run {run_id}")

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(
            title=f"{self.pipeline}  run {self.run_id}", title_justify="left", min_width=60
        )
        table.add_column("step")
        table.add_column("state")
        table.add_column("")
        for node, (status, detail, started) in self.rows.items():
            if status == "running" and started is not None and not detail:
                detail = f"{time.monotonic() - started:.1f}s"
            table.add_row(node, f"[{_STYLE[status]}]{status}[/]", detail)
        return table

    def update(self, node: str, status: str, detail: str = "") -> None:
        row = self.rows.setdefault(node, ["pending", "", None])
        if status == "running" and row[0] != "running":
            row[2] = time.monotonic()
        row[0], row[1] = str(status), detail
        if self.live is not None:
            self.live.update(self._table(), refresh=True)
        elif status not in ("pending", "running"):
            extra = f"  {detail}" if detail else ""
            self.console.print(f"  {node:<24} [{_STYLE[str(status)]}]{status}[/]{extra}")

    def tick(self) -> None:
        if self.live is not None:
            self.live.update(self._table(), refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
