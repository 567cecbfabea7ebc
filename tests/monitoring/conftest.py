"""Alert tests talk to real receivers on loopback ports: an SMTP server (aiosmtpd) and an HTTP
server that records each request and answers with the status the test sets. Monitoring tests
share the live server fixtures of ``tests/server``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import server.conftest as server_fixtures
from resources.servers import LOOPBACK, free_port

serve_app = server_fixtures.serve_app
live_server = server_fixtures.live_server
remote_factory = server_fixtures.remote_factory

SECRET = "a-webhook-secret-for-the-tests"


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class Inbox:
    host: str
    port: int
    mails: list[Mail] = field(default_factory=list)


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    """A real SMTP server on a loopback port, keeping every message it accepts."""
    # A declared test dependency (the dev extra): its absence is a failure, not a skip.
    import aiosmtpd.controller as aiosmtpd

    inbox = Inbox(LOOPBACK, free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            inbox.mails.append(
                Mail(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message_from_bytes(envelope.original_content),
                )
            )
            return "250 Message accepted for delivery"

    controller = aiosmtpd.Controller(Handler(), hostname=LOOPBACK, port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    port: int
    status: int = 200
    requests: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on a loopback port: it records every POST and answers
    ``receiver.status``."""
    server = ThreadingHTTPServer((LOOPBACK, 0), BaseHTTPRequestHandler)
    port = int(server.server_address[1])
    found = Receiver(f"http://{LOOPBACK}:{port}", port)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            found.requests.append(Received(self.path, headers, body))
            self.send_response(found.status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)
