"""A labelled corpus of Brazilian personal data, made from the published check digit
algorithms (Receita Federal for CPF and CNPJ, including the alphanumeric CNPJ of 2026; Luhn
for cards), written here independently of usina's detectors, with the documented examples."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

EXAMPLES = {
    "cpf": ["111.444.777-35", "11144477735"],
    "cnpj": ["11.222.333/0001-81", "11222333000181", "12.ABC.345/01DE-35", "12ABC34501DE35"],
    "card": ["4111111111111111"],
}


def cpf_digits(base: str) -> str:
    total = sum(int(d) * w for d, w in zip(base, range(10, 1, -1), strict=True))
    d1 = total * 10 % 11 % 10
    total = sum(int(d) * w for d, w in zip(base + str(d1), range(11, 1, -1), strict=True))
    return f"{d1}{total * 10 % 11 % 10}"


def cnpj_digits(base: str) -> str:
    def dv(chars: str, weights: list[int]) -> int:
        r = sum((ord(c) - 48) * w for c, w in zip(chars, weights, strict=True)) % 11
        return 0 if r < 2 else 11 - r

    d1 = dv(base, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    d2 = dv(base + str(d1), [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{d1}{d2}"


def luhn_digit(body: str) -> str:
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def fmt_cpf(v: str) -> str:
    return f"{v[:3]}.{v[3:6]}.{v[6:9]}-{v[9:]}"


def fmt_cnpj(v: str) -> str:
    return f"{v[:2]}.{v[2:5]}.{v[5:8]}/{v[8:12]}-{v[12:]}"


@dataclass(frozen=True)
class Item:
    kind: str
    text: str
    valid: bool


def items(n: int, seed: int = 7) -> list[Item]:
    """``n`` valid and about ``n`` invalid items of each kind, formatted and bare."""
    rng = random.Random(seed)
    out: list[Item] = []
    digits = string.digits
    alnum = string.digits + string.ascii_uppercase
    for i in range(n):
        base = "".join(rng.choices(digits, k=9))
        if len(set(base)) == 1:
            base = "123456789"
        cpf = base + cpf_digits(base)
        bad = cpf[:10] + str((int(cpf[10]) + 1) % 10)
        shape = fmt_cpf if i % 2 else str
        out += [Item("cpf", shape(cpf), True), Item("cpf", shape(bad), False)]
        chars = alnum if i % 2 else digits
        base = "".join(rng.choices(chars, k=12))
        if i % 2 == 0:
            base = str(rng.randint(4, 9)) + base[1:]  # not a card prefix: invalid ones stay invalid
        cnpj = base + cnpj_digits(base)
        bad = cnpj[:13] + str((int(cnpj[13]) + 1) % 10)
        shape = fmt_cnpj if i % 3 else str
        out += [Item("cnpj", shape(cnpj), True), Item("cnpj", shape(bad), False)]
        prefix, length = rng.choice(
            [("4", 16), ("51", 16), ("55", 16), ("34", 15), ("37", 15), ("606282", 16), ("4", 13)]
        )
        body = prefix + "".join(rng.choices(digits, k=length - len(prefix) - 1))
        card = body + luhn_digit(body)
        bad = card[:-1] + str((int(card[-1]) + 1) % 10)
        if i % 2 and length == 16:
            card, bad = (" ".join(v[j : j + 4] for j in range(0, 16, 4)) for v in (card, bad))
        out += [Item("card", card, True), Item("card", bad, False)]
        user = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10)))
        domain = rng.choice(["gmail.com", "empresa.com.br", "uol.com.br", "usp.br"])
        out += [
            Item("email", f"{user}.{i}@{domain}", True),
            Item("email", f"{user}@{domain.split('.')[0]}", False),
        ]
        ddd = rng.choice([11, 21, 31, 41, 51, 61, 71, 81, 91, 19, 27, 85])
        number = "9" + "".join(rng.choices(digits, k=8))
        phone = [
            f"({ddd}) {number[:5]}-{number[5:]}",
            f"+55 {ddd} {number[:5]}-{number[5:]}",
            f"{ddd} {number[:5]}-{number[5:]}",
        ][i % 3]
        bad_ddd = rng.choice(
            [10, 20, 23, 25, 26, 30, 36, 39, 40, 50, 52, 56, 60, 70, 72, 76, 78, 80, 90]
        )
        out += [
            Item("phone", phone, True),
            Item("phone", f"({bad_ddd}) {number[:5]}-{number[5:]}", False),
        ]
    for kind, examples in EXAMPLES.items():
        out += [Item(kind, e, True) for e in examples]
    out += [Item("cpf", "111.111.111-11", False), Item("cpf", "00000000000", False)]
    return out


SENTENCES = {
    "cpf": "O cliente de CPF {} pediu a segunda via da fatura.",
    "cnpj": "Fornecedor com CNPJ {} enviou a nota fiscal ontem.",
    "card": "Pagamento aprovado no cartão {} às 14h, sem juros.",
    "email": "Favor responder para {} até sexta-feira.",
    "phone": "Ligar para o celular {} depois das 18h.",
}
