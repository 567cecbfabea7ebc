"""uvicorn's HTTP protocols with ``TCP_NODELAY`` set on every connection.

With several workers, uvicorn hands each one the listening socket rebuilt from its file
descriptor, whose ``proto`` reads 0; asyncio then skips ``TCP_NODELAY`` on accepted
connections, and a response written as headers then body waits on the client's delayed ACK:
about 40 ms a request instead of 1. Setting the option ourselves restores one-worker latency.

Two parsers are offered (``USINA_SERVE_HTTP``): httptools (the default, a C parser) and h11
(pure Python). At 32 concurrent one-row requests, h11 took about a quarter of a serving
worker's CPU and httptools answered about 1.5 times as many requests
(``benchmarks/serving.py --compare-http``).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOLS = {
    "httptools": "usina.serving.nodelay:NoDelayHttpToolsProtocol",
    "h11": "usina.serving.nodelay:NoDelayH11Protocol",
}


def _no_delay(transport: Any) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """httptools' protocol, plus ``TCP_NODELAY``."""

    def connection_made(self, transport: Any) -> None:
        _no_delay(transport)
        super().connection_made(transport)


class NoDelayH11Protocol(H11Protocol):
    """h11's protocol, plus ``TCP_NODELAY``."""

    def connection_made(self, transport: Any) -> None:
        _no_delay(transport)
        super().connection_made(transport)
