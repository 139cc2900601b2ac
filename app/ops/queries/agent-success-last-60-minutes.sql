-- Agent success % over the last 60 minutes (the plan's drop-in ops query; target >= 99 %).
SELECT ROUND(100.0 * COUNT(*) FILTER (WHERE status = 'success') / NULLIF(COUNT(*), 0), 2) AS agent_success_pct,
       COUNT(*) AS tasks
FROM agent_tasks
WHERE created_at >= NOW() - INTERVAL '60 minutes'
  AND status IN ('success', 'failed');
