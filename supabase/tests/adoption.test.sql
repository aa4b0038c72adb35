-- Adoption (docs/adoption.md): an app's existing balances (public.profiles.credits, as in the existing-app fixture)
-- become one adjustment lot per source row with the documented statement, run twice; a changed row is a conflict.
-- The app's table exists only inside this transaction.
begin;
select plan(11);

create table public.profiles (id uuid primary key references auth.users (id) on delete cascade, credits int default 3);

insert into auth.users (id, email) values
  ('5d111111-1111-4111-8111-111111111111', 'seven@example.com'),
  ('5d222222-2222-4222-8222-222222222222', 'none@example.com'),
  ('5d333333-3333-4333-8333-333333333333', 'twelve@example.com');
-- A user whose account does not exist (as if Tollgate's trigger had been away and the backfill not run yet):
-- postgres may drop and re-create the trigger on auth.users, as on hosted, though it cannot disable it.
drop trigger tollgate_on_auth_user_created on auth.users;
insert into auth.users (id, email) values ('5d444444-4444-4444-8444-444444444444', 'no-account@example.com');
create trigger tollgate_on_auth_user_created after insert on auth.users
  for each row execute function tollgate._on_auth_user_created();
insert into public.profiles (id, credits) values
  ('5d111111-1111-4111-8111-111111111111', 7),
  ('5d222222-2222-4222-8222-222222222222', 0),
  ('5d333333-3333-4333-8333-333333333333', 12),
  ('5d444444-4444-4444-8444-444444444444', 5);

-- The statement exactly as docs/adoption.md prints it.
create temp table first_run as
select p.id, tollgate.grant_credits(p.id, p.credits, 'import:public.profiles:' || p.id, 'adjustment', null,
                                    jsonb_build_object('imported_from', 'public.profiles.credits')) ->> 'replayed'
         as replayed
  from public.profiles p
  join tollgate.accounts a on a.id = p.id
 where p.credits > 0;

select results_eq($$ select id, replayed from first_run order by id $$,
  $$ values ('5d111111-1111-4111-8111-111111111111'::uuid, 'false'),
            ('5d333333-3333-4333-8333-333333333333'::uuid, 'false') $$,
  'the first run imports each positive balance of a user with an account');
select results_eq($$ select account_id, source::text, amount, remaining, expires_at, grant_key, metadata
                      from tollgate.credit_lots where account_id::text like '5d%' and source = 'adjustment'
                     order by account_id $$,
  $$ values ('5d111111-1111-4111-8111-111111111111'::uuid, 'adjustment', 7::bigint, 7::bigint, null::timestamptz,
             'adjustment:import:public.profiles:5d111111-1111-4111-8111-111111111111',
             '{"imported_from": "public.profiles.credits"}'::jsonb),
            ('5d333333-3333-4333-8333-333333333333'::uuid, 'adjustment', 12::bigint, 12::bigint, null::timestamptz,
             'adjustment:import:public.profiles:5d333333-3333-4333-8333-333333333333',
             '{"imported_from": "public.profiles.credits"}'::jsonb) $$,
  'one adjustment lot per source row, keyed by the row, never expiring');
select results_eq($$ select id, balance from tollgate.accounts where id::text like '5d%' order by id $$,
  $$ values ('5d111111-1111-4111-8111-111111111111'::uuid, 10::bigint),
            ('5d222222-2222-4222-8222-222222222222'::uuid, 3::bigint),
            ('5d333333-3333-4333-8333-333333333333'::uuid, 15::bigint) $$,
  'the imported credits come on top of the signup allowance; a zero balance imports nothing');
select is((select count(*) from tollgate.credit_ledger where account_id::text like '5d%'
            and reason = 'grant' and metadata ->> 'source' = 'adjustment')::int, 2, 'one ledger grant per import');

-- The same statement again.
create temp table second_run as
select p.id, tollgate.grant_credits(p.id, p.credits, 'import:public.profiles:' || p.id, 'adjustment', null,
                                    jsonb_build_object('imported_from', 'public.profiles.credits')) ->> 'replayed'
         as replayed
  from public.profiles p
  join tollgate.accounts a on a.id = p.id
 where p.credits > 0;
select results_eq($$ select id, replayed from second_run order by id $$,
  $$ values ('5d111111-1111-4111-8111-111111111111'::uuid, 'true'),
            ('5d333333-3333-4333-8333-333333333333'::uuid, 'true') $$, 'a second run replays every row');
select is((select count(*) from tollgate.credit_ledger where account_id::text like '5d%')::int, 5,
  'and writes nothing: three signup grants and two imports');

-- The user without an account gets it from the install's backfill; importing then picks up their row.
\i supabase/migrations/20261201170300_create_periods_and_resets.sql
select is((select balance from tollgate.accounts where id = '5d444444-4444-4444-8444-444444444444'), 3::bigint,
  'the migration''s backfill opens the account a pre-install user lacked');
select is((select count(*) from (
  select p.id, tollgate.grant_credits(p.id, p.credits, 'import:public.profiles:' || p.id, 'adjustment', null,
                                      jsonb_build_object('imported_from', 'public.profiles.credits')) ->> 'replayed'
           as replayed
    from public.profiles p
    join tollgate.accounts a on a.id = p.id
   where p.credits > 0) r where replayed = 'false')::int, 1, 'a third run imports only that row');

-- A row changed after its import is refused, naming the key, and nothing of that run is applied.
update public.profiles set credits = 8 where id = '5d111111-1111-4111-8111-111111111111';
select throws_ok($$
  select p.id, tollgate.grant_credits(p.id, p.credits, 'import:public.profiles:' || p.id, 'adjustment', null,
                                      jsonb_build_object('imported_from', 'public.profiles.credits')) ->> 'replayed'
           as replayed
    from public.profiles p
    join tollgate.accounts a on a.id = p.id
   where p.credits > 0 $$,
  'TG409', 'Idempotency conflict: grant adjustment:import:public.profiles:5d111111-1111-4111-8111-111111111111 was '
           'already made with a different amount or source',
  'a balance that changed since its import is an idempotency conflict');
select is((select balance from tollgate.accounts where id = '5d111111-1111-4111-8111-111111111111'), 10::bigint,
  'and changes nothing');

select is_empty($$ select * from tollgate.check_ledger() where account_id::text like '5d%' $$,
  'the books balance after the import');

select * from finish();
rollback;
