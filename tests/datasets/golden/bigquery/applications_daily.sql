/* docs/data.md: applications per plan and day, from a dataset */
SELECT
  plan,
  TIMESTAMP_TRUNC(seen_at, DAY) AS day,
  COUNT(*) AS n,
  COUNTIF(income IS NULL) AS no_income,
  APPROX_QUANTILES(age, 2)[1] AS median_age
FROM applications
GROUP BY ALL
ORDER BY
  day NULLS LAST,
  plan NULLS LAST
