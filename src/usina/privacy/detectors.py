"""Detectors of Brazilian personal data that validate what they match, over whole columns.

Each kind has one candidate pattern (RE2, run by ``pyarrow.compute`` over the whole column)
and a validation computed with NumPy over a matrix of the candidates' characters:

========  ==========================================================================
``cpf``   11 digits, formatted (``111.444.777-35``) or not; both check digits; a
          string of one repeated digit is refused
``cnpj``  14 characters: 12 of ``[0-9A-Z]`` (each worth its ASCII code minus 48) and
          two numeric check digits, modulo 11; the numeric form and the alphanumeric
          form of 2026 (``12.ABC.345/01DE-35``); repeated digits refused
``card``  13 to 19 digits with Luhn's check, a known issuer prefix and one of its lengths
``email`` ``name@domain.tld``
``phone`` Brazilian numbers: ``+55``, a valid area code (DDD), 9 digits starting with 9
          (mobile) or 8 starting with 2 to 5 (landline)
========  ==========================================================================

A finding has a kind, a score between 0 and 1, and a position. Formatted values score higher
than bare digit strings, and a context word (``cpf``, ``documento``, ``cartão``, ``telefone``,
...) in the 40 bytes before a value, or in the column's name, adds ``CONTEXT_BOOST``. Where
two findings overlap, the higher score wins. Candidates are found a round at a time: each
round takes the first match of every cell still holding text and cuts the cells after it, so
the number of rounds is the largest number of values of one kind in a cell, never the number
of cells.

Example:
    >>> text = "CPF 111.444.777-35, cartão 4111111111111111"
    >>> [(f.kind, f.start, f.end, f.text) for f in find(text)]
    [('cpf', 4, 18, '111.444.777-35'), ('card', 27, 43, '4111111111111111')]
    >>> find("CPF 111.444.777-36")  # a wrong check digit
    []
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from usina.errors import InvalidInput

CPF, CNPJ, CARD, EMAIL, PHONE = "cpf", "cnpj", "card", "email", "phone"
KINDS = (CPF, CNPJ, CARD, EMAIL, PHONE)
THRESHOLD = 0.5
CONTEXT_BOOST = 0.3
CONTEXT_BYTES = 40

_PATTERNS = {
    CPF: r"\b\d{3}[. ]?\d{3}[. ]?\d{3}[-. ]?\d{2}\b",
    CNPJ: r"\b[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2}\b",
    CARD: r"\b\d(?:[ -]?\d){12,18}\b",
    EMAIL: r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    PHONE: (r"(?:(?:\+|\b)55[ -]?(?:\(\d{2}\)|\d{2})|\(\d{2}\)|\b\d{2})[ -]?9?\d{4}[ -]?\d{4}\b"),
}

# Words that make a value of a kind more likely, matched case-insensitively before it (``.``
# stands for an accented letter, one or two bytes).
_CONTEXT = {
    CPF: r"cpf|documento|contribuinte|pessoa f.{1,2}sica|cadastro",
    CNPJ: r"cnpj|empresa|raz.{1,2}o social|documento|fornecedor",
    CARD: r"cart.{1,2}o|cartao|card|cr.{1,2}dito|d.{1,2}bito|visa|master|elo|amex|pagamento",
    EMAIL: r"e-?mail|correio|contato",
    PHONE: r"tel|fone|celular|whats|contato|ligar|cel\b",
}

# Base scores: a formatted value, and a bare string of digits (which many numbers resemble).
_SCORES = {
    CPF: (0.85, 0.6),
    CNPJ: (0.9, 0.65),
    CARD: (0.8, 0.75),
    EMAIL: (0.9, 0.9),
    PHONE: (0.65, 0.4),
}

# Area codes (DDD) in use in Brazil.
_DDD = np.zeros(100, dtype=bool)
_DDD[
    [
        *(11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38),
        *(41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68),
        *(69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95),
        *(96, 97, 98, 99),
    ]
] = True

# Card issuers: (prefix, lengths). Visa, Mastercard, American Express, Diners, Discover,
# JCB, Elo and Hipercard, the brands Brazilian acquirers take.
_CARDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    # (first prefix, last prefix, lengths): prefixes of one number of digits
    ("4", "4", (13, 16, 19)),
    ("51", "55", (16,)),
    ("2221", "2720", (16,)),
    ("34", "34", (15,)),
    ("37", "37", (15,)),
    ("300", "305", (14, 16)),
    ("36", "36", (14, 16)),
    ("38", "38", (14, 16)),
    ("6011", "6011", (16, 19)),
    ("65", "65", (16, 19)),
    ("644", "649", (16, 19)),
    ("3528", "3589", (16, 19)),
    ("606282", "606282", (16, 19)),
    ("3841", "3841", (16, 19)),
    ("636368", "636368", (16,)),
    ("636297", "636297", (16,)),
    ("504175", "504175", (16,)),
    ("5067", "5067", (16,)),
    ("509", "509", (16,)),
    ("6277", "6277", (16,)),
    ("6362", "6363", (16,)),
    ("650", "650", (16,)),
    ("6516", "6516", (16,)),
    ("6550", "6550", (16,)),
)


@dataclass(frozen=True)
class Finding:
    """One value found: its kind, score, position in characters (``end`` excluded) and text."""

    kind: str
    start: int
    end: int
    score: float
    text: str


@dataclass(frozen=True)
class Findings:
    """Every finding in a column, as arrays: the row, the byte span within the row's UTF-8
    text (``end`` excluded), the kind (an index into ``KINDS``) and the score. Sorted by row,
    then position; no two overlap."""

    column: Any  # the pyarrow large_string array searched
    row: np.ndarray
    byte_start: np.ndarray
    byte_end: np.ndarray
    kind: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    def kinds(self) -> list[str]:
        """The kind of each finding."""
        return [KINDS[k] for k in self.kind]

    def values(self) -> Any:
        """The text of each finding, as a pyarrow string array."""
        offsets, data = _buffers(self.column)
        starts = offsets[self.row] + self.byte_start
        return _string_array(data, starts, self.byte_end - self.byte_start)

    def char_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """Each finding's start and end in characters of its row (not bytes)."""
        offsets, data = _buffers(self.column)
        if len(self) == 0 or not data.size or int(data.max()) < 0x80:
            return self.byte_start.copy(), self.byte_end.copy()
        base = offsets[self.row]
        lead = (data & 0xC0) != 0x80  # bytes that start a character

        def chars(upto: np.ndarray) -> np.ndarray:
            index = _ranges(base, upto)
            counts = np.zeros(len(upto), dtype=np.int64)
            if index.size:
                owner = np.repeat(np.arange(len(upto)), upto)
                np.add.at(counts, owner, lead[index])
            return counts

        return chars(self.byte_start), chars(self.byte_end)

    def to_list(self) -> list[Finding]:
        """The findings as records (for a few: this builds one object per finding)."""
        start, end = self.char_spans()
        texts = self.values().to_pylist()
        return [
            Finding(KINDS[k], int(s), int(e), round(float(sc), 3), t)
            for k, s, e, sc, t in zip(self.kind, start, end, self.score, texts, strict=True)
        ]


