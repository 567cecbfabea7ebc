"""Stored bytes are verified, and hostile model files never run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from resources.payloads import StatePayload, pickle_payload
from usina.artifacts import blob_key, put_bytes
from usina.errors import IntegrityError, UnsafeModel
from usina.registry import Signature


def _plant(client, name: str, data: bytes, fmt: str):  # type: ignore[no-untyped-def]
    """Register raw bytes as a version, as someone with write access to the stores could."""
    blob = put_bytes(client.artifacts, data)
    return client.registry.create_version(
        name,
        digest=blob.digest,
        size=blob.size,
        format=fmt,
        model_class="sklearn.linear_model._logistic.LogisticRegression",
        signature=Signature(),
        metrics={},
    )


def test_a_flipped_byte_is_refused_on_load(sqlite_url, client_factory, pipeline_model) -> None:
    client = client_factory(sqlite_url)
    v = client.register_model(pipeline_model, "m")
    path = Path(client.artifacts.root, blob_key(v.digest))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="is corrupted"):
        client.load_model("models:/m/1")


def test_a_pickle_payload_posing_as_sklearn_is_refused(
    sqlite_url, client_factory, tmp_path
) -> None:
    client = client_factory(sqlite_url)
    marker = tmp_path / "pwned"
    _plant(client, "m", pickle_payload(str(marker)), "sklearn")
    with pytest.raises(UnsafeModel, match="not a valid skops file"):
        client.load_model("models:/m/1")
    assert not marker.exists()


def test_a_pickle_is_never_loaded_without_trust(sqlite_url, client_factory, tmp_path) -> None:
    client = client_factory(sqlite_url)
    marker = tmp_path / "pwned"
    _plant(client, "m", pickle_payload(str(marker)), "pickle")
    with pytest.raises(UnsafeModel, match="trusted=True"):
        client.load_model("models:/m/1")
    assert not marker.exists()
    # The payload is real: trusting it runs it.
    assert pickle.loads(pickle_payload(str(marker))) is None
    assert marker.exists()


def test_a_skops_file_naming_an_untrusted_type_is_refused(
    sqlite_url, client_factory, tmp_path
) -> None:
    import skops.io as sio

    client = client_factory(sqlite_url)
    marker = tmp_path / "pwned"
    payload = StatePayload.__new__(StatePayload)
    payload.__dict__["marker"] = str(marker)
    _plant(client, "m", bytes(sio.dumps(payload)), "sklearn")
    with pytest.raises(
        UnsafeModel, match=r"outside usina's trust list: resources\.payloads\.StatePayload"
    ):
        client.load_model("models:/m/1")
    assert not marker.exists()


def test_a_skops_file_calling_an_arbitrary_function_is_refused(sqlite_url, client_factory) -> None:
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    client = client_factory(sqlite_url)
    _plant(client, "m", bytes(sio.dumps(FunctionTransformer(os.system))), "sklearn")
    with pytest.raises(UnsafeModel, match=r"posix\.system"):
        client.load_model("models:/m/1")


def test_an_unknown_format_is_refused(sqlite_url, client_factory) -> None:
    client = client_factory(sqlite_url)
    _plant(client, "m", b"whatever", "onnx-from-the-future")
    with pytest.raises(UnsafeModel, match=r"unknown model format"):
        client.load_model("models:/m/1")
