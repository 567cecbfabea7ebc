"""Serving that trusts pickles says so, with the risk, when it starts."""

from __future__ import annotations


def test_usina_serve_warns_when_it_trusts_pickles(endpoints, usina_serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client, _ = endpoints

    def log_of(served) -> str:  # type: ignore[no-untyped-def]
        port = served.url.rsplit(":", 1)[1]
        return (tmp_path / f"serve-{port}.log").read_text()

    assert "TRUST_PICKLES" not in log_of(usina_serve(client))
    trusting = log_of(usina_serve(client, USINA_SERVE_TRUST_PICKLES="true"))
    assert "USINA_SERVE_TRUST_PICKLES is on" in trusting
    assert "loading a pickle runs whatever code it holds" in trusting
