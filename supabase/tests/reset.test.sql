-- tollgate.reset_monthly_quotas at pinned times: period boundaries, month-end anniversaries, idle months, top-up
-- lots, expiry of leftover plan credits, a second run that changes nothing, the books, and who may run it.
begin;
select plan(26);

-- Accounts that exist before this test must not roll at the pinned times below.
update tollgate.accounts set period_end = 'infinity', next_expiry_at = null;

insert into auth.users (id, email) values
  ('51111111-1111-4111-8111-111111111111', 'month-end@example.com'),
  ('53333333-3333-4333-8333-333333333333', 'idle@example.com');

-- Pin the signup periods (anchored at now()) as the superuser, and the signup lots' expiry with them.
update tollgate.accounts
   set period_anchor = '2027-01-31 10:00Z', period_start = '2027-01-31 10:00Z', period_end = '2027-02-28 10:00Z',
       next_expiry_at = '2027-02-28 10:00Z'
 where id = '51111111-1111-4111-8111-111111111111';
update tollgate.credit_lots set expires_at = '2027-02-28 10:00Z'
 where account_id = '51111111-1111-4111-8111-111111111111';
update tollgate.accounts
   set period_anchor = '2027-06-15 00:00Z', period_start = '2027-06-15 00:00Z', period_end = '2027-07-15 00:00Z',
       next_expiry_at = '2027-07-15 00:00Z'
 where id = '53333333-3333-4333-8333-333333333333';
update tollgate.credit_lots set expires_at = '2027-07-15 00:00Z'
 where account_id = '53333333-3333-4333-8333-333333333333';

-- The idle user spends 1 of the 3 plan credits within that period and buys a top-up lot that never expires.
select tollgate._consume_credits('53333333-3333-4333-8333-333333333333', 'spend-1', 1, 'default', null,
  '2027-06-20 12:00Z');
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select tollgate.grant_credits('53333333-3333-4333-8333-333333333333', 50, 'topup-1', 'top_up');

select is((tollgate.credit_period_at('2028-01-31 10:00Z', '2028-02-29 10:00Z')).period_end, '2028-03-31 10:00Z',
  'in a leap year the 31 Jan anchor falls on 29 Feb, then back on 31 Mar');
select is((tollgate.credit_period_at('2028-01-31 10:00Z', '2028-02-29 09:59Z')).period_start, '2028-01-31 10:00Z',
  'a leap year''s 29 Feb anniversary starts the period, not the day before');

set local role service_role;
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-02-28 09:59:59Z') $$,
  $$ values (0::bigint, 0::bigint, 0::bigint) $$, 'a second before the period ends, nothing rolls');
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-02-28 10:00Z') $$,
  $$ values (1::bigint, 3::bigint, 3::bigint) $$,
  'at the period end the account rolls, gets its 3 credits and loses the 3 unspent ones');
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-02-28 10:00Z') $$,
  $$ values (0::bigint, 0::bigint, 0::bigint) $$, 'a second run at the same time changes nothing');
reset role;

select results_eq($$ select period_start, period_end from tollgate.accounts
                     where id = '51111111-1111-4111-8111-111111111111' $$,
  $$ values ('2027-02-28 10:00Z'::timestamptz, '2027-03-31 10:00Z'::timestamptz) $$,
  'the 31 Jan anchor rolls on 28 Feb and the next period ends on 31 Mar');
select is((select balance from tollgate.accounts where id = '51111111-1111-4111-8111-111111111111'), 3::bigint,
  'the rolled balance is the new allowance only');
select results_eq($$ select delta, lot_id is not null from tollgate.credit_ledger
                     where account_id = '51111111-1111-4111-8111-111111111111' and reason = 'expire' $$,
  $$ values (-3::bigint, true) $$, 'the leftover plan credits are expired with an expire ledger entry');

set local role service_role;
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-03-31 09:59Z') $$,
  $$ values (0::bigint, 0::bigint, 0::bigint) $$, 'a minute before the 31 Mar anniversary nothing rolls');
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-03-31 10:00Z') $$,
  $$ values (1::bigint, 3::bigint, 3::bigint) $$, 'on 31 Mar the account rolls again');
reset role;
select results_eq($$ select period_start, period_end from tollgate.accounts
                     where id = '51111111-1111-4111-8111-111111111111' $$,
  $$ values ('2027-03-31 10:00Z'::timestamptz, '2027-04-30 10:00Z'::timestamptz) $$,
  'the anniversary returns to the 31st after February');

-- Three idle months for both users: each is rolled once, with one grant.
set local role service_role;
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-10-01 00:00Z') $$,
  $$ values (2::bigint, 6::bigint, 5::bigint) $$,
  'after idle months each account rolls once: one grant each, the 2 and 3 unspent plan credits expire');
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-10-01 00:00Z') $$,
  $$ values (0::bigint, 0::bigint, 0::bigint) $$, 'running it again at the same time changes nothing');
reset role;

select results_eq($$ select period_start, period_end from tollgate.accounts
                     where id = '53333333-3333-4333-8333-333333333333' $$,
  $$ values ('2027-09-15 00:00Z'::timestamptz, '2027-10-15 00:00Z'::timestamptz) $$,
  'an idle account jumps to the period containing now, skipping the months in between');
select is((select count(*) from tollgate.credit_ledger
            where account_id = '53333333-3333-4333-8333-333333333333' and reason = 'grant'
              and idempotency_key like 'plan:%')::int, 2,
  'three idle months give one plan grant (plus the signup grant), not three');
select is((select idempotency_key from tollgate.credit_ledger
            where account_id = '53333333-3333-4333-8333-333333333333' and reason = 'grant'
            order by seq desc limit 1), 'plan:2027-09-15T00:00:00.000000Z',
  'the grant is keyed by the new period start');
select is((select delta from tollgate.credit_ledger
            where account_id = '53333333-3333-4333-8333-333333333333' and reason = 'expire'), -2::bigint,
  'only the 2 unspent plan credits expire');
select results_eq($$ select amount, remaining, expires_at from tollgate.credit_lots
                     where account_id = '53333333-3333-4333-8333-333333333333' and source = 'top_up' $$,
  $$ values (50::bigint, 50::bigint, null::timestamptz) $$, 'the top-up lot is untouched');
select is((select balance from tollgate.accounts where id = '53333333-3333-4333-8333-333333333333'), 53::bigint,
  'the balance is the top-up plus the new allowance');
select is((select next_expiry_at from tollgate.accounts where id = '53333333-3333-4333-8333-333333333333'),
  '2027-10-15 00:00Z'::timestamptz, 'the next expiry is the new plan lot''s, at the period end');
select is((select settle_at from tollgate.accounts where id = '53333333-3333-4333-8333-333333333333'),
  '2027-10-15 00:00Z'::timestamptz, 'the account is next due at the period end');
select is_empty($$ select * from tollgate.check_ledger() $$, 'the books balance after the resets');

-- Who may run it.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"role": "authenticated", "sub": "51111111-1111-4111-8111-111111111111"}', true);
select throws_ok($$ select * from tollgate.reset_monthly_quotas() $$, '42501', null,
  'an authenticated user cannot run the reset');
select throws_ok($$ select * from tollgate.reset_monthly_quotas('2030-01-01') $$, '42501', null,
  'an authenticated user cannot choose the time of a reset');
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select * from tollgate.reset_monthly_quotas() $$, '42501', null, 'anon cannot run the reset');
reset role;
select ok(has_function_privilege('service_role', 'tollgate.reset_monthly_quotas(timestamptz)', 'execute'),
  'the service role can run the reset');

select * from finish();
rollback;
