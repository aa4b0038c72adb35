-- The reset in batches at pinned times: reset_monthly_quotas_batch takes the earliest due accounts first, at most
-- a batch of them, and says how many it settled; reset_monthly_quotas adds up batches until none is left; the
-- procedure pg_cron calls may commit, and who may run any of them. (Batches committing, a stopped run resuming,
-- two runs at once and the race with a committing consume need two connections: tests/e2e/
-- reset_monthly_quotas_batches_test.ts.)
begin;
select plan(17);

-- Accounts that exist before this test must not roll at the pinned times below.
update tollgate.accounts set period_end = 'infinity', next_expiry_at = null;

insert into auth.users (id, email) values
  ('5a111111-1111-4111-8111-111111111111', 'batch-a@example.com'),
  ('5b222222-2222-4222-8222-222222222222', 'batch-b@example.com'),
  ('5c333333-3333-4333-8333-333333333333', 'batch-c@example.com');
insert into auth.users (id, email)
select gen_random_uuid(), 'batch-bulk-' || i || '@example.com' from generate_series(1, 2100) i;

-- Pin the signup periods: a, b and c end on 1, 2 and 3 Feb 2027, the 2,100 others on 10 Feb 2027.
update tollgate.accounts a
   set period_anchor = e.period_end - interval '1 month', period_start = e.period_end - interval '1 month',
       period_end = e.period_end, next_expiry_at = e.period_end
  from (select u.id, case u.email when 'batch-a@example.com' then timestamptz '2027-02-01 00:00Z'
                                  when 'batch-b@example.com' then timestamptz '2027-02-02 00:00Z'
                                  when 'batch-c@example.com' then timestamptz '2027-02-03 00:00Z'
                                  else timestamptz '2027-02-10 00:00Z' end as period_end
          from auth.users u where u.email like 'batch-%@example.com') e
 where a.id = e.id;
update tollgate.credit_lots l set expires_at = a.period_end
  from tollgate.accounts a, auth.users u
 where a.id = l.account_id and u.id = a.id and u.email like 'batch-%@example.com';

set local role service_role;
select results_eq($$ select * from tollgate.reset_monthly_quotas_batch('2027-02-05 00:00Z', 2) $$,
  $$ values (2::bigint, 2::bigint, 6::bigint, 6::bigint) $$,
  'a batch of 2 settles 2 accounts: each rolls, loses its 3 unspent credits and gets 3 new ones');
reset role;
select results_eq($$ select id, period_end > '2027-02-05 00:00Z' from tollgate.accounts
                     where id in ('5a111111-1111-4111-8111-111111111111', '5b222222-2222-4222-8222-222222222222',
                                  '5c333333-3333-4333-8333-333333333333') order by id $$,
  $$ values ('5a111111-1111-4111-8111-111111111111'::uuid, true), ('5b222222-2222-4222-8222-222222222222', true),
            ('5c333333-3333-4333-8333-333333333333', false) $$,
  'the batch took the two accounts due earliest and left the third due');

set local role service_role;
select results_eq($$ select * from tollgate.reset_monthly_quotas_batch('2027-02-05 00:00Z', 2) $$,
  $$ values (1::bigint, 1::bigint, 3::bigint, 3::bigint) $$, 'the next batch takes the one left');
select results_eq($$ select * from tollgate.reset_monthly_quotas_batch('2027-02-05 00:00Z', 2) $$,
  $$ values (0::bigint, 0::bigint, 0::bigint, 0::bigint) $$, 'then a batch finds nothing due and says so');
select throws_ok($$ select * from tollgate.reset_monthly_quotas_batch('2027-02-05 00:00Z', 0) $$, 'TG400',
  'Invalid batch size: 0 (a reset settles at least one account per batch)', 'a batch of 0 is refused');
select throws_ok($$ select * from tollgate.reset_monthly_quotas_batch('2027-02-05 00:00Z', null) $$, 'TG400', null,
  'a batch without a size is refused');

-- More due accounts than one batch (2,000) holds: reset_monthly_quotas goes on until none is left.
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-02-10 00:00Z') $$,
  $$ values (2100::bigint, 6300::bigint, 6300::bigint) $$,
  'reset_monthly_quotas settles all 2,100 due accounts, batch after batch, and answers the sums');
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-02-10 00:00Z') $$,
  $$ values (0::bigint, 0::bigint, 0::bigint) $$, 'running it again at the same time changes nothing');
reset role;
select is((select count(*)::int from tollgate.accounts a join auth.users u on u.id = a.id
            where u.email like 'batch-bulk-%' and a.period_start = '2027-02-10 00:00Z' and a.balance = 3), 2100,
  'each of the 2,100 is in its new period with its new allowance');
select results_eq($$ select count(*)::int, count(distinct l.account_id)::int
                      from tollgate.credit_ledger l join auth.users u on u.id = l.account_id
                     where u.email like 'batch-%@example.com' and l.reason = 'grant'
                       and l.created_at in ('2027-02-05 00:00Z', '2027-02-10 00:00Z') $$,
  $$ values (2103, 2103) $$, 'one period grant for each of the 2,103 accounts, none twice');
select is_empty($$ select p.* from auth.users u cross join lateral tollgate.check_ledger(u.id) p
                    where u.email like 'batch-%@example.com' $$, 'the books balance after the batches');

-- The procedure pg_cron calls commits after each batch, so it runs only on its own, never inside a transaction.
select ok((select not p.prosecdef and p.proconfig is null from pg_proc p
            where p.oid = 'tollgate.reset_monthly_quotas_in_batches'::regproc),
  'the procedure is neither security definer nor SET, which PostgreSQL requires of a procedure that commits');
set local role service_role;
select throws_ok($$ call tollgate.reset_monthly_quotas_in_batches('2027-06-01 00:00Z') $$, '2D000', null,
  'called inside a transaction block it cannot commit, and fails instead of holding every lock');
reset role;

-- Who may run it.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"role": "authenticated", "sub": "5a111111-1111-4111-8111-111111111111"}', true);
select throws_ok($$ select * from tollgate.reset_monthly_quotas_batch() $$, '42501', null,
  'an authenticated user cannot run a batch');
select throws_ok($$ call tollgate.reset_monthly_quotas_in_batches() $$, '42501', null,
  'an authenticated user cannot call the batched reset');
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ call tollgate.reset_monthly_quotas_in_batches() $$, '42501', null,
  'anon cannot call the batched reset');
reset role;
select ok(has_function_privilege('service_role', 'tollgate.reset_monthly_quotas_batch(timestamptz, integer)',
                                 'execute')
      and has_function_privilege('service_role', 'tollgate.reset_monthly_quotas_in_batches'::regproc, 'execute'),
  'the service role can run a batch and the batched reset');

select * from finish();
rollback;
