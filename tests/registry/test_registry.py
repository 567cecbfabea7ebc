"""Registering, loading, aliases, rollback and history, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest

from usina.errors import Conflict, InvalidInput, InvalidUri, NotFound
from usina.registry import Column, infer_signature


def test_versions_are_numbered_and_load_back_identical(
    client, pipeline_model, training_data
) -> None:
    x, _ = training_data
    v1 = client.register_model(pipeline_model, "credit-risk", input_example=x.head(5))
    v2 = client.register_model(pipeline_model, "credit-risk")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.format == "sklearn" and v1.model_class == "sklearn.pipeline.Pipeline"
    for uri in ("models:/credit-risk/1", "models:/credit-risk"):
        loaded = client.load_model(uri)
        np.testing.assert_array_equal(loaded.predict_proba(x), pipeline_model.predict_proba(x))
    assert client.get_version("models:/credit-risk").version == 2


def test_the_signature_is_inferred_from_the_example(client, pipeline_model, training_data) -> None:
    x, _ = training_data
    v = client.register_model(pipeline_model, "m", input_example=x.head(3))
    assert v.signature.inputs == (
        Column("income", "double"),
        Column("age", "int64"),
        Column("state", "string"),
    )
    assert client.get_version("models:/m/1").signature == v.signature


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (np.zeros((2, 3)), ["x0:double", "x1:double", "x2:double"]),
        ({"a": [1, 2], "b": ["x", "y"]}, ["a:int64", "b:string"]),
        ([{"a": 1.5, "b": True}], ["a:double", "b:bool"]),
    ],
)
def test_signatures_from_arrays_dicts_and_rows(example, expected) -> None:
    sig = infer_signature(example)
    assert [f"{c.name}:{c.dtype}" for c in sig.inputs] == expected


def test_version_metrics_and_lineage_come_from_the_run(client, pipeline_model) -> None:
    with client.start_run("credit-risk", params={"C": 1.0}) as run:
        run.log_input("applications", "ab" * 32, rows=300)
        run.log_metrics({"auc": 0.9})
        v = client.register_model(pipeline_model, "credit-risk", run=run, metrics={"gini": 0.8})
    assert v.metrics == {"auc": 0.9, "gini": 0.8}
    lineage = client.lineage("models:/credit-risk/1")
    assert lineage.version.run_id == run.id
    assert lineage.run is not None
    assert lineage.run.params == {"C": "1.0"}
    assert lineage.run.metrics == {"auc": 0.9}
    assert [(i.name, i.digest, i.rows) for i in lineage.run.inputs] == [
        ("applications", "ab" * 32, 300)
    ]


def test_aliases_move_with_history_and_roll_back_like_undo(client, pipeline_model) -> None:
    for _ in range(3):
        client.register_model(pipeline_model, "m")
    client.set_alias("m", "champion", 1, reason="first")
    client.set_alias("m", "champion", 2, reason="better auc")
    client.set_alias("m", "champion", 3, reason="even better")
    assert client.get_version("models:/m@champion").version == 3
    assert client.rollback("m", reason="v3 misbehaves").to_version == 2
    assert client.rollback("m").to_version == 1
    with pytest.raises(Conflict, match="no earlier holder"):
        client.rollback("m")
    assert client.get_version("models:/m@champion").version == 1
    history = client.alias_history("m", "champion")
    assert [(h.action, h.from_version, h.to_version) for h in history] == [
        ("set", None, 1),
        ("set", 1, 2),
        ("set", 2, 3),
        ("rollback", 3, 2),
        ("rollback", 2, 1),
    ]
    assert history[3].reason == "v3 misbehaves" and history[3].actor == "local"
    assert client.get_version("models:/m/1").aliases == ("champion",)


def test_aliases_are_independent(client, pipeline_model) -> None:
    client.register_model(pipeline_model, "m")
    client.register_model(pipeline_model, "m")
    client.set_alias("m", "champion", 1)
    client.set_alias("m", "challenger", 2)
    assert client.registry.get_model("m").aliases == {"champion": 1, "challenger": 2}
    client.registry.delete_alias("m", "challenger", reason="done")
    assert client.registry.get_model("m").aliases == {"champion": 1}
    with pytest.raises(NotFound, match="has no alias 'challenger'; its aliases are champion"):
        client.get_version("models:/m@challenger")


def test_mistakes_say_what_is_wrong(client, pipeline_model) -> None:
    with pytest.raises(NotFound, match="no model named 'ghost'"):
        client.load_model("models:/ghost/1")
    client.register_model(pipeline_model, "m")
    with pytest.raises(NotFound, match="has no version 7; its versions are 1 to 1"):
        client.set_alias("m", "champion", 7)
    with pytest.raises(InvalidUri, match="use models:/NAME@ALIAS"):
        client.load_model("models:/m@")
    with pytest.raises(InvalidUri):
        client.load_model("s3://bucket/model.pkl")
    with pytest.raises(InvalidInput, match="alias '1x'"):
        client.set_alias("m", "1x", 1)
    with pytest.raises(InvalidInput, match="model name"):
        client.register_model(pipeline_model, "bad name!")
    with pytest.raises(InvalidInput, match="trusted=True"):
        client.register_model(object(), "m")


def test_trusted_objects_are_pickled_and_need_trust_to_load(client) -> None:
    v = client.register_model({"weights": [1, 2, 3]}, "plain", trusted=True)
    assert v.format == "pickle"
    assert client.load_model("models:/plain/1", trusted=True) == {"weights": [1, 2, 3]}
