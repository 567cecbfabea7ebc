"""What to do with a value once found: redact, mask, token, encrypt or surrogate.

Each operator turns an array of values (whole cells, or the values found in free text) into
an array of replacements, with the kind of each value when it is known:

============  ==================================================================================
``redact``    ``<cpf>`` (the kind) or ``<redacted>``
``mask``      every character but the last ``keep`` (4) replaced by ``*``
``token``     ``tok:KEYID:...``: HMAC-SHA-256 of the value under the key, deterministic, so
              joins and group-bys on tokens give what they gave on the values; documents are
              read without their punctuation (``111.444.777-35`` and ``11144477735`` give one
              token), e-mails in lower case
``encrypt``   ``enc:KEYID:...``: AES-SIV of the value, deterministic and reversible with the
              key through ``usina.pii.reidentify`` (permission ``usina.pii.reidentify``)
``surrogate`` a value of the same shape, derived from the key: digits stay digits, letters
              letters, punctuation stays; CPF and CNPJ get valid check digits, cards keep
              their first 6 digits and a valid Luhn digit, phones their area code
============  ==================================================================================

Keyed work is done once per distinct value (a column of repeated values costs its distinct
count), the rest with ``pyarrow.compute`` and NumPy over whole arrays.

Example:
    >>> import pyarrow as pa
    >>> from usina.privacy.keys import PiiKey
    >>> values = pa.array(["111.444.777-35", "11144477735"], pa.large_string())
    >>> Mask(keep=2).apply(values, "cpf").to_pylist()
    ['************35', '*********35']
    >>> a, b = Token(PiiKey(bytes(32))).apply(values, "cpf").to_pylist()
    >>> a == b, a[:13]
    (True, 'tok:606d0f5c:')
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from usina.errors import InvalidInput
from usina.privacy.detectors import (
    CARD,
    CNPJ,
    CPF,
    EMAIL,
    KINDS,
    PHONE,
    SMALL,
    _buffers,
    _gather,
    _string_array,
    cnpj_check_digits,
    cpf_check_digits,
    luhn_sum,
)
from usina.privacy.keys import PiiKey

TOKEN_PREFIX = "tok"
ENCRYPT_PREFIX = "enc"
_DOCUMENTS = (CPF, CNPJ, CARD, PHONE)

# What ``kind`` may be: one kind for every value, one per value (names or codes in KINDS),
# or None when unknown.
Kinds = str | Sequence[str] | np.ndarray | None


class Operator(Protocol):
    """Replaces values; ``kind`` says what they are when known."""

    name: str

    def apply(self, values: Any, kind: Kinds = None) -> Any:
        """The replacement of each value of ``values`` (a pyarrow large_string array)."""
        ...


class Redact:
    """``<kind>`` in place of each value, or ``label`` when given."""

    name = "redact"
    keyed = False

    def __init__(self, label: str | None = None) -> None:
        self.label = label

    def apply(self, values: Any, kind: Kinds = None) -> Any:
        import pyarrow as pa

        codes = _codes(kind, len(values))
        if self.label is not None or codes is None:
            out = pa.array([self.label or "<redacted>"] * len(values), pa.large_string())
        else:
            labels = np.array([f"<{k}>" for k in KINDS], dtype=object)
            out = pa.array(labels[codes], pa.large_string())
        return _keep_nulls(values, out)


class Mask:
    """Every character but the last ``keep`` replaced by ``char``."""

    name = "mask"
    keyed = False

    def __init__(self, keep: int = 4, char: str = "*") -> None:
        if keep < 0:
            raise InvalidInput(f"mask keeps {keep} characters; give 0 or more", field="keep")
        if len(char) != 1:
            raise InvalidInput(f"mask char {char!r} must be one character", field="char")
        self.keep = keep
        self.char = char

    def apply(self, values: Any, kind: Kinds = None) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        length = pc.utf8_length(values)
        tail = pc.utf8_slice_codeunits(values, start=-self.keep) if self.keep else values
        if not self.keep:
            tail = pc.utf8_slice_codeunits(values, start=0, stop=0)
        hidden = pc.max_element_wise(pc.subtract(length, self.keep), 0)
        head = pc.binary_repeat(pa.scalar(self.char, values.type), hidden)
        return pc.binary_join_element_wise(head, tail, pa.scalar("", values.type))


class Token:
    """``tok:KEYID:`` and 22 characters of HMAC-SHA-256 of the normalised value."""

    name = "token"
    keyed = True

    def __init__(self, key: PiiKey) -> None:
        self.key_id = key.key_id
        self._key = key.derive("token")

    def apply(self, values: Any, kind: Kinds = None) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        normal = normalize(values, kind)
        if len(normal) <= SMALL:
            prefix = f"{TOKEN_PREFIX}:{self.key_id}:"
            return pa.array(
                [
                    None
                    if v is None
                    else prefix
                    + base64.urlsafe_b64encode(hmac.digest(self._key, v.encode(), "sha256")[:16])
                    .rstrip(b"=")
                    .decode()
                    for v in normal.to_pylist()
                ],
                pa.large_string(),
            )
        encoded = pc.dictionary_encode(normal)
        distinct = encoded.dictionary.cast(pa.large_binary()).to_pylist()
        digests = b"".join(
            map(functools.partial(hmac.digest, self._key, digest="sha256"), distinct)
        )
        text = _base64url(np.frombuffer(digests, dtype=np.uint8).reshape(-1, 32)[:, :16])
        head = np.frombuffer(f"{TOKEN_PREFIX}:{self.key_id}:".encode(), dtype=np.uint8)
        rows = np.concatenate([np.broadcast_to(head, (len(text), len(head))), text], axis=1)
        width = rows.shape[1]
        tokens = _string_array(
            rows.reshape(-1), np.arange(len(rows)) * width, np.full(len(rows), width)
        )
        return pc.take(tokens, encoded.indices).cast(pa.large_string())


class Encrypt:
    """``enc:KEYID:`` and the AES-SIV ciphertext of the value (base64url): deterministic, and
    reversed by ``usina.pii.reidentify`` with the same key."""

    name = "encrypt"
    keyed = True

    def __init__(self, key: PiiKey) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        self.key_id = key.key_id
        self._siv = AESSIV(key.derive("encrypt", 64))

    def apply(self, values: Any, kind: Kinds = None) -> Any:
        prefix = f"{ENCRYPT_PREFIX}:{self.key_id}:"
        siv = self._siv

        def encrypt(value: str) -> str:
            sealed = siv.encrypt(value.encode(), None)
            return prefix + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

        return _per_distinct(values, encrypt)

    def decrypt(self, tokens: Sequence[str]) -> list[str]:
        """The values of ``tokens`` made by ``apply`` with this key; a clear error naming the
        first one that is not (another key, not a token, edited)."""
        from cryptography.exceptions import InvalidTag

        prefix = f"{ENCRYPT_PREFIX}:{self.key_id}:"
        out: list[str] = []
        for i, token in enumerate(tokens):
            if not isinstance(token, str) or not token.startswith(f"{ENCRYPT_PREFIX}:"):
                raise InvalidInput(
                    f"value {i} is not an encrypted value (enc:KEYID:...)", field="values"
                )
            if not token.startswith(prefix):
                raise InvalidInput(
                    f"value {i} was encrypted with key {token.split(':')[1]!r}, not with this "
                    f"key ({self.key_id})",
                    field="values",
                )
            body = token[len(prefix) :]
            try:
                sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
                out.append(self._siv.decrypt(sealed, None).decode())
            except (InvalidTag, ValueError):
                raise InvalidInput(
                    f"value {i} does not decrypt with key {self.key_id}: edited or cut short",
                    field="values",
                ) from None
        return out


class Surrogate:
    """A stand-in of the same shape, derived from the key (so deterministic): valid CPF and
    CNPJ check digits, a card's first 6 digits and Luhn digit, a phone's area code."""

    name = "surrogate"
    keyed = True

    def __init__(self, key: PiiKey) -> None:
        self._key = key.derive("surrogate")

    def apply(self, values: Any, kind: Kinds = None) -> Any:
        import pyarrow as pa

        n = len(values)
        if n == 0:
            return values
        key = self._key

        def noise(value: str) -> bytes:
            return hmac.new(key, value.encode(), hashlib.sha512).digest()

        digests = _per_distinct(normalize(values, kind), noise, pa.binary(64))
        rand = np.frombuffer(digests.buffers()[1], dtype=np.uint8)[
            digests.offset * 64 : (digests.offset + n) * 64
        ].reshape(n, 64)
        offsets, data = _buffers(values)
        length = np.diff(offsets)
        matrix = _gather(data, offsets[:-1], length)
        width = matrix.shape[1]
        codes = _codes(kind, n)
        codes = np.full(n, -1) if codes is None else codes
        keep = np.zeros_like(matrix, dtype=bool)
        positions = np.arange(width)[None, :]
        digit = (matrix >= 48) & (matrix <= 57)
        alnum = digit | ((matrix >= 65) & (matrix <= 90)) | ((matrix >= 97) & (matrix <= 122))
        rank = np.cumsum(alnum, axis=1) - 1  # index of each letter or digit among them
        # The noise of each letter or digit by its rank, so punctuation does not change it.
        noise_matrix = np.take_along_axis(rand, np.maximum(rank, 0) % 64, axis=1)
        # What stays: a card's first 6 digits; a phone's country code, area code and first digit;
        # an e-mail's domain.
        card = codes == KINDS.index(CARD)
        keep |= card[:, None] & digit & (rank < 6)
        phone = codes == KINDS.index(PHONE)
        count = alnum.sum(axis=1)
        head = np.where(count >= 12, 5, 3)
        keep |= phone[:, None] & (rank < head[:, None])
        email = codes == KINDS.index(EMAIL)
        at = np.where((matrix == 64).any(axis=1), np.argmax(matrix == 64, axis=1), width)
        keep |= email[:, None] & (positions >= at[:, None])
        out = matrix.copy()
        upper = (matrix >= 65) & (matrix <= 90)
        lower = (matrix >= 97) & (matrix <= 122)
        change = ~keep
        out = np.where(change & digit, 48 + noise_matrix % 10, out)
        out = np.where(change & upper, 65 + noise_matrix % 26, out)
        out = np.where(change & lower, 97 + noise_matrix % 26, out)
        out = out.astype(np.uint8)
        _fix_check_digits(out, alnum, count, codes)
        flat = np.where(positions < length[:, None], out, 0)
        result = _string_array(flat.reshape(-1), np.arange(n) * width, length)
        return _keep_nulls(values, result)


_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8
)


def _base64url(rows: np.ndarray) -> np.ndarray:
    """Unpadded base64url of each row of 16 bytes: 22 characters (as a byte matrix)."""
    padded = np.zeros((len(rows), 18), dtype=np.uint32)
    padded[:, :16] = rows
    groups = padded.reshape(len(rows), 6, 3)
    bits = (groups[:, :, 0] << 16) | (groups[:, :, 1] << 8) | groups[:, :, 2]
    sextets = np.stack([(bits >> s) & 63 for s in (18, 12, 6, 0)], axis=2)
    return _ALPHABET[sextets.reshape(len(rows), 24)[:, :22]]


def _keep_nulls(values: Any, result: Any) -> Any:
    """``result`` with a null wherever ``values`` has one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not values.null_count:
        return result
    return pc.if_else(values.is_null(), pa.scalar(None, pa.large_string()), result)