def find(text: str, kinds: Sequence[str] = KINDS, threshold: float = THRESHOLD) -> list[Finding]:
    """The findings in one string, scoring at least ``threshold``."""
    return detect([text], kinds=kinds, threshold=threshold).to_list()


def detect(
    values: Any,
    *,
    kinds: Sequence[str] = KINDS,
    threshold: float = THRESHOLD,
    context: str | None = None,
) -> Findings:
    """Find every valid value of ``kinds`` in a column of text (a pyarrow array or chunked
    array of strings, or any sequence of strings and ``None``); keep those scoring at least
    ``threshold``. ``context`` (a column's name, say) raises every finding's score when it
    holds a context word of the finding's kind."""
    import pyarrow as pa
    import pyarrow.compute as pc

    check_kinds(kinds)
    column = as_text(values)
    offsets, data = _buffers(column)
    found: list[tuple[np.ndarray, ...]] = []
    for kind in kinds:
        code = KINDS.index(kind)
        row, start, length = _candidates(column, _PATTERNS[kind])
        if not len(row):
            continue
        matrix = _gather(data, offsets[row] + start, length)
        ok, formatted = _VALIDATE[kind](matrix, length)
        row, start, length, formatted = row[ok], start[ok], length[ok], formatted[ok]
        if not len(row):
            continue
        high, low = _SCORES[kind]
        score = np.where(formatted, high, low)
        boost = _context_hits(data, offsets, row, start, _CONTEXT[kind])
        if (
            context is not None
            and pc.match_substring_regex(pa.array([context]), f"(?i){_CONTEXT[kind]}")[0].as_py()
        ):
            boost[:] = True
        score = np.minimum(1.0, score + CONTEXT_BOOST * boost)
        found.append((row, start, start + length, np.full(len(row), code, np.int8), score))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return Findings(column, empty, empty, empty, np.zeros(0, np.int8), np.zeros(0))
    merged = [np.concatenate(parts) for parts in zip(*found, strict=True)]
    r, s, e, k, sc = _without_overlaps(*merged)
    keep = sc >= threshold
    return Findings(column, r[keep], s[keep], e[keep], k[keep], sc[keep])


