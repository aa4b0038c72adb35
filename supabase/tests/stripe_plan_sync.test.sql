-- Plans from subscription events at a pinned time (2027-03-10 12:00Z): a credit period's one plan lot follows the
-- plan, so switching never mints or loses credits whatever the path; trials; the default plan's anchor; a period
-- set aside by another anchor comes back; the hourly reset carries on from a switch.
begin;
select plan(30);

create function pg_temp.evt(p_id text, p_type text, p_created timestamptz, p_object jsonb) returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'event', 'created', extract(epoch from p_created)::bigint,
                            'type', p_type, 'livemode', false, 'data', jsonb_build_object('object', p_object))
$$;
create function pg_temp.at(p_time timestamptz) returns bigint language sql as $$ select extract(epoch from p_time)::bigint $$;
create function pg_temp.sub(p_id text, p_customer text, p_status text, p_price text, p_anchor timestamptz,
                            p_trial_end timestamptz default null) returns jsonb
language sql as $$
  select jsonb_build_object(
    'id', p_id, 'object', 'subscription', 'customer', p_customer, 'status', p_status,
    'billing_cycle_anchor', pg_temp.at(p_anchor), 'cancel_at_period_end', false,
    'trial_end', pg_temp.at(p_trial_end), 'created', pg_temp.at(p_anchor), 'start_date', pg_temp.at(p_anchor),
    'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
      'id', 'si_' || p_id, 'object', 'subscription_item', 'price', jsonb_build_object('id', p_price)))))
$$;
create function pg_temp.handle(p_event jsonb, p_now timestamptz default '2027-03-10 12:00Z') returns text
language sql as $$ select tollgate._handle_stripe_event(p_event, false, '[]', p_now) ->> 'status' $$;
create function pg_temp.account(p_user uuid) returns table (plan_id text, balance bigint, overdraft bigint)
language sql as $$ select plan_id, balance, overdraft from tollgate.accounts where id = p_user $$;
create function pg_temp.spend(p_user uuid, p_amount bigint) returns void language plpgsql as $$
begin
  perform tollgate._lock_account(p_user);
  perform tollgate._debit(p_user, p_amount, true, 'usage', gen_random_uuid()::text, '{}', '2027-03-10 11:00Z');
end
$$;

update tollgate.plans set stripe_price_ids = '{price_pro}', trial_credits = 50 where id = 'pro';
update tollgate.plans set stripe_price_ids = '{price_business}' where id = 'business';
insert into auth.users (id, email) values
  ('e1000000-0000-4000-8000-000000000001', 'switcher@example.com'),
  ('e2000000-0000-4000-8000-000000000002', 'heavy@example.com'),
  ('e3000000-0000-4000-8000-000000000003', 'trial@example.com'),
  ('e4000000-0000-4000-8000-000000000004', 'anchors@example.com');
update tollgate.accounts
   set period_anchor = '2027-03-01', period_start = '2027-03-01', period_end = '2027-04-01',
       next_expiry_at = '2027-04-01'
 where id::text like 'e_000000-0000-4000-8000-00000000000_';
update tollgate.credit_lots set expires_at = '2027-04-01', grant_key = 'plan:2027-03-01T00:00:00.000000Z'
 where account_id::text like 'e_000000-0000-4000-8000-00000000000_';
insert into tollgate.stripe_customers (customer_id, account_id) values
  ('cus_e1', 'e1000000-0000-4000-8000-000000000001'), ('cus_e2', 'e2000000-0000-4000-8000-000000000002'),
  ('cus_e3', 'e3000000-0000-4000-8000-000000000003'), ('cus_e4', 'e4000000-0000-4000-8000-000000000004'),
  ('cus_e4b', 'e4000000-0000-4000-8000-000000000004');

-- ---------------------------------------------------------------------------------------------------------------
-- Up and down within a period: the allowance of the plan it is on, less what was used
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_e1_1', 'customer.subscription.created', '2027-03-10 09:00Z',
  pg_temp.sub('sub_e1', 'cus_e1', 'active', 'price_pro', '2027-03-05'))), 'processed', 'a pro subscription');
select pg_temp.spend('e1000000-0000-4000-8000-000000000001', 100);
select is(pg_temp.handle(pg_temp.evt('evt_e1_2', 'customer.subscription.updated', '2027-03-10 10:00Z',
  pg_temp.sub('sub_e1', 'cus_e1', 'active', 'price_business', '2027-03-05'))), 'processed', 'an upgrade');
