"""Encryption at rest: master keys (``keys``) and AES-256-GCM sealing of values (``sealing``)."""

from usina.crypto.keys import KeyProvider, KeyRing, generate_key, load_key_ring, require_keys
from usina.crypto.sealing import is_sealed, open_bytes, seal_bytes

__all__ = [
    "KeyProvider",
    "KeyRing",
    "generate_key",
    "is_sealed",
    "load_key_ring",
    "open_bytes",
    "require_keys",
    "seal_bytes",
]
