-- Unschedules the daily partition job. The pg_cron extension stays: other jobs may use it.
select tollgate._unschedule('tollgate-ai-usage-partitions');
