"""The pipeline DSL: ``@usina.step``, ``@usina.pipeline`` and ``usina.sql_step``.

Inside a pipeline function a step call returns a ``Handle`` (a promise of its outputs), not a
value; the pipeline function runs once, when it is decorated, to build and check the graph.
Outside a pipeline a step is a plain function, which keeps steps easy to unit-test.
"""

from __future__ import annotations

import contextvars
import hashlib
import inspect
import textwrap
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from usina.errors import InvalidInput
from usina.pipelines.graph import MISSING, Graph, Param, ParamSpec, PipelineDefinitionError, Ref
from usina.pipelines.types import JSON, kind_of

if TYPE_CHECKING:
    from usina.pipelines.base import Backend
    from usina.pipelines.entities import PipelineRun

_tracing: contextvars.ContextVar[Graph | None] = contextvars.ContextVar(
    "usina_tracing", default=None
)


def is_tracing() -> bool:
    """Whether a pipeline function is being traced into a graph right now (step calls add
    nodes), rather than steps being called as plain functions."""
    return _tracing.get() is not None


class Step:
    """A function with typed inputs and outputs, and how to run it (retries, timeout, cache).

    Build one with ``@usina.step``; see :func:`step`.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        retries: int = 0,
        timeout: float | None = None,
        cache: bool = True,
        register: str | None = None,
        trusted: bool = False,
        code: str | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.retries = retries
        self.timeout = timeout
        self.cache = cache
        self.register = register
        self.trusted = trusted
        self.inputs: dict[str, tuple[str, Any]] = {}
        self.defaults: dict[str, Any] = {}
        self.outputs: dict[str, tuple[str, Any]] = {}
        self.single_output = True
        self._read_signature()
        self.code = code if code is not None else _source(fn)
        self.code_digest = hashlib.sha256(self.code.encode()).hexdigest()

    def _read_signature(self) -> None:
        try:
            hints = typing.get_type_hints(self.fn)
        except Exception as exc:  # noqa: BLE001 - a NameError in an annotation, say
            raise PipelineDefinitionError(
                f"step {self.name!r}: cannot read its annotations: {exc}"
            ) from None
        for pname, p in inspect.signature(self.fn).parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise PipelineDefinitionError(
                    f"step {self.name!r}: argument {pname!r} is *args/**kwargs; name each input",
                    field=pname,
                )
            try:
                self.inputs[pname] = kind_of(hints.get(pname, Any))
            except TypeError as exc:
                raise PipelineDefinitionError(
                    f"step {self.name!r}, argument {pname!r}: {exc}", field=pname
                ) from None
            if p.default is not p.empty:
                self.defaults[pname] = p.default
        ret = hints.get("return", None)
        if ret is None:
            return
        fields = _namedtuple_hints(ret) if _is_namedtuple(ret) else None
        try:
            if fields:
                self.single_output = False
                self.outputs = {k: kind_of(v) for k, v in fields.items()}
            else:
                self.outputs = {"output": kind_of(ret)}
        except TypeError as exc:
            raise PipelineDefinitionError(
                f"step {self.name!r}, return value: {exc}", field="return"
            ) from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        graph = _tracing.get()
        if graph is None:
            return self.fn(*args, **kwargs)
        names = list(self.inputs)
        if len(args) > len(names):
            raise PipelineDefinitionError(
                f"step {self.name!r} takes {len(names)} arguments but {len(args)} were given",
                field=self.name,
            )
        for pname, value in zip(names, args, strict=False):
            if pname in kwargs:
                raise PipelineDefinitionError(
                    f"step {self.name!r}: argument {pname!r} given twice", field=pname
                )
            kwargs[pname] = value
        node = graph.add(
            graph.unique_name(self.name),
            self,
            **{k: _as_arg(self.name, k, v) for k, v in kwargs.items()},
        )
        return Handle(node.name, self)

    def execute(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Run the function and name its outputs (``{"output": value}`` for a single one)."""
        result = self.fn(**kwargs)
        if not self.outputs:
            return {}
        if self.single_output:
            return {"output": result}
        return {k: getattr(result, k) for k in self.outputs}

    def __repr__(self) -> str:
        return f"<Step {self.name}>"


