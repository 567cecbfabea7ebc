-- usina/monitoring/quality.py: figures per version of a window of the request log
select version, count(*), count(*) filter (where status >= 400),
       quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95),
       quantile_cont(latency_ms, 0.99)
from requests
where endpoint = ? and not shadow and time >= to_timestamp(?) and time < to_timestamp(?)
group by version order by version nulls last
