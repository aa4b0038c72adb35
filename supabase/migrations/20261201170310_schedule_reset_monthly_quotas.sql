-- Runs the reset every hour at minute 0 with pg_cron, where pg_cron is available (it is on Supabase; enable it
-- under Database > Extensions if this migration only printed a notice): a procedure that commits batch by batch, so
-- no consume waits for the whole reset (the job's command is the CALL alone: pg_cron runs it outside a transaction
-- block only then). Re-runs cleanly. Without pg_cron, call the reset-monthly-quotas Edge Function (or
-- `call tollgate.reset_monthly_quotas_in_batches()`) from any scheduler instead.
select tollgate._schedule('tollgate-reset-monthly-quotas', '0 * * * *',
                          'call tollgate.reset_monthly_quotas_in_batches()');
