-- Billing events at pinned times: each written by the function that causes it, in its transaction, once per
-- occurrence: balance.low when the available balance crosses below the account's threshold (its own, else its
-- plan's), balance.depleted at zero, quota.warning at 80% of a window, quota.exceeded and member_cap.exceeded from
-- the state after a refusal, credits.granted, plan.changed, payment.failed, payment.refunded. Then who reads them.
begin;
select plan(40);

insert into auth.users (id, email) values
  ('f1000000-0000-4000-8000-00000000000f', 'owner@example.com'),
  ('f2000000-0000-4000-8000-00000000000f', 'member@example.com'),
  ('f3000000-0000-4000-8000-00000000000f', 'capped@example.com'),
  ('f4000000-0000-4000-8000-00000000000f', 'outsider@example.com');
insert into tollgate.plans (id, name, low_balance_threshold) values ('events', 'Events', 20);
insert into tollgate.plan_limits (plan_id, feature, period, request_limit) values ('events', 'chat', 'day', 10);
select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role": "service_role"}', true);
select set_config('test.team', tollgate.create_team_account('Events', 'f1000000-0000-4000-8000-00000000000f')::text,
  true);
select tollgate.add_account_member(current_setting('test.team')::uuid, 'f2000000-0000-4000-8000-00000000000f');
select tollgate.add_account_member(current_setting('test.team')::uuid, 'f3000000-0000-4000-8000-00000000000f');
select tollgate.set_member_cap(current_setting('test.team')::uuid, 'f3000000-0000-4000-8000-00000000000f', 5, 'day');
select set_config('role', 'none', true);
-- The team is on plan events (threshold 20; 10 chat requests a day), its period 31 Jan 2030 10:00 to 28 Feb 10:00.
update tollgate.accounts
   set plan_id = 'events', period_anchor = '2030-01-31 10:00Z', period_start = '2030-01-31 10:00Z',
       period_end = '2030-02-28 10:00Z'
 where id = current_setting('test.team')::uuid;

create function pg_temp.team() returns uuid language sql as $$ select current_setting('test.team')::uuid $$;
-- The owner takes p_amount credits for feature p_feature at p_at.
create function pg_temp.take(p_key text, p_amount bigint, p_at timestamptz default '2030-02-10 12:00Z',
                             p_feature text default 'gen', p_member uuid default 'f1000000-0000-4000-8000-00000000000f')
returns jsonb language sql as $$
  select tollgate._consume_credits(pg_temp.team(), p_key, p_amount, p_feature, null, p_at, p_member)
$$;
create function pg_temp.n(p_type text, p_account uuid default null) returns int language sql as $$
  select count(*)::int from tollgate.billing_events
   where account_id = coalesce(p_account, pg_temp.team()) and type = p_type
$$;
create function pg_temp.last(p_type text) returns jsonb language sql as $$
  select data from tollgate.billing_events where account_id = pg_temp.team() and type = p_type
   order by created_at desc,
            case when occurrence ~ '^ledger:\d+$' then split_part(occurrence, ':', 2)::bigint end desc nulls last
   limit 1
$$;
create function pg_temp.grant(p_key text, p_amount bigint) returns jsonb language sql as $$
  select tollgate._grant_lot(pg_temp.team(), 'top_up', p_amount, null, 50, 'top_up:' || p_key, '{}',
                             '2030-02-10 11:00Z')
$$;

-- credits.granted
select pg_temp.grant('first', 100);
select pg_temp.grant('first', 100);
select is(pg_temp.n('credits.granted'), 1, 'a grant writes one credits.granted, its replay none');
select is(pg_temp.last('credits.granted') - 'lot_id' - 'transaction_id',
  '{"source": "top_up", "amount": 100, "expires_at": null, "balance": 100}'::jsonb,
  'credits.granted says what was granted, from where, and the balance after');

