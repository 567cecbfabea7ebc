"""Declarative protection: which operator each column gets, and ``protect`` applying it.

A policy is a mapping (from YAML, JSON or a dict)::

    columns:
      cpf: token                        # the whole value of each cell
      cartao: {operator: mask, keep: 4}
      cnpj: {operator: surrogate, kind: cnpj}
      comentario: {detect: redact}      # free text: each value found is replaced
      observacao: {detect: token, kinds: [cpf, email], threshold: 0.7}
    others: {detect: redact}            # optional: every other text column
    threshold: 0.5                      # optional: the default for detect

A whole-column rule takes ``kind`` (what the column holds, so tokens and surrogates read it
as such: ``111.444.777-35`` and ``11144477735`` give one token); without one it is detected
from the column's values. A ``detect`` rule finds values of ``kinds`` (every kind by default)
with the detectors and replaces each with what its operator makes of it.

Example:
    >>> import pyarrow as pa
    >>> table = pa.table({"cpf": ["111.444.777-35"], "nota": ["ligar (11) 98765-4321"]})
    >>> policy = Policy.from_dict({"columns": {"cpf": "redact", "nota": {"detect": "mask"}}})
    >>> protect(table, policy).to_pylist()
    [{'cpf': '<cpf>', 'nota': 'ligar ***********4321'}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from usina.errors import InvalidInput
from usina.privacy.detectors import (
    KINDS,
    THRESHOLD,
    _buffers,
    _ranges,
    as_text,
    check_kinds,
    detect,
)
from usina.privacy.keys import PiiKey
from usina.privacy.operators import OPERATORS, Operator, make_operator

_KEYED = ("token", "encrypt", "surrogate")


@dataclass(frozen=True)
class Rule:
    """What one column gets: an operator on the whole value, or on each value ``detect``
    finds in its text."""

    operator: str
    options: tuple[tuple[str, Any], ...] = ()
    detect: bool = False
    kind: str | None = None
    kinds: tuple[str, ...] = KINDS
    threshold: float | None = None

    @classmethod
    def parse(cls, spec: Any, where: str) -> Rule:
        """A rule from ``token``, ``{operator: mask, keep: 4}`` or ``{detect: redact}``."""
        if isinstance(spec, str):
            spec = {"operator": spec}
        if not isinstance(spec, Mapping):
            raise InvalidInput(
                f"{where}: give an operator name ({', '.join(OPERATORS)}), "
                "{operator: NAME, ...} or {detect: NAME}",
                field=where,
            )
        spec = dict(spec)
        detecting = "detect" in spec
        if detecting and "operator" in spec:
            raise InvalidInput(f"{where}: give 'operator' or 'detect', not both", field=where)
        name = spec.pop("detect" if detecting else "operator", None)
        if not isinstance(name, str) or name not in OPERATORS:
            raise InvalidInput(
                f"{where}: unknown operator {name!r}; use one of {', '.join(OPERATORS)}",
                field=where,
            )
        kind = spec.pop("kind", None)
        if kind is not None:
            check_kinds([kind])
        kinds = spec.pop("kinds", None)
        if kinds is not None:
            if isinstance(kinds, str) or not isinstance(kinds, Sequence):
                raise InvalidInput(f"{where}: kinds must be a list of kinds", field=where)
            check_kinds(kinds)
        threshold = spec.pop("threshold", None)
        if threshold is not None and not (
            isinstance(threshold, int | float) and 0.0 <= threshold <= 1.0
        ):
            raise InvalidInput(f"{where}: threshold must be between 0 and 1", field=where)
        allowed = {"mask": {"keep", "char"}, "redact": {"label"}}.get(name, set())
        unknown = set(spec) - allowed
        if unknown:
            raise InvalidInput(
                f"{where}: unknown option {', '.join(sorted(unknown))} for {name}", field=where
            )
        keep = spec.get("keep", 0)
        if isinstance(keep, bool) or not isinstance(keep, int) or not 0 <= keep <= 1000:
            raise InvalidInput(f"{where}: keep is a count of characters (0 to 1000)", field=where)
        if "char" in spec and not (isinstance(spec["char"], str) and len(spec["char"]) == 1):
            raise InvalidInput(f"{where}: char is one character, such as '*'", field=where)
        if "label" in spec and not (isinstance(spec["label"], str) and len(spec["label"]) < 200):
            raise InvalidInput(f"{where}: label is a short text, such as '<cpf>'", field=where)
        return cls(
            name,
            tuple(sorted(spec.items())),
            detecting,
            kind,
            tuple(kinds) if kinds is not None else KINDS,
            threshold,
        )

    def to_dict(self) -> dict[str, Any]:
        """The rule in its declarative form (``Rule.parse`` reads it back to the same rule)."""
        out: dict[str, Any] = {"detect" if self.detect else "operator": self.operator}
        out.update(self.options)
        if self.kind is not None:
            out["kind"] = self.kind
        if self.kinds != KINDS:
            out["kinds"] = list(self.kinds)
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out


@dataclass(frozen=True)
class Policy:
    """Rules by column name, an optional rule for every other text column, a threshold."""

    columns: Mapping[str, Rule] = field(default_factory=dict)
    others: Rule | None = None
    threshold: float = THRESHOLD

    @classmethod
    def from_dict(cls, spec: Any) -> Policy:
        """A policy from its declarative form (see the module's documentation)."""
        if isinstance(spec, Policy):
            return spec
        if not isinstance(spec, Mapping):
            raise InvalidInput(
                "a PII policy is a mapping with 'columns' (and optionally 'others', 'threshold')",
                field="policy",
            )
        unknown = set(spec) - {"columns", "others", "threshold"}
        if unknown:
            raise InvalidInput(
                f"unknown PII policy field {', '.join(sorted(unknown))}; use columns, others, "
                "threshold",
                field="policy",
            )
        columns = spec.get("columns") or {}
        if not isinstance(columns, Mapping):
            raise InvalidInput("policy 'columns' maps column names to rules", field="columns")
        threshold = spec.get("threshold", THRESHOLD)
        if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise InvalidInput("policy 'threshold' must be between 0 and 1", field="threshold")
        others = spec.get("others")
        return cls(
            {str(k): Rule.parse(v, f"columns.{k}") for k, v in columns.items()},
            Rule.parse(others, "others") if others is not None else None,
            float(threshold),
        )

    def to_dict(self) -> dict[str, Any]:
        """The policy in its declarative form, every field spelt out the one way: what a
        record keeps, and what two policies are compared by."""
        out: dict[str, Any] = {"columns": {k: v.to_dict() for k, v in self.columns.items()}}
        if self.others is not None:
            out["others"] = self.others.to_dict()
        out["threshold"] = self.threshold
        return out

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """A policy from a YAML (or JSON) file."""
        import yaml

        try:
            spec = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise InvalidInput(
                f"cannot read the policy {path}: {exc.strerror}", field="policy"
            ) from None
        except yaml.YAMLError as exc:
            raise InvalidInput(
                f"the policy {path} is not valid YAML: {exc}", field="policy"
            ) from None
        return cls.from_dict(spec)

    @property
    def keyed(self) -> bool:
        """Whether a rule needs the PII key."""
        rules = [*self.columns.values(), *([self.others] if self.others else [])]
        return any(r.operator in _KEYED for r in rules)

    def compile(self, key: PiiKey | None = None) -> Protector:
        """The policy ready to apply: its operators built once (keyed ones with ``key``)."""
        return Protector(self, key)


class Protector:
    """A compiled policy: ``protect`` tables and ``protect_text`` single strings."""

    def __init__(self, policy: Policy, key: PiiKey | None) -> None:
        self.policy = policy
        self._key = key
        self._operators: dict[tuple[str, tuple[tuple[str, Any], ...]], Operator] = {}
        for rule in [*policy.columns.values(), *([policy.others] if policy.others else [])]:
            self._operator(rule)  # built now, so a missing key is said at once

    def _operator(self, rule: Rule) -> Operator:
        found = self._operators.get((rule.operator, rule.options))
        if found is None:
            found = make_operator(rule.operator, self._key, **dict(rule.options))
            self._operators[(rule.operator, rule.options)] = found
        return found

    def rule_for(self, column: str) -> Rule | None:
        """The rule of ``column``: its own, else ``others`` (text columns only)."""
        return self.policy.columns.get(column, self.policy.others)

    def column(self, values: Any, rule: Rule, name: str = "") -> Any:
        """One column protected by ``rule``."""
        import pyarrow as pa

        text = as_text(values if _is_text(values) else _to_text(values))
        operator = self._operator(rule)
        threshold = rule.threshold if rule.threshold is not None else self.policy.threshold
        if rule.detect:
            found = detect(text, kinds=rule.kinds, threshold=threshold, context=name)
            replacements = operator.apply(found.values(), found.kind)
            return replace_findings(text, found, replacements)
        kind: Any = rule.kind
        if kind is None and rule.operator in ("token", "surrogate", "redact"):
            kind = _column_kind(text, rule.kinds, threshold, name)
        out = operator.apply(text, kind)
        return out if isinstance(out, pa.Array) else pa.array(out)

    def protect(self, table: Any, *, strict: bool = True) -> Any:
        """A new table with every column the policy names (and, with ``others``, every other
        text column) protected; ``strict`` refuses a policy naming a column the table lacks."""
        import pyarrow as pa

        if strict:
            missing = [c for c in self.policy.columns if c not in table.column_names]
            if missing:
                raise InvalidInput(
                    f"the policy names column {', '.join(map(repr, missing))}, which the table "
                    f"does not have (it has {', '.join(table.column_names)})",
                    field="columns",
                )
        arrays = []
        for name in table.column_names:
            values = table.column(name)
            rule = self.policy.columns.get(name)
            if rule is None and self.policy.others is not None and _is_text(values):
                rule = self.policy.others
            arrays.append(values if rule is None else self.column(values, rule, name))
        return pa.table(arrays, names=table.column_names)

    def protect_text(self, text: str, rule: Rule | None = None) -> str:
        """One string with every value found replaced, by ``rule`` or ``others``."""
        rule = rule or self.policy.others
        if rule is None:
            return text
        if not rule.detect:
            rule = Rule(rule.operator, rule.options, True, None, rule.kinds, rule.threshold)
        import pyarrow as pa

        out = self.column(pa.array([text], pa.large_string()), rule)
        return str(out[0].as_py())


def protect(table: Any, policy: Policy | Mapping[str, Any], key: PiiKey | None = None) -> Any:
    """``table`` (a pyarrow Table) with ``policy`` applied, as a new table. Keyed operators
    (token, encrypt, surrogate) need ``key`` (``usina.pii.load_key``)."""
    return Policy.from_dict(policy).compile(key).protect(table)


MAX_POLICY_BYTES = 65_536


def check_policy(spec: Any) -> dict[str, Any]:
    """``spec`` checked as a PII policy and spelt out (``Policy.to_dict``): what a dataset or
    an endpoint keeps on its record. ``InvalidInput`` names the field and the fix; nothing
    about keys is checked here (the process that applies the policy needs the key)."""
    import json

    canonical = Policy.from_dict(spec).to_dict()
    if len(json.dumps(canonical)) > MAX_POLICY_BYTES:
        raise InvalidInput(
            f"the policy is over {MAX_POLICY_BYTES // 1024} KB; name fewer columns, or use "
            "'others' for the text columns a rule of its own does not name",
            field="policy",
        )
    return canonical


def policy_digest(canonical: Mapping[str, Any] | None) -> str:
    """SHA-256 of a policy's declarative form (``check_policy``), which a dataset version
    records as the policy it was written under; ``""`` for no policy."""
    if canonical is None:
        return ""
    import hashlib
    import json

    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def replace_findings(column: Any, found: Any, replacements: Any) -> Any:
    """``column`` with the byte span of each finding replaced by its replacement, built with
    NumPy over the column's buffers (no loop over cells)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(found):
        return column
    offsets, data = _buffers(column)
    rep = as_text(replacements)
    rep_offsets, rep_data = _buffers(rep)
    base = offsets[0]
    start = offsets[found.row] + found.byte_start
    end = offsets[found.row] + found.byte_end
    # Interleave kept stretches of the column with replacements, then the column's tail.
    keep_start = np.concatenate([[base], end])
    keep_length = np.concatenate([start, [offsets[-1]]]) - keep_start
    rep_start = rep_offsets[:-1] + len(data)
    rep_length = np.diff(rep_offsets)
    starts = np.empty(2 * len(start) + 1, dtype=np.int64)
    lengths = np.empty_like(starts)
    starts[0::2], lengths[0::2] = keep_start, keep_length
    starts[1::2], lengths[1::2] = rep_start, rep_length
    merged = np.concatenate([data, rep_data])[_ranges(starts, lengths)]
    delta = np.concatenate([[0], np.cumsum(rep_length - (end - start))])
    before = np.searchsorted(found.row, np.arange(len(column) + 1), side="left")
    new_offsets = (offsets - base) + delta[before]
    out = pa.Array.from_buffers(
        pa.large_string(),
        len(column),
        [None, pa.py_buffer(new_offsets.astype(np.int64)), pa.py_buffer(merged.tobytes())],
    )
    if column.null_count:
        out = pc.if_else(column.is_null(), pa.scalar(None, pa.large_string()), out)
    return out


def _is_text(values: Any) -> bool:
    import pyarrow as pa

    kind = values.type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _to_text(values: Any) -> Any:
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(values)
    try:
        return values.cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InvalidInput(
            f"a column of {values.type} cannot be read as text for PII protection",
            field="columns",
        ) from None


def _column_kind(text: Any, kinds: Sequence[str], threshold: float, name: str) -> str | None:
    """The kind most of a column's values are, when a column rule names none."""
    import pyarrow.compute as pc

    sample = text.slice(0, 1000)
    found = detect(pc.drop_null(sample), kinds=kinds, threshold=threshold, context=name)
    if not len(found):
        return None
    codes, counts = np.unique(found.kind, return_counts=True)
    return KINDS[int(codes[np.argmax(counts)])]
