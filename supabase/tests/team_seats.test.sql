-- A team's subscription from the Stripe webhook at pinned times (2027-03-10 12:00Z): the checkout's
-- client_reference_id (the team's id) links the customer to the team, whose subscription then gives the team,
-- not its owner, the plan; a per-seat plan grants monthly_credits x quantity. Within a credit period the team gets
-- the fewest seats the subscription had in it (an increase waits for the next grant, a decrease counts at once),
-- the same in either delivery order; the next period grants for the quantity now. A team without a live
-- subscription gets no allowance.
begin;
select plan(21);

create function pg_temp.evt(p_id text, p_type text, p_created timestamptz, p_object jsonb) returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'event', 'created', extract(epoch from p_created)::bigint,
                            'type', p_type, 'livemode', false, 'data', jsonb_build_object('object', p_object))
$$;
create function pg_temp.at(p_time timestamptz) returns bigint language sql as $$ select extract(epoch from p_time)::bigint $$;
create function pg_temp.sub(p_id text, p_status text, p_quantity jsonb) returns jsonb
language sql as $$
  select jsonb_build_object(
    'id', p_id, 'object', 'subscription', 'customer', 'cus_team', 'status', p_status,
    'billing_cycle_anchor', pg_temp.at('2027-03-05'), 'cancel_at_period_end', false, 'created', pg_temp.at('2027-03-05'),
    'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
      'id', 'si_' || p_id, 'object', 'subscription_item', 'price', jsonb_build_object('id', 'price_team'),
      'quantity', p_quantity))))
$$;
create function pg_temp.handle(p_event jsonb, p_now timestamptz default '2027-03-10 12:00Z') returns text
language sql as $$ select tollgate._handle_stripe_event(p_event, false, '[]', p_now) ->> 'status' $$;
create function pg_temp.team() returns table (plan_id text, balance bigint, seats integer) language sql as $$
  select plan_id, balance, seats from tollgate.accounts where id = current_setting('test.team')::uuid
$$;
create function pg_temp.subscribe(p_first int, p_second int, p_reversed boolean) returns void language plpgsql as $$
declare
  v_first jsonb := pg_temp.evt('evt_q1', 'customer.subscription.created', '2027-03-06 09:00Z',
                               pg_temp.sub('sub_team', 'active', to_jsonb(p_first)));
  v_second jsonb := pg_temp.evt('evt_q2', 'customer.subscription.updated', '2027-03-07 09:00Z',
                                pg_temp.sub('sub_team', 'active', to_jsonb(p_second)));
begin
  if p_reversed then
    perform pg_temp.handle(v_second);
    perform pg_temp.handle(v_first);
  else
    perform pg_temp.handle(v_first);
    perform pg_temp.handle(v_second);
  end if;
end
$$;

insert into tollgate.plans (id, name, monthly_credits, stripe_price_ids, credits_per_seat, sort_order)
values ('team-seat', 'Team', 100, '{price_team}', true, 40);
insert into auth.users (id, email) values ('f1000000-0000-4000-8000-00000000000f', 'team-owner@example.com');
select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role": "service_role"}', true);
select set_config('test.team', tollgate.create_team_account('Seats', 'f1000000-0000-4000-8000-00000000000f')::text,
  true);
select set_config('role', 'none', true);
update tollgate.accounts set period_anchor = '2027-03-01', period_start = '2027-03-01', period_end = '2027-04-01'
 where id = current_setting('test.team')::uuid;

select results_eq($$ select * from pg_temp.team() $$, $$ values ('free', 0::bigint, 0) $$,
  'a new team is on the default plan with no seats and no credits');
savepoint before_reset;
select tollgate.reset_monthly_quotas('2027-04-02');
select results_eq($$ select plan_id, balance, seats, period_start from tollgate.accounts
                      where id = current_setting('test.team')::uuid $$,
  $$ values ('free', 0::bigint, 0, '2027-04-01'::timestamptz) $$,
  'a team without a subscription rolls into its next period with nothing: creating teams never mints credits');
rollback to savepoint before_reset;

