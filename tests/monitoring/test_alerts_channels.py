"""Channel URLs: parsed with errors that name the value; webhooks refused when their host is
private, loopback or link-local unless allow-listed; refused input stores nothing."""

from __future__ import annotations

import logging

import httpx
import pytest

from monitoring.conftest import Receiver
from usina.errors import InvalidInput
from usina.monitoring.alerter import Alerter, CheckResult
from usina.monitoring.channels import (
    DeliveryConfig,
    EmailChannel,
    LogChannel,
    SmtpConfig,
    WebhookAllow,
    WebhookChannel,
    WebhookConfig,
    check_webhook_address,
    parse_channel,
)
from usina.monitoring.delivery import sign, verify_signature
from usina.testing.tracking import expect_error


def refused(value: str, message: str, allow: str = "", smtp: str | None = "127.0.0.1") -> None:
    config = DeliveryConfig(
        smtp=SmtpConfig(host=smtp),
        webhook=WebhookConfig(allow=WebhookAllow.parse(allow)),
    )
    from usina.monitoring.channels import check_channels

    exc = expect_error(InvalidInput, lambda: check_channels([value], config), field="channels")
    assert repr(value) in str(exc) and message in str(exc), str(exc)


def test_channel_urls_parse() -> None:
    assert parse_channel("log:") == LogChannel()
    assert parse_channel("log:ml.credit").logger == "usina.alerts.ml.credit"
    assert parse_channel("email:ml-team@example.com") == EmailChannel(("ml-team@example.com",))
    assert parse_channel("email:a@example.com, b.c+d@mail.example.org").addresses == (
        "a@example.com",
        "b.c+d@mail.example.org",
    )
    hook = parse_channel("webhook:https://hooks.example.com/x?a=1")
    assert hook == WebhookChannel(
        "https://hooks.example.com/x?a=1", "https", "hooks.example.com", 443
    )
    assert parse_channel("webhook:http://10.0.0.1:8080/x").port == 8080  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sms:+5511999999999", "unknown scheme 'sms'; use email:ADDRESS, webhook:"),
        ("slack", "has no scheme"),
        ("email:ml-team", "malformed e-mail address 'ml-team'"),
        ("email:a@example.com,", "malformed e-mail address ''"),
        ("email:a@b@example.com", "malformed e-mail address"),
        ("email:a@example.com\r\nBcc: x@example.com", "malformed e-mail address"),
        ("webhook:ftp://example.com/x", "needs an http:// or https:// URL"),
        ("webhook:hooks.example.com/x", "needs an http:// or https:// URL"),
        ("webhook:https://user:pw@example.com/x", "must not carry credentials"),
        ("webhook:https://example.com:99999/x", "is not a valid URL"),
        ("log:ops team", "names a logger with letters"),
    ],
)
def test_malformed_channels_are_refused_naming_the_value(value: str, message: str) -> None:
    exc = expect_error(InvalidInput, lambda: parse_channel(value), field="channels")
    assert repr(value) in str(exc) and message in str(exc), str(exc)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://10.1.2.3/x", "10.1.2.3"),
        ("http://192.168.0.10:8080/x", "192.168.0.10"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://127.0.0.1:9/x", "127.0.0.1"),
        ("http://[::1]:9/x", "::1"),
        ("http://[::ffff:10.0.0.1]/x", "10.0.0.1"),
        ("http://[fe80::1]/x", "fe80::1"),
        ("http://0.0.0.0/x", "0.0.0.0"),
        ("http://100.64.0.1/x", "100.64.0.1"),
        ("http://localhost:9/x", ""),
    ],
)
def test_webhooks_to_private_addresses_are_refused(url: str, address: str) -> None:
    refused(f"webhook:{url}", f"resolves to {address}")
    refused(f"webhook:{url}", "USINA_WEBHOOK_ALLOW", allow="203.0.113.0/24,other.host:80")


