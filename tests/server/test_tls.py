"""TLS: ``usina server`` with a certificate made here for 127.0.0.1 by a CA made here; the
client verifies it against that CA, refuses a server a different CA vouches for, and the
production profile refuses plain HTTP beyond loopback."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from resources.processes import StartedProcesses
from resources.servers import free_port
from resources.waiting import wait_until
from usina import Client
from usina.errors import InvalidInput, StoreUnavailable
from usina.server.launch import check_production, tls_files


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca(folder: Path, label: str) -> tuple[Any, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(label))
        .issuer_name(_name(label))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{label}.pem"
    path.write_bytes(_pem(cert))
    return key, cert, path


def _server_cert(folder: Path, ca_key: Any, ca: x509.Certificate) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("usina test server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(_pem(cert))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def test_the_client_verifies_the_server_and_refuses_another_ca(
    tmp_path: Path, processes: StartedProcesses
) -> None:
    ca_key, ca, ca_path = _ca(tmp_path, "usina-test-ca")
    _, _, other_ca_path = _ca(tmp_path, "some-other-ca")
    cert, key = _server_cert(tmp_path, ca_key, ca)
    port = free_port()
    env = {**os.environ, "USINA_HOME": str(tmp_path / "home"), "USINA_PROFILE": "production"}
    env.pop("USINA_URL", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = processes.start(
            [
                *(sys.executable, "-m", "usina", "server", "--port", str(port)),
                *("--no-scheduler", "--no-serving", "--tls-cert", str(cert), "--tls-key", str(key)),
            ],
            own_group=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=str(ca_path))

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        return httpx.get(f"{url}/readyz", verify=trusted, timeout=2).status_code == 200

    wait_until(
        ready, 60, lambda: f"{url}/readyz; log: {log.read_text()}", ignoring=(httpx.HTTPError,)
    )

    client = Client(url, ca_bundle=ca_path)
    with client.start_run(experiment="over-tls") as run:
        run.log_metric("auc", 0.9)
    assert client.tracking.get_run(run.id).metrics == {"auc": 0.9}
    client.close()

    stranger = Client(url, ca_bundle=other_ca_path)
    with pytest.raises(StoreUnavailable, match=r"does not verify.*USINA_CA_BUNDLE"):
        stranger.tracking.list_experiments()
    stranger.close()
    # Without a CA bundle the system's CAs do not know this one either.
    with pytest.raises(StoreUnavailable, match="does not verify"):
        Client(url).tracking.list_experiments()
    # Plain HTTP to the TLS port gets no answer usina would take.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).raise_for_status()


def test_the_production_profile_refuses_plain_http_beyond_loopback(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "USINA_HOME": str(tmp_path / "home"),
        "USINA_PROFILE": "production",
        "USINA_AUTH": "on",
    }
    env.pop("USINA_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "usina", "serve", "--host", "0.0.0.0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        "error: refusing to listen on 0.0.0.0 over plain HTTP: USINA_PROFILE=production needs TLS"
    )
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    # The same check guards `usina server`; loopback, or TLS, passes.
    with pytest.raises(InvalidInput, match="over plain HTTP") as refused:
        check_production("10.0.0.5", "production", None)
    assert refused.value.field == "USINA_TLS_CERT"
    check_production("127.0.0.1", "production", None)
    check_production("0.0.0.0", "production", ("cert.pem", "key.pem"))
    check_production("0.0.0.0", "development", None)


def test_tls_files_are_checked_before_the_server_starts(tmp_path: Path) -> None:
    ca_key, ca, _ = _ca(tmp_path, "ca")
    cert, key = _server_cert(tmp_path, ca_key, ca)
    assert tls_files(cert, key) == (str(cert), str(key))
    assert tls_files(None, None) is None
    with pytest.raises(InvalidInput, match=r"USINA_TLS_KEY \(--tls-key\) is missing"):
        tls_files(cert, None)
    with pytest.raises(InvalidInput, match=r"'absent\.pem' does not exist; fix USINA_TLS_CERT"):
        tls_files("absent.pem", key)
    other_key, _, _ = _ca(tmp_path, "other")
    with pytest.raises(InvalidInput, match="are not a PEM certificate and its private key"):
        tls_files(cert, tmp_path / "other.pem")  # a certificate where the key should be
    del other_key