-- balance.low against the plan's threshold (20), then the account's own
select pg_temp.take('to-21', 79);
select pg_temp.take('to-20', 1);
select is(pg_temp.n('balance.low'), 0, 'down to the threshold itself is not below it');
select pg_temp.take('to-19', 1);
select is(pg_temp.last('balance.low') - 'ledger_seq',
  '{"balance": 19, "previous_balance": 20, "threshold": 20}'::jsonb,
  'crossing below the plan''s threshold writes balance.low with the balances and the threshold');
select pg_temp.take('to-18', 1);
select is(pg_temp.n('balance.low'), 1, 'further spending below the threshold writes no second one');
update tollgate.accounts set low_balance_threshold = 10 where id = pg_temp.team();
select pg_temp.take('to-10', 8);
select is(pg_temp.n('balance.low'), 1, 'the account''s own threshold replaces the plan''s: 10 is not below 10');
select pg_temp.take('to-9', 1);
select is(pg_temp.last('balance.low') ->> 'threshold', '10', 'crossing the account''s threshold writes balance.low');
select pg_temp.grant('second', 50);
select pg_temp.take('to-9-again', 50);
select is(pg_temp.n('balance.low'), 3, 'a grant lifts the balance over the threshold: the next crossing writes again');

-- balance.depleted
select pg_temp.take('to-0', 9);
select is(pg_temp.last('balance.depleted') - 'ledger_seq', '{"balance": 0, "previous_balance": 9}'::jsonb,
  'reaching zero writes balance.depleted');
select is(pg_temp.n('balance.low'), 3, 'a movement already below the threshold writes no balance.low');
update tollgate.accounts set low_balance_threshold = null where id = 'f4000000-0000-4000-8000-00000000000f';
select tollgate._consume_credits('f4000000-0000-4000-8000-00000000000f', 'all', 3, 'gen', null, now());
select is(array[pg_temp.n('balance.low', 'f4000000-0000-4000-8000-00000000000f'),
                pg_temp.n('balance.depleted', 'f4000000-0000-4000-8000-00000000000f')], array[0, 1],
  'with no threshold on account or plan, only balance.depleted');

-- quota.warning: 8 of 10 chat requests a day (amount 0: requests only)
select pg_temp.take('chat-' || i, 0, '2030-02-10 12:00Z', 'chat') from generate_series(1, 7) i;
select is(pg_temp.n('quota.warning'), 0, 'seven of ten requests warn of nothing');
select pg_temp.take('chat-8', 0, '2030-02-10 12:00Z', 'chat');
select is(pg_temp.last('quota.warning'),
  '{"feature": "chat", "period": "day", "limit": 10, "used": 8, "window_start": "2030-02-10T00:00:00+00:00",
    "resets_at": "2030-02-11T00:00:00+00:00"}'::jsonb,
  'the eighth request (80%) writes quota.warning with the window');
select pg_temp.take('chat-' || i, 0, '2030-02-10 13:00Z', 'chat') from generate_series(9, 10) i;
select is(pg_temp.n('quota.warning'), 1, 'the ninth and tenth write no second warning');
select pg_temp.take('next-day-' || i, 0, '2030-02-11 12:00Z', 'chat') from generate_series(1, 8) i;
select is(pg_temp.n('quota.warning'), 2, 'the next day''s window warns again, once');

-- quota.exceeded: the refused request rolls back; the refusal is recorded after it from the counters
select throws_ok($$ select pg_temp.take('chat-11', 0, '2030-02-10 14:00Z', 'chat') $$, 'TG429', null,
  'the eleventh request is refused');
select is(pg_temp.n('quota.exceeded'), 0, 'the refused request itself keeps nothing');
select is(tollgate._record_consume_refusal(pg_temp.team(), 'f1000000-0000-4000-8000-00000000000f', 'chat', 0,
                                           '2030-02-10 14:00Z'), 1, 'recording the refusal writes one event');
select is(pg_temp.last('quota.exceeded'),
  '{"feature": "chat", "period": "day", "limit": 10, "used": 10, "window_start": "2030-02-10T00:00:00+00:00",
    "resets_at": "2030-02-11T00:00:00+00:00"}'::jsonb, 'quota.exceeded names the full window');