def _fix_check_digits(out: np.ndarray, alnum: np.ndarray, count: np.ndarray, codes: Any) -> None:
    """Recompute, in place, the check digits of the CPF, CNPJ and card rows of ``out``."""
    order = np.argsort(~alnum, axis=1, kind="stable")  # each row's letters and digits first
    rows = np.arange(len(out))
    for kind, size in ((CPF, 11), (CNPJ, 14)):
        sel = rows[(codes == KINDS.index(kind)) & (count == size)]
        if not len(sel):
            continue
        where = order[sel, :size]
        values = out[sel[:, None], where].astype(np.int64) - 48
        if kind == CPF:
            check = cpf_check_digits(values[:, :9])
        else:
            check = cnpj_check_digits(values[:, :12])
        out[sel, where[:, -2]] = 48 + check[:, 0]
        out[sel, where[:, -1]] = 48 + check[:, 1]
    sel = rows[(codes == KINDS.index(CARD)) & (count >= 13) & (count <= 19)]
    if len(sel):
        width = int(count[sel].max())
        where = order[sel, :width]
        digits = out[sel[:, None], where].astype(np.int64) - 48
        inside = np.arange(width)[None, :] < count[sel][:, None]
        digits = np.where(inside, digits, 0)
        last = count[sel] - 1
        digits[np.arange(len(sel)), last] = 0
        check = (10 - luhn_sum(digits, count[sel]) % 10) % 10
        out[sel, where[np.arange(len(sel)), last]] = 48 + check


