"""The contract of a secret store, as a function any backend's tests call: values set, versioned
and revealed exactly, never part of a listing, names and values checked with nothing stored on
bad input, and deletes that leave nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from usina.errors import InvalidInput, NotFound
from usina.testing.tracking import expect_error


def check_secret_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().secrets`` (a fresh, empty installation with a master key)
    keeps the secret store's contract.

    Args:
        make_client: a factory of ``usina.Client`` objects on one empty installation.
    """
    store = make_client().secrets
    assert store.list() == []

    first = store.set("smtp-password", "hunter2")
    assert (first.name, first.version) == ("smtp-password", 1)
    assert first.created_at == first.updated_at
    assert store.get("smtp-password") == first
    assert store.reveal("smtp-password") == "hunter2"
    assert not hasattr(first, "value"), "a secret's record must not carry its value"

    second = store.set("smtp-password", "correct horse ✓ battery")
    assert second.version == 2 and second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert store.reveal("smtp-password") == "correct horse ✓ battery"

    store.set("aws.secret_key", "x" * 65_536)
    assert store.reveal("aws.secret_key") == "x" * 65_536
    assert [s.name for s in store.list()] == ["aws.secret_key", "smtp-password"]
    assert [s.name for s in store.list(limit=1, offset=1)] == ["smtp-password"]
    assert make_client().secrets.reveal("smtp-password") == "correct horse ✓ battery"

    # Bad input names its field and stores nothing.
    for name in ("", "-leading", "has space", "a/b", "x" * 129):
        expect_error(InvalidInput, partial(store.set, name, "v"), "name")
    expect_error(InvalidInput, lambda: store.set("empty", ""), "value")
    expect_error(InvalidInput, lambda: store.set("huge", "x" * 65_537), "value")
    expect_error(InvalidInput, lambda: store.list(limit=0), "limit")
    assert [s.name for s in store.list()] == ["aws.secret_key", "smtp-password"]

    expect_error(NotFound, lambda: store.get("absent"), "name")
    expect_error(NotFound, lambda: store.reveal("absent"), "name")
    expect_error(NotFound, lambda: store.delete("absent"), "name")

    store.delete("aws.secret_key")
    expect_error(NotFound, lambda: store.reveal("aws.secret_key"), "name")
    assert [s.name for s in store.list()] == ["smtp-password"]
    again = store.set("aws.secret_key", "new")
    assert again.version == 1, "a deleted secret set again starts a new history"
