"""Pipelines are checked when defined: each error names the step and the argument."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import usina
from resources import pipelines as p
from usina import Dataset, Model
from usina.errors import InvalidInput
from usina.pipelines import Graph, PipelineDefinitionError, Ref, sql_step


def test_a_type_mismatch_names_the_step_and_argument() -> None:
    with pytest.raises(PipelineDefinitionError) as info:

        @usina.pipeline
        def wrong(workdir: str):
            data = p.load(workdir)
            p.evaluate(data, data)  # a Dataset where a Model is expected

    message = str(info.value)
    assert "step 'evaluate', argument 'model'" in message
    assert "expects Model" in message and "'load' output 'output' is Dataset" in message
    assert info.value.field == "model"


def test_a_literal_of_the_wrong_type_is_a_mismatch() -> None:
    with pytest.raises(
        PipelineDefinitionError, match="step 'load', argument 'n': type mismatch, expects int"
    ):

        @usina.pipeline
        def wrong(workdir: str):
            p.load(workdir, n="forty")


def test_an_unknown_argument_is_named() -> None:
    with pytest.raises(PipelineDefinitionError, match="step 'scale' has no argument 'factr'"):

        @usina.pipeline
        def wrong(workdir: str):
            p.scale(p.load(workdir), factr=2.0)


def test_a_missing_argument_is_named() -> None:
    with pytest.raises(
        PipelineDefinitionError, match="step 'scale': argument 'factor' is required"
    ):

        @usina.pipeline
        def wrong(workdir: str):
            p.scale(p.load(workdir))


def test_an_unknown_input_is_named() -> None:
    graph = Graph("handmade")
    graph.add("total", p.total, data=Ref("features"))
    with pytest.raises(PipelineDefinitionError) as info:
        graph.validate()
    assert "step 'total', argument 'data': unknown input, no step named 'features'" in str(
        info.value
    )


def test_a_cycle_is_named() -> None:
    graph = Graph("handmade")
    graph.add("scale", p.scale, data=Ref("scale-2"), factor=2.0)
    graph.add("scale-2", p.scale, data=Ref("scale"), factor=2.0)
    with pytest.raises(PipelineDefinitionError, match="has a cycle: scale -> scale-2 -> scale"):
        graph.validate()


def test_a_step_with_several_outputs_asks_which_one() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"several outputs \(model, metrics\)"):

        @usina.pipeline
        def wrong(workdir: str):
            features = p.load(workdir)
            p.evaluate(p.train(features), features)


def test_a_parameter_cannot_drive_control_flow() -> None:
    with pytest.raises(PipelineDefinitionError, match="cannot drive an if"):

        @usina.pipeline
        def wrong(workdir: str, fast: bool = False):
            if fast:
                p.load(workdir)


def test_an_unsupported_annotation_is_refused() -> None:
    with pytest.raises(PipelineDefinitionError, match="step 'odd', argument 'x'"):

        @usina.step
        def odd(x: set) -> int:  # type: ignore[type-arg]
            return 1


def test_a_step_outside_a_pipeline_is_a_plain_function() -> None:
    assert p.total.fn is not None
    assert p.report(3.0, 2) == {"total": 3.0, "rows": 2}


def test_sql_step_runs_duckdb_over_its_inputs_outside_a_pipeline(monkeypatch) -> None:
    monkeypatch.chdir(Path(p.__file__).parent)
    raw = pa.table({"x": [1.0, 2.0], "y": [0, 1]})
    out = sql_step("queries/features.sql", inputs={"raw": raw})
    assert out.column("x2").to_pylist() == [1.0, 4.0]


def test_sql_step_names_a_missing_file() -> None:
    with pytest.raises(InvalidInput, match=r"no SQL file 'queries/nope\.sql'"):
        sql_step("queries/nope.sql", inputs={"raw": pa.table({"x": [1]})})


def test_the_graph_keeps_step_calls_in_order() -> None:
    assert list(p.training.graph.nodes) == ["load", "features", "train", "evaluate"]
    assert p.training.graph.nodes["features"].step.inputs == {"raw": ("dataset", Dataset)}
    assert p.train.outputs["model"] == ("model", Model)
