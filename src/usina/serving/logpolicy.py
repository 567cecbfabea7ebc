"""PII policies of the request log: what of a request's inputs, outputs and error reaches the
log, per endpoint.

``USINA_REQUEST_LOG_PII_POLICY`` names a YAML file mapping endpoint names (``"*"`` for every
endpoint without its own) to a ``usina.pii`` policy. Its ``columns`` rules apply to the input
columns they name, its ``others`` rule to every other text input (``{detect: redact}`` finds
documents, cards, e-mails and phones in free text); outputs are searched with ``others`` and an
error message is always searched and redacted, since a refused value can be quoted in it. The
serving process applies it before a row is queued, so no raw value reaches the queue, the
writer process, the log's files or the database. An endpoint without a policy costs nothing:
the app looks the policy up only when some endpoint has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from usina.errors import InvalidInput
from usina.pii import PiiKey, Policy, Protector, Rule

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
    """The policy of ``endpoint``: its own, else the ``*`` one."""
    found = policies.get(endpoint)
    return found if found is not None else policies.get(ALL)


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
