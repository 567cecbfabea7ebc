"""PII detection and tokenization speed and recall: usina against Presidio, in one run.

The table: ``--rows`` rows (1,000,000) of three Portuguese text columns, generated from one
seed with the published check digit algorithms, so both sides read the same text:

  nota       "O cliente de CPF 111.444.777-35 pediu a segunda via da fatura." (1 in 10 CPFs
             invalid: a wrong check digit; half formatted)
  contato    "Ligar para (11) 98765-4321 ou escrever para ana.7@empresa.com.br."
  pagamento  "Pago com o cartão 4111 1111 1111 1111 pela empresa 12.ABC.345/01DE-35." (numeric
             and alphanumeric CNPJs)

  usina     for each column, ``usina.pii.detect`` (every kind: what ``usina pii scan``
            counts), then each value found replaced by its keyed token (``Token``,
            ``replace_findings``: what ``protect`` does with ``{detect: token}``)
  presidio  ``AnalyzerEngine.analyze`` then ``AnonymizerEngine.anonymize`` with the ``hash``
            operator (SHA-256) for every cell, on the first ``--presidio-rows`` rows (2,000):
            a blank spaCy pipeline (``spacy.blank("pt")``: trained models cannot be fetched
            here, and Presidio's recognizers of these kinds are patterns anyway), with its
            credit card, e-mail and phone (region BR) recognizers, and pattern recognizers
            for CPF and CNPJ given here (with their context words), so both sides look for
            the same kinds

Each side runs in a fresh process (imports done before the clock starts). Rows per second
are compared (Presidio on its sample); recall is measured on the rows Presidio read, for
both: a valid item counts when a finding of its kind overlaps it; invalid CPFs reported are
counted too.

    make bench-pii-env            # .venv-presidio with presidio-analyzer, -anonymizer, spaCy
    python benchmarks/pii.py --presidio-python .venv-presidio/bin/python
    python benchmarks/pii.py --rows 50000 --presidio-rows 300     # a smoke run
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SPEED_GOAL = 50.0
ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("nota", "contato", "pagamento")
CORPUS_ITEMS = 200
KEY = "dXNpbmEtYmVuY2htYXJrLWtleS0zMi1ieXRlcy1sb25nIQ=="


# -- the data (pure Python, so both environments build the same rows) ----------------------------


@functools.cache
def _corpus_module() -> Any:
    """tests/pii/corpus.py (standard library only): the check digit algorithms and the corpus,
    the same in both environments."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("corpus", ROOT / "tests" / "pii" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["corpus"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


Item = tuple[int, int, str, bool]  # (start, end, kind, valid) in one cell


def row(rng: random.Random, i: int) -> tuple[list[str], list[list[Item]]]:
    """One row's three cells and the items each holds."""
    digits, alnum = string.digits, string.digits + string.ascii_uppercase
    base = "".join(rng.choices(digits, k=9))
    gen = _corpus_module()
    cpf = base + gen.cpf_digits(base)
    valid = i % 10 != 0
    if not valid:
        cpf = cpf[:10] + str((int(cpf[10]) + 1) % 10)
    if i % 2:
        cpf = f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"
    head = "O cliente de CPF "
    nota = f"{head}{cpf} pediu a segunda via da fatura."
    ddd = rng.choice([11, 21, 31, 41, 51, 61, 71, 81, 85, 19])
    number = "9" + "".join(rng.choices(digits, k=8))
    phone = f"({ddd}) {number[:5]}-{number[5:]}"
    user = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))
    email = f"{user}.{i}@{rng.choice(['gmail.com', 'empresa.com.br', 'uol.com.br'])}"
    a = "Ligar para "
    b = f"{a}{phone} ou escrever para "
    contato = f"{b}{email}."
    body = "4" + "".join(rng.choices(digits, k=14))
    card = body + gen.luhn_digit(body)
    card = " ".join(card[j : j + 4] for j in range(0, 16, 4))
    chars = alnum if i % 2 else digits
    base = str(rng.randint(1, 9)) + "".join(rng.choices(chars, k=11))
    cnpj = base + gen.cnpj_digits(base)
    cnpj = f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
    c = "Pago com o cartão "
    d = f"{c}{card} pela empresa "
    pagamento = f"{d}{cnpj}."
    items = [
        [(len(head), len(head) + len(cpf), "cpf", valid)],
        [
            (len(a), len(a) + len(phone), "phone", True),
            (len(b), len(b) + len(email), "email", True),
        ],
        [(len(c), len(c) + len(card), "card", True), (len(d), len(d) + len(cnpj), "cnpj", True)],
    ]
    return [nota, contato, pagamento], items


def data(rows: int) -> tuple[list[list[str]], list[list[list[Item]]]]:
    rng = random.Random(20260101)
    cells, items = [], []
    for i in range(rows):
        c, t = row(rng, i)
        cells.append(c)
        items.append(t)
    return cells, items


