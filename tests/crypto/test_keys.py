"""Master keys: the text form, the key file's mode check, generation, and rotation (data sealed
with an older key opens while that key stays on the ring)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from usina.crypto import KeyRing, generate_key, load_key_ring, open_bytes, seal_bytes
from usina.crypto.keys import read_key_file
from usina.errors import InvalidInput, KeyUnavailable


def test_the_first_entry_is_current_and_every_entry_opens_its_own_data() -> None:
    old = generate_key("k1")
    sealed_before = seal_bytes(KeyRing.parse(old), b"before rotation")
    rotated = KeyRing.parse(f"{generate_key('k2')},{old}")
    assert rotated.current_key_id == "k2" and rotated.key_ids == ["k2", "k1"]
    sealed_after = seal_bytes(rotated, b"after rotation")
    assert open_bytes(rotated, sealed_before) == b"before rotation"
    assert open_bytes(rotated, sealed_after) == b"after rotation"
    # A ring that dropped the old key says which key the data needs.
    with pytest.raises(KeyUnavailable, match=r"key 'k1'.*holds k2"):
        open_bytes(KeyRing.parse(rotated.export().split(",")[0]), sealed_before)


def test_a_wrong_key_under_the_same_id_fails_closed() -> None:
    sealed = seal_bytes(KeyRing.parse(generate_key("k1")), b"value")
    with pytest.raises(KeyUnavailable, match="does not decrypt with key 'k1'"):
        open_bytes(KeyRing.parse(generate_key("k1")), sealed)


def test_the_text_form_is_checked_naming_the_setting() -> None:
    assert KeyRing.parse(generate_key("k1").split(":")[1]).current_key_id == "k1"
    for bad, why in (
        ("k1:not-base64!", "not base64"),
        ("k1:" + "QUJD", "3 bytes, not 32"),
        ("", "holds no key"),
        (f"{generate_key('a')},{generate_key('a')}", "appears twice"),
        ("bad id:" + generate_key().split(":")[1], "is not 1-64"),
    ):
        with pytest.raises(InvalidInput, match=why) as raised:
            KeyRing.parse(bad)
        assert raised.value.field == "USINA_MASTER_KEY"
    with pytest.raises(InvalidInput, match="not both"):
        load_key_ring(generate_key(), "/some/file")
    assert load_key_ring(None, None) is None
    assert (
        "k1" in repr(KeyRing.parse(generate_key()))
        and "=" not in repr(KeyRing.parse(generate_key())).split("ids=")[1]
    )


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(f"# rotated 2026-12\n{generate_key('k2')}\n{generate_key('k1')}\n")
    os.chmod(path, 0o644)
    with pytest.raises(InvalidInput, match=r"readable by others \(mode 644\); run `chmod 600") as e:
        read_key_file(path)
    assert e.value.field == "USINA_MASTER_KEY_FILE"
    os.chmod(path, 0o600)
    assert read_key_file(path).key_ids == ["k2", "k1"]
    with pytest.raises(InvalidInput, match="cannot be read"):
        read_key_file(tmp_path / "absent.key")
