-- docs/batch.md: a day's scores by decision, from a batch job's output table
select run_date, decision, count(*) as n, avg(score) as mean_score
from credit_scores
where run_date = '2026-12-01'
group by run_date, decision
order by n desc
