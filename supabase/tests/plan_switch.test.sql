-- tollgate._switch_account_plan at pinned times: a plan switch goes through the same roll-forward as the reset
-- (_settle_accounts): the old plan's credits expire, the period restarts on the subscription's anchor, the new
-- plan's allowance is granted once per (subscription, plan, period start), overdraft is repaid, top-ups survive,
-- and the reset afterwards finds nothing to do.
begin;
select plan(19);

-- Accounts that exist before this test must not roll at the pinned times below.
update tollgate.accounts set period_end = 'infinity', next_expiry_at = null;

insert into auth.users (id, email) values
  ('5a111111-1111-4111-8111-111111111111', 'switch@example.com'),
  ('5a222222-2222-4222-8222-222222222222', 'overdrawn@example.com'),
  ('5a333333-3333-4333-8333-333333333333', 'lapsed@example.com');

-- Signup periods pinned to March 2027 (free plan, 3 credits expiring with the period).
update tollgate.accounts
   set period_anchor = '2027-03-01', period_start = '2027-03-01', period_end = '2027-04-01',
       next_expiry_at = '2027-04-01'
 where user_id::text like '5a______-____-4___-8___-____________';
update tollgate.credit_lots set expires_at = '2027-04-01'
 where user_id::text like '5a______-____-4___-8___-____________';
select tollgate._grant_lot('5a111111-1111-4111-8111-111111111111', 'top_up', 40, null, 50, 'top_up:pack', '{}',
                           '2027-03-02');

create function pg_temp.account(p_user uuid) returns table (plan_id text, period_anchor timestamptz,
  period_start timestamptz, period_end timestamptz, balance bigint, overdraft bigint)
language sql as $$
  select plan_id, period_anchor, period_start, period_end, balance, overdraft from tollgate.accounts
   where user_id = p_user
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- free -> pro on a subscription anchored on 5 March
-- ---------------------------------------------------------------------------------------------------------------
select is(tollgate._switch_account_plan('5a111111-1111-4111-8111-111111111111', 'pro', '2027-03-05', 'sub_a',
                                        '2027-03-10 12:00Z'), true, 'a switch to another plan says it switched');
select results_eq($$ select * from pg_temp.account('5a111111-1111-4111-8111-111111111111') $$,
  $$ values ('pro', '2027-03-05 00:00Z'::timestamptz, '2027-03-05 00:00Z'::timestamptz, '2027-04-05 00:00Z'::timestamptz,
             540::bigint, 0::bigint) $$,
  'the account is on pro, in the period anchored on the subscription, with 500 credits beside the 40 bought');
select results_eq($$ select reason, delta, idempotency_key like 'expire:%', case reason when 'grant' then metadata end
                      from tollgate.credit_ledger
                     where user_id = '5a111111-1111-4111-8111-111111111111' and seq > 2 order by seq $$,
  $$ values ('expire', -3::bigint, true, null::jsonb),
            ('grant', 500::bigint, false,
             '{"source": "plan", "plan_id": "pro", "subscription_id": "sub_a"}'::jsonb) $$,
  'the free credits left expire, then pro''s allowance is granted: one ledger entry each');
select results_eq($$ select grant_key, amount, remaining, expires_at, metadata from tollgate.credit_lots
                     where user_id = '5a111111-1111-4111-8111-111111111111' and source = 'plan'
                       and created_at = '2027-03-10 12:00Z' $$,
  $$ values ('plan:sub_a:pro:2027-03-05T00:00:00.000000Z', 500::bigint, 500::bigint,
             '2027-04-05 00:00Z'::timestamptz, '{"plan_id": "pro", "subscription_id": "sub_a"}'::jsonb) $$,
  'the grant is keyed by subscription, plan and period start (the reset''s key, scoped) and expires with the period');
select results_eq($$ select remaining, expires_at from tollgate.credit_lots where grant_key = 'top_up:pack' $$,
  $$ values (40::bigint, null::timestamptz) $$, 'the top-up is untouched');
select is((select next_expiry_at from tollgate.accounts where user_id = '5a111111-1111-4111-8111-111111111111'),
  '2027-04-05 00:00Z'::timestamptz, 'the next expiry is the new period''s end');

