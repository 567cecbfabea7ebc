"""Personal data of Brazilian teams: detectors that validate (CPF, CNPJ numeric and
alphanumeric, cards, e-mails, phones), operators (redact, mask, keyed token, reversible
AES-SIV encryption, surrogates with valid check digits), declarative policies and ``protect``
for tables, ``scan`` reports, and audited reversal. See docs/pii.md.

Imports only pyarrow, NumPy, the standard library and ``cryptography``, each where used.
"""

from usina.pii.detectors import KINDS, THRESHOLD, Finding, Findings, detect, find
from usina.pii.keys import PiiKey, load_key
from usina.pii.operators import OPERATORS, Encrypt, Mask, Redact, Surrogate, Token, make_operator
from usina.pii.policy import Policy, Protector, Rule, protect
from usina.pii.reidentify import PERMISSION, grants_of, reidentify
from usina.pii.scan import ScanReport, read_table, scan

__all__ = [
    "KINDS",
    "OPERATORS",
    "PERMISSION",
    "THRESHOLD",
    "Encrypt",
    "Finding",
    "Findings",
    "Mask",
    "PiiKey",
    "Policy",
    "Protector",
    "Redact",
    "Rule",
    "ScanReport",
    "Surrogate",
    "Token",
    "detect",
    "find",
    "grants_of",
    "load_key",
    "make_operator",
    "protect",
    "read_table",
    "reidentify",
    "scan",
]
