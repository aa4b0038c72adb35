-- Rollback of 20261123001050_create_usage_read_functions.sql.

drop function if exists public.get_quota_status(text, uuid);
drop function if exists public._quota_status(uuid, text, timestamptz);
drop function if exists public.get_usage_breakdown(timestamptz, timestamptz, uuid);
