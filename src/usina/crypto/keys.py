"""Master keys: the ``KeyProvider`` protocol, and a key ring read from ``USINA_MASTER_KEY`` or a
key file.

A key ring holds one or more 32-byte AES-256 keys, each under a short id; the first is the
current one, which seals everything new. Every sealed record carries the id of the key that
sealed it, so adding a key in front (rotation) leaves older data readable as long as its key
stays on the ring.

The text form, in ``USINA_MASTER_KEY`` or a key file, is a comma- or newline-separated list of
``ID:BASE64`` entries (a bare ``BASE64`` entry gets the id ``k1``), where ``BASE64`` is the
standard base64 of 32 random bytes, as ``usina keys generate`` prints; or ``ID:aws-kms:BASE64``,
a data key wrapped by AWS KMS (``usina.crypto.kms``), unwrapped once when the ring is read.

Example:
    >>> ring = KeyRing.parse(generate_key("k2") + "," + generate_key("k1"))
    >>> ring.current_key_id
    'k2'
    >>> len(ring.key("k1"))
    32
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from usina.errors import InvalidInput, KeyUnavailable

KEY_BYTES = 32
ENV_KEY = "USINA_MASTER_KEY"
ENV_KEY_FILE = "USINA_MASTER_KEY_FILE"
DEFAULT_ID = "k1"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@runtime_checkable
class KeyProvider(Protocol):
    """Where master keys come from: the id of the key that seals new data, and any key by id.

    A cloud KMS provider implements the same two members (see docs/security.md).
    """

    @property
    def current_key_id(self) -> str:
        """The id of the key new data is sealed with."""
        ...

    def key(self, key_id: str) -> bytes:
        """The 32 bytes of ``key_id``; ``KeyUnavailable`` when this provider does not hold it."""
        ...


class KeyRing:
    """Keys held in memory, by id; the first one given is the current one."""

    def __init__(self, keys: Mapping[str, bytes], *, source: str = ENV_KEY) -> None:
        if not keys:
            raise InvalidInput(f"{source} holds no key; run `usina keys generate`", field=source)
        for key_id, key in keys.items():
            if not _ID.fullmatch(key_id):
                raise InvalidInput(
                    f"{source}: key id {key_id!r} is not 1-64 letters, digits, '.', '_' or '-'",
                    field=source,
                )
            if len(key) != KEY_BYTES:
                raise InvalidInput(
                    f"{source}: key {key_id!r} is {len(key)} bytes, not {KEY_BYTES}; "
                    "run `usina keys generate` for a valid one",
                    field=source,
                )
        self._keys = dict(keys)
        self._current = next(iter(self._keys))
        self.source = source

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> list[str]:
        """Every id on the ring, the current one first."""
        return list(self._keys)

    def key(self, key_id: str) -> bytes:
        found = self._keys.get(key_id)
        if found is None:
            raise KeyUnavailable(
                f"the data was encrypted with key {key_id!r}, which {self.source} does not "
                f"hold (it holds {', '.join(self._keys)}); add that key to {self.source} "
                "after the current one"
            )
        return found

    def export(self) -> str:
        """The ring in its text form (for a child process's environment, never a log)."""
        return ",".join(
            f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in self._keys.items()
        )

    def __repr__(self) -> str:  # never the keys themselves
        return f"KeyRing(current={self._current!r}, ids={self.key_ids!r})"

    @classmethod
    def parse(cls, text: str, *, source: str = ENV_KEY) -> KeyRing:
        """The ring written as ``ID:BASE64`` entries, separated by commas or newlines."""
        keys: dict[str, bytes] = {}
        for raw in re.split(r"[,\n]", text):
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                key_id, encoded = DEFAULT_ID, entry
            key_id = key_id.strip()
            if key_id in keys:
                raise InvalidInput(f"{source}: key id {key_id!r} appears twice", field=source)
            scheme, sep, wrapped = encoded.partition(":")
            if sep and scheme == "aws-kms":
                from usina.crypto.kms import unwrap_key

                keys[key_id] = unwrap_key(key_id, wrapped.strip(), source)
                continue
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput(
                    f"{source}: the entry for key {key_id!r} is not base64; write ID:BASE64 "
                    "entries as `usina keys generate` prints them",
                    field=source,
                ) from None
            keys[key_id] = key
        return cls(keys, source=source)


def read_key_file(path: str | os.PathLike[str]) -> KeyRing:
    """The ring in the file at ``path``, which must be readable by its owner alone."""
    file = Path(path).expanduser()
    try:
        mode = file.stat().st_mode
    except OSError as exc:
        raise InvalidInput(
            f"{ENV_KEY_FILE}={str(file)!r} cannot be read: {exc.strerror}", field=ENV_KEY_FILE
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(
            f"{ENV_KEY_FILE}={str(file)!r} is readable by others (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {file}` so only its owner can read the master key",
            field=ENV_KEY_FILE,
        )
    return KeyRing.parse(file.read_text(), source=ENV_KEY_FILE)


def load_key_ring(value: str | None, file: str | os.PathLike[str] | None) -> KeyRing | None:
    """The ring from ``USINA_MASTER_KEY``'s value or ``USINA_MASTER_KEY_FILE``'s path (not
    both); ``None`` when neither is set."""
    if value and file:
        raise InvalidInput(f"set {ENV_KEY} or {ENV_KEY_FILE}, not both", field=ENV_KEY_FILE)
    if value:
        return KeyRing.parse(value)
    if file:
        return read_key_file(file)
    return None


def generate_key(key_id: str = DEFAULT_ID) -> str:
    """A new random key as one ``ID:BASE64`` entry."""
    if not _ID.fullmatch(key_id):
        raise InvalidInput(
            f"key id {key_id!r} is not 1-64 letters, digits, '.', '_' or '-'", field="--id"
        )
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def require_keys(keys: KeyProvider | None, what: str) -> KeyProvider:
    """``keys``, or ``KeyUnavailable`` saying that ``what`` needs a master key."""
    if keys is None:
        raise KeyUnavailable(
            f"{what} needs a master key and none is configured; set {ENV_KEY} (or "
            f"{ENV_KEY_FILE}) to a key from `usina keys generate` where the data is kept"
        )
    return keys