def check_kinds(kinds: Iterable[str]) -> None:
    """Refuse a kind this module does not detect, naming the ones it does."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise InvalidInput(
            f"unknown PII kind {', '.join(map(repr, unknown))}; use one of {', '.join(KINDS)}",
            field="kinds",
        )


def as_text(values: Any) -> Any:
    """``values`` as one pyarrow large_string array (nulls kept)."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.large_string())
    elif not isinstance(values, pa.Array):
        values = pa.array(list(values), pa.large_string())
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        if pa.types.is_null(values.type):
            return values.cast(pa.large_string())
        raise InvalidInput(f"a column of text is needed, not {values.type}", field="column")
    return values.cast(pa.large_string())


# -- candidates --------------------------------------------------------------------------------


# Below this many cells (a request's inputs, one string) candidates are found with Python's
# ``re``, compiled once, instead of Arrow's kernels, which compile their pattern on every call.
SMALL = 64
_COMPILED: dict[str | bytes, re.Pattern[Any]] = {}


def _compiled(pattern: str | bytes) -> re.Pattern[Any]:
    found = _COMPILED.get(pattern)
    if found is None:
        found = _COMPILED[pattern] = re.compile(pattern, re.ASCII)
    return found


def _candidates_small(column: Any, pattern: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_candidates`` for a few cells: the same matches, found cell by cell on the bytes."""
    offsets, data = _buffers(column)
    regex = _compiled(pattern.encode())
    raw = data.tobytes()
    rows, starts, lengths = [], [], []
    for i in range(len(column)):
        cell = raw[offsets[i] : offsets[i + 1]]
        for m in regex.finditer(cell):
            rows.append(i)
            starts.append(m.start())
            lengths.append(m.end() - m.start())
    return (
        np.array(rows, dtype=np.int64),
        np.array(starts, dtype=np.int64),
        np.array(lengths, dtype=np.int64),
    )


def _candidates(column: Any, pattern: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every non-overlapping match of ``pattern`` in ``column``: (row, byte start, byte
    length). The matches of each cell are counted first; each round takes the first match of
    every cell with more to find, in what follows that cell's previous match (cut from the
    column's bytes with NumPy, no regular expression)."""
    import pyarrow.compute as pc

    if len(column) <= SMALL or not hasattr(pc, "extract_regex_span"):  # pyarrow < 21
        return _candidates_small(column, pattern)
    offsets, data = _buffers(column)
    counts = pc.count_substring_regex(column, pattern).fill_null(0)
    counts = np.asarray(counts.to_numpy(zero_copy_only=False), dtype=np.int64)
    where = np.flatnonzero(counts)
    rows: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    text = column if len(where) == len(column) else column.take(where)
    done = np.zeros(len(where), dtype=np.int64)  # bytes of each cell already read
    taken = 0
    while len(where):
        spans = pc.extract_regex_span(text, f"(?P<m>{pattern})")
        found = np.asarray(spans.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        pairs = np.asarray(
            spans.field(0).flatten().to_numpy(zero_copy_only=False), dtype=np.int64
        ).reshape(-1, 2)
        if not found.all():
            where, done, pairs = where[found], done[found], pairs[found]
        start = done + pairs[:, 0]
        rows.append(where)
        starts.append(start)
        lengths.append(pairs[:, 1])
        taken += 1
        more = counts[where] > taken
        where, done = where[more], (start + pairs[:, 1])[more]
        if len(where):
            text = _string_array(
                data, offsets[where] + done, offsets[where + 1] - offsets[where] - done
            )
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(rows), np.concatenate(starts), np.concatenate(lengths)


def _context_hits(
    data: np.ndarray, offsets: np.ndarray, row: np.ndarray, start: np.ndarray, words: str
) -> np.ndarray:
    """Whether a context word appears in the ``CONTEXT_BYTES`` before each value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    begin = np.maximum(offsets[row], offsets[row] + start - CONTEXT_BYTES)
    end = offsets[row] + start
    if len(row) <= SMALL:
        regex = _compiled(f"(?i)(?:{words})".encode())
        raw = data.tobytes()
        return np.array(
            [regex.search(raw[b:e]) is not None for b, e in zip(begin, end, strict=True)],
            dtype=bool,
        )
    before = _string_array(data, begin, end - begin, utf8=False)
    hits = pc.match_substring_regex(before, f"(?i)(?:{words})")
    assert isinstance(hits, pa.Array)
    return np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool)


# -- validation over character matrices ---------------------------------------------------------


def _compact(matrix: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kept characters of each row moved to its front (order kept), and their count."""
    rank = np.cumsum(keep, axis=1) - 1
    rows, cols = np.nonzero(keep)
    out = np.full_like(matrix, 32)
    out[rows, rank[rows, cols]] = matrix[rows, cols]
    return out, rank[:, -1] + 1 if matrix.shape[1] else np.zeros(len(matrix), np.int64)


def _digits(matrix: np.ndarray) -> np.ndarray:
    return (matrix >= 48) & (matrix <= 57)


def _formatted(matrix: np.ndarray, length: np.ndarray, width: int) -> np.ndarray:
    """Whether each candidate has separators (is longer than its ``width`` characters)."""
    return length > width


def _repeated(values: np.ndarray) -> np.ndarray:
    return (values == values[:, :1]).all(axis=1)


def cpf_check_digits(base: np.ndarray) -> np.ndarray:
    """The two check digits of each row of 9 digit values (an n x 9 integer matrix)."""
    w1 = np.arange(10, 1, -1)
    d1 = (base @ w1 * 10) % 11 % 10
    w2 = np.arange(11, 2, -1)
    d2 = ((base @ w2 + d1 * 2) * 10) % 11 % 10
    return np.stack([d1, d2], axis=1)


def cnpj_check_digits(base: np.ndarray) -> np.ndarray:
    """The two check digits of each row of 12 character values (ASCII code minus 48)."""
    w1 = np.array([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    r1 = base @ w1 % 11
    d1 = np.where(r1 < 2, 0, 11 - r1)
    w2 = np.array([6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3])
    r2 = (base @ w2 + d1 * 2) % 11
    d2 = np.where(r2 < 2, 0, 11 - r2)
    return np.stack([d1, d2], axis=1)


def luhn_sum(digits: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Luhn's sum of each row's first ``length`` digits (rows padded on the right)."""
    width = digits.shape[1]
    # Position from the right: 0 for the check digit; every odd position is doubled.
    pos = length[:, None] - 1 - np.arange(width)[None, :]
    doubled = np.where(pos % 2 == 1, digits * 2, digits)
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    return np.asarray(np.where(pos >= 0, doubled, 0).sum(axis=1))


def luhn_valid(digits: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Luhn's check of each row's first ``length`` digits (rows padded on the right)."""
    return np.asarray(luhn_sum(digits, length) % 10 == 0)


def _valid_cpf(matrix: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    digits = _digits(matrix)
    compact, count = _compact(matrix, digits)
    ok = count == 11
    values = compact[:, :11].astype(np.int64) - 48
    ok &= ~_repeated(values)
    ok &= (cpf_check_digits(values[:, :9]) == values[:, 9:11]).all(axis=1)
    return ok, _formatted(matrix, length, 11)


def _valid_cnpj(matrix: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    upper = (matrix >= 65) & (matrix <= 90)
    compact, count = _compact(matrix, _digits(matrix) | upper)
    ok = count == 14
    values = compact[:, :14].astype(np.int64) - 48
    last = compact[:, 12:14]
    ok &= _digits(last).all(axis=1)
    ok &= ~_repeated(values)
    ok &= (cnpj_check_digits(values[:, :12]) == values[:, 12:14]).all(axis=1)
    return ok, _formatted(matrix, length, 14)


def _card_prefixes() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The issuer table as arrays: each range of prefixes (low, high), its number of digits,
    and the lengths it allows (a mask over 0..19)."""
    low, high, widths, lengths = [], [], [], []
    for first, last, allowed in _CARDS:
        low.append(int(first))
        high.append(int(last))
        widths.append(len(first))
        mask = np.zeros(20, dtype=bool)
        mask[list(allowed)] = True
        lengths.append(mask)
    return np.array(low), np.array(high), np.array(widths), np.array(lengths)


_CARD_TABLE = _card_prefixes()


def _valid_card(matrix: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    digits = _digits(matrix)
    compact, count = _compact(matrix, digits)
    width = compact.shape[1]
    values = np.where(np.arange(width) < count[:, None], compact.astype(np.int64) - 48, 0)
    ok = (count >= 13) & (count <= 19)
    ok &= luhn_valid(values, count)
    low, high, widths, allowed = _CARD_TABLE
    known = np.zeros(len(values), dtype=bool)
    size = np.clip(count, 0, 19)
    for w in np.unique(widths):
        head = values[:, :w] @ (10 ** np.arange(w - 1, -1, -1))
        for i in np.flatnonzero(widths == w):
            known |= (head >= low[i]) & (head <= high[i]) & allowed[i][size]
    ok &= known
    return ok, _formatted(matrix, length, 19) | (length > count)


def _valid_email(matrix: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dots = (matrix[:, :-1] == 46) & (matrix[:, 1:] == 46)
    ok = ~dots.any(axis=1) & (matrix[:, 0] != 46)
    return ok, np.ones(len(matrix), dtype=bool)


def _valid_phone(matrix: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    digits = _digits(matrix)
    compact, count = _compact(matrix, digits)
    values = compact.astype(np.int64) - 48
    # A country code: 12 or 13 digits starting with 55.
    country = ((count == 12) | (count == 13)) & (values[:, 0] == 5) & (values[:, 1] == 5)
    shift = np.where(country, 2, 0)
    rows = np.arange(len(values))
    width = compact.shape[1]

    def at(i: int) -> np.ndarray:
        return values[rows, np.minimum(shift + i, width - 1)]

    national = count - shift
    ddd = at(0) * 10 + at(1)
    first = at(2)
    mobile = (national == 11) & (first == 9)
    landline = (national == 10) & (first >= 2) & (first <= 5)
    ok = _DDD[np.clip(ddd, 0, 99)] & (mobile | landline)
    formatted = (
        (matrix == ord("(")).any(axis=1)
        | (matrix == ord("-")).any(axis=1)
        | (matrix == ord("+")).any(axis=1)
    )
    return ok, formatted


_VALIDATE = {
    CPF: _valid_cpf,
    CNPJ: _valid_cnpj,
    CARD: _valid_card,
    EMAIL: _valid_email,
    PHONE: _valid_phone,
}


def _without_overlaps(
    row: np.ndarray, start: np.ndarray, end: np.ndarray, kind: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Sort by (row, start) and, where findings overlap, keep the higher score."""
    order = np.lexsort((-score, start, row))
    row, start, end, kind, score = row[order], start[order], end[order], kind[order], score[order]
    while len(row) > 1:
        clash = (row[1:] == row[:-1]) & (start[1:] < end[:-1])
        if not clash.any():
            break
        drop = np.zeros(len(row), dtype=bool)
        lower = score[1:] <= score[:-1]
        # Of each clashing pair, drop the lower score (the later one on a tie); one pass
        # drops at least one finding, so the loop ends.
        drop[1:] |= clash & lower
        drop[:-1] |= clash & ~lower
        keep = ~drop
        row, start, end, kind, score = row[keep], start[keep], end[keep], kind[keep], score[keep]
    return row, start, end, kind, score


# -- Arrow buffers as NumPy --------------------------------------------------------------------


def _buffers(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """A large_string array's offsets (int64, one more than its length) and its bytes."""
    _, offsets_buffer, data_buffer = column.buffers()
    offsets = (
        np.frombuffer(offsets_buffer, dtype=np.int64)[
            column.offset : column.offset + len(column) + 1
        ]
        if offsets_buffer is not None
        else np.zeros(len(column) + 1, dtype=np.int64)
    )
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.zeros(0, dtype=np.uint8)
    )
    return offsets, data


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i] .. starts[i] + lengths[i]`` of every range, concatenated."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift


def _gather(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The bytes of each range as the rows of a matrix padded with spaces."""
    width = int(lengths.max()) if len(lengths) else 1
    index = starts[:, None] + np.arange(width)[None, :]
    inside = np.arange(width)[None, :] < lengths[:, None]
    return np.where(inside, data[np.where(inside, index, 0)], 32).astype(np.uint8)


def _string_array(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, *, utf8: bool = True
) -> Any:
    """A pyarrow array of the given byte ranges of ``data`` (binary when not ``utf8``)."""
    import pyarrow as pa

    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    chunk = data[_ranges(starts, lengths)]
    kind = pa.large_string() if utf8 else pa.large_binary()
    return pa.Array.from_buffers(
        kind, len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(chunk.tobytes())]
    )