select results_eq($$ select * from pg_temp.account('e1000000-0000-4000-8000-000000000001') $$,
  $$ values ('business', 2400::bigint, 0::bigint) $$, 'business''s 2500 less the 100 used this period');
select is(pg_temp.handle(pg_temp.evt('evt_e1_3', 'customer.subscription.updated', '2027-03-10 11:00Z',
  pg_temp.sub('sub_e1', 'cus_e1', 'active', 'price_pro', '2027-03-05'))), 'processed', 'a downgrade');
select results_eq($$ select * from pg_temp.account('e1000000-0000-4000-8000-000000000001') $$,
  $$ values ('pro', 400::bigint, 0::bigint) $$, 'back on pro: its 500 less the 100 used, as if never upgraded');
select results_eq($$ select count(*)::int, min(amount), min(remaining) from tollgate.credit_lots
                     where account_id = 'e1000000-0000-4000-8000-000000000001' and source = 'plan'
                       and grant_key = 'plan:2027-03-05T00:00:00.000000Z' $$,
  $$ values (1, 500::bigint, 400::bigint) $$, 'one plan lot for the period, holding what the plan grants');
select is(pg_temp.handle(pg_temp.evt('evt_e1_3b', 'customer.subscription.updated', '2027-03-10 11:00Z',
  pg_temp.sub('sub_e1', 'cus_e1', 'active', 'price_pro', '2027-03-05'))), 'ignored',
  'another event of the same second with the same state changes nothing and needs no API call');

select is(pg_temp.handle(pg_temp.evt('evt_e2_1', 'customer.subscription.created', '2027-03-10 09:00Z',
  pg_temp.sub('sub_e2', 'cus_e2', 'active', 'price_business', '2027-03-05'))), 'processed', 'a business subscription');
select pg_temp.spend('e2000000-0000-4000-8000-000000000002', 2400);
select is(pg_temp.handle(pg_temp.evt('evt_e2_2', 'customer.subscription.updated', '2027-03-10 10:00Z',
  pg_temp.sub('sub_e2', 'cus_e2', 'active', 'price_pro', '2027-03-05'))), 'processed', 'a downgrade after heavy use');
select results_eq($$ select * from pg_temp.account('e2000000-0000-4000-8000-000000000002') $$,
  $$ values ('pro', 0::bigint, 0::bigint) $$, 'more than pro''s allowance was used: nothing left, and no debt');
select pg_temp.spend('e2000000-0000-4000-8000-000000000002', 30);
select is(pg_temp.handle(pg_temp.evt('evt_e2_3', 'customer.subscription.updated', '2027-03-10 11:00Z',
  pg_temp.sub('sub_e2', 'cus_e2', 'active', 'price_business', '2027-03-05'))), 'processed', 'upgraded again');
select results_eq($$ select * from pg_temp.account('e2000000-0000-4000-8000-000000000002') $$,
  $$ values ('business', 70::bigint, 0::bigint) $$,
  'business''s 2500 less the 2430 used: the overdraft is repaid first, and the flip mints nothing');
select is_empty($$ select * from tollgate.check_ledger('e2000000-0000-4000-8000-000000000002') $$,
  'the books of the heavy user balance');

-- ---------------------------------------------------------------------------------------------------------------
-- Trials: trial credits once per account, ever; conversion starts the allowance
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_e3_1', 'customer.subscription.created', '2027-03-10 09:00Z',
  pg_temp.sub('sub_e3', 'cus_e3', 'trialing', 'price_pro', '2027-03-20', '2027-03-20'))), 'processed',
  'a trial of pro');
select results_eq($$ select a.plan_id, a.balance, l.amount, l.expires_at
                     from tollgate.accounts a join tollgate.credit_lots l on l.account_id = a.id and l.grant_key = 'trial'
                    where a.id = 'e3000000-0000-4000-8000-000000000003' $$,
  $$ values ('pro', 50::bigint, 50::bigint, '2027-03-20 00:00Z'::timestamptz) $$,
  'pro''s features with its 50 trial credits until the trial ends, not its 500');
