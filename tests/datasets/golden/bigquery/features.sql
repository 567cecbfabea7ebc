/* tests/resources/queries/features.sql: the training fixture's SQL step */
SELECT
  x,
  x * x AS x2,
  y
FROM raw
ORDER BY
  x NULLS LAST