class Handle:
    """The promise of a step's outputs inside a pipeline; pass it (or ``.name``) to other steps."""

    def __init__(self, node: str, step: Step) -> None:
        self.node = node
        self.step = step

    @property
    def output(self) -> Ref:
        if not self.step.single_output:
            raise PipelineDefinitionError(
                f"step {self.node!r} has several outputs ({', '.join(self.step.outputs)}); "
                f"pass one of them, e.g. {self.node.replace('-', '_')}."
                f"{next(iter(self.step.outputs))}",
                field=self.node,
            )
        if not self.step.outputs:
            raise PipelineDefinitionError(
                f"step {self.node!r} returns nothing to pass on", field=self.node
            )
        return Ref(self.node, "output")

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("_") or name not in self.step.outputs:
            raise AttributeError(
                f"step {self.node!r} has no output {name!r} "
                f"(its outputs: {', '.join(self.step.outputs)})"
            )
        return Ref(self.node, name)


class ParamHandle:
    """A pipeline parameter inside the pipeline function."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __bool__(self) -> bool:
        raise PipelineDefinitionError(
            f"pipeline parameter {self.name!r} has no value while the graph is built; it cannot "
            "drive an if or a loop. Branch inside a step instead",
            field=self.name,
        )


def _as_arg(step: str, arg: str, value: Any) -> Any:
    if isinstance(value, Handle):
        return value.output
    if isinstance(value, ParamHandle):
        return Param(value.name)
    if isinstance(value, Ref | Param):
        return value
    if isinstance(value, list | tuple) and any(isinstance(v, Handle | ParamHandle) for v in value):
        raise PipelineDefinitionError(
            f"step {step!r}, argument {arg!r}: a list of step outputs is not supported; pass each "
            "as its own argument",
            field=arg,
        )
    return value


def _is_namedtuple(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def _namedtuple_hints(tp: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(tp)
    except Exception:  # noqa: BLE001 - fall back to the raw annotations
        return dict(getattr(tp, "__annotations__", {}))


def _source(fn: Callable[..., Any]) -> str:
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        # No source (a lambda typed in a REPL): the code object stands in for it.
        return repr(fn.__code__.co_code) + repr(fn.__code__.co_consts)


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    retries: int = 0,
    timeout: float | None = None,
    cache: bool = True,
    register: str | None = None,
    trusted: bool = False,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    timeout: float | None = None,
    cache: bool = True,
    register: str | None = None,
    trusted: bool = False,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step.

    Args:
        name: the step's name in the pipeline (the function's, with ``-`` for ``_``).
        retries: how many times to run it again after a failure.
        timeout: seconds after which an attempt is killed and counts as failed.
        cache: reuse an earlier successful execution with the same code, parameters and inputs.
        register: register the step's ``Model`` output under this name in the model registry.
        trusted: allow a model output that only pickle can store.

    Example:
        >>> @usina.step(retries=2, timeout=600)  # doctest: +SKIP
        ... def train(data: Dataset, C: float = 1.0) -> Model:
        ...     return LogisticRegression(C=C).fit(...)
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidInput(f"retries={retries!r} must be a whole number >= 0", field="retries")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise InvalidInput(
            f"timeout={timeout!r} must be a positive number of seconds", field="timeout"
        )

    def wrap(f: Callable[..., Any]) -> Step:
        s = Step(
            f,
            name=name,
            retries=retries,
            timeout=timeout,
            cache=cache,
            register=register,
            trusted=trusted,
        )
        if (
            register is not None
            and s.outputs.get("output", (None,))[0] != "model"
            and all(k[0] != "model" for k in s.outputs.values())
        ):
            raise PipelineDefinitionError(
                f"step {s.name!r} has register={register!r} but returns no Model; annotate it "
                "'-> Model'",
                field="register",
            )
        return s

    return wrap(fn) if fn is not None else wrap


class Pipeline:
    """A named graph of steps with parameters; run it with ``.run(**params)``.

    Build one with ``@usina.pipeline``; see :func:`pipeline`.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.ref = f"{Path(inspect.getfile(fn)).absolute()}:{fn.__name__}"
        self.graph = self._trace()

    def _trace(self) -> Graph:
        try:
            hints = typing.get_type_hints(self.fn)
        except Exception as exc:  # noqa: BLE001
            raise PipelineDefinitionError(
                f"pipeline {self.name!r}: cannot read its annotations: {exc}"
            ) from None
        params: dict[str, ParamSpec] = {}
        for pname, p in inspect.signature(self.fn).parameters.items():
            annotation = hints.get(pname)
            if annotation is None and p.default is not p.empty and p.default is not None:
                annotation = type(p.default)
            try:
                kind = kind_of(annotation if annotation is not None else Any)
            except TypeError as exc:
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r}, parameter {pname!r}: {exc}", field=pname
                ) from None
            if kind[0] != JSON:
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r}, parameter {pname!r}: parameters are JSON values "
                    "(int, float, str, bool, list, dict); load datasets in a step",
                    field=pname,
                )
            params[pname] = ParamSpec(
                pname, kind, p.default if p.default is not p.empty else MISSING
            )
        graph = Graph(self.name, params)
        token = _tracing.set(graph)
        try:
            self.fn(**{p: ParamHandle(p) for p in params})
        finally:
            _tracing.reset(token)
        if not graph.nodes:
            raise PipelineDefinitionError(f"pipeline {self.name!r} calls no step", field=self.name)
        graph.validate()
        return graph

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults plus ``given``, checked against the declared parameters."""
        from usina.pipelines.types import describe, value_fits

        values: dict[str, Any] = {}
        for key in given:
            if key not in self.graph.params:
                known = ", ".join(self.graph.params) or "none"
                raise InvalidInput(
                    f"pipeline {self.name!r} has no parameter {key!r} (parameters: {known})",
                    field=key,
                )
        for spec in self.graph.params.values():
            if spec.name in given:
                value = given[spec.name]
                if not value_fits(value, spec.kind) and value is not None:
                    raise InvalidInput(
                        f"pipeline {self.name!r}: parameter {spec.name!r} must be "
                        f"{describe(spec.kind)}, got {value!r}",
                        field=spec.name,
                    )
                values[spec.name] = float(value) if spec.kind[1] is float else value
            elif spec.required:
                raise InvalidInput(
                    f"pipeline {self.name!r}: parameter {spec.name!r} has no default; give it "
                    f"with -p {spec.name}=VALUE",
                    field=spec.name,
                )
            else:
                values[spec.name] = spec.default
        return values

    def run(
        self,
        client: Backend | None = None,
        *,
        cache: bool = True,
        resume: str | None = None,
        max_workers: int | None = None,
        show: bool = False,
        **params: Any,
    ) -> PipelineRun:
        """Run the pipeline with the local runner on ``client`` (``usina.get_client()`` for
        the ``USINA_*`` settings); see :class:`usina.pipelines.LocalRunner`."""
        from usina.pipelines.runner import LocalRunner

        if client is None:
            raise InvalidInput(
                f"{self.name}.run needs the client to record in; pass one, e.g. "
                f"{self.name}.run(usina.get_client(), ...) for the USINA_* settings",
                field="client",
            )
        runner = LocalRunner(client, max_workers=max_workers, show=show)
        return runner.run(self, params, cache=cache, resume=resume)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name}: {', '.join(self.graph.nodes)}>"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline: its step calls become the graph, checked now.

    Example:
        >>> @usina.pipeline  # doctest: +SKIP
        ... def training(C: float = 0.5):
        ...     data = load()
        ...     model = train(data, C=C)
        ...     evaluate(model, data)
        >>> training.run(usina.get_client(), C=1.0)
    """
    if fn is not None:
        return Pipeline(fn, name)
    return lambda f: Pipeline(f, name)
