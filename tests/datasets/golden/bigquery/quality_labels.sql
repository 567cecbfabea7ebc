/* usina/monitoring/quality.py: predictions joined to their late labels */
SELECT
  r.version,
  JSON_EXTRACT(r.outputs, l.row),
  l.label
FROM requests AS r
JOIN labels_now AS l
  USING (request_id)
WHERE
  r.endpoint = ?
  AND NOT r.shadow
  AND r.status < 400
  AND r.time >= TIMESTAMP_SECONDS(?)
  AND r.time < TIMESTAMP_SECONDS(?)
ORDER BY
  r.time NULLS LAST,
  r.request_id NULLS LAST,
  l.row NULLS LAST
