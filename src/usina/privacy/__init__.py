"""The pure part of personal-data protection: detectors that validate (CPF, CNPJ numeric and
alphanumeric, cards, e-mails, phones), operators (redact, mask, keyed token, AES-SIV
encryption, surrogates), declarative policies with ``protect``, and ``scan`` reports.

It imports only pyarrow, NumPy, ``cryptography``, the standard library and ``usina.errors``,
so it sits below the resources that keep a policy on their records (datasets, endpoints) and
their stores can check one. Users import it through ``usina.pii``, which adds the audited
reversal (it needs identity and the audit log, above datasets). See docs/pii.md.
"""

from usina.privacy.detectors import KINDS, THRESHOLD, Finding, Findings, detect, find
from usina.privacy.keys import PiiKey, load_key
from usina.privacy.operators import (
    OPERATORS,
    Encrypt,
    Mask,
    Redact,
    Surrogate,
    Token,
    make_operator,
)
from usina.privacy.policy import Policy, Protector, Rule, check_policy, policy_digest, protect
from usina.privacy.scan import ScanReport, read_table, scan

__all__ = [
    "KINDS",
    "OPERATORS",
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
    "load_key",
    "make_operator",
    "policy_digest",
    "protect",
    "read_table",
    "scan",
]
