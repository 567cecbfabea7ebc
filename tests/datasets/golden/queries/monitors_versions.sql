-- usina/monitoring/monitors.py: the versions an endpoint served in a window
select version, any_value(model) from requests where endpoint = ? and not shadow
and status < 400 and time >= to_timestamp(?) and time < to_timestamp(?) group by version
