-- Model features from validated applications: personal data (cpf, email) stays behind,
-- and two ratios a credit analyst would compute are added.
SELECT
    age,
    income,
    employment_years,
    loan_amount,
    term_months,
    interest_rate,
    credit_score,
    open_accounts,
    late_payments,
    debt_to_income,
    loan_amount / (income * term_months) AS loan_to_income,
    late_payments / open_accounts AS late_share,
    employment,
    housing,
    purpose,
    state,
    "default"
FROM applications
