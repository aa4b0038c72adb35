-- Creates the ai_usage partitions of the coming months every day at 03:17 UTC with pg_cron, where pg_cron is
-- available (enable it under Database > Extensions if this migration only printed a notice). Inserts never fail
-- without it (the DEFAULT partition takes the rows), but then run `select tollgate.maintain_ai_usage_partitions()`
-- monthly by other means so rows land in their month. Re-runs cleanly.
select tollgate._schedule('tollgate-ai-usage-partitions', '17 3 * * *', 'select tollgate.maintain_ai_usage_partitions()');
