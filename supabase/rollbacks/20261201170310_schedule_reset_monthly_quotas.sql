-- Unschedules the hourly reset. The pg_cron extension stays: other jobs may use it.
select tollgate._unschedule('tollgate-reset-monthly-quotas');
