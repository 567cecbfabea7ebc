"""Operators: tokens stable for one key and different across keys, joins on tokens equal to
joins on values, surrogates that validate, reversal refused and audited without the
permission, and protect inside a pipeline step."""

from __future__ import annotations

import pyarrow as pa
import pytest

import usina
from pii.corpus import items
from usina.errors import InvalidInput, PermissionDenied
from usina.identity import ROLES, Grant
from usina.pii import Encrypt, PiiKey, Surrogate, Token, find, load_key, protect, reidentify

KEY = PiiKey(b"k" * 32)
OTHER = PiiKey(b"o" * 32)
CPFS = [i.text for i in items(400) if i.kind == "cpf" and i.valid]


def test_tokens_are_stable_for_one_key_and_differ_across_keys() -> None:
    values = pa.array(CPFS, pa.large_string())
    first = Token(KEY).apply(values, "cpf").to_pylist()
    assert first == Token(PiiKey(b"k" * 32)).apply(values, "cpf").to_pylist()
    assert not set(first) & set(Token(OTHER).apply(values, "cpf").to_pylist())
    # One token per CPF, whether it was written with punctuation or not.
    assert len(set(first)) == len({c.replace(".", "").replace("-", "") for c in CPFS})


def test_a_join_on_tokens_gives_the_join_on_values() -> None:
    import duckdb

    people = pa.table({"cpf": CPFS[:300], "name": [f"p{i}" for i in range(300)]})
    orders = pa.table({"cpf": CPFS[100:] * 2, "amount": list(range(2 * len(CPFS[100:])))})
    policy = {"columns": {"cpf": {"operator": "token", "kind": "cpf"}}}
    sql = "select name, sum(amount) from p join o using (cpf) group by name order by name"
    raw = duckdb.sql(sql.replace("p join o", "people p join orders o")).fetchall()
    # duckdb reads the tables p and o by their variable names.
    p, o = protect(people, policy, KEY), protect(orders, policy, KEY)  # noqa: F841
    assert "tok:" in p.column("cpf")[0].as_py()
    assert duckdb.sql(sql.replace("p join o", "p join o")).fetchall() == raw


def test_surrogates_keep_their_kind_valid_and_are_deterministic() -> None:
    values = pa.array(
        ["111.444.777-35", "12.ABC.345/01DE-35", "4111111111111111"], pa.large_string()
    )
    out = Surrogate(KEY).apply(values, ["cpf", "cnpj", "card"]).to_pylist()
    assert out == Surrogate(KEY).apply(values, ["cpf", "cnpj", "card"]).to_pylist()
    assert out != values.to_pylist()
    assert [f[0].kind for f in map(find, out)] == ["cpf", "cnpj", "card"]


def test_reversal_needs_the_permission_and_is_audited_either_way(
    client_factory, sqlite_url
) -> None:  # type: ignore[no-untyped-def]
    client = client_factory(sqlite_url)
    sealed = Encrypt(KEY).apply(pa.array(CPFS[:3], pa.large_string())).to_pylist()
    assert len(set(sealed)) == 3 and sealed == Encrypt(KEY).apply(pa.array(CPFS[:3])).to_pylist()
    viewer = [Grant(ROLES["ml-engineer"].permissions, "*")]
    with pytest.raises(PermissionDenied, match=r"usina.pii.reidentify"):
        reidentify(sealed, key=KEY, audit=client.audit, actor="user:bia", grants=viewer)
    admin = [Grant(ROLES["admin"].permissions, "*")]
    assert (
        reidentify(sealed, key=KEY, audit=client.audit, actor="user:ana", grants=admin) == CPFS[:3]
    )
    records = client.audit.list(action="usina.pii.reidentify")
    assert [(r.actor, r.decision.value, r.details["values"]) for r in records] == [
        ("user:ana", "allow", 3),
        ("user:bia", "deny", 3),
    ]
    assert all(c not in str(r) for r in records for c in CPFS[:3])
    with pytest.raises(InvalidInput, match="not with this key"):
        reidentify(sealed, key=OTHER, audit=client.audit, actor="user:ana", grants=admin)


def test_a_missing_or_short_key_names_the_setting() -> None:
    with pytest.raises(InvalidInput, match="USINA_PII_KEY"):
        protect(pa.table({"cpf": CPFS[:1]}), {"columns": {"cpf": "token"}})
    with pytest.raises(InvalidInput, match=r"needs 32 or more.*USINA_PII_KEY"):
        load_key("c2hvcnQ=")


@usina.step
def load(rows: int) -> usina.Dataset:
    return pa.table({"cpf": CPFS[:rows], "nota": [f"cliente {c}" for c in CPFS[:rows]]})


@usina.step
def pseudonymize(raw: usina.Dataset) -> usina.Dataset:
    policy = {"columns": {"cpf": "token", "nota": {"detect": "redact"}}}
    out = protect(raw.to_arrow(), policy, KEY)
    assert out.column("nota").to_pylist() == ["cliente <cpf>"] * out.num_rows
    return out


@usina.pipeline
def clean() -> None:
    pseudonymize(load(rows=5))


def test_protect_as_a_pipeline_step(client_factory, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    run = clean.run(client_factory(sqlite_url))
    assert run.ok, [s.error for s in run.steps]
    assert run.output("pseudonymize").rows == 5
