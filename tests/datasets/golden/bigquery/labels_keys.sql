error: the query has no bigquery translation: the function generate_subscripts(), which sqlglot cannot translate; rewrite that part in portable SQL
