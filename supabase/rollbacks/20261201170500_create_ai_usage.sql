-- Rollback of 20261201170500_create_ai_usage.sql, in reverse order. Dropping ai_usage drops every attached
-- partition (the monthly ones and the default) with their policies.

drop function if exists tollgate.get_usage_breakdown(timestamptz, timestamptz, uuid, uuid);
drop function if exists tollgate.log_ai_usage_batch(jsonb);
drop function if exists tollgate._log_ai_usage_batch(jsonb, timestamptz);
drop function if exists tollgate._plan_usage_events(jsonb, integer, timestamptz);
drop type if exists tollgate.usage_plan;
drop function if exists tollgate._usage_event(jsonb);
drop type if exists tollgate.usage_event;
drop function if exists tollgate.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, uuid, uuid, bigint, uuid);
drop function if exists tollgate._log_ai_usage(uuid, text, text, bigint, bigint, text, text, bigint, integer, text,
  text, boolean, text, text, jsonb, timestamptz, uuid, bigint, uuid);
drop function if exists tollgate._debit_batch(uuid[], bigint[], text, text[], jsonb[], timestamptz, uuid[]);
drop function if exists tollgate._usage_answer(uuid, numeric, bigint, bigint, bigint, boolean);
drop function if exists tollgate._count_usage(timestamptz, uuid[], text[], bigint[], bigint[], bigint[], bigint[],
  numeric[]);
drop function if exists tollgate._usage_cost(timestamptz, numeric, numeric, numeric, numeric, numeric, bigint, bigint,
  bigint, boolean, bigint);
drop function if exists tollgate._price_in_force(text, timestamptz);
drop function if exists tollgate._usage_hash(uuid, text, text, text, bigint, bigint, bigint, integer, text, text,
  boolean, text, text, jsonb, bigint, uuid);
drop function if exists tollgate._usage_problem(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, bigint);
drop function if exists tollgate.maintain_ai_usage_partitions(integer, timestamptz);
drop table if exists tollgate.ai_usage;
drop function if exists tollgate._secure_ai_usage_partition(regclass);
drop table if exists tollgate.usage_settings;
drop table if exists tollgate.model_prices;
drop function if exists tollgate._refuse_model_price_change();
