/* usina/monitoring/monitors.py: the versions an endpoint served in a window */
SELECT
  version,
  ANY_VALUE(model IGNORE NULLS)
FROM requests
WHERE
  endpoint = ?
  AND NOT shadow
  AND status < 400
  AND time >= TIMESTAMP_SECONDS(?)
  AND time < TIMESTAMP_SECONDS(?)
GROUP BY
  version
