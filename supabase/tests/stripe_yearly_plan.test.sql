-- A yearly price grants the plan's allowance each month, never a year's at once: a subscription anchored on
-- 2027-01-15 with a one-year billing period, then the hourly reset at pinned times through twelve months (and the
-- day after each month's end), then the renewal. Also a trialing yearly subscription: trial credits, no allowance,
-- then monthly allowances from conversion.
begin;
select plan(9);

create function pg_temp.at(p_time timestamptz) returns bigint language sql as $$ select extract(epoch from p_time)::bigint $$;
create function pg_temp.evt(p_id text, p_type text, p_created timestamptz, p_object jsonb) returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'event', 'created', pg_temp.at(p_created), 'type', p_type,
                            'livemode', false, 'data', jsonb_build_object('object', p_object))
$$;
create function pg_temp.yearly(p_id text, p_customer text, p_status text, p_anchor timestamptz,
                               p_trial_end timestamptz default null) returns jsonb
language sql as $$
  select jsonb_build_object(
    'id', p_id, 'object', 'subscription', 'customer', p_customer, 'status', p_status,
    'billing_cycle_anchor', pg_temp.at(p_anchor), 'cancel_at_period_end', false, 'trial_end', pg_temp.at(p_trial_end),
    'created', pg_temp.at(p_anchor), 'start_date', pg_temp.at(p_anchor),
    'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
      'id', 'si_' || p_id, 'object', 'subscription_item', 'quantity', 1,
      'current_period_start', pg_temp.at(p_anchor), 'current_period_end', pg_temp.at(p_anchor + interval '1 year'),
      'price', jsonb_build_object('id', 'price_pro_yearly', 'recurring',
                                  jsonb_build_object('interval', 'year', 'interval_count', 1))))))
$$;
create function pg_temp.plan_grants(p_account uuid) returns table (period_start text, amount bigint)
language sql as $$
  select substr(l.grant_key, 6, 10), l.amount from tollgate.credit_lots l
   where l.account_id = p_account and l.source = 'plan' and l.metadata ->> 'plan_id' = 'pro'
   order by l.grant_key
$$;

update tollgate.plans set stripe_price_ids = '{price_pro_monthly,price_pro_yearly}', trial_days = 7, trial_credits = 40
 where id = 'pro';
insert into auth.users (id, email) values
  ('a1000000-0000-4000-8000-00000000000a', 'yearly@example.com'),
  ('a2000000-0000-4000-8000-00000000000a', 'yearly-trial@example.com');
insert into tollgate.stripe_customers (customer_id, account_id) values
  ('cus_yearly', 'a1000000-0000-4000-8000-00000000000a'), ('cus_yearly_trial', 'a2000000-0000-4000-8000-00000000000a');

-- A paid yearly subscription from 2027-01-15.
select is(tollgate._handle_stripe_event(pg_temp.evt('evt_y1', 'customer.subscription.created', '2027-01-15 10:00Z',
            pg_temp.yearly('sub_yearly', 'cus_yearly', 'active', '2027-01-15 10:00Z')), false, '[]',
          '2027-01-15 10:00Z') ->> 'status', 'processed', 'a yearly pro subscription is applied');
select is((select balance from tollgate.accounts where id = 'a1000000-0000-4000-8000-00000000000a'), 500::bigint,
  'it grants one month of pro (500), not twelve');

-- The hourly reset at every hour of the year would be slow; twice a month (the day before and the day after each
-- period end) sees every roll and every chance of a double grant.
create temp table balances as select 0 as month, 500::bigint as balance limit 0;
do $$
declare
  v_at timestamptz;
begin
  for m in 1..11 loop
    v_at := '2027-01-15 10:00Z'::timestamptz + make_interval(months => m);
    perform tollgate.reset_monthly_quotas(v_at - interval '1 day');
    perform tollgate.reset_monthly_quotas(v_at + interval '1 hour');
    perform tollgate.reset_monthly_quotas(v_at + interval '1 day');
    insert into balances select m, a.balance from tollgate.accounts a where a.id = 'a1000000-0000-4000-8000-00000000000a';
  end loop;
end
$$;
select results_eq($$ select count(*)::int, min(balance), max(balance) from balances $$,
  $$ values (11, 500::bigint, 500::bigint) $$,
  'after each of the next eleven monthly rolls the balance is one month''s allowance, never more');
select results_eq($$ select count(*)::int, sum(amount)::bigint, min(period_start), max(period_start)
                       from pg_temp.plan_grants('a1000000-0000-4000-8000-00000000000a') $$,
  $$ values (12, 6000::bigint, '2027-01-15', '2027-12-15') $$,
  'twelve grants of 500 over the year, one per month from 2027-01-15 to 2027-12-15');
select is_empty($$ select * from tollgate.check_ledger('a1000000-0000-4000-8000-00000000000a') $$,
  'the books balance');
select tollgate.reset_monthly_quotas('2028-01-15 11:00Z');
select is((select count(*)::int from pg_temp.plan_grants('a1000000-0000-4000-8000-00000000000a')), 13,
  'the thirteenth month (the renewal''s first) grants once more, monthly as before');

-- A yearly subscription with a trial: trial credits while trialing, the allowance monthly from conversion.
select tollgate._handle_stripe_event(pg_temp.evt('evt_yt1', 'customer.subscription.created', '2027-01-10 10:00Z',
         pg_temp.yearly('sub_yearly_trial', 'cus_yearly_trial', 'trialing', '2027-01-10 10:00Z', '2027-01-17 10:00Z')),
       false, '[]', '2027-01-10 10:00Z');
select is((select balance from tollgate.accounts where id = 'a2000000-0000-4000-8000-00000000000a'), 40::bigint,
  'trialing: the plan''s 40 trial credits and no allowance');
select tollgate._handle_stripe_event(pg_temp.evt('evt_yt2', 'customer.subscription.updated', '2027-01-17 10:00Z',
         pg_temp.yearly('sub_yearly_trial', 'cus_yearly_trial', 'active', '2027-01-17 10:00Z')),
       false, '[]', '2027-01-17 10:00Z');
select is((select balance from tollgate.accounts where id = 'a2000000-0000-4000-8000-00000000000a'), 500::bigint,
  'converted: the trial credits end, one month''s allowance (500) is granted');
select tollgate.reset_monthly_quotas('2027-02-17 11:00Z');
select tollgate.reset_monthly_quotas('2027-03-17 11:00Z');
select is((select count(*)::int from pg_temp.plan_grants('a2000000-0000-4000-8000-00000000000a')), 3,
  'and monthly after it');

select * from finish();
rollback;