def normalize(values: Any, kind: Kinds) -> Any:
    """Values as tokens read them: documents, cards and phones without punctuation (and a
    phone without its country code), e-mails in lower case; unknown kinds as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = _codes(kind, len(values))
    if codes is None or not len(values):
        return values
    if len(values) <= SMALL:
        return pa.array(
            [
                None if v is None else _normal(v, int(c))
                for v, c in zip(values.to_pylist(), codes, strict=True)
            ],
            pa.large_string(),
        )
    bare = pc.utf8_upper(pc.replace_substring_regex(values, "[^0-9A-Za-z]", ""))
    phone = pc.replace_substring_regex(bare, "^55([0-9]{10,11})$", r"\1")
    lower = pc.utf8_lower(values)
    out = values
    for code, form in (
        (KINDS.index(CPF), bare),
        (KINDS.index(CNPJ), bare),
        (KINDS.index(CARD), bare),
        (KINDS.index(PHONE), phone),
        (KINDS.index(EMAIL), lower),
    ):
        mask = pa.array(codes == code)
        out = pc.if_else(mask, form, out)
    return out


_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_PHONE_CODE = re.compile(r"^55([0-9]{10,11})$")


def _normal(value: str, code: int) -> str:
    """``normalize`` of one value of kind ``KINDS[code]``."""
    kind = KINDS[code]
    if kind == EMAIL:
        return value.lower()
    bare = _NOT_ALNUM.sub("", value).upper()
    return _PHONE_CODE.sub(r"\1", bare) if kind == PHONE else bare


def _codes(kind: Kinds, n: int) -> np.ndarray | None:
    """``kind`` as one code (index in KINDS) per value, or None when unknown."""
    if kind is None:
        return None
    if isinstance(kind, str):
        if kind not in KINDS:
            raise InvalidInput(
                f"unknown PII kind {kind!r}; use one of {', '.join(KINDS)}", field="kind"
            )
        return np.full(n, KINDS.index(kind), dtype=np.int8)
    array = np.asarray(kind)
    if array.dtype.kind in "iu":
        return array.astype(np.int8)
    return np.array([KINDS.index(k) for k in array], dtype=np.int8)


def _per_distinct(values: Any, fn: Any, type: Any = None) -> Any:
    """``fn`` of each distinct value, spread back over ``values`` (nulls stay null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    results = pa.array([fn(v) for v in distinct], type or pa.large_string())
    return pc.take(results, encoded.indices)


OPERATORS = ("redact", "mask", "token", "encrypt", "surrogate")


def make_operator(name: str, key: PiiKey | None = None, **options: Any) -> Operator:
    """The operator called ``name`` with its options; keyed ones need ``key``."""
    if name == "redact":
        return Redact(**options)
    if name == "mask":
        return Mask(**options)
    if name not in OPERATORS:
        raise InvalidInput(
            f"unknown PII operator {name!r}; use one of {', '.join(OPERATORS)}", field="operator"
        )
    if options:
        raise InvalidInput(
            f"operator {name} takes no options (got {', '.join(sorted(options))})",
            field="operator",
        )
    if key is None:
        raise InvalidInput(
            f"operator {name} needs a key: set USINA_PII_KEY to base64 of 32 random bytes, or "
            "USINA_PII_KEY_FILE to a file holding it",
            field="USINA_PII_KEY",
        )
    keyed: dict[str, type[Token] | type[Encrypt] | type[Surrogate]] = {
        "token": Token,
        "encrypt": Encrypt,
        "surrogate": Surrogate,
    }
    return keyed[name](key)
