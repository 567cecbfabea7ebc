"""The loop in one process, ticked by hand: a fast check of every decision's logic."""

from __future__ import annotations

from contextlib import closing as _closing

import pytest

from policies.harness import (
    ENDPOINT,
    MODEL,
    Traffic,
    breach_twice,
    drifted,
    install_champion,
    kinds,
    policy_yaml,
    regressed,
)
from resources.servers import ThreadServer

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@on_sqlite
def test_the_loop_retrains_gates_canaries_promotes_and_rolls_back(db_url, client_factory) -> None:  # type: ignore[no-untyped-def]
    from usina.policies.engine import PolicyEngine
    from usina.serving import ServingConfig
    from usina.serving.app import create_app as create_serving_app

    client = client_factory(db_url)
    install_champion(client)
    client.policies.apply(policy_yaml())
    engine = PolicyEngine(client, "here", max_workers=1)
    app = create_serving_app(
        db_url, str(client.artifacts.root), ServingConfig(poll_interval=0.1, log_flush_interval=0.1)
    )
    with ThreadServer(app) as url, _closing(Traffic(url, client)) as traffic:
        breach_twice(client, traffic)
        events = engine.tick()
        assert [e.kind for e in events] == ["retrain_started", "gate_passed", "canary_started"]
        split = {d.version: d.traffic for d in client.endpoints.get(ENDPOINT).deployments}
        assert split == {1: 70, 2: 30}
        promoted = traffic.until(lambda: engine.tick(), drifted, 60)
        assert [e.kind for e in promoted] == ["promoted"], promoted
        assert client.get_version(f"models:/{MODEL}@champion").version == 2
        assert client.endpoints.get(ENDPOINT).alias == "champion"
        rolled = traffic.until(lambda: engine.tick(), regressed, 60)
        assert [e.kind for e in rolled] == ["rolled_back"], rolled
        assert client.get_version(f"models:/{MODEL}@champion").version == 1
        history = client.alias_history(MODEL, "champion")
        assert "rolled back" in history[-1].reason
    assert kinds(client) == [
        "retrain_started",
        "gate_passed",
        "canary_started",
        "promoted",
        "rolled_back",
    ]