select is(tollgate._switch_account_plan('5a111111-1111-4111-8111-111111111111', 'pro', '2027-03-05', 'sub_a',
                                        '2027-03-10 12:05Z'), false, 'a switch to the plan it is on changes nothing');
select is((select balance from tollgate.accounts where user_id = '5a111111-1111-4111-8111-111111111111'), 540::bigint,
  'and grants nothing');

-- pro -> business -> pro within one period of one subscription
select tollgate._switch_account_plan('5a111111-1111-4111-8111-111111111111', 'business', '2027-03-05', 'sub_a',
                                     '2027-03-11 00:00Z');
select is((select balance from tollgate.accounts where user_id = '5a111111-1111-4111-8111-111111111111'),
  2540::bigint, 'an upgrade in the same period expires pro''s credits and grants business''s');
select tollgate._switch_account_plan('5a111111-1111-4111-8111-111111111111', 'pro', '2027-03-05', 'sub_a',
                                     '2027-03-12 00:00Z');
select is((select balance from tollgate.accounts where user_id = '5a111111-1111-4111-8111-111111111111'), 40::bigint,
  'back on pro in the same period of the same subscription: business''s credits expire, pro''s are not granted twice');
select is((select count(*) from tollgate.credit_lots where user_id = '5a111111-1111-4111-8111-111111111111'
            and grant_key = 'plan:sub_a:pro:2027-03-05T00:00:00.000000Z')::int, 1,
  'one pro lot for that subscription and period');
select tollgate._switch_account_plan('5a111111-1111-4111-8111-111111111111', 'business', '2027-03-05', 'sub_b',
                                     '2027-03-13 00:00Z');
select is((select balance from tollgate.accounts where user_id = '5a111111-1111-4111-8111-111111111111'),
  2540::bigint, 'another subscription''s switch grants its plan''s allowance');

set local role service_role;
select results_eq($$ select * from tollgate.reset_monthly_quotas('2027-03-20 00:00Z') $$,
  $$ values (0::bigint, 0::bigint, 0::bigint) $$, 'the reset finds nothing to do after a switch');
reset role;
select results_eq($$ select * from tollgate._settle_accounts('2027-04-05 00:00Z', '5a111111-1111-4111-8111-111111111111') $$,
  $$ values (1::bigint, 2500::bigint, 2500::bigint) $$,
  'at the new period''s end the reset''s settlement rolls it on the subscription''s anchor');
select is((select count(*) from tollgate.credit_lots where user_id = '5a111111-1111-4111-8111-111111111111'
            and grant_key = 'plan:2027-04-05T00:00:00.000000Z')::int, 1, 'with the plain reset key');

-- ---------------------------------------------------------------------------------------------------------------
-- overdraft, and an account whose period ended long before the switch
-- ---------------------------------------------------------------------------------------------------------------
select tollgate._debit('5a222222-2222-4222-8222-222222222222', 10, true, 'usage', 'post-paid', '{}', '2027-03-02');
select tollgate._switch_account_plan('5a222222-2222-4222-8222-222222222222', 'starter', '2027-03-01', 'sub_c',
                                     '2027-03-03 00:00Z');
select results_eq($$ select balance, overdraft from tollgate.accounts
                     where user_id = '5a222222-2222-4222-8222-222222222222' $$,
  $$ values (93::bigint, 0::bigint) $$, 'the new allowance repays the overdraft of 7 first');

select tollgate._switch_account_plan('5a333333-3333-4333-8333-333333333333', 'pro', '2027-03-05', 'sub_d',
                                     '2027-06-20 00:00Z');
select results_eq($$ select plan_id, period_start, period_end, balance from pg_temp.account(
                      '5a333333-3333-4333-8333-333333333333') $$,
  $$ values ('pro', '2027-06-05 00:00Z'::timestamptz, '2027-07-05 00:00Z'::timestamptz, 500::bigint) $$,
  'an account idle for months switches into the period containing now, with one grant');
select is((select count(*) from tollgate.credit_ledger where user_id = '5a333333-3333-4333-8333-333333333333'
            and reason = 'grant')::int, 2, 'the signup grant and the pro grant, nothing for the idle months');

select is_empty($$ select * from tollgate.check_ledger() where user_id::text like '5a%' $$,
  'the books balance for every account that switched');

select * from finish();
rollback;
