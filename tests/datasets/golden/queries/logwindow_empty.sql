-- usina/monitoring/logwindow.py: the request log's columns, with no rows
select * from (select ''::varchar request_id, now()::timestamptz time,
''::varchar endpoint, ''::varchar model, 0::integer version, false shadow,
''::varchar protocol, 0::smallint status, 0.0::double latency_ms, ''::varchar inputs,
''::varchar outputs, ''::varchar error) where false
