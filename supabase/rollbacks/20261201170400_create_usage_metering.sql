-- Rollback of 20261201170400_create_usage_metering.sql, in reverse order: the functions, then the tables.

drop function if exists tollgate.billing_status(uuid, uuid);
drop function if exists tollgate._billing_status(uuid, uuid, timestamptz);
drop function if exists tollgate.get_quota_status(text, uuid, uuid);
drop function if exists tollgate._quota_status(uuid, text, timestamptz);
drop function if exists tollgate.consume_credits(text, integer, text, jsonb, uuid, uuid, boolean, integer);
drop function if exists tollgate._consume_credits(uuid, text, bigint, text, jsonb, timestamptz, uuid, boolean,
  integer);
drop function if exists tollgate._take_member_credits(tollgate.accounts, uuid, bigint, boolean, timestamptz);
drop function if exists tollgate._count_request(tollgate.accounts, text, timestamptz);
drop function if exists tollgate._quota_window(tollgate.quota_period, timestamptz, timestamptz, timestamptz);
drop function if exists tollgate._replay(uuid, text, text, text, text);
drop table if exists tollgate.member_usage;
drop table if exists tollgate.idempotency_keys;
drop table if exists tollgate.usage_counters;
