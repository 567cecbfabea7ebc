error: the query has no bigquery translation: the function now(), which sqlglot cannot translate; rewrite that part in portable SQL
