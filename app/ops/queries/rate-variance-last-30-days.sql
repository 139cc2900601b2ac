-- Average absolute variance of actual vs proposed rate over 30 days (the plan's drop-in ops query).
SELECT ROUND(AVG(ABS(actual_rate - proposed_rate)), 2) AS avg_abs_variance,
       ROUND(100.0 * AVG(ABS(actual_rate - proposed_rate) / NULLIF(proposed_rate, 0)), 2) AS avg_abs_variance_pct,
       COUNT(*) AS invoices
FROM invoice_pricing_view
WHERE invoice_date >= CURRENT_DATE - INTERVAL '30 days';