select is(tollgate._record_consume_refusal(pg_temp.team(), 'f2000000-0000-4000-8000-00000000000f', 'chat', 0,
                                           '2030-02-10 18:00Z'), 0, 'a retry storm in the same window writes no more');
select is(tollgate._record_consume_refusal(pg_temp.team(), 'f1000000-0000-4000-8000-00000000000f', 'chat', 0,
                                           '2030-02-12 18:00Z'), 0, 'a window that is not full writes nothing');

-- member_cap.exceeded: 5 credits a day for the capped member
select pg_temp.grant('caps', 100);
select pg_temp.take('cap-' || i, 1, '2030-02-10 12:00Z', 'gen', 'f3000000-0000-4000-8000-00000000000f')
  from generate_series(1, 5) i;
select throws_ok($$ select pg_temp.take('cap-6', 2, '2030-02-10 12:00Z', 'gen',
                                        'f3000000-0000-4000-8000-00000000000f') $$, 'TGM29', null,
  'the capped member''s sixth credit is refused');
select is(tollgate._record_consume_refusal(pg_temp.team(), 'f3000000-0000-4000-8000-00000000000f', 'gen', 2,
                                           '2030-02-10 12:00Z'), 1, 'recording the refusal writes one event');
select is(pg_temp.last('member_cap.exceeded'),
  '{"user_id": "f3000000-0000-4000-8000-00000000000f", "cap": 5, "used": 5, "required": 2, "period": "day",
    "window_start": "2030-02-10T00:00:00+00:00", "resets_at": "2030-02-11T00:00:00+00:00"}'::jsonb,
  'member_cap.exceeded names the member, cap, use and window');
select is(tollgate._record_consume_refusal(pg_temp.team(), 'f3000000-0000-4000-8000-00000000000f', 'gen', 1,
                                           '2030-02-10 20:00Z'), 0, 'once per member and window');
select is(tollgate._record_consume_refusal(pg_temp.team(), 'f2000000-0000-4000-8000-00000000000f', 'gen', 1000,
                                           '2030-02-10 20:00Z'), 0, 'a member with no cap is never over it');

-- holds: holding lowers what is available (balance.low); a hold that runs out writes hold.expired, once
update tollgate.accounts set low_balance_threshold = balance - held where id = pg_temp.team();
select set_config('test.hold', (tollgate._hold_credits(pg_temp.team(), 1, 'hold-1', 600, 'gen', null,
  '2030-02-11 12:00Z', 'f1000000-0000-4000-8000-00000000000f')).id::text, true);
select is((select occurrence from tollgate.billing_events where account_id = pg_temp.team() and type = 'balance.low'
            order by created_at desc limit 1), 'hold:' || current_setting('test.hold'),
  'a hold that takes the available balance below the threshold writes balance.low');
select is(tollgate._expire_holds(pg_temp.team(), '2030-02-11 12:20Z'), 1::bigint, 'the hold expires');
select is(tollgate._expire_holds(pg_temp.team(), '2030-02-11 12:30Z'), 0::bigint, 'once');
select is(pg_temp.last('hold.expired'), jsonb_build_object('hold_id', current_setting('test.hold'), 'amount', 1,
  'user_id', 'f1000000-0000-4000-8000-00000000000f', 'feature', 'gen', 'expires_at', '2030-02-11T12:10:00+00:00'),
  'hold.expired names the hold, its credits, member, feature and expiry, once');

-- plan.changed
select tollgate._set_account_plan(pg_temp.team(), 'pro', '2030-01-31 10:00Z', 0, '2030-02-12 09:00Z');
select tollgate._set_account_plan(pg_temp.team(), 'pro', '2030-01-31 10:00Z', 0, '2030-02-12 09:00Z');
select is(pg_temp.n('plan.changed'), 1, 'a plan change writes plan.changed once; setting the same plan again, none');
select is(pg_temp.last('plan.changed'),
  '{"from": "events", "to": "pro", "period_start": "2030-01-31T10:00:00+00:00",
    "period_end": "2030-02-28T10:00:00+00:00", "allowance": 0}'::jsonb, 'plan.changed says from, to and the period');

