"""The contract of an ``EndpointStore``, as a function any backend's tests call."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from usina.artifacts import put_bytes
from usina.errors import Conflict, InvalidInput, NotFound
from usina.registry import Signature
from usina.testing.tracking import expect_error


def check_endpoint_store(make_client: Callable[[], Any]) -> None:
    """Assert that the endpoint store of a fresh client from ``make_client()`` keeps the contract.

    The client supplies the store under test as ``client.endpoints``; versions to deploy are
    registered through ``client.registry`` against a blob in ``client.artifacts``.
    """
    client = make_client()
    store = client.endpoints
    blob = put_bytes(client.artifacts, b"endpoint conformance model")
    for _ in range(3):
        client.registry.create_version(
            "credit-risk",
            digest=blob.digest,
            size=blob.size,
            format="sklearn",
            model_class="sklearn.dummy.DummyClassifier",
            signature=Signature(),
            metrics={},
        )
    client.registry.set_alias("credit-risk", "champion", 1)
    assert store.list() == [], "a new installation has no endpoints"

    # Create: follow an alias, pin a version, or pin the latest.
    e = store.create("credit", "models:/credit-risk@champion", sample_rate=0.5)
    assert (e.model, e.alias, e.deployments, e.generation) == ("credit-risk", "champion", (), 1)
    assert e.target == "models:/credit-risk@champion" and e.sample_rate == 0.5
    assert store.get("credit") == e, "get returns what create returned"
    pinned = store.create("pinned", "models:/credit-risk/2")
    assert [(d.version, d.traffic) for d in pinned.deployments] == [(2, 100)]
    latest = store.create("latest", "models:/credit-risk")
    assert [(d.version, d.traffic) for d in latest.deployments] == [(3, 100)]

    # Every change bumps the generation.
    e = store.split("credit", {1: 90, 2: 10})
    assert e.alias is None and [(d.version, d.traffic) for d in e.deployments] == [(1, 90), (2, 10)]
    assert e.generation == 2 and e.target == "v1=90% v2=10%"
    e = store.set_shadow("credit", 3)
    assert (e.shadow_version, e.generation) == (3, 3)
    e = store.follow("credit", "champion")
    assert (e.alias, e.deployments, e.shadow_version) == ("champion", (), 3)
    e = store.set_shadow("credit", None)
    assert e.shadow_version is None
    e = store.configure("credit", max_batch_size=8, max_latency_ms=2.0)
    assert (e.sample_rate, e.max_batch_size, e.max_latency_ms) == (0.5, 8, 2.0), "kept the rest"

    # Lists are by name and page.
    assert [x.name for x in store.list()] == ["credit", "latest", "pinned"]
    assert [x.name for x in store.list(limit=1, offset=1)] == ["latest"]
    assert [x.name for x in store.list(offset=2)] == ["pinned"]
    expect_error(InvalidInput, lambda: store.list(limit=0), field="limit")

    # Stats: nothing logged yet is an empty answer, not an error.
    assert store.stats("credit", 60.0) == []
    expect_error(NotFound, lambda: store.stats("ghost"), field="endpoint")

    # What is wrong is named.
    expect_error(Conflict, lambda: store.create("credit", "models:/credit-risk@champion"))
    expect_error(InvalidInput, lambda: store.create("bad name", "models:/credit-risk/1"))
    expect_error(InvalidInput, lambda: store.create("other", "credit-risk"))
    expect_error(NotFound, lambda: store.create("other", "models:/credit-risk@gold"), "alias")
    expect_error(NotFound, lambda: store.create("other", "models:/ghost/1"), field="name")
    expect_error(InvalidInput, lambda: store.split("credit", {1: 90, 2: 5}), field="split")
    expect_error(NotFound, lambda: store.split("credit", {1: 90, 7: 10}), field="version")
    expect_error(NotFound, lambda: store.set_shadow("credit", 9), field="version")
    expect_error(NotFound, lambda: store.follow("credit", "gold"), field="alias")
    expect_error(InvalidInput, lambda: store.configure("credit", sample_rate=1.5), "sample_rate")
    expect_error(
        InvalidInput, lambda: store.configure("credit", max_latency_ms=50.0), "max_latency_ms"
    )
    for missing in (
        lambda: store.get("ghost"),
        lambda: store.split("ghost", {1: 100}),
        lambda: store.follow("ghost", "champion"),
        lambda: store.configure("ghost", sample_rate=0.1),
        lambda: store.delete("ghost"),
    ):
        expect_error(NotFound, missing, field="endpoint")
    assert store.get("credit").generation == e.generation, "refused changes bump nothing"

    _check_log_policy(client)

    # Delete removes it for good.
    store.delete("credit")
    expect_error(NotFound, lambda: store.get("credit"), field="endpoint")
    assert [x.name for x in store.list()] == ["latest", "pinned"]


def _check_log_policy(client: Any) -> None:
    """An endpoint keeps its request log's PII policy on its record, spelt out, and each change
    bumps the generation serving workers poll; a malformed one is refused, naming the field,
    and nothing changes."""
    store = client.endpoints
    before = store.get("credit")
    assert before.log_policy is None
    e = store.set_log_policy(
        "credit", {"columns": {"cpf": {"operator": "token", "kind": "cpf"}}, "others": "redact"}
    )
    assert e.log_policy == {
        "columns": {"cpf": {"operator": "token", "kind": "cpf"}},
        "others": {"operator": "redact"},
        "threshold": 0.5,
    }
    assert e.generation == before.generation + 1
    assert store.get("credit") == e and store.list(limit=1)[0].log_policy == e.log_policy
    for bad, field in (
        ({"columns": {"cpf": "hash"}}, "columns.cpf"),
        ({"columns": {"nota": {"detect": "mask", "keep": "four"}}}, "columns.nota"),
        ({"colunas": {}}, "policy"),
        ({"threshold": 2}, "threshold"),
    ):
        expect_error(InvalidInput, functools.partial(store.set_log_policy, "credit", bad), field)
    server = client.server
    if server is not None:  # the server checks what any caller sends, as the store does
        body = {"policy": {"columns": {"x": 1}}}
        expect_error(
            InvalidInput,
            lambda: server.call("PUT", "/endpoints/credit/log-policy", json=body),
            "columns.x",
        )
    expect_error(NotFound, lambda: store.set_log_policy("ghost", {"columns": {}}), "endpoint")
    assert store.get("credit") == e, "a refused policy changes nothing"
    cleared = store.set_log_policy("credit", None)
    assert cleared.log_policy is None and cleared.generation == e.generation + 1
    assert cleared.sample_rate == e.sample_rate, "the other options are kept"
