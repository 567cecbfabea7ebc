"""The demo's serving chapter: deploy the champion, roll back under traffic, no failed request."""

from __future__ import annotations

from usina.demo.traffic import roll_back_under_traffic


def test_roll_back_under_traffic_fails_no_request(three_versions) -> None:  # type: ignore[no-untyped-def]
    client, _ = three_versions
    client.set_alias("credit-risk", "champion", 2)
    report = roll_back_under_traffic(
        client,
        "credit-risk",
        [{"age": 30, "income": 5.0, "debt": 1.0}],
        requests=600,
        threads=3,
    )
    assert report.failed == 0
    assert report.requests >= 600
    assert sum(report.answers_by_version.values()) == report.requests
    assert (report.rollback.from_version, report.rollback.to_version) == (2, 1)
    assert report.answers_by_version.get(2, 0) > 0  # before the rollback
    assert report.answers_by_version.get(1, 0) > 0  # after it
    assert sum(s.requests for s in report.stats) == report.requests
    assert all(s.errors == 0 for s in report.stats)
