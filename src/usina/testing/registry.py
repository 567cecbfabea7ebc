"""The contract of a ``RegistryStore``, and of a client's model round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from usina.artifacts import put_bytes, read_bytes
from usina.errors import Conflict, InvalidInput, MissingReference, NotFound
from usina.registry import Column, ModelRef, Signature
from usina.testing.tracking import expect_error


def check_registry_store(make_client: Callable[[], Any]) -> None:
    """Assert that the registry of a fresh client from ``make_client()`` keeps the contract.

    Versions are registered against blobs written to ``client.artifacts`` first, as
    ``Client.register_model`` does.
    """
    client = make_client()
    store = client.registry
    blob = put_bytes(client.artifacts, b"model bytes")
    signature = Signature((Column("income", "double"), Column("state", "string")))

    def register(name: str, **extra: Any) -> Any:
        return store.create_version(
            name,
            digest=blob.digest,
            size=blob.size,
            format="sklearn",
            model_class="sklearn.linear_model.LogisticRegression",
            signature=signature,
            metrics=extra.pop("metrics", {"auc": 0.9}),
            **extra,
        )

    # Versions are numbered from 1 without gaps and resolve by number, latest and alias.
    versions = [register("credit", description=f"v{i}") for i in range(1, 4)]
    assert [v.version for v in versions] == [1, 2, 3]
    first = store.resolve(ModelRef("credit", version=1))
    assert (first.digest, first.size, first.signature, first.metrics) == (
        blob.digest,
        blob.size,
        signature,
        {"auc": 0.9},
    ), "a version keeps what it was registered with"
    assert first.description == "v1" and first.uri == "models:/credit/1"
    assert store.resolve(ModelRef("credit")).version == 3, "no version or alias means latest"
    assert [v.version for v in store.list_versions("credit")] == [3, 2, 1], "newest first"
    assert [v.version for v in store.list_versions("credit", limit=2, offset=1)] == [2, 1]

    # Aliases move, keep their history, and roll back.
    change = store.set_alias("credit", "champion", 1, "first")
    assert (change.from_version, change.to_version, change.action) == (None, 1, "set")
    store.set_alias("credit", "champion", 2, "better")
    assert store.resolve(ModelRef("credit", alias="champion")).version == 2
    assert store.resolve(ModelRef("credit", version=2)).aliases == ("champion",)
    back = store.rollback("credit", "champion", "regression")
    assert (back.from_version, back.to_version, back.action) == (2, 1, "rollback")
    expect_error(Conflict, lambda: store.rollback("credit", "champion"), field="alias")
    history = store.alias_history("credit", "champion")
    assert [(h.action, h.to_version, h.reason) for h in history] == [
        ("set", 1, "first"),
        ("set", 2, "better"),
        ("rollback", 1, "regression"),
    ]
    store.set_alias("credit", "challenger", 3)
    assert [v.version for v in store.list_versions("credit", alias="challenger")] == [3]
    removed = store.delete_alias("credit", "challenger", "retired")
    assert (removed.action, removed.from_version, removed.to_version) == ("delete", 3, None)
    expect_error(
        NotFound, lambda: store.resolve(ModelRef("credit", alias="challenger")), field="alias"
    )

    # An alias cannot point at a missing version: both not found and a conflict.
    error = expect_error(
        MissingReference, lambda: store.set_alias("credit", "champion", 9), field="version"
    )
    assert isinstance(error, NotFound) and isinstance(error, Conflict)

    # Models list, filter and page.
    register("fraud")
    register("churn")
    assert [m.name for m in store.list_models()] == ["churn", "credit", "fraud"]
    assert [m.name for m in store.list_models(name="r")] == ["churn", "credit", "fraud"]
    assert [m.name for m in store.list_models(name="fr")] == ["fraud"]
    assert [m.name for m in store.list_models(alias="champion")] == ["credit"]
    assert [m.name for m in store.list_models(limit=1, offset=1)] == ["credit"]
    model = store.get_model("credit")
    assert model.latest_version == 3 and model.aliases == {"champion": 1}

    # What is missing or malformed is named.
    expect_error(NotFound, lambda: store.get_model("ghost"), field="name")
    expect_error(NotFound, lambda: store.resolve(ModelRef("credit", version=42)), field="version")
    expect_error(InvalidInput, lambda: register("bad name!"), field="name")
    expect_error(InvalidInput, lambda: store.set_alias("credit", "1x", 1), field="alias")
    expect_error(NotFound, lambda: store.set_alias("ghost", "champion", 1), field="name")
    expect_error(NotFound, lambda: store.delete_alias("credit", "nobody"), field="alias")
    expect_error(NotFound, lambda: store.rollback("ghost"), field="name")
    expect_error(NotFound, lambda: store.alias_history("ghost"), field="name")
    expect_error(NotFound, lambda: store.list_versions("ghost"), field="name")
    expect_error(NotFound, lambda: store.resolve(ModelRef("ghost")), field="name")

    # A version that points at a missing blob or run is refused, and takes no number.
    expect_error(
        NotFound,
        lambda: store.create_version(
            "credit",
            digest="f" * 64,
            size=1,
            format="sklearn",
            model_class="x.Y",
            signature=Signature(),
            metrics={},
        ),
        field="digest",
    )
    expect_error(NotFound, lambda: register("credit", run_id="0" * 32), field="run_id")
    expect_error(
        InvalidInput, lambda: register("credit", metrics={"auc": float("nan")}), field="metrics"
    )
    run = client.tracking.create_run("registry-conformance")
    linked = register("credit", run_id=run.id)
    assert (linked.version, linked.run_id) == (4, run.id), "refused versions took no number"


def check_model_round_trip(make_client: Callable[[], Any], model: Any, tmp: Path) -> None:
    """Assert that a client stores a run's files and a model, and loads the model back verified."""
    client = make_client()
    source = tmp / "report.txt"
    source.write_text("quality report")
    with client.start_run("round-trip", params={"C": 1}) as run:
        run.log_metrics({"auc": 0.91})
        run.log_artifact(source, "reports/report.txt")
        version = client.register_model(model, "round-trip", run=run, metrics={"f1": 0.8})
    logged = client.tracking.get_run(run.id)
    (artifact,) = logged.artifacts
    assert artifact.path == "reports/report.txt"
    assert read_bytes(client.artifacts, artifact.digest) == b"quality report"
    assert version.metrics == {"auc": 0.91, "f1": 0.8}, "a version copies its run's metrics"
    client.set_alias("round-trip", "champion", version.version, "first")
    loaded = client.load_model("models:/round-trip@champion")
    assert type(loaded) is type(model), "the loaded model is the registered one"
    lineage = client.lineage("models:/round-trip/1")
    assert lineage.run is not None and lineage.run.params == {"C": "1"}
