-- Rollback of 20261123001040_create_log_ai_usage.sql: the entry point, then the internal function.

drop function if exists public.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, uuid);
drop function if exists public._log_ai_usage(uuid, text, text, bigint, bigint, text, text, bigint, integer, text,
  text, boolean, text, text, jsonb, timestamptz);