def recall(
    found: list[list[list[tuple[int, int, str]]]], items: list[list[list[Item]]]
) -> dict[str, Any]:
    """Valid items found (by kind), and invalid items reported."""
    hit: dict[str, list[int]] = {}
    invalid_reported = 0
    for row_found, row_items in zip(found, items, strict=True):
        for cell_found, cell_items in zip(row_found, row_items, strict=True):
            for start, end, kind, valid in cell_items:
                seen = any(k == kind and s < end and start < e for s, e, k in cell_found)
                if valid:
                    hit.setdefault(kind, [0, 0])[0] += seen
                    hit[kind][1] += 1
                else:
                    invalid_reported += seen
    total = sum(h[0] for h in hit.values()) / max(1, sum(h[1] for h in hit.values()))
    return {
        "recall": total,
        "by_kind": {k: h[0] / h[1] for k, h in sorted(hit.items())},
        "invalid_reported": invalid_reported,
    }


def corpus() -> list[tuple[str, int, int, str, bool]]:
    """The corpus of tests/pii (valid and invalid CPFs, numeric and alphanumeric CNPJs, cards,
    e-mails, phones; the documented examples), each item alone and in a Portuguese sentence:
    (text, start, end, kind, valid)."""
    module = _corpus_module()
    out = []
    for item in module.items(CORPUS_ITEMS):
        out.append((item.text, 0, len(item.text), item.kind, item.valid))
        sentence = module.SENTENCES[item.kind]
        start = sentence.index("{}")
        out.append(
            (sentence.format(item.text), start, start + len(item.text), item.kind, item.valid)
        )
    return out


def corpus_recall(
    found: list[list[tuple[int, int, str, float]]], threshold: float
) -> dict[str, Any]:
    """Recall on the corpus's valid items, and invalid items reported, at ``threshold``."""
    valid = hit = invalid = 0
    for (_, start, end, kind, ok), spans in zip(corpus(), found, strict=True):
        seen = any(k == kind and s < end and start < e and sc >= threshold for s, e, k, sc in spans)
        if ok:
            valid += 1
            hit += seen
        else:
            invalid += seen
    return {"recall": hit / valid, "invalid_reported": invalid, "threshold": threshold}


# -- the sides ----------------------------------------------------------------------------------


