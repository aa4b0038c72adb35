-- The signup trigger opens an account on the default plan with the first period's grant; the backfill in the
-- migration opens accounts for users that existed before, once.
begin;
select plan(14);

select has_trigger('auth', 'users', 'tollgate_on_auth_user_created', 'auth.users has the signup trigger');

insert into auth.users (id, email) values ('cccccccc-0000-4000-8000-00000000000c', 'new@example.com');
select is((select plan_id from tollgate.accounts where id = 'cccccccc-0000-4000-8000-00000000000c'), 'free',
  'a new user gets an account on the default plan');
select is((select balance from tollgate.accounts where id = 'cccccccc-0000-4000-8000-00000000000c'), 3::bigint,
  'with the default plan''s signup grant of 3 credits');
select is((select period_end - period_start from tollgate.accounts
  where id = 'cccccccc-0000-4000-8000-00000000000c') between interval '28 days' and interval '31 days', true,
  'the first credit period is one month long');
select results_eq($$ select kind::text, personal_user_id from tollgate.accounts
                      where id = 'cccccccc-0000-4000-8000-00000000000c' $$,
  $$ values ('personal', 'cccccccc-0000-4000-8000-00000000000c'::uuid) $$,
  'a personal account, its id the user''s id');
select results_eq($$ select account_id, user_id, role::text, cap_credits from tollgate.account_members
                      where user_id = 'cccccccc-0000-4000-8000-00000000000c' $$,
  $$ values ('cccccccc-0000-4000-8000-00000000000c'::uuid, 'cccccccc-0000-4000-8000-00000000000c'::uuid, 'owner',
             null::bigint) $$, 'and the user is its owner, uncapped');
select is((select count(*) from tollgate.credit_ledger where account_id = 'cccccccc-0000-4000-8000-00000000000c')::int, 1,
  'the grant is one ledger entry');
select is((select expires_at from tollgate.credit_lots where account_id = 'cccccccc-0000-4000-8000-00000000000c'),
  (select period_end from tollgate.accounts where id = 'cccccccc-0000-4000-8000-00000000000c'),
  'plan credits expire with the period');

-- a user created while the trigger was away (as before Tollgate was installed); postgres does not own auth.users,
-- so it cannot disable the trigger, but it may drop and re-create it (as on hosted)
drop trigger tollgate_on_auth_user_created on auth.users;
insert into auth.users (id, email) values ('dddddddd-0000-4000-8000-00000000000d', 'old@example.com');
create trigger tollgate_on_auth_user_created after insert on auth.users
  for each row execute function tollgate._on_auth_user_created();
select is_empty($$ select 1 from tollgate.accounts where id = 'dddddddd-0000-4000-8000-00000000000d' $$,
  'a user from before the trigger has no account yet');

-- the migration that opens accounts at install, applied twice
\i supabase/migrations/20261201170300_create_periods_and_resets.sql
\i supabase/migrations/20261201170300_create_periods_and_resets.sql
select is((select balance from tollgate.accounts where id = 'dddddddd-0000-4000-8000-00000000000d'), 3::bigint,
  'the backfill opens the account with one grant, even when run twice');
select results_eq($$ select role::text from tollgate.account_members
                      where account_id = 'dddddddd-0000-4000-8000-00000000000d' $$, $$ values ('owner') $$,
  'and its owner''s membership');

select is_empty('select * from tollgate.check_ledger()', 'the ledger check finds nothing');

-- deleting a user deletes their personal account and memberships, not a team they belonged to
select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role": "service_role"}', true);
select set_config('test.team', tollgate.create_team_account('Stays', 'dddddddd-0000-4000-8000-00000000000d')::text,
  true);
select tollgate.add_account_member(current_setting('test.team')::uuid, 'cccccccc-0000-4000-8000-00000000000c');
select set_config('role', 'none', true);
delete from auth.users where id = 'cccccccc-0000-4000-8000-00000000000c';
select is_empty($$ select 1 from tollgate.accounts where id = 'cccccccc-0000-4000-8000-00000000000c'
                  union all
                  select 1 from tollgate.account_members where user_id = 'cccccccc-0000-4000-8000-00000000000c' $$,
  'a deleted user''s personal account and memberships go with them');
select results_eq($$ select user_id from tollgate.account_members where account_id = current_setting('test.team')::uuid $$,
  $$ values ('dddddddd-0000-4000-8000-00000000000d'::uuid) $$, 'the team stays, with its other members');

select * from finish();
rollback;
