error: the query has no bigquery translation: the function json_array_length(), which sqlglot cannot translate; rewrite that part in portable SQL
