"""With a request-log PII policy, requests carrying CPFs leave no raw CPF in any file under
the usina home: Parquet values read back, and the raw bytes of every file (the SQLite
database and its WAL included)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pii.corpus import cpf_digits, fmt_cpf
from resources.waiting import wait_until
from serving.conftest import usina_serve  # noqa: F401  (the fixture)
from usina.client import Client

POLICY = """
"*":
  columns:
    cpf: {operator: token, kind: cpf}
  others: {detect: redact}
"""


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


def test_no_raw_cpf_reaches_any_file_of_the_home(tmp_path: Path, usina_serve) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    home = tmp_path / "home"
    home.mkdir()
    client = Client(f"sqlite:///{home / 'usina.db'}", str(home / "artifacts"))
    model, x = _model()
    client.register_model(model, "fraude", input_example=x, trusted=True)
    client.set_alias("fraude", "champion", 1)
    client.endpoints.create("fraude", "models:/fraude@champion")
    policy = tmp_path / "log-policy.yaml"
    policy.write_text(POLICY)
    served = usina_serve(
        client,
        USINA_REQUEST_LOG_PII_POLICY=str(policy),
        USINA_PII_KEY="a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0=",
        USINA_REQUEST_LOG_FLUSH_MS="100",
        USINA_SERVE_TRUST_PICKLES="true",
    )
    rng = np.random.default_rng(3)
    cpfs = []
    for _ in range(20):
        base = "".join(map(str, rng.integers(0, 10, 9)))
        cpfs.append(base + cpf_digits(base))
    instances = []
    for i, cpf in enumerate(cpfs):
        shown = fmt_cpf(cpf) if i % 2 else cpf
        other = fmt_cpf(cpfs[-1 - i]) if i % 2 == 0 else cpfs[-1 - i]
        instances.append({"cpf": shown, "nota": f"cliente com CPF {other} ligou", "valor": 1.0})
    with httpx.Client(base_url=served.url) as http:
        for row in instances:
            answer = http.post("/v1/endpoints/fraude:predict", json={"instances": [row]})
            assert answer.status_code == 200, answer.text
        bad = http.post(
            "/v1/endpoints/fraude:predict",
            json={"instances": [{"cpf": cpfs[0], "nota": "x", "valor": fmt_cpf(cpfs[0])}]},
        )
        assert bad.status_code == 400

    def logged() -> int:
        files = list((home / "artifacts").rglob("request-log/**/*.parquet"))
        return sum(pq.read_table(f).num_rows for f in files)

    wait_until(lambda: logged() >= len(instances) + 1, 60, "the request log was not written")
    assert served.process is not None
    served.process.terminate()
    served.process.wait(60)

    raw = set(cpfs) | {fmt_cpf(c) for c in cpfs}
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
    rows = [r for f in home.rglob("request-log/**/*.parquet") for r in pq.read_table(f).to_pylist()]
    inputs = " ".join(str(r["inputs"]) for r in rows)
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
