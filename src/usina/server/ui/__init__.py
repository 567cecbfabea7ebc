"""The web console: server-rendered pages under ``/ui`` of ``usina server`` (docs/ui.md)."""

from usina.server.ui.console import PAGES, install

__all__ = ["PAGES", "install"]
