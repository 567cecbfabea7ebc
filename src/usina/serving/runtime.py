"""What a serving worker holds: loaded versions, and per endpoint a route that picks one.

A background thread polls the metadata database (:meth:`SqlEndpointStore.watch`, one small
query) every ``poll_interval`` seconds. When an endpoint's generation or its alias's version
changes, the versions it now needs are loaded and warmed on that thread, and only then is the
endpoint's :class:`Route` replaced, in one assignment. A request reads the route once, so it is
answered entirely by the old versions or entirely by the new ones; requests already running on
an old version finish on it (it stays referenced until they do). A version that fails to load
or warm gets no traffic: the endpoint keeps its previous route (or, for a split, the versions
that did load), and the failure is kept in :attr:`Runtime.failures` and reported. A failed
version is tried again every ``retry_after`` seconds (a minute), so a passing outage of the
artifact store does not keep it out for good.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from usina.artifacts import ArtifactStore, read_bytes
from usina.errors import EndpointUnavailable, InvalidInput, NotFound, UsinaError
from usina.registry import ModelRef, ModelVersion, load_model_bytes
from usina.serving.endpoints import Endpoint, SqlEndpointStore
from usina.serving.fastpath import Predictor, compile_predictor
from usina.serving.inputs import InputCheck, ModelInput

log = logging.getLogger("usina.serving")


@dataclass(frozen=True)
class LoadedVersion:
    """A model version in memory with its compiled input check."""

    info: ModelVersion
    model: Any
    check: InputCheck
    # NumPy kind of the predictions ("i", "f", "O", ...), learnt from the warm-up when it ran.
    output_kind: str | None = None
    # The checked fast predictor for a matrix input, when the model has one (see fastpath).
    fast: Predictor | None = None

    @property
    def version(self) -> int:
        return self.info.version

    def predict(self, batch: ModelInput) -> np.ndarray:
        """Run the model; an exception raised by the model on this input is the client's 400."""
        data = batch.data
        try:
            if self.fast is not None and type(data) is np.ndarray:
                return self.fast(data)
            return np.asarray(self.model.predict(data))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InvalidInput(
                f"model {self.info.name} v{self.version} rejected the input: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}",
                field="inputs",
            ) from None


@dataclass(frozen=True)
class Route:
    """An endpoint's current versions with cumulative traffic weights, and its shadow."""

    endpoint: Endpoint
    versions: tuple[LoadedVersion, ...]
    cumulative: tuple[float, ...]
    shadow: LoadedVersion | None = None
    state: tuple[int, int | None] = (0, None)
    # Versions the endpoint wants (in its split or as its shadow) that failed to load.
    missing: tuple[int, ...] = ()

    def pick(self) -> LoadedVersion:
        """A version drawn with the endpoint's traffic split."""
        if len(self.versions) == 1:
            return self.versions[0]
        return self.versions[
            bisect.bisect_right(self.cumulative, random.random() * self.cumulative[-1])
        ]

    def version(self, number: int) -> LoadedVersion | None:
        """The deployed version ``number``, if it is serving."""
        for v in self.versions:
            if v.version == number:
                return v
        return None

    def choose(self, pinned: str | None) -> LoadedVersion:
        """The version ``pinned`` (from a URL), or one drawn with the split when it is None.

        Raises:
            NotFound: ``pinned`` is not a version serving on this endpoint.
        """
        if pinned is None:
            return self.pick()
        found = self.version(int(pinned)) if pinned.isdigit() else None
        if found is None:
            serving = ", ".join(str(v.version) for v in self.versions)
            raise NotFound(
                f"version {pinned!r} is not serving on {self.endpoint.name!r}; serving: {serving}",
                field="version",
            )
        return found


