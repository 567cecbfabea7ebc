"""Detection: recall on a generated corpus of valid items (whole columns and Portuguese
sentences), nothing above the threshold for invalid ones, scores and positions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pii.corpus import SENTENCES, items
from usina.errors import InvalidInput
from usina.pii import THRESHOLD, detect, find, scan

CORPUS = items(1500)


def _hits(texts: list[str], spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """For each text: whether a finding covers exactly its item's span, the kind found, and
    whether any finding overlaps the item at all."""
    found = detect(pa.array(texts, pa.large_string()))
    starts, ends = found.char_spans()
    exact = {}
    overlap = np.zeros(len(texts), dtype=bool)
    for row, s, e, k in zip(found.row, starts, ends, found.kinds(), strict=True):
        a, b = spans[row]
        if s < b and a < e:
            overlap[row] = True
        if (s, e) == (a, b):
            exact[row] = k
    kinds = np.array([exact.get(i, "") for i in range(len(texts))])
    return kinds, overlap


@pytest.mark.parametrize("where", ["column", "text"])
def test_recall_on_valid_items_and_nothing_reported_for_invalid_ones(where: str) -> None:
    texts, spans = [], []
    for item in CORPUS:
        if where == "column":
            texts.append(item.text)
            spans.append((0, len(item.text)))
        else:
            sentence = SENTENCES[item.kind]
            start = sentence.index("{}")
            texts.append(sentence.format(item.text))
            spans.append((start, start + len(item.text)))
    kinds, overlap = _hits(texts, spans)
    wanted = np.array([i.kind for i in CORPUS])
    valid = np.array([i.valid for i in CORPUS])
    for kind in ("cpf", "cnpj", "card", "email", "phone"):
        mine = wanted == kind
        recall = (kinds[mine & valid] == kind).mean()
        assert recall >= 0.99, (kind, where, recall)
        wrongly = np.array(texts)[mine & ~valid & overlap]
        assert not len(wrongly), (kind, where, wrongly[:5])


def test_documented_examples_positions_and_context() -> None:
    text = "Cliente: CPF 111.444.777-35; empresa 11.222.333/0001-81 e 12.ABC.345/01DE-35; cartão 4111111111111111."
    found = find(text)
    assert [(f.kind, f.text) for f in found] == [
        ("cpf", "111.444.777-35"),
        ("cnpj", "11.222.333/0001-81"),
        ("cnpj", "12.ABC.345/01DE-35"),
        ("card", "4111111111111111"),
    ]
    for f in found:
        assert text[f.start : f.end] == f.text  # positions in characters, accents included
    # A bare run of 11 digits that is a valid CPF scores higher next to a context word.
    plain, near = find("numero 52998224725")[0], find("documento: 52998224725")[0]
    assert THRESHOLD <= plain.score < near.score


def test_repeated_digits_and_wrong_check_digits_are_refused() -> None:
    assert find("111.111.111-11 00000000000 11.111.111/1111-11 111.444.777-53") == []


def test_scan_reports_columns_kinds_counts_and_masked_samples() -> None:
    table = pa.table(
        {
            "cpf": ["111.444.777-35", "529.982.247-25", None],
            "obs": ["ligar (11) 98765-4321", "email ana@x.com.br", "nada"],
            "idade": [30, 41, 52],
        }
    )
    report = scan(table).to_dict()
    summary = {(c["column"], c["kind"]): (c["count"], c["rows"]) for c in report["columns"]}
    assert summary == {("cpf", "cpf"): (2, 2), ("obs", "phone"): (1, 1), ("obs", "email"): (1, 1)}
    sample = report["columns"][0]["samples"][0]
    assert sample == {"row": 0, "start": 0, "end": 14, "score": 1.0, "masked": "************35"}
    assert "111.444" not in str(report)


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"unknown PII kind 'rg'.*cpf, cnpj"):
        detect(["x"], kinds=["rg"])
