-- usina/monitoring/labels.py: the newest request carrying each label's key
with flat as (
    select request_id, time, unnest(json_extract(inputs, ?)) j,
           generate_subscripts(json_extract(inputs, ?), 1) - 1 row
    from requests where endpoint = ? and not shadow
), keyed as (
    select request_id, time, row, case when json_type(j) = 'VARCHAR'
        then 's:' || (j ->> '$')
        else 'n:' || cast(try_cast(j::varchar as double) as varchar) end k
    from flat
)
select w.i, arg_max(f.request_id, f.time), arg_max(f.row, f.time)
from wanted w left join keyed f
  on f.k = coalesce('s:' || w.s, 'n:' || cast(w.n as varchar))
group by w.i