@dataclass
class Runtime:
    """Loaded versions and routes for every endpoint, kept current by :meth:`refresh`."""

    store: SqlEndpointStore
    artifacts: ArtifactStore
    trust_pickles: bool = False
    on_failure: Callable[[str, int, str], None] | None = None
    retry_after: float = 60.0
    fast_predict: bool = True
    routes: dict[str, Route] = field(default_factory=dict)
    failures: dict[tuple[str, int], str] = field(default_factory=dict)
    ready: bool = False
    _loaded: dict[tuple[str, int], LoadedVersion] = field(default_factory=dict)
    _failed_at: dict[tuple[str, int], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serving(self, name: str) -> Route:
        """The route of endpoint ``name``, which has at least one loaded version.

        Raises:
            NotFound: no endpoint ``name`` is served here.
            EndpointUnavailable: none of its versions could be loaded (the failures are named).
        """
        route = self.routes.get(name)
        if route is None:
            raise NotFound(f"no endpoint {name!r} is served here", field="endpoint")
        if not route.versions:
            failures = "; ".join(f"v{v}: {m}" for v, m in self.failures_of(route))
            raise EndpointUnavailable(
                f"endpoint {name!r} has no loaded version" + (f" ({failures})" if failures else "")
            )
        return route

    def failures_of(self, route: Route) -> list[tuple[int, str]]:
        """The versions of the route's model that failed to load, with why."""
        model = route.endpoint.model
        return [(v, m) for (name, v), m in self.failures.items() if name == model]

    def refresh(self) -> None:
        """Bring every route up to date with the database; loads happen here, off requests."""
        with self._lock:
            rows = self.store.watch()
            seen = set()
            for row in rows:
                seen.add(row.name)
                current = self.routes.get(row.name)
                state = (row.generation, row.alias_version)
                if current is not None and current.state == state and not self._retry_due(current):
                    continue
                try:
                    endpoint = self.store.get(row.name)
                except UsinaError:
                    continue  # deleted between the two queries; the next poll drops it
                route = self._build(endpoint, state, current)
                if route is not None:
                    self.routes[row.name] = route
            for name in list(self.routes):
                if name not in seen:
                    del self.routes[name]
            in_use = {
                (r.endpoint.model, v.version) for r in self.routes.values() for v in r.versions
            }
            in_use |= {
                (r.endpoint.model, r.shadow.version) for r in self.routes.values() if r.shadow
            }
            for key in list(self._loaded):
                if key not in in_use:
                    del self._loaded[key]  # requests still holding it finish on it
            self.ready = True

    def _build(
        self, endpoint: Endpoint, state: tuple[int, int | None], current: Route | None
    ) -> Route | None:
        if endpoint.alias is not None:
            wanted = {state[1]: 100} if state[1] is not None else {}
        else:
            wanted = {d.version: d.traffic for d in endpoint.deployments if d.traffic > 0}
        versions, weights, missing = [], [], []
        for number, share in sorted(wanted.items()):
            loaded = self._load(endpoint, number)
            if loaded is not None:
                versions.append(loaded)
                weights.append(float(share))
            else:
                missing.append(number)
        shadow = self._load(endpoint, endpoint.shadow_version) if endpoint.shadow_version else None
        if endpoint.shadow_version and shadow is None:
            missing.append(endpoint.shadow_version)
        if not versions:
            if current is not None and current.versions:
                # Nothing new could be loaded: keep serving what was serving, and remember the
                # state, so the failed versions are retried only every ``retry_after`` seconds.
                return Route(
                    endpoint, current.versions, current.cumulative, shadow, state, tuple(missing)
                )
            return Route(endpoint, (), (), shadow, state, tuple(missing))
        cumulative = tuple(float(x) for x in np.cumsum(weights))
        return Route(endpoint, tuple(versions), cumulative, shadow, state, tuple(missing))

    def _retry_due(self, route: Route) -> bool:
        now = time.monotonic()
        return any(
            now - self._failed_at.get((route.endpoint.model, v), 0.0) >= self.retry_after
            for v in route.missing
        )

    def _load(self, endpoint: Endpoint, number: int) -> LoadedVersion | None:
        key = (endpoint.model, number)
        if key in self._loaded:
            return self._loaded[key]
        if key in self.failures and time.monotonic() - self._failed_at[key] < self.retry_after:
            return None
        try:
            info = self.store.registry.resolve(ModelRef(endpoint.model, version=number))
            loaded = load_version(
                info, self.artifacts, trusted=self.trust_pickles, fast_predict=self.fast_predict
            )
        except Exception as exc:  # noqa: BLE001 - any failure keeps the version out of traffic
            message = f"{type(exc).__name__}: {exc}"
            self.failures[key] = message
            self._failed_at[key] = time.monotonic()
            log.error("model %s v%s failed to load or warm; it gets no traffic: %s", *key, message)
            if self.on_failure is not None:
                self.on_failure(endpoint.name, number, message)
            return None
        self._loaded[key] = loaded
        self.failures.pop(key, None)
        self._failed_at.pop(key, None)
        return loaded


def load_version(
    info: ModelVersion,
    artifacts: ArtifactStore,
    *,
    trusted: bool = False,
    fast_predict: bool = True,
) -> LoadedVersion:
    """Load ``info`` from ``artifacts`` (digest verified), compile its input check and fast
    predictor, and warm it: the way serving loads a version, which batch scoring reuses so both
    score a row identically."""
    data = read_bytes(artifacts, info.digest)
    model = load_model_bytes(data, info.format, info.model_class, trusted=trusted)
    numeric = InputCheck(info.signature).numeric
    names = _feature_names(model, info.signature.names, numeric)
    check = InputCheck(info.signature, names)
    fast = None
    if fast_predict and check.names and check.numeric and not check.wants_frame:
        fast = compile_predictor(model, len(check.names))
    loaded = LoadedVersion(info, model, check, fast=fast)
    return dataclasses.replace(loaded, output_kind=_warm(loaded))


def _feature_names(model: Any, signature_names: list[str], numeric: bool) -> list[str] | None:
    """The column names the model checks, or ``None`` when it can take a bare matrix.

    A plain estimator fitted on a DataFrame checks column names, which costs a DataFrame per
    request (about 0.7 ms for one row with scikit-learn 1.9). When every input is numeric and
    the model's columns are the signature's, in the same order, the signature check has
    already verified the names, so the estimator's copy is dropped and it gets the matrix.
    Pipelines keep theirs: their steps may select columns by name.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return None
    names = [str(n) for n in names]
    if numeric and names == signature_names and "feature_names_in_" in vars(model):
        del model.feature_names_in_
        return None
    return names


def _warm(loaded: LoadedVersion) -> str | None:
    """One prediction on a synthetic row, so the first real request pays no first-call costs;
    returns the NumPy kind of the predictions, or ``None`` when no warm-up could run."""
    check = loaded.check
    if not check.names:
        return None
    samples = {"number": 0.0, "integer": 0, "string": "", "bool": False, "any": ""}
    row = [samples[kind] for kind in check.kinds]
    try:
        return str(loaded.predict(check.records([row], "warmup")).dtype.kind)
    except InvalidInput:
        if check.numeric:
            raise
        # A synthetic string is often an unknown category; the model loaded, which is the check.
        return None
