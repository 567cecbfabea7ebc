"""The sealed format: values of any size open to what was sealed, and any damage (a truncated,
extended or altered file, another name as associated data) fails instead of reading garbage."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usina.crypto import KeyRing, is_sealed, open_bytes, seal_bytes
from usina.crypto.sealing import CHUNK, OpeningReader, SealingReader
from usina.errors import IntegrityError, KeyUnavailable

RING = KeyRing({"k1": bytes(range(32))})


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_values_of_every_size_round_trip_streaming(size: int) -> None:
    data = os.urandom(size)
    sealed = SealingReader(RING, io.BytesIO(data), b"ad").readall()
    assert is_sealed(sealed)
    assert size < 16 or data[:16] not in sealed
    reader = OpeningReader(RING, io.BytesIO(sealed), b"ad")
    parts = []
    while part := reader.read(1000):  # small reads: one chunk is held at a time
        parts.append(part)
    assert b"".join(parts) == data


def test_damage_fails_to_open() -> None:
    sealed = seal_bytes(RING, os.urandom(2 * CHUNK + 5), b"name")
    cut = len(sealed) - (CHUNK // 2)
    with pytest.raises(IntegrityError, match="cut short"):
        open_bytes(RING, sealed[:cut], b"name")
    with pytest.raises(IntegrityError, match="after its last chunk"):
        open_bytes(RING, sealed + b"x", b"name")
    with pytest.raises(KeyUnavailable):
        open_bytes(RING, sealed, b"other name")
    flipped = bytearray(sealed)
    flipped[len(sealed) // 2] ^= 1
    with pytest.raises(KeyUnavailable, match="altered"):
        open_bytes(RING, bytes(flipped), b"name")
    with pytest.raises(IntegrityError, match="not a sealed value"):
        open_bytes(RING, b"PAR1 plain bytes", b"name")


def test_two_seals_of_one_value_differ() -> None:
    assert seal_bytes(RING, b"same") != seal_bytes(RING, b"same")


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=700))
def test_any_value_and_chunk_size_round_trip(data: bytes, chunk: int) -> None:
    sealed = SealingReader(RING, io.BytesIO(data), b"", chunk=chunk).readall()
    assert OpeningReader(RING, io.BytesIO(sealed)).readall() == data
