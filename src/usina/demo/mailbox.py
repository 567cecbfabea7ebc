"""A local mailbox for the demo: the smallest SMTP server that takes a message, on loopback.

The demo's monitor sends its alert by e-mail through the same SMTP code a real server gets;
this sink stands in for that server, so the demo can show the message that arrived. It speaks
just enough of RFC 5321 for Python's ``smtplib`` (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
QUIT), offers no STARTTLS and no login, and listens on 127.0.0.1 only. Not for anything else.
"""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
import time
from email.message import EmailMessage
from types import TracebackType
from typing import Any

MAX_MESSAGE_BYTES = 1 << 20  # a demo alert is a few KB; anything past this is refused


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode("ascii"))

    def handle(self) -> None:
        self.reply("220 usina demo mailbox")
        recipients: list[str] = []
        while True:
            raw = self.rfile.readline(1024)
            if not raw:
                return
            command = raw.decode("ascii", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 usina demo mailbox")
            elif verb == "MAIL":
                recipients = []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = self._data()
                if data is None:
                    self.reply("552 message too large")
                    continue
                self.server.mailbox.deliver(recipients, data)
                self.reply("250 OK")
            elif verb in ("RSET", "NOOP"):
                recipients = [] if verb == "RSET" else recipients
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 command not implemented")

    def _data(self) -> bytes | None:
        lines: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(MAX_MESSAGE_BYTES)
            if not line or line in (b".\r\n", b".\n"):
                break
            size += len(line)
            if size > MAX_MESSAGE_BYTES:
                return None
            lines.append(line[1:] if line.startswith(b"..") else line)  # dot-stuffing
        return b"".join(lines)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mailbox: Mailbox


class Mailbox:
    """An SMTP sink on 127.0.0.1 and a free port, collecting what it receives.

    Example:
        >>> import smtplib
        >>> with Mailbox() as box:
        ...     with smtplib.SMTP("127.0.0.1", box.port) as smtp:
        ...         note = "Subject: hi\\r\\n\\r\\nhello"
        ...         _ = smtp.sendmail("a@example.com", ["b@example.com"], note)
        ...     box.wait(1)[0]["Subject"]
        'hi'
    """

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()
        self._server = _Server(("127.0.0.1", 0), _Session)
        self._server.mailbox = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="usina-demo-mailbox", daemon=True
        )

    def deliver(self, recipients: list[str], data: bytes) -> None:
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        message["X-Delivered-To"] = ", ".join(recipients)
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The first ``count`` messages, waiting up to ``timeout`` seconds for them; fewer
        when they do not arrive in time."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            return list(self.messages[:count])

    def __enter__(self) -> Mailbox:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __repr__(self) -> str:
        return f"Mailbox(port={self.port}, messages={len(self.messages)})"


def body_text(message: EmailMessage) -> str:
    """The plain-text body of ``message`` (the first text part)."""
    part: Any = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""
