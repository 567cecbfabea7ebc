"""With request-log PII policies (the server's file, and the one on an endpoint's record,
changed while serving) and a dataset's policy, requests and files carrying CPFs leave no raw
CPF in any file under the usina home: Parquet values read back, and the raw bytes of every file
(the SQLite database and its WAL included)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pii.corpus import cpf_digits, fmt_cpf
from resources.waiting import wait_until
from serving.conftest import usina_serve  # noqa: F401  (the fixture)
from usina.client import Client
from usina.datasets import ingest, load, save
from usina.privacy import PiiKey

KEY = "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0="
# The server's file names one endpoint: its policy wins over the endpoint's record.
POLICY = """
fraude:
  columns:
    cpf: {operator: token, kind: cpf}
  others: {detect: redact}
"""
# What the other endpoint keeps on its record, before and after a change while serving.
TOKENS = {"columns": {"cpf": {"operator": "token", "kind": "cpf"}}, "others": {"detect": "redact"}}
REDACTED = {"columns": {"cpf": "redact"}, "others": {"detect": "redact"}}


def _model() -> tuple[object, pd.DataFrame]:
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    x = pd.DataFrame({"cpf": ["x"] * 4, "nota": ["y"] * 4, "valor": [1.0, 2.0, 3.0, 4.0]})
    model = Pipeline(
        [
            ("pick", ColumnTransformer([("n", "passthrough", ["valor"])], remainder="drop")),
            ("clf", DummyClassifier(strategy="prior")),
        ]
    ).fit(x, np.array([0, 1, 0, 1]))
    return model, x


def _cpfs(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(count):
        base = "".join(map(str, rng.integers(0, 10, 9)))
        found.append(base + cpf_digits(base))
    return found


def test_no_raw_cpf_reaches_any_file_of_the_home(tmp_path: Path, usina_serve) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    home = tmp_path / "home"
    home.mkdir()
    client = Client(
        f"sqlite:///{home / 'usina.db'}",
        str(home / "artifacts"),
        pii_key=PiiKey(base64.b64decode(KEY)),
    )
    model, x = _model()
    client.register_model(model, "fraude", input_example=x, trusted=True)
    client.set_alias("fraude", "champion", 1)
    client.endpoints.create("fraude", "models:/fraude@champion")
    client.endpoints.create("pedidos", "models:/fraude@champion")
    # The file names "fraude", so this weaker policy on its record is not the one applied.
    client.endpoints.set_log_policy("fraude", {"columns": {}})
    client.endpoints.set_log_policy("pedidos", TOKENS)
    policy = tmp_path / "log-policy.yaml"
    policy.write_text(POLICY)
    served = usina_serve(
        client,
        USINA_REQUEST_LOG_PII_POLICY=str(policy),
        USINA_PII_KEY=KEY,
        USINA_REQUEST_LOG_FLUSH_MS="100",
        USINA_REQUEST_LOG_FILE_MS="100",
        USINA_SERVE_TRUST_PICKLES="true",
        USINA_SERVE_POLL_INTERVAL="0.2",
    )
    cpfs = _cpfs(20, 3)
    instances = []
    for i, cpf in enumerate(cpfs):
        shown = fmt_cpf(cpf) if i % 2 else cpf
        other = fmt_cpf(cpfs[-1 - i]) if i % 2 == 0 else cpfs[-1 - i]
        instances.append({"cpf": shown, "nota": f"cliente com CPF {other} ligou", "valor": 1.0})

    def logged() -> list[dict[str, object]]:
        files = (home / "artifacts").rglob("request-log/**/*.parquet")
        return [r for f in files for r in pq.read_table(f).to_pylist()]

    with httpx.Client(base_url=served.url) as http:
        for endpoint in ("fraude", "pedidos"):
            for row in instances:
                answer = http.post(f"/v1/endpoints/{endpoint}:predict", json={"instances": [row]})
                assert answer.status_code == 200, answer.text
        bad = http.post(
            "/v1/endpoints/fraude:predict",
            json={"instances": [{"cpf": cpfs[0], "nota": "x", "valor": fmt_cpf(cpfs[0])}]},
        )
        assert bad.status_code == 400
        wait_until(lambda: len(logged()) >= 2 * len(instances) + 1, 60, "nothing was logged")
        # A change of the record's policy reaches the running worker at its next poll.
        client.endpoints.set_log_policy("pedidos", REDACTED)

        def redacted() -> bool:
            answer = http.post("/v1/endpoints/pedidos:predict", json={"instances": instances[:1]})
            assert answer.status_code == 200, answer.text
            return any(
                r["endpoint"] == "pedidos" and '"<cpf>"' in str(r["inputs"]) for r in logged()
            )

        wait_until(redacted, 60, "the endpoint's new log policy was not applied")

    # A dataset keeps its policy: what is ingested or saved into it is protected first.
    client.datasets.set_policy("clientes", TOKENS)
    source = tmp_path / "clientes.csv"
    rows = [f"{fmt_cpf(c)},cliente {c} ligou" for c in _cpfs(10, 4)]
    source.write_text("cpf,nota\n" + "\n".join(rows) + "\n")
    ingest(str(source), "clientes", client=client)
    more = _cpfs(5, 5)
    save(
        pa.table({"cpf": more, "nota": [f"CPF {fmt_cpf(c)}" for c in more]}),
        "clientes",
        client=client,
    )
    stored = load("datasets:/clientes@latest", client=client).column("cpf").to_pylist()
    assert all(v.startswith("tok:") for v in stored)
    client.close()
    assert served.process is not None
    served.process.terminate()
    served.process.wait(60)

    written = cpfs + _cpfs(10, 4) + more
    raw = set(written) | {fmt_cpf(c) for c in written}
    files = [f for f in home.rglob("*") if f.is_file()]
    assert any(f.name.endswith(".db-wal") or f.name.endswith(".db") for f in files)
    for f in files:
        data = f.read_bytes()
        for value in raw:
            assert value.encode() not in data, (f, value)
        if f.suffix == ".parquet":
            text = str(pq.read_table(f).to_pylist())
            assert not [v for v in raw if v in text], f
    # The log still holds what it is for: tokens in place of the CPF column, the text around.
    inputs = " ".join(str(r["inputs"]) for r in logged() if r["endpoint"] == "fraude")
    assert "tok:" in inputs and "cliente com CPF <cpf> ligou" in inputs


def test_a_policy_file_is_checked_when_the_server_starts(tmp_path: Path) -> None:
    from usina.errors import InvalidInput
    from usina.serving import ServingConfig
    from usina.settings import Settings

    policy = tmp_path / "log-policy.yaml"
    policy.write_text(POLICY)
    with pytest.raises(InvalidInput, match="USINA_PII_KEY"):
        ServingConfig.from_settings(Settings(request_log_pii_policy=str(policy), pii_key=None))
    policy.write_text('"*": {columns: {cpf: hash}}')
    with pytest.raises(InvalidInput, match=r"columns\.cpf: unknown operator 'hash'"):
        ServingConfig.from_settings(Settings(request_log_pii_policy=str(policy)))


def test_a_keyed_policy_without_the_key_keeps_rows_out_fail_closed() -> None:
    from usina.serving.entities import Endpoint
    from usina.serving.logpolicy import LogPolicies

    endpoint = Endpoint("e", "m", "champion", (), None, 1.0, 0, 5.0, 1, 0.0, "x", 0.0, TOKENS)
    found = LogPolicies({}, None).for_endpoint(endpoint)
    assert isinstance(found, str) and "USINA_PII_KEY" in found
    plain = Endpoint("e", "m", "champion", (), None, 1.0, 0, 5.0, 1, 0.0, "x", 0.0, None)
    assert not LogPolicies({}, None).applies(plain)