def side_usina(rows: int, sample: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    from usina.pii import Token, detect, load_key
    from usina.privacy.policy import replace_findings

    token = Token(load_key(KEY))
    cells, items = data(rows)
    table = pa.table({name: [c[j] for c in cells] for j, name in enumerate(COLUMNS)})
    del cells

    def scan_and_tokenize(column: Any, name: str) -> tuple[Any, Any, dict[str, int]]:
        found = detect(column, context=name)
        codes, counts = np.unique(found.kind, return_counts=True)
        report = {str(c): int(n) for c, n in zip(codes, counts, strict=True)}
        return (
            found,
            replace_findings(found.column, found, token.apply(found.values(), found.kind)),
            report,
        )

    scan_and_tokenize(table.column(COLUMNS[0]).slice(0, 100), COLUMNS[0])  # warm up
    start = time.perf_counter()
    results = [scan_and_tokenize(table.column(name), name) for name in COLUMNS]
    seconds = time.perf_counter() - start
    found_sample: list[list[list[tuple[int, int, str]]]] = [
        [[] for _ in COLUMNS] for _ in range(sample)
    ]
    for j, (found, protected, _) in enumerate(results):
        assert len(protected) == rows
        head = found.row < sample
        starts, ends = found.char_spans()
        kinds = found.kinds()
        for i in np.flatnonzero(head):
            found_sample[found.row[i]][j].append((int(starts[i]), int(ends[i]), kinds[i]))
    texts = corpus()
    found = detect(pa.array([t[0] for t in texts], pa.large_string()), threshold=0.0)
    starts, ends = found.char_spans()
    spans: list[list[tuple[int, int, str, float]]] = [[] for _ in texts]
    for r, s, e, k, sc in zip(found.row, starts, ends, found.kinds(), found.score, strict=True):
        spans[r].append((int(s), int(e), k, float(sc)))
    return {
        "rows": rows,
        "seconds": seconds,
        "found": sum(len(f) for f, _, _ in results),
        **recall(found_sample, items[:sample]),
        "corpus": spans,
    }


def side_presidio(rows: int, sample: int) -> dict[str, Any]:
    import logging

    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        PhoneRecognizer,
    )
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

    logging.disable(logging.WARNING)
    # Offline: tldextract's bundled suffix list instead of a download on first use.
    offline = tldextract.TLDExtract(suffix_list_urls=())
    tldextract.extract = offline  # type: ignore[assignment]
    import presidio_analyzer.predefined_recognizers.generic.email_recognizer as email_module

    if hasattr(email_module, "tldextract"):
        email_module.tldextract.extract = offline  # type: ignore[attr-defined]

    class BlankPortuguese(SpacyNlpEngine):
        def __init__(self) -> None:
            super().__init__(models=[{"lang_code": "pt", "model_name": "blank"}])

        def load(self) -> None:
            self.nlp = {"pt": spacy.blank("pt")}

    engine = BlankPortuguese()
    engine.load()
    registry = RecognizerRegistry(supported_languages=["pt"])
    registry.add_recognizer(CreditCardRecognizer(supported_language="pt"))
    registry.add_recognizer(EmailRecognizer(supported_language="pt"))
    registry.add_recognizer(PhoneRecognizer(supported_language="pt", supported_regions=["BR"]))
    registry.add_recognizer(
        PatternRecognizer(
            "BR_CPF",
            supported_language="pt",
            patterns=[Pattern("cpf", r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b", 0.5)],
            context=["cpf", "documento"],
        )
    )
    registry.add_recognizer(
        PatternRecognizer(
            "BR_CNPJ",
            supported_language="pt",
            patterns=[
                Pattern(
                    "cnpj", r"\b[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2}\b", 0.5
                )
            ],
            context=["cnpj", "empresa"],
        )
    )
    analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["pt"])
    anonymizer = AnonymizerEngine()
    operators = {"DEFAULT": OperatorConfig("hash", {"hash_type": "sha256"})}
    kinds = {
        "BR_CPF": "cpf",
        "BR_CNPJ": "cnpj",
        "CREDIT_CARD": "card",
        "EMAIL_ADDRESS": "email",
        "PHONE_NUMBER": "phone",
    }
    cells, items = data(sample)
    anonymizer.anonymize(cells[0][0], analyzer.analyze(cells[0][0], language="pt"), operators)
    found = []
    start = time.perf_counter()
    for row_cells in cells:
        row_found = []
        for text in row_cells:
            results = analyzer.analyze(text, language="pt")
            anonymizer.anonymize(text, results, operators)
            row_found.append([(r.start, r.end, kinds.get(r.entity_type, "")) for r in results])
        found.append(row_found)
    seconds = time.perf_counter() - start
    spans = [
        [
            (r.start, r.end, kinds.get(r.entity_type, ""), r.score)
            for r in analyzer.analyze(t[0], language="pt")
        ]
        for t in corpus()
    ]
    return {"rows": sample, "seconds": seconds, **recall(found, items), "corpus": spans}


def measure(python: str, side: str, rows: int, sample: int) -> dict[str, Any]:
    env = dict(os.environ)
    if side == "usina":
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])
        )
    command = [python, __file__, "--side", side, "--rows", str(rows)]
    command += ["--presidio-rows", str(sample)]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the {side} side failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--presidio-python", help="a Python with presidio-analyzer installed")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--presidio-rows", type=int, default=2_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--side", choices=["usina", "presidio"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "usina":
        print(json.dumps(side_usina(args.rows, min(args.presidio_rows, args.rows))))
        return
    if args.side == "presidio":
        print(json.dumps(side_presidio(args.rows, args.presidio_rows)))
        return

    load = os.getloadavg()[0]
    print(f"PII benchmark on {platform.machine()}, {os.cpu_count()} CPUs, load {load:.2f}")
    usina = measure(sys.executable, "usina", args.rows, args.presidio_rows)
    results: dict[str, Any] = {"load_average": load, "usina": usina}
    presidio = None
    if args.presidio_python:
        presidio = measure(args.presidio_python, "presidio", args.rows, args.presidio_rows)
        results["presidio"] = presidio
    for r in (usina, presidio):
        if r is not None:
            spans = r.pop("corpus")
            r["corpus_recall"] = corpus_recall(spans, 0.5)
            r["corpus_recall_any_score"] = corpus_recall(spans, 0.0)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"\n{len(COLUMNS)} text columns, scanned and tokenized")
    print(f"{'':10}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'recall':>9}  invalid CPFs reported")
    sides = [("usina", usina)] + ([("presidio", presidio)] if presidio else [])
    for name, r in sides:
        rate = r["rows"] / r["seconds"]
        print(
            f"{name:10}{r['rows']:12,}{r['seconds']:10.2f}{rate:12,.0f}{r['recall']:9.4f}  "
            f"{r['invalid_reported']}"
        )
    print(f"usina: recall by kind {usina['by_kind']}")
    print("\nthe corpus of tests/pii: recall on valid items, invalid items reported")
    for name, r in sides:
        at, anyscore = r["corpus_recall"], r["corpus_recall_any_score"]
        print(
            f"{name:10} score >= 0.5: recall {at['recall']:.4f}, invalid {at['invalid_reported']};"
            f" any score: recall {anyscore['recall']:.4f}, invalid {anyscore['invalid_reported']}"
        )
    if presidio:
        ratio = (usina["rows"] / usina["seconds"]) / (presidio["rows"] / presidio["seconds"])
        better = usina["corpus_recall"]["recall"] > presidio["corpus_recall"]["recall"]
        verdict = "met" if ratio >= SPEED_GOAL and better else "NOT met"
        print(f"presidio: recall by kind {presidio['by_kind']}")
        print(
            f"usina scans and tokenizes {ratio:.0f}x the rows per second of Presidio (goal "
            f"{SPEED_GOAL:.0f}x with higher recall: {verdict})"
        )
    else:
        print("Presidio skipped: pass --presidio-python PATH (make bench-pii-env makes one)")


if __name__ == "__main__":
    main()