-- payment.failed and payment.refunded, from Stripe's events
insert into tollgate.stripe_customers (customer_id, account_id) values ('cus_events', pg_temp.team());
create function pg_temp.invoice_failed(p_id text) returns jsonb language sql as $$
  select tollgate._apply_stripe_invoice(jsonb_build_object('id', p_id, 'type', 'invoice.payment_failed',
    'data', jsonb_build_object('object', jsonb_build_object('id', 'in_events', 'customer', 'cus_events',
      'amount_due', 2000, 'currency', 'usd', 'attempt_count', 1, 'next_payment_attempt', 1896000000))),
    '2030-02-12 10:00Z')
$$;
select pg_temp.invoice_failed('evt_failed');
select pg_temp.invoice_failed('evt_failed_again');
select is(pg_temp.last('payment.failed'),
  '{"invoice_id": "in_events", "amount": 2000, "currency": "usd", "attempt_count": 1,
    "next_payment_attempt": "2030-01-30T10:40:00+00:00", "subscription_id": null}'::jsonb,
  'a failed invoice payment writes payment.failed');
select is(pg_temp.n('payment.failed'), 1, 'the same attempt told again writes none');
insert into tollgate.stripe_payments (id, account_id, kind, amount, currency, payment_intent_id, event_id)
values ('in_paid', pg_temp.team(), 'invoice', 2000, 'usd', 'pi_events', 'evt_paid');
create function pg_temp.refunded(p_id text, p_amount bigint) returns jsonb language sql as $$
  select tollgate._apply_stripe_refund(jsonb_build_object('id', p_id, 'type', 'charge.refunded',
    'data', jsonb_build_object('object', jsonb_build_object('id', 'ch_events', 'amount', 2000,
      'amount_refunded', p_amount, 'currency', 'usd', 'payment_intent', 'pi_events'))), '2030-02-12 11:00Z')
$$;
select pg_temp.refunded('evt_r1', 500);
select pg_temp.refunded('evt_r1_again', 500);
select pg_temp.refunded('evt_r2', 2000);
select results_eq($$ select data ->> 'amount_refunded' from tollgate.billing_events
                      where account_id = pg_temp.team() and type = 'payment.refunded' order by 1 $$,
  $$ values ('2000'), ('500') $$, 'each refund step of the charge writes payment.refunded once');

-- Who reads them: members of the account, under RLS; the delivery state only the service role
create function pg_temp.act_as(p_role text, p_sub uuid default null) returns void language sql as $$
  select set_config('role', p_role, true),
         set_config('request.jwt.claims', json_build_object('role', p_role, 'sub', p_sub)::text, true) $$;
select set_config('test.total', (select count(*) from tollgate.billing_events where account_id = pg_temp.team())::text,
  true);
select pg_temp.act_as('authenticated', 'f2000000-0000-4000-8000-00000000000f');
select is((select count(*) from tollgate.billing_events where account_id = pg_temp.team()),
  current_setting('test.total')::bigint, 'a member reads every event of the team');
select throws_ok($$ select 1 from tollgate.billing_event_deliveries $$, '42501', null,
  'a member may not read the delivery state');
select pg_temp.act_as('authenticated', 'f4000000-0000-4000-8000-00000000000f');
select is((select array_agg(distinct account_id) from tollgate.billing_events),
  array['f4000000-0000-4000-8000-00000000000f'::uuid], 'a non-member reads only their own account''s events');
select pg_temp.act_as('anon');
select throws_ok($$ select 1 from tollgate.billing_events $$, '42501', null, 'anon reads none');
select pg_temp.act_as('none');
select is((select count(*)::int from pg_publication_tables
            where pubname = 'supabase_realtime' and schemaname = 'tollgate' and tablename = 'billing_events'), 1,
  'the table is in publication supabase_realtime, for Realtime');

select * from finish();
rollback;
