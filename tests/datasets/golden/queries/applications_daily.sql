-- docs/data.md: applications per plan and day, from a dataset
select plan, date_trunc('day', seen_at) as day, count(*) as n,
       count(*) filter (where income is null) as no_income,
       approx_quantile(age, 0.5) as median_age
from applications
group by all
order by day, plan
