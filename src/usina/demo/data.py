"""A seeded synthetic credit-risk data set: loan applications and whether they defaulted.

Numeric and categorical features follow plausible Brazilian consumer-credit shapes; ``cpf``
(with valid check digits) and ``email`` are personal data that a later stage pseudonymizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STATES = ["SP", "RJ", "MG", "RS", "PR", "BA", "SC", "PE", "CE", "GO"]
STATE_WEIGHTS = [0.30, 0.14, 0.12, 0.08, 0.08, 0.08, 0.06, 0.05, 0.05, 0.04]
PURPOSES = [
    "debt_consolidation",
    "car",
    "home_improvement",
    "education",
    "medical",
    "small_business",
]
PURPOSE_RISK = [0.0, -0.2, -0.3, 0.1, 0.3, 0.6]
HOUSING = ["rent", "own", "mortgage"]
HOUSING_RISK = [0.3, -0.3, 0.0]
EMPLOYMENT = ["salaried", "self_employed", "civil_servant", "unemployed"]
EMPLOYMENT_RISK = [0.0, 0.4, -0.5, 1.2]
FIRST_NAMES = [
    "ana",
    "bruno",
    "carla",
    "diego",
    "elisa",
    "felipe",
    "gabriela",
    "heitor",
    "isabela",
    "joao",
]
LAST_NAMES = [
    "silva",
    "santos",
    "oliveira",
    "souza",
    "lima",
    "pereira",
    "costa",
    "almeida",
    "rocha",
]
DOMAINS = ["example.com.br", "mail.example", "correio.example"]

FEATURES = [
    "age",
    "income",
    "employment_years",
    "loan_amount",
    "term_months",
    "interest_rate",
    "credit_score",
    "open_accounts",
    "late_payments",
    "debt_to_income",
    "employment",
    "housing",
    "purpose",
    "state",
]
CATEGORICAL = ["employment", "housing", "purpose", "state"]
LABEL = "default"


def cpf_numbers(rng: np.random.Generator, n: int) -> list[str]:
    """Random CPFs with valid check digits, formatted ``123.456.789-09``."""
    base = rng.integers(0, 10, size=(n, 9))
    d1 = (base * np.arange(10, 1, -1)).sum(axis=1) * 10 % 11 % 10
    with_d1 = np.column_stack([base, d1])
    d2 = (with_d1 * np.arange(11, 1, -1)).sum(axis=1) * 10 % 11 % 10
    digits = np.column_stack([with_d1, d2])
    out = []
    for row in digits:
        s = "".join(map(str, row))
        out.append(f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}")
    return out


def credit_applications(rows: int = 20_000, seed: int = 7) -> Any:
    """Loan applications with a ``default`` label (about one in eight defaults), as pandas."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    age = rng.integers(18, 76, rows)
    employment = rng.choice(len(EMPLOYMENT), rows, p=[0.62, 0.2, 0.12, 0.06])
    income = np.round(np.exp(rng.normal(8.2, 0.55, rows)) * np.where(employment == 3, 0.35, 1.0), 2)
    employment_years = np.clip(rng.gamma(2.0, 3.0, rows), 0, age - 16).round(1)
    loan_amount = np.round(np.exp(rng.normal(9.2, 0.8, rows)), -1)
    term_months = rng.choice([12, 24, 36, 48, 60], rows, p=[0.15, 0.25, 0.3, 0.15, 0.15])
    credit_score = np.clip(rng.normal(640, 90, rows) + 0.4 * (age - 40), 300, 900).round()
    late_payments = rng.poisson(np.clip((720 - credit_score) / 120, 0.05, None))
    open_accounts = rng.poisson(4, rows) + 1
    interest_rate = np.clip(
        0.45 - credit_score / 2500 + rng.normal(0, 0.03, rows), 0.03, 0.6
    ).round(4)
    installment = (
        loan_amount * (interest_rate / 12) / (1 - (1 + interest_rate / 12) ** -term_months)
    )
    debt_to_income = np.round(installment / income + rng.gamma(1.5, 0.06, rows), 4)
    housing = rng.choice(len(HOUSING), rows, p=[0.4, 0.35, 0.25])
    purpose = rng.choice(len(PURPOSES), rows, p=[0.35, 0.2, 0.15, 0.1, 0.1, 0.1])
    state = rng.choice(len(STATES), rows, p=STATE_WEIGHTS)

    logit = (
        -3.4
        - 0.012 * (credit_score - 640)
        + 2.8 * np.clip(debt_to_income - 0.35, -0.3, 1.0)
        + 0.35 * late_payments
        + 0.9 * (age < 25)
        - 0.05 * np.minimum(employment_years, 10)
        + np.take(EMPLOYMENT_RISK, employment)
        + np.take(HOUSING_RISK, housing)
        + np.take(PURPOSE_RISK, purpose)
        # Effects a linear model misses: income matters in waves, and a low score hurts most
        # when the debt burden is also high.
        + 1.6 * np.sin(income / 1800)
        + 2.0 * ((credit_score < 580) & (debt_to_income > 0.45))
    )
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))

    first = rng.choice(FIRST_NAMES, rows)
    last = rng.choice(LAST_NAMES, rows)
    emails = [
        f"{f}.{la}{n}@{d}"
        for f, la, n, d in zip(
            first, last, rng.integers(1, 999, rows), rng.choice(DOMAINS, rows), strict=True
        )
    ]
    return pd.DataFrame(
        {
            "application_id": np.arange(1, rows + 1),
            "cpf": cpf_numbers(rng, rows),
            "email": emails,
            "age": age,
            "income": income,
            "employment_years": employment_years,
            "loan_amount": loan_amount,
            "term_months": term_months,
            "interest_rate": interest_rate,
            "credit_score": credit_score.astype(int),
            "open_accounts": open_accounts,
            "late_payments": late_payments,
            "debt_to_income": debt_to_income,
            "employment": np.take(EMPLOYMENT, employment),
            "housing": np.take(HOUSING, housing),
            "purpose": np.take(PURPOSES, purpose),
            "state": np.take(STATES, state),
            LABEL: default.astype(int),
        }
    )