select is(pg_temp.handle(pg_temp.evt('evt_e3_2', 'customer.subscription.deleted', '2027-03-10 10:00Z',
  pg_temp.sub('sub_e3', 'cus_e3', 'canceled', 'price_pro', '2027-03-20', '2027-03-20'))), 'processed',
  'the trial is canceled');
select results_eq($$ select * from pg_temp.account('e3000000-0000-4000-8000-000000000003') $$,
  $$ values ('free', 3::bigint, 0::bigint) $$, 'the trial credits end with it; the default plan''s 3 remain');
select is(pg_temp.handle(pg_temp.evt('evt_e3_3', 'customer.subscription.created', '2027-03-10 11:00Z',
  pg_temp.sub('sub_e3b', 'cus_e3', 'trialing', 'price_pro', '2027-03-24', '2027-03-24'))), 'processed',
  'a second trial');
select is((select balance from tollgate.accounts where id = 'e3000000-0000-4000-8000-000000000003'), 0::bigint,
  'no trial credits the second time, and no plan allowance during a trial');
select is(pg_temp.handle(pg_temp.evt('evt_e3_4', 'customer.subscription.updated', '2027-03-10 11:30Z',
  pg_temp.sub('sub_e3b', 'cus_e3', 'active', 'price_pro', '2027-03-24', '2027-03-10 11:30Z'))), 'processed',
  'the second trial converts');
select is((select balance from tollgate.accounts where id = 'e3000000-0000-4000-8000-000000000003'), 500::bigint,
  'conversion to active starts pro''s allowance');

-- ---------------------------------------------------------------------------------------------------------------
-- Two anchors: a period set aside comes back; the default plan keeps the last subscription's anchor
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_e4_1', 'customer.subscription.created', '2027-03-10 09:00Z',
  pg_temp.sub('sub_e4a', 'cus_e4', 'active', 'price_pro', '2027-03-05'))), 'processed', 'pro on one customer');
select pg_temp.spend('e4000000-0000-4000-8000-000000000004', 200);
select is(pg_temp.handle(pg_temp.evt('evt_e4_2', 'customer.subscription.created', '2027-03-10 10:00Z',
  pg_temp.sub('sub_e4b', 'cus_e4b', 'active', 'price_business', '2027-03-08'))), 'processed',
  'business on another customer, with another anchor');
select results_eq($$ select plan_id, period_start, balance from tollgate.accounts
                     where id = 'e4000000-0000-4000-8000-000000000004' $$,
  $$ values ('business', '2027-03-08 00:00Z'::timestamptz, 2500::bigint) $$,
  'business''s period and allowance; pro''s 300 left are set aside');
select is(pg_temp.handle(pg_temp.evt('evt_e4_3', 'customer.subscription.deleted', '2027-03-10 11:00Z',
  pg_temp.sub('sub_e4b', 'cus_e4b', 'canceled', 'price_business', '2027-03-08'))), 'processed',
  'business ends');
select results_eq($$ select plan_id, period_start, balance from tollgate.accounts
                     where id = 'e4000000-0000-4000-8000-000000000004' $$,
  $$ values ('pro', '2027-03-05 00:00Z'::timestamptz, 300::bigint) $$,
  'back on pro''s period with the 300 it had left');
select is(pg_temp.handle(pg_temp.evt('evt_e4_4', 'customer.subscription.deleted', '2027-03-10 11:30Z',
  pg_temp.sub('sub_e4a', 'cus_e4', 'canceled', 'price_pro', '2027-03-05'))), 'processed', 'pro ends too');
select results_eq($$ select plan_id, period_anchor, balance from tollgate.accounts
                     where id = 'e4000000-0000-4000-8000-000000000004' $$,
  $$ values ('free', '2027-03-05 00:00Z'::timestamptz, 0::bigint) $$,
  'the default plan in the last subscription''s period: 3 credits less the 200 used of it, not a fresh 3');
select tollgate.reset_monthly_quotas('2027-04-05 01:00Z');
select results_eq($$ select period_start, balance from tollgate.accounts
                     where id = 'e4000000-0000-4000-8000-000000000004' $$,
  $$ values ('2027-04-05 00:00Z'::timestamptz, 3::bigint) $$,
  'the hourly reset carries on from the switched period: a fresh 3 in April');
select is_empty($$ select * from tollgate.check_ledger() $$, 'the books balance after every plan change');

select * from finish();
rollback;
