"""Personal data of Brazilian teams: detectors that validate (CPF, CNPJ numeric and
alphanumeric, cards, e-mails, phones), operators (redact, mask, keyed token, reversible
AES-SIV encryption, surrogates with valid check digits), declarative policies and ``protect``
for tables, ``scan`` reports, and audited reversal. See docs/pii.md.

Detection, operators, policies and scans live in ``usina.privacy`` (pure: pyarrow, NumPy,
``cryptography``), which datasets and endpoints use to check the policies on their records;
this package re-exports them and adds the audited reversal, which needs identity and the audit
log.
"""

from usina.pii.reidentify import PERMISSION, grants_of, reidentify
from usina.privacy import (
    KINDS,
    OPERATORS,
    THRESHOLD,
    Encrypt,
    Finding,
    Findings,
    Mask,
    PiiKey,
    Policy,
    Protector,
    Redact,
    Rule,
    ScanReport,
    Surrogate,
    Token,
    check_policy,
    detect,
    find,
    load_key,
    make_operator,
    protect,
    read_table,
    scan,
)

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
    "check_policy",
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
