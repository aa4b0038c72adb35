-- Runs tollgate.reset_monthly_quotas every hour at minute 0 with pg_cron, where pg_cron is available (it is on
-- Supabase; enable it under Database > Extensions if this migration only printed a notice). Re-runs cleanly.
-- Without pg_cron, call the reset-monthly-quotas Edge Function (or `select tollgate.reset_monthly_quotas()`) from
-- any scheduler instead.
select tollgate._schedule('tollgate-reset-monthly-quotas', '0 * * * *', 'select tollgate.reset_monthly_quotas()');
