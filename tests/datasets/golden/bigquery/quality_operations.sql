error: the query has no bigquery translation: quantile_cont() as an aggregate (BigQuery has it as a window function); rewrite that part in portable SQL
