"""Artifact keys: plain relative paths that cannot leave the store's root.

Keys are checked against an allow-list rather than a deny-list, so encodings nobody thought of
(``%2e%2e``, ``%252f``, full-width dots, backslashes) fail for the same reason as ``..``.
"""

from __future__ import annotations

import re

from usina.errors import InvalidKey

MAX_KEY_LENGTH = 1024
# Filesystems cap a file name at 255 bytes; the file store's temporary names add 38.
MAX_SEGMENT_LENGTH = 200
_SEGMENT = re.compile(r"[A-Za-z0-9._\-=+@,~ ()]+")


def check_key(key: object) -> str:
    """Return ``key`` unchanged if it is a safe relative path, else raise ``InvalidKey``.

    A safe key is made of ``/``-separated segments of ASCII letters, digits and ``._-=+@,~ ()``;
    no segment is empty, ``.`` or ``..``; it does not start with ``/``.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("artifact key must be a non-empty string", field="key")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"artifact key is longer than {MAX_KEY_LENGTH} characters", field="key")
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        raise InvalidKey(
            f"artifact key {key!r} is absolute; use a path relative to the store", field="key"
        )
    for segment in key.split("/"):
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise InvalidKey(
                f"artifact key {key[:80]!r}... has a part longer than {MAX_SEGMENT_LENGTH} "
                "characters; split it with '/'",
                field="key",
            )
        if segment in ("", ".", ".."):
            raise InvalidKey(
                f"artifact key {key!r} has an empty, '.' or '..' segment; "
                "use a plain relative path such as 'reports/summary.html'",
                field="key",
            )
        if not _SEGMENT.fullmatch(segment) or segment.strip() != segment:
            raise InvalidKey(
                f"artifact key {key!r} has characters outside letters, digits and '._-=+@,~ ()' "
                "(no backslashes, '%', ';', '#', '?' or leading/trailing spaces)",
                field="key",
            )
    return key
