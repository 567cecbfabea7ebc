-- Features for the training fixture: the raw columns plus a square.
SELECT x, x * x AS x2, y FROM raw ORDER BY x
