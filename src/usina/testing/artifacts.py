"""The contract of an ``ArtifactStore``, as a function any backend's tests call."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

from usina.artifacts.base import ArtifactStore
from usina.artifacts.content import put_bytes, read_bytes
from usina.errors import InvalidKey, NotFound

# Keys that must never reach the filesystem or the object store.
TRAVERSAL_KEYS = [
    "../escape",
    "a/../../escape",
    "..",
    ".",
    "a/./b",
    "/etc/passwd",
    "//server/share",
    "a//b",
    "a/",
    "..%2fescape",
    "%2e%2e/escape",
    "%2e%2e%2fescape",
    "%252e%252e%252fescape",
    "..%252fescape",
    "..\\escape",
    "a\\..\\..\\escape",
    "C:\\Windows\\win.ini",
    "C:/Windows/win.ini",
    "a;b",
    "a#b",
    "a?b",
    "a\x00b",
    "a\nb",
    "\uff0e\uff0e/escape",
    " ../escape",
    "",
]


def check_artifact_store(factory: Callable[[], ArtifactStore]) -> None:
    """Assert that a fresh store from ``factory()`` keeps the whole contract.

    Raises ``AssertionError`` naming the broken rule.
    """
    store = factory()
    assert isinstance(store, ArtifactStore), "the store does not implement ArtifactStore"
    assert isinstance(store.uri, str) and store.uri, "store.uri must name the store"

    store.write("reports/a.txt", b"first")
    assert store.exists("reports/a.txt"), "a written key must exist"
    with store.open("reports/a.txt") as f:
        assert f.read() == b"first", "reading returns what was written"

    store.write("reports/a.txt", b"second")
    with store.open("reports/a.txt") as f:
        assert f.read() == b"second", "a second write replaces the value"

    big = os.urandom(3 * 1024 * 1024 + 17)
    store.write("streams/big.bin", io.BytesIO(big))
    with store.open("streams/big.bin") as f:
        assert f.read() == big, "a streamed write stores every byte"

    store.write("reports/b.txt", b"b")
    assert store.list("reports") == ["reports/a.txt", "reports/b.txt"], "list by prefix"
    assert "streams/big.bin" in store.list(), "list without a prefix lists everything"
    assert store.list("nothing-here") == [], "an unknown prefix lists nothing"

    store.delete("reports/b.txt")
    assert not store.exists("reports/b.txt"), "a deleted key is gone"
    store.delete("reports/b.txt")  # deleting twice is harmless
    assert not store.exists("never/written"), "an unwritten key does not exist"
    try:
        store.open("never/written")
    except NotFound:
        pass
    else:
        raise AssertionError("opening a missing key raises NotFound")

    blob = put_bytes(store, b"content-addressed")
    assert read_bytes(store, blob.digest) == b"content-addressed", "blobs round-trip"
    assert put_bytes(store, b"content-addressed") == blob, "the same bytes give the same blob"

    for key in TRAVERSAL_KEYS:
        for operation in (
            lambda k: store.write(k, b"x"),
            store.open,
            store.exists,
            store.delete,
        ):
            try:
                operation(key)
            except InvalidKey:
                continue
            raise AssertionError(f"key {key!r} must be refused with InvalidKey")