-- The team's checkout links its customer to the team (client_reference_id = the team's id).
select is(pg_temp.handle(pg_temp.evt('evt_checkout', 'checkout.session.completed', '2027-03-06 08:59Z',
  jsonb_build_object('id', 'cs_team', 'object', 'checkout.session', 'mode', 'subscription', 'customer', 'cus_team',
                     'client_reference_id', current_setting('test.team'), 'payment_status', 'paid',
                     'subscription', 'sub_team'))), 'processed', 'the team''s checkout is applied');
select results_eq($$ select account_id from tollgate.stripe_customers where customer_id = 'cus_team' $$,
  $$ values (current_setting('test.team')::uuid) $$, 'its customer is linked to the team, not to the owner');

-- Seats in one period, both delivery orders.
savepoint in_order;
select lives_ok($$ select pg_temp.subscribe(3, 5, false) $$, '3 seats, then 5 two days later');
select results_eq($$ select * from pg_temp.team() $$, $$ values ('team-seat', 300::bigint, 5) $$,
  'the team is on the seat plan with 3 x 100 for this period; the next grant is for 5 seats');
select results_eq($$ select account_id, quantity from tollgate.stripe_subscriptions where subscription_id = 'sub_team' $$,
  $$ values (current_setting('test.team')::uuid, 5) $$, 'the mirror belongs to the team and holds the quantity');
select is((select balance from tollgate.accounts where id = 'f1000000-0000-4000-8000-00000000000f'), 3::bigint,
  'the owner''s personal account is untouched');
select tollgate.reset_monthly_quotas('2027-04-06');
select results_eq($$ select delta from tollgate.credit_ledger
                      where account_id = current_setting('test.team')::uuid and reason = 'grant'
                        and created_at = '2027-04-06' $$,
  $$ values (500::bigint) $$, 'the next period grants for the 5 seats');
select results_eq($$ select * from pg_temp.team() $$, $$ values ('team-seat', 500::bigint, 5) $$,
  'and 3 x 100 of the ended period expired');
rollback to savepoint in_order;
select lives_ok($$ select pg_temp.subscribe(3, 5, true) $$, 'the same two events delivered the other way round');
select results_eq($$ select * from pg_temp.team() $$, $$ values ('team-seat', 300::bigint, 5) $$,
  'end the same: 300 now, 5 seats next');
rollback to savepoint in_order;

select lives_ok($$ select pg_temp.subscribe(8, 5, false) $$, '8 seats, then 5');
select results_eq($$ select * from pg_temp.team() $$, $$ values ('team-seat', 500::bigint, 5) $$,
  'a decrease counts at once: 5 x 100 this period');
rollback to savepoint in_order;
select lives_ok($$ select pg_temp.subscribe(8, 5, true) $$, 'the same in reverse');
select results_eq($$ select * from pg_temp.team() $$, $$ values ('team-seat', 500::bigint, 5) $$,
  'ends the same: the older event''s 8 seats never come back');
rollback to savepoint in_order;

-- An odd quantity counts as one seat; a canceled subscription leaves the team with nothing more.
select is(pg_temp.handle(pg_temp.evt('evt_q3', 'customer.subscription.created', '2027-03-06 09:00Z',
  pg_temp.sub('sub_team', 'active', '"2.5"'))), 'processed', 'a quantity that is not a whole number');
select results_eq($$ select * from pg_temp.team() $$, $$ values ('team-seat', 100::bigint, 1) $$,
  'counts as one seat');
select is(pg_temp.handle(pg_temp.evt('evt_q4', 'customer.subscription.deleted', '2027-03-08 09:00Z',
  pg_temp.sub('sub_team', 'canceled', '1'))), 'processed', 'the subscription is canceled');
select results_eq($$ select plan_id, seats from pg_temp.team() $$, $$ values ('free', 0) $$,
  'the team falls back to the default plan with no seats: its periods grant nothing');

select is_empty($$ select * from tollgate.check_ledger(current_setting('test.team')::uuid) $$, 'the books balance');

select * from finish();
rollback;
