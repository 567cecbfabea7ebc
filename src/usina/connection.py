"""The connection to a usina server: one pooled HTTP client, and server errors turned back into
the ``usina.errors`` classes the server raised.

The HTTP stores (``HttpTrackingStore``, ``HttpRegistryStore``, ``HttpArtifactStore``) share one
``ServerConnection``; nothing else in usina speaks HTTP to a usina server.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from usina.errors import InvalidInput, ServerError, StoreUnavailable, UsinaError, error_for_code

if TYPE_CHECKING:
    import ssl

    import httpx

API_PREFIX = "/api/v1"
ACTOR_HEADER = "X-Usina-Actor"
_URL = re.compile(r"https?://[^/?#\s]+(/[^?#\s]*)?")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("usina")
    except PackageNotFoundError:
        return "unknown"


def is_server_url(target: str) -> bool:
    """Whether ``target`` names a usina server (``http://`` or ``https://``)."""
    return isinstance(target, str) and target.startswith(("http://", "https://"))


def segment(value: str) -> str:
    """One URL path segment, percent-encoded (``/`` included)."""
    return quote(value, safe="")


def path(value: str) -> str:
    """A ``/``-separated path, each segment percent-encoded."""
    return quote(value, safe="/")


class ServerConnection:
    """HTTP calls to one usina server, decoding its JSON errors.

    Example:
        >>> conn = ServerConnection("http://127.0.0.1:8080")  # doctest: +SKIP
        >>> conn.call("GET", "/models")["items"]  # doctest: +SKIP
        []
    """

    def __init__(
        self,
        url: str,
        *,
        actor: str = "local",
        timeout: float = 60.0,
        token: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
    ) -> None:
        if not _URL.fullmatch(url or ""):
            raise InvalidInput(
                f"{url!r} is not a server URL; use http://HOST:PORT (or https://)", field="url"
            )
        self.url = url.rstrip("/")
        self.actor = actor
        self.timeout = timeout
        self.token = token
        self.ca_bundle = ca_bundle
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @property
    def http(self) -> httpx.Client:
        """The pooled client, made on first use (so importing usina does not import httpx).

        A forked child (a pipeline step's worker) makes its own: the parent's pooled sockets
        are not the child's to use."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._http = None
            self._lock = threading.Lock()
        with self._lock:
            if self._http is None:
                import httpx

                headers = {ACTOR_HEADER: self.actor, "User-Agent": f"usina/{_version()}"}
                if self.token:
                    headers["Authorization"] = f"Bearer {self.token}"
                # Certificates are always verified: against USINA_CA_BUNDLE when given, else
                # the system's CAs. An https:// URL never falls back to plain HTTP.
                self._http = httpx.Client(
                    base_url=self.url + API_PREFIX,
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout, connect=10.0),
                    transport=httpx.HTTPTransport(retries=3, verify=self._tls_context()),
                )
            return self._http

    def _tls_context(self) -> ssl.SSLContext | bool:
        if self.ca_bundle is None:
            return True
        import ssl

        try:
            return ssl.create_default_context(cafile=os.fspath(self.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise InvalidInput(
                f"the CA bundle {os.fspath(self.ca_bundle)!r} cannot be read as PEM "
                f"certificates: {exc}; fix USINA_CA_BUNDLE (or --ca-bundle)",
                field="USINA_CA_BUNDLE",
            ) from None

    def call(
        self,
        method: str,
        route: str,
        *,
        json: Any = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        content: Any = None,
    ) -> Any:
        """Send one request; return the decoded JSON body (``None`` when empty)."""
        import httpx

        if isinstance(params, dict):
            params = {k: v for k, v in params.items() if v is not None}
        # An upload's answer comes after the server has stored every byte, which takes time in
        # proportion to the size: wait for it as long as it takes (connecting still times out).
        timeout = httpx.Timeout(None, connect=10.0) if content is not None else None
        try:
            response = self.http.request(
                method,
                route,
                json=json,
                params=params,
                content=content,
                timeout=timeout or httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        raise_for_error(response)
        if not response.content:
            return None
        return response.json()

    def exists(self, route: str) -> bool:
        """``HEAD route``: True on 200, False on 404; other answers raise."""
        import httpx

        try:
            response = self.http.head(route)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code == 404:
            return False
        raise_for_error(response)
        return True

    def open(self, route: str) -> io.BufferedReader:
        """``GET route`` as a readable binary stream; the body is read as the caller reads."""
        import httpx

        request = self.http.build_request("GET", route)
        try:
            response = self.http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            response.read()
            response.close()
            raise_for_error(response)
        return io.BufferedReader(_ResponseStream(response), buffer_size=1 << 20)

    def close(self) -> None:
        """Close pooled connections."""
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def _unreachable(self, exc: Exception) -> StoreUnavailable:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
            return StoreUnavailable(
                f"the usina server at {self.url} presented a certificate that does not verify "
                f"({exc}); give the CA that signed it with USINA_CA_BUNDLE, or check that "
                "USINA_URL names the right server"
            )
        return StoreUnavailable(
            f"cannot reach the usina server at {self.url}: {exc or type(exc).__name__}; "
            "check that it runs and that USINA_URL (or --url) is right"
        )


def raise_for_error(response: httpx.Response) -> None:
    """Raise the usina error a server answer carries, if it is one."""
    if response.status_code < 400:
        return
    error: UsinaError
    try:
        body = response.json()["error"]
        cls = error_for_code(str(body["code"]))
        error = cls(str(body["message"]), field=body.get("field"))
    except (ValueError, KeyError, TypeError):
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        error = ServerError(
            f"the server answered {response.status_code} {response.reason_phrase} "
            f"without a usina error{': ' + text if text else ''}"
        )
    raise error


class _ResponseStream(io.RawIOBase):
    """A streamed HTTP response body as a raw binary file."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_raw(1 << 20)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        import httpx

        if not self._pending:
            try:
                self._pending = next(self._chunks, b"")
            except httpx.TransportError as exc:
                raise StoreUnavailable(
                    f"the download from the usina server broke off: {exc}"
                ) from exc
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()
