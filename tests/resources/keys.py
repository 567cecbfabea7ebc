"""The master key ring tests run with: USINA_TEST_MASTER_KEY (a key ring, as `usina keys
generate` prints) runs the suite with encryption at rest. Clients and servers the fixtures
build get it, and so do the usina commands tests start (through USINA_MASTER_KEY), so the same
tests check that encryption changes nothing a reader sees."""

from __future__ import annotations

import os

from usina.crypto import KeyRing

TEST_KEY_TEXT = os.environ.get("USINA_TEST_MASTER_KEY") or None


def keys_under_test() -> KeyRing | None:
    """The key ring of USINA_TEST_MASTER_KEY, or ``None`` (no encryption) when unset."""
    return KeyRing.parse(TEST_KEY_TEXT) if TEST_KEY_TEXT else None


def some_keys() -> KeyRing:
    """The ring under test, or a fresh random one for tests that need encryption."""
    return keys_under_test() or KeyRing({"k1": os.urandom(32)})


def environment_without_usina() -> dict[str, str]:
    """This process's environment without its ``USINA_*`` settings, but for the master key of
    an encrypted run (commands the test starts must read what its fixtures wrote)."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    if TEST_KEY_TEXT:
        kept["USINA_MASTER_KEY"] = TEST_KEY_TEXT
    return kept
