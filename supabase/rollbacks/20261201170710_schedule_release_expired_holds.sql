-- Unschedules the every-minute hold sweeper. The pg_cron extension stays: other jobs may use it.
select tollgate._unschedule('tollgate-release-expired-holds');
