-- Unschedules the billing events' delivery. pg_cron and pg_net stay: other jobs may use them.
select tollgate._unschedule('tollgate-deliver-billing-events');
