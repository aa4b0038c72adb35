-- Rollback of 20261201170300_create_periods_and_resets.sql, in reverse order: the signup trigger on auth.users (the
-- only object of Tollgate's outside its schema here), then the functions. The accounts opened go with the accounts
-- table (rollback 20261201170200).

drop trigger if exists tollgate_on_auth_user_created on auth.users;
drop function if exists tollgate._on_auth_user_created();
drop function if exists tollgate._open_account(uuid, timestamptz);
drop function if exists tollgate.reset_monthly_quotas(timestamptz);
drop function if exists tollgate._settle_if_due(tollgate.accounts, timestamptz);
drop function if exists tollgate._settle_accounts(timestamptz, uuid);
drop function if exists tollgate._plan_grant_key(timestamptz);
drop function if exists tollgate.credit_period_at(timestamptz, timestamptz);
