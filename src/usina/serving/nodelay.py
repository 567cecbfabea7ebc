"""uvicorn's HTTP protocol with ``TCP_NODELAY`` set on every connection.

With several workers, uvicorn hands each one the listening socket rebuilt from its file
descriptor, whose ``proto`` reads 0; asyncio then skips ``TCP_NODELAY`` on accepted
connections, and a response written as headers then body waits on the client's delayed ACK:
about 40 ms a request instead of 1. Setting the option ourselves restores one-worker latency.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHttpProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """The protocol uvicorn would pick, plus ``TCP_NODELAY``."""

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
