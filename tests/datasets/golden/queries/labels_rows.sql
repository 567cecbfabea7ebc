-- usina/monitoring/labels.py: how many rows each labelled request carried
select w.i, r.n from wanted w left join (
    select request_id, max(json_array_length(inputs)) n from requests
    where endpoint = ? and not shadow group by request_id
) r using (request_id)
