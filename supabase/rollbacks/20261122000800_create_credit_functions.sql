-- Rollback of 20261122000800_create_credit_functions.sql: every credit function, in reverse order of creation.

drop function if exists public.check_ledger(uuid);
drop function if exists public.grant_credits(uuid, bigint, text, public.credit_source, timestamptz, jsonb);
drop function if exists public.consume_credits(text, integer, text, jsonb, uuid);
drop function if exists public._consume_credits(uuid, text, bigint, text, jsonb, timestamptz);
drop function if exists public._count_request(public.accounts, text, timestamptz);
drop function if exists public._debit(uuid, bigint, boolean, text, text, jsonb, timestamptz);
drop function if exists public._draw_lots(uuid, bigint, timestamptz);
drop function if exists public._settle_accounts(timestamptz, uuid);
drop function if exists public._plan_grant_key(timestamptz);
drop function if exists public._open_account(uuid, timestamptz);
drop function if exists public._grant_lot(uuid, public.credit_source, bigint, timestamptz, integer, text, jsonb, timestamptz);
drop function if exists public._post_ledger(uuid, bigint, bigint, text, text, uuid, jsonb, timestamptz);
drop function if exists public._lock_account(uuid);
drop function if exists public._acting_user(uuid);
drop function if exists public.credit_period_at(timestamptz, timestamptz);
