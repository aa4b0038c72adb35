-- Rollback of 20261122000900_create_account_on_signup.sql: the signup trigger, then its function.
-- The accounts it opened go with the accounts table (rollback 20261122000300).

drop trigger if exists tollgate_on_auth_user_created on auth.users;
drop function if exists public._on_auth_user_created();
