"""The pipeline graph: nodes (step calls), their arguments, and the checks made at definition.

``@usina.pipeline`` builds a ``Graph`` by tracing the pipeline function; a graph can also be
built by hand (from a config file, say) with ``Graph.add`` and ``Ref``. Either way
``validate`` runs before anything executes, and each error names the step and the argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from usina.errors import InvalidInput
from usina.pipelines.types import compatible, describe, value_fits


class StepSpec(Protocol):
    """What the graph and the runners need of a step (``usina.pipelines.Step`` is one). A
    protocol here, so the graph, the runner and the worker never import the DSL."""

    name: str
    inputs: dict[str, tuple[str, Any]]
    outputs: dict[str, tuple[str, Any]]
    defaults: dict[str, Any]
    code_digest: str
    retries: int
    timeout: float | None
    cache: bool
    register: str | None
    trusted: bool

    def execute(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Run the step's function and name its outputs."""
        ...


MISSING: Any = object()


class PipelineDefinitionError(InvalidInput):
    """The pipeline graph is wrong: an unknown input, a cycle or a type mismatch."""


@dataclass(frozen=True)
class Ref:
    """An output of another node: ``Ref("train")`` or ``Ref("train", "metrics")``."""

    node: str
    output: str = "output"


@dataclass(frozen=True)
class Param:
    """A pipeline parameter, as seen by the steps it is passed to."""

    name: str


@dataclass(frozen=True)
class ParamSpec:
    """A declared pipeline parameter with its kind and default."""

    name: str
    kind: tuple[str, Any]
    default: Any = MISSING

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass
class Node:
    """One call of a step in the pipeline."""

    name: str
    step: StepSpec
    args: dict[str, Any] = field(default_factory=dict)

    def upstream(self) -> set[str]:
        return {v.node for v in self.args.values() if isinstance(v, Ref)}


class Graph:
    """Nodes in the order they were added; ``validate`` checks the whole of it.

    Example:
        >>> g = Graph("training")  # doctest: +SKIP
        >>> g.add("load", load)
        >>> g.add("train", train, data=Ref("load"), C=Param("C"))
        >>> g.validate()
    """

    def __init__(self, name: str, params: dict[str, ParamSpec] | None = None) -> None:
        self.name = name
        self.params: dict[str, ParamSpec] = dict(params or {})
        self.nodes: dict[str, Node] = {}

    def unique_name(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``... when the step is called more than once."""
        if base not in self.nodes:
            return base
        n = 2
        while f"{base}-{n}" in self.nodes:
            n += 1
        return f"{base}-{n}"

    def add(self, name: str, step: StepSpec, /, **args: Any) -> Node:
        """Add a call of ``step``; arguments are ``Ref``, ``Param`` or literal JSON values."""
        if name in self.nodes:
            raise PipelineDefinitionError(
                f"pipeline {self.name!r} already has a step named {name!r}", field=name
            )
        for arg in args:
            if arg not in step.inputs:
                known = ", ".join(step.inputs) or "none"
                raise PipelineDefinitionError(
                    f"step {name!r} has no argument {arg!r} (its arguments: {known}); "
                    "fix the call in the pipeline",
                    field=arg,
                )
        for arg in step.inputs:
            if arg not in args and arg not in step.defaults:
                raise PipelineDefinitionError(
                    f"step {name!r}: argument {arg!r} is required but not given; pass it in the "
                    "pipeline, from another step's output or a pipeline parameter",
                    field=arg,
                )
        node = Node(name, step, dict(args))
        self.nodes[name] = node
        return node

    def validate(self) -> None:
        """Check every input refers to something that exists, with a matching type, and no cycle.

        Raises:
            PipelineDefinitionError: naming the step and argument at fault.
        """
        for node in self.nodes.values():
            for arg, value in node.args.items():
                expected = node.step.inputs[arg]
                where = f"step {node.name!r}, argument {arg!r}"
                if isinstance(value, Ref):
                    source = self.nodes.get(value.node)
                    if source is None:
                        raise PipelineDefinitionError(
                            f"{where}: unknown input, no step named {value.node!r} in pipeline "
                            f"{self.name!r} (steps: {', '.join(self.nodes)})",
                            field=arg,
                        )
                    produced = source.step.outputs.get(value.output)
                    if produced is None:
                        raise PipelineDefinitionError(
                            f"{where}: step {value.node!r} has no output {value.output!r} "
                            f"(its outputs: {', '.join(source.step.outputs) or 'none'})",
                            field=arg,
                        )
                    if not compatible(produced, expected):
                        raise PipelineDefinitionError(
                            f"{where}: type mismatch, expects {describe(expected)} but step "
                            f"{value.node!r} output {value.output!r} is {describe(produced)}",
                            field=arg,
                        )
                elif isinstance(value, Param):
                    spec = self.params.get(value.name)
                    if spec is None:
                        raise PipelineDefinitionError(
                            f"{where}: unknown input, pipeline {self.name!r} has no parameter "
                            f"{value.name!r}",
                            field=arg,
                        )
                    if not compatible(spec.kind, expected):
                        raise PipelineDefinitionError(
                            f"{where}: type mismatch, expects {describe(expected)} but pipeline "
                            f"parameter {value.name!r} is {describe(spec.kind)}",
                            field=arg,
                        )
                elif not value_fits(value, expected):
                    raise PipelineDefinitionError(
                        f"{where}: type mismatch, expects {describe(expected)} but got "
                        f"{type(value).__name__} {value!r}",
                        field=arg,
                    )
        self.order()

    def order(self) -> list[str]:
        """Node names in an order where every node comes after its inputs.

        Raises:
            PipelineDefinitionError: the graph has a cycle (named in the message).
        """
        done: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = [*path[path.index(name) :], name]
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r} has a cycle: {' -> '.join(cycle)}; a step cannot "
                    f"depend on its own output (step {name!r})",
                    field=name,
                )
            state[name] = 1
            for up in sorted(self.nodes[name].upstream()):
                if up in self.nodes:
                    visit(up, [*path, name])
            state[name] = 2
            done.append(name)

        for name in self.nodes:
            visit(name, [])
        return done

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)
