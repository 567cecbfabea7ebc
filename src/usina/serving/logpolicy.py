"""PII policies of the request log: what of a request's inputs, outputs and error reaches the
log, per endpoint.

An endpoint keeps its policy on its record (``usina endpoints configure NAME --log-policy
POLICY.yaml``); a serving worker picks a change up with the endpoint's generation, at its next
poll, and compiles it once per generation. ``USINA_REQUEST_LOG_PII_POLICY`` names a YAML file
mapping endpoint names (``"*"`` for every endpoint) to policies, read when serving starts: an
endpoint the file names gets the file's policy whatever its record says (the operator of the
server has the last word), an endpoint with a policy of its own gets that, and any other the
file's ``"*"`` one.

A policy's ``columns`` rules apply to the input columns they name, its ``others`` rule to every
other text input (``{detect: redact}`` finds documents, cards, e-mails and phones in free text);
outputs are searched with ``others`` and an error message is always searched and redacted,
since a refused value can be quoted in it. The serving process applies it before a row is
queued, so no raw value reaches the queue, the writer process, the log's files or the database.
An endpoint without a policy costs nothing: the app looks one up only when the file set some or
the endpoint's record has one. A policy that cannot be applied (a keyed one without the PII
key) keeps the row's inputs, outputs and error out of the log, fail closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from usina.errors import InvalidInput
from usina.privacy import PiiKey, Policy, Protector, Rule
from usina.serving.entities import Endpoint

log = logging.getLogger("usina.serving")

ALL = "*"
_REDACT_ALL = Rule("redact", detect=True)


def load_log_policies(path: str | Path, key: Any = None) -> dict[str, Protector]:
    """The compiled policy of each endpoint named in the YAML file at ``path``. ``key`` is the
    PII key, or a function returning it (called only when some policy is keyed)."""
    import yaml

    try:
        spec = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise InvalidInput(
            f"USINA_REQUEST_LOG_PII_POLICY: cannot read {path} ({exc.strerror})",
            field="USINA_REQUEST_LOG_PII_POLICY",
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(
            f"USINA_REQUEST_LOG_PII_POLICY: {path} is not valid YAML: {exc}",
            field="USINA_REQUEST_LOG_PII_POLICY",
        ) from None
    if not isinstance(spec, Mapping) or not spec:
        raise InvalidInput(
            f"USINA_REQUEST_LOG_PII_POLICY: {path} maps endpoint names ('*' for all) to "
            "policies ({columns: ..., others: ...})",
            field="USINA_REQUEST_LOG_PII_POLICY",
        )
    policies = {str(name): Policy.from_dict(p) for name, p in spec.items()}
    resolved: PiiKey | None = None
    if any(p.keyed for p in policies.values()):
        resolved = key() if callable(key) else key
    return {name: p.compile(resolved) for name, p in policies.items()}


def policy_for(policies: Mapping[str, Protector], endpoint: str) -> Protector | None:
    """The policy of ``endpoint`` in a file's policies: its own, else the ``*`` one."""
    found = policies.get(endpoint)
    return found if found is not None else policies.get(ALL)


class LogPolicies:
    """The policy each endpoint's log rows get: the file's for the endpoint, else the one on
    its record (compiled once per generation), else the file's ``*``.

    ``for_endpoint`` answers a ``Protector``, ``None`` (log as is) or a message saying why the
    row's contents must be left out (the record's policy cannot be applied here).
    """

    def __init__(self, fixed: Mapping[str, Protector], key: PiiKey | None) -> None:
        self.fixed = fixed
        self.key = key
        # Endpoint name -> (generation, compiled policy or why not): one entry per endpoint
        # with a policy of its own, dropped with the endpoint (``keep``).
        self._compiled: dict[str, tuple[int, Protector | str]] = {}

    def applies(self, endpoint: Endpoint) -> bool:
        """Whether ``endpoint``'s rows need a look-up at all (the cheap test of every row)."""
        return bool(self.fixed) or endpoint.log_policy is not None

    def for_endpoint(self, endpoint: Endpoint) -> Protector | str | None:
        named = self.fixed.get(endpoint.name)
        if named is not None:
            return named
        if endpoint.log_policy is None:
            return self.fixed.get(ALL)
        found = self._compiled.get(endpoint.name)
        if found is None or found[0] != endpoint.generation:
            found = (endpoint.generation, self._compile(endpoint))
            self._compiled[endpoint.name] = found
        return found[1]

    def keep(self, names: Iterable[str]) -> None:
        """Forget the compiled policies of endpoints not in ``names`` (deleted ones)."""
        wanted = set(names)
        # list() copies the keys in one step: request threads may add an entry meanwhile.
        for name in list(self._compiled):
            if name not in wanted:
                self._compiled.pop(name, None)

    def _compile(self, endpoint: Endpoint) -> Protector | str:
        try:
            policy = Policy.from_dict(endpoint.log_policy)
            return policy.compile(self.key if policy.keyed else None)
        except InvalidInput as exc:
            log.error(
                "request log of endpoint %r: its PII policy cannot be applied (%s); its rows "
                "are logged without inputs, outputs or error until it can",
                endpoint.name,
                exc,
            )
            return (
                f"the request log's PII policy of endpoint {endpoint.name} cannot be applied "
                f"here: {exc}"
            )


def protect_row(
    protector: Protector, inputs: Any, outputs: Any, error: str | None
) -> tuple[Any, Any, str | None]:
    """A log row's inputs ((column names, JSON rows)), outputs (JSON) and error with the
    policy applied."""
    import pyarrow as pa

    if inputs is not None:
        names, body = inputs
        rows = orjson.loads(body)
        if rows and isinstance(rows, list) and isinstance(rows[0], list):
            for i, name in enumerate(names):
                rule = protector.rule_for(name)
                if rule is None:
                    continue
                values = [row[i] for row in rows]
                text = [v is None or isinstance(v, str) for v in values]
                if name not in protector.policy.columns and not all(text):
                    continue  # ``others`` reads text columns only
                if not all(text):
                    values = [None if v is None else str(v) for v in values]
                column = protector.column(pa.array(values, pa.large_string()), rule, name)
                for row, value in zip(rows, column.to_pylist(), strict=True):
                    row[i] = value
            inputs = (names, orjson.dumps(rows))
        elif protector.policy.others is not None:
            inputs = (names, _text(protector, body, protector.policy.others))
    if outputs is not None and protector.policy.others is not None:
        outputs = _text(protector, outputs, protector.policy.others)
    if error:
        error = protector.protect_text(error, protector.policy.others or _REDACT_ALL)
    return inputs, outputs, error


def _text(protector: Protector, body: bytes, rule: Rule) -> bytes:
    """JSON bytes with every value found in them replaced (the JSON stays valid: the
    replacements hold no quote or backslash)."""
    return protector.protect_text(body.decode(), rule).encode()
