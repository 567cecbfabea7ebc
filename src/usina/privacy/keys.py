"""The key of the keyed operators (token, encrypt, surrogate), and where it comes from.

One master key of 32 bytes or more; each operator uses its own key derived from it with
HMAC-SHA-256 (``token``, ``surrogate``) or HMAC-SHA-512 (the 64 bytes of AES-256-SIV), so a
token never reveals anything about the encryption key. The key id (8 hex digits, itself
derived from the key) goes into every token and ciphertext, so a value made with another key
is recognised and refused instead of being decrypted into garbage.

``load_key`` is the one lookup: the command line and the server call it with the settings
``USINA_PII_KEY`` (base64 of 32+ bytes) and ``USINA_PII_KEY_FILE`` (a file holding that
base64 text).

Example:
    >>> key = PiiKey(bytes(32))
    >>> key.key_id
    '606d0f5c'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

from usina.errors import InvalidInput

MIN_BYTES = 32
SETTING = "USINA_PII_KEY"
FILE_SETTING = "USINA_PII_KEY_FILE"


@dataclass(frozen=True)
class PiiKey:
    """A master key and the keys derived from it for each operator."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_BYTES:
            raise InvalidInput(
                f"the PII key has {len(self.secret)} bytes; it needs {MIN_BYTES} or more "
                f"(set {SETTING} to base64 of 32 random bytes: "
                "python -c 'import secrets,base64; "
                "print(base64.b64encode(secrets.token_bytes(32)).decode())')",
                field=SETTING,
            )

    def derive(self, purpose: str, size: int = 32) -> bytes:
        """The key for ``purpose``: 32 bytes (HMAC-SHA-256) or 64 (HMAC-SHA-512)."""
        digest = hashlib.sha512 if size > 32 else hashlib.sha256
        return hmac.new(self.secret, b"usina.pii." + purpose.encode(), digest).digest()[:size]

    @property
    def key_id(self) -> str:
        """8 hex digits naming this key in the tokens it makes."""
        return self.derive("key-id").hex()[:8]


def load_key(value: str | None, file: str | Path | None = None) -> PiiKey:
    """The PII key from ``USINA_PII_KEY`` (``value``) or ``USINA_PII_KEY_FILE`` (``file``);
    a clear error naming the setting when neither is set or the key is malformed."""
    if value is None and file is not None:
        path = Path(file)
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise InvalidInput(
                f"{FILE_SETTING}: cannot read {path} ({exc.strerror})", field=FILE_SETTING
            ) from None
        setting = FILE_SETTING
    else:
        setting = SETTING
    if not value:
        raise InvalidInput(
            f"this operator needs a key: set {SETTING} to base64 of 32 random bytes, or "
            f"{FILE_SETTING} to a file holding it",
            field=SETTING,
        )
    try:
        secret = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{setting} is not valid base64", field=setting) from None
    try:
        return PiiKey(secret)
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace(SETTING, setting, 1), field=setting) from None