def test_the_allow_list_admits_networks_and_host_port_pairs() -> None:
    loopback = parse_channel("webhook:http://127.0.0.1:8080/x")
    assert isinstance(loopback, WebhookChannel)
    assert check_webhook_address(loopback, WebhookAllow.parse("127.0.0.1/32")) == ("127.0.0.1",)
    assert check_webhook_address(loopback, WebhookAllow.parse("127.0.0.0/8, ::1/128")) == (
        "127.0.0.1",
    )
    assert check_webhook_address(loopback, WebhookAllow.parse("127.0.0.1:8080")) == ("127.0.0.1",)
    with pytest.raises(InvalidInput, match=r"resolves to 127\.0\.0\.1"):
        check_webhook_address(loopback, WebhookAllow.parse("127.0.0.1:8081"))
    named = parse_channel("webhook:http://localhost:8080/x")
    assert isinstance(named, WebhookChannel)
    # Every address the name resolves to must pass: localhost may also be ::1.
    assert check_webhook_address(named, WebhookAllow.parse("localhost:8080"))
    with pytest.raises(InvalidInput, match="localhost"):
        check_webhook_address(named, WebhookAllow.parse("localhost:9090"))
    for bad in ("nonsense", "10.0.0.0/33", "host:0", "host:port"):
        with pytest.raises(InvalidInput, match="USINA_WEBHOOK_ALLOW entry"):
            WebhookAllow.parse(bad)
    assert check_webhook_address(
        WebhookChannel("https://93.184.215.14/x", "https", "93.184.215.14", 443), WebhookAllow()
    ) == ("93.184.215.14",), "a public address needs no allow-list"


def test_email_without_an_smtp_server_is_refused() -> None:
    refused("email:ml-team@example.com", "set USINA_SMTP_HOST", smtp=None)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_refused_channels_store_nothing_and_send_nothing(client, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    alerter = Alerter(client.alerts, DeliveryConfig(smtp=SmtpConfig(host="127.0.0.1")))
    hook = f"webhook:{receiver.url}/x"
    for channels, message in (
        ([hook], "resolves to 127.0.0.1, a private, loopback or link-local address"),
        (["webhook:http://10.1.2.3/x"], "resolves to 10.1.2.3"),
        (["log:", "sms:+55"], "'sms:\\+55' has an unknown scheme"),
        (["email:nobody"], "malformed e-mail address 'nobody'"),
    ):
        with pytest.raises(InvalidInput, match=message):
            alerter.evaluate("credit-drift", "psi", True, 0.3, 0.2, channels=channels)
    with pytest.raises(InvalidInput, match=r"resolves to 127\.0\.0\.1"):
        alerter.evaluate_run("credit-drift", [], channels=[hook])
    with pytest.raises(InvalidInput, match="is not a list of channel URLs"):
        alerter.evaluate_run("credit-drift", [], channels="log:")
    # One bad result in a run: the whole run is refused before any result is stored.
    run = [CheckResult("psi_income", True, 0.3, 0.2), CheckResult("psi_age", True, float("nan"))]
    with pytest.raises(InvalidInput, match="value nan is not a finite number"):
        alerter.evaluate_run("credit-drift", run, channels=["log:"])
    assert client.alerts.list() == [] and receiver.requests == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_server_refuses_bad_observations_naming_the_field(live_server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=f"{live_server.url}/api/v1") as api:
        bad = {"monitor": "m", "check": "c", "breached": True, "channels": ["sms:+55"]}
        answer = api.post("/alerts/observations", json=bad)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["field"] == "channels"
        assert "'sms:+55'" in answer.json()["error"]["message"]
        answer = api.post(
            "/alerts/observations", json={**bad, "channels": ["log:"], "cooldown": -1}
        )
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "cooldown"
        answer = api.post(
            "/alerts/observations", json={**bad, "channels": ["log:"], "monitor": "a b"}
        )
        assert answer.status_code == 400 and answer.json()["error"]["field"] == "monitor"
        assert api.get("/alerts").json() == {"items": [], "next_offset": None}
        assert api.get("/alerts/7").status_code == 404
        assert api.get("/alerts?state=burning").json()["error"]["field"] == "state"
        answer = api.post("/alerts/7/deliveries", json={"notification": 1, "results": []})
        assert answer.status_code == 404


def test_signatures_verify_and_refuse_tampering() -> None:
    body = b'{"text":"hi"}'
    header = sign("s3cret", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature("s3cret", header, body, now=1_700_000_100)
    assert not verify_signature("s3cret", header, body + b" ", now=1_700_000_100)
    assert not verify_signature("other", header, body, now=1_700_000_100)
    assert not verify_signature("s3cret", header, body, now=1_700_001_000), "too old"
    assert not verify_signature("s3cret", "v1=abc", body)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_named_log_channel_writes_on_its_own_logger(
    client, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    alerter = Alerter(client.alerts, DeliveryConfig())
    with caplog.at_level(logging.INFO, logger="usina.alerts"):
        alerter.evaluate("credit-drift", "psi", True, 0.3, 0.2, channels=["log:ml"])
    (record,) = [r for r in caplog.records if r.name == "usina.alerts.ml"]
    assert record.levelno == logging.WARNING and "credit-drift" in record.getMessage()
