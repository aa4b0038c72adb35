-- Rollback of 20261201170300_create_periods_and_resets.sql, in reverse order: the functions after the trigger, then
-- the signup trigger on auth.users (the only object of Tollgate's outside its schema here). The accounts opened go
-- with the accounts table (rollback 20261201170200).

drop function if exists tollgate.create_team_account(text, uuid);
drop trigger if exists tollgate_on_auth_user_created on auth.users;
drop function if exists tollgate._on_auth_user_created();
drop function if exists tollgate._open_account(uuid, tollgate.account_kind, text, uuid, timestamptz);
drop function if exists tollgate._plan_seats(tollgate.account_kind, boolean, integer);
drop function if exists tollgate.reset_monthly_quotas(timestamptz);
drop procedure if exists tollgate.reset_monthly_quotas_in_batches(timestamptz, integer, bigint, bigint, bigint);
drop function if exists tollgate.reset_monthly_quotas_batch(timestamptz, integer);
drop function if exists tollgate._settle_if_due(tollgate.accounts, timestamptz);
drop function if exists tollgate._settle_accounts(timestamptz, uuid[]);
drop function if exists tollgate._plan_grant_key(timestamptz);
drop function if exists tollgate.credit_period_at(timestamptz, timestamptz);
