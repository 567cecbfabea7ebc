/* docs/batch.md: a day's scores by decision, from a batch job's output table */
SELECT
  run_date,
  decision,
  COUNT(*) AS n,
  AVG(score) AS mean_score
FROM credit_scores
WHERE
  run_date = '2026-12-01'
GROUP BY
  run_date,
  decision
ORDER BY
  n DESC
