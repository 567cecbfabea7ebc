-- usina/monitoring/quality.py: predictions joined to their late labels
select r.version, json_extract(r.outputs, l.row), l.label
from requests r join labels_now l using (request_id)
where r.endpoint = ? and not r.shadow and r.status < 400
  and r.time >= to_timestamp(?) and r.time < to_timestamp(?)
order by r.time, r.request_id, l.row
