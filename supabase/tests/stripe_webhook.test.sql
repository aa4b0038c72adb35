-- tollgate.handle_stripe_event at a pinned time (2027-03-10 12:00Z) on a test-mode deployment: each handled type's
-- effect, replays, events out of order, pending events applied once their customer is linked, plan switches with
-- their credit periods and grants, refund claw-backs once, failed and ignored events, and who may call it.
-- stripe_ordering.test.sql covers dependencies and ties, stripe_take_back and stripe_plan_sync the money.
begin;
select plan(88);

-- Builders for the payloads, shaped like API version 2026-10-28.endive (periods on items, invoice parent).
create function pg_temp.evt(p_id text, p_type text, p_created timestamptz, p_object jsonb) returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'event', 'api_version', '2026-10-28.endive',
                            'created', extract(epoch from p_created)::bigint, 'type', p_type, 'livemode', false,
                            'pending_webhooks', 1, 'request', jsonb_build_object('id', null, 'idempotency_key', null),
                            'data', jsonb_build_object('object', p_object))
$$;
create function pg_temp.at(p_time timestamptz) returns bigint language sql as $$ select extract(epoch from p_time)::bigint $$;
create function pg_temp.sub(p_id text, p_customer text, p_status text, p_price text, p_anchor timestamptz,
                            p_start timestamptz, p_end timestamptz) returns jsonb
language sql as $$
  select jsonb_build_object(
    'id', p_id, 'object', 'subscription', 'customer', p_customer, 'status', p_status,
    'billing_cycle_anchor', pg_temp.at(p_anchor), 'cancel_at_period_end', false, 'trial_end', null,
    'created', pg_temp.at(p_anchor), 'start_date', pg_temp.at(p_anchor),
    'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
      'id', 'si_' || p_id, 'object', 'subscription_item', 'subscription', p_id,
      'current_period_start', pg_temp.at(p_start), 'current_period_end', pg_temp.at(p_end),
      'price', jsonb_build_object('id', p_price, 'object', 'price', 'currency', 'usd')))))
$$;
create function pg_temp.checkout(p_id text, p_mode text, p_status text, p_customer text, p_user text,
                                 p_metadata jsonb, p_intent text, p_amount bigint) returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'checkout.session', 'mode', p_mode, 'status', 'complete',
                            'payment_status', p_status, 'customer', p_customer, 'client_reference_id', p_user,
                            'metadata', p_metadata, 'payment_intent', p_intent, 'amount_total', p_amount,
                            'currency', 'usd')
$$;
create function pg_temp.charge(p_id text, p_intent text, p_amount bigint, p_refunded bigint, p_refunds jsonb)
returns jsonb language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'charge', 'amount', p_amount, 'amount_refunded', p_refunded,
                            'currency', 'usd', 'customer', null, 'payment_intent', p_intent, 'refunded', true,
                            'refunds', p_refunds)
$$;
create function pg_temp.handle(p_event jsonb) returns jsonb language sql as $$
  select tollgate._handle_stripe_event(p_event, false, '[]', '2027-03-10 12:00Z')
$$;
create function pg_temp.balance(p_user uuid) returns bigint language sql as $$
  select balance from tollgate.accounts where id = p_user
$$;

update tollgate.plans set stripe_price_ids = '{price_pro_monthly,price_pro_annual}' where id = 'pro';
update tollgate.plans set stripe_price_ids = '{price_business_monthly}' where id = 'business';

insert into auth.users (id, email) values
  ('c1000000-0000-4000-8000-000000000001', 'pack@example.com'),
  ('c2000000-0000-4000-8000-000000000002', 'subscriber@example.com'),
  ('c3000000-0000-4000-8000-000000000003', 'early-events@example.com'),
  ('c4000000-0000-4000-8000-000000000004', 'refund@example.com'),
  ('c5000000-0000-4000-8000-000000000005', 'second-customer@example.com');
-- Their signup periods pinned around the test time, with their 3 free credits.
update tollgate.accounts
   set period_anchor = '2027-03-01', period_start = '2027-03-01', period_end = '2027-04-01',
       next_expiry_at = '2027-04-01'
 where id::text like 'c_000000-0000-4000-8000-00000000000_';
update tollgate.credit_lots set expires_at = '2027-04-01'
 where account_id::text like 'c_000000-0000-4000-8000-00000000000_';

-- ---------------------------------------------------------------------------------------------------------------
-- Credit packs: checkout.session.completed in payment mode
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_co_u1', 'checkout.session.completed', '2027-03-10 11:59Z',
  pg_temp.checkout('cs_u1', 'payment', 'paid', 'cus_u1', 'c1000000-0000-4000-8000-000000000001',
                   '{"credits": "100"}', 'pi_u1', 1000))) ->> 'status', 'processed',
  'a paid credit-pack checkout is processed');
select results_eq($$ select account_id from tollgate.stripe_customers where customer_id = 'cus_u1' $$,
  $$ values ('c1000000-0000-4000-8000-000000000001'::uuid) $$,
  'the checkout links client_reference_id to the customer');
select is(pg_temp.balance('c1000000-0000-4000-8000-000000000001'), 103::bigint,
  'the pack''s 100 credits are added to the 3 free ones');
select results_eq($$ select source::text, amount, expires_at from tollgate.credit_lots
                     where grant_key = 'top_up:stripe:cs_u1' $$,
  $$ values ('top_up', 100::bigint, null::timestamptz) $$, 'the pack is a top-up lot that never expires');
select results_eq($$ select kind, amount, credits, payment_intent_id, lot_id is not null, event_id
                     from tollgate.stripe_payments where id = 'cs_u1' $$,
  $$ values ('checkout', 1000::bigint, 100::bigint, 'pi_u1', true, 'evt_co_u1') $$,
  'the checkout is recorded as a payment with its credits, payment intent and lot');
select is(pg_temp.handle(pg_temp.evt('evt_co_u1', 'checkout.session.completed', '2027-03-10 11:59Z',
  pg_temp.checkout('cs_u1', 'payment', 'paid', 'cus_u1', 'c1000000-0000-4000-8000-000000000001',
                   '{"credits": "100"}', 'pi_u1', 1000))) ->> 'status', 'duplicate',
  'a redelivery of the same event answers duplicate');
select is(pg_temp.balance('c1000000-0000-4000-8000-000000000001'), 103::bigint,
  'a redelivery grants nothing');
select results_eq($$ select status, attempts from tollgate.stripe_events where id = 'evt_co_u1' $$,
  $$ values ('processed', 2) $$, 'a redelivery counts the attempt and keeps the event processed');

select is(pg_temp.handle(pg_temp.evt('evt_co_u1b', 'checkout.session.completed', '2027-03-10 11:59Z',
  pg_temp.checkout('cs_u1b', 'payment', 'paid', 'cus_u1', 'c1000000-0000-4000-8000-000000000001',
                   '{"credits": "50", "credits_expire_days": "30"}', 'pi_u1b', 500))) ->> 'status', 'processed',
  'a pack with credits_expire_days is processed');
select is((select expires_at from tollgate.credit_lots where grant_key = 'top_up:stripe:cs_u1b'),
  '2027-04-09 11:59Z'::timestamptz, 'its lot expires 30 days after the payment''s event, whenever it is applied');
select is((select next_expiry_at from tollgate.accounts where id = 'c1000000-0000-4000-8000-000000000001'),
  '2027-04-01'::timestamptz, 'the account still settles at the earliest expiry');

select is(pg_temp.handle(pg_temp.evt('evt_co_u1c', 'checkout.session.completed', '2027-03-10 11:59Z',
  pg_temp.checkout('cs_u1c', 'payment', 'paid', 'cus_u1', 'c1000000-0000-4000-8000-000000000001',
                   '{"credits": "lots"}', 'pi_u1c', 500))) ->> 'status', 'failed',
  'a pack whose metadata.credits is not a number fails');
select results_eq($$ select status, error like 'Invalid metadata.credits%' from tollgate.stripe_events
                     where id = 'evt_co_u1c' $$,
  $$ values ('failed', true) $$, 'the failed event is stored with the reason');
select is(pg_temp.balance('c1000000-0000-4000-8000-000000000001'), 153::bigint,
  'a failed pack grants nothing (100 + 50 + 3 free)');

select is(pg_temp.handle(pg_temp.evt('evt_co_u1d', 'checkout.session.completed', '2027-03-10 11:59Z',
  pg_temp.checkout('cs_u1d', 'payment', 'unpaid', 'cus_u1', 'c1000000-0000-4000-8000-000000000001',
                   '{"credits": "10"}', 'pi_u1d', 100))) ->> 'status', 'ignored',
  'an unpaid checkout (delayed payment method) is ignored');
select is(pg_temp.handle(pg_temp.evt('evt_co_u1d_paid', 'checkout.session.async_payment_succeeded',
  '2027-03-10 11:59Z', pg_temp.checkout('cs_u1d', 'payment', 'paid', 'cus_u1', 'c1000000-0000-4000-8000-000000000001',
                   '{"credits": "10"}', 'pi_u1d', 100))) ->> 'status', 'processed',
  'the same session''s async_payment_succeeded is processed');
select is(pg_temp.balance('c1000000-0000-4000-8000-000000000001'), 163::bigint,
  'the delayed payment grants its 10 credits once it succeeds');

select is(pg_temp.handle(pg_temp.evt('evt_co_bad_user', 'checkout.session.completed', '2027-03-10 11:59Z',
  pg_temp.checkout('cs_bad', 'payment', 'paid', 'cus_nobody', 'not-a-user', '{"credits": "10"}', 'pi_bad', 100)))
  ->> 'status', 'failed', 'a checkout whose client_reference_id is no user fails');
select is_empty($$ select 1 from tollgate.stripe_customers where customer_id = 'cus_nobody' $$,
  'a failed checkout links nothing');

-- ---------------------------------------------------------------------------------------------------------------
-- Subscriptions: created, plan switch, out of order, deleted, no resurrection
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_co_u2', 'checkout.session.completed', '2027-03-05 00:00Z',
  pg_temp.checkout('cs_u2', 'subscription', 'paid', 'cus_u2', 'c2000000-0000-4000-8000-000000000002',
                   '{}', null, 2000))) ->> 'status', 'processed', 'a subscription-mode checkout is processed');
select is(pg_temp.balance('c2000000-0000-4000-8000-000000000002'), 3::bigint,
  'a subscription-mode checkout grants no credits itself');

select is(pg_temp.handle(pg_temp.evt('evt_sub_u2_1', 'customer.subscription.created', '2027-03-10 11:00Z',
  pg_temp.sub('sub_u2', 'cus_u2', 'active', 'price_pro_monthly', '2027-03-05 00:00Z', '2027-03-05 00:00Z',
              '2027-04-05 00:00Z'))) ->> 'status', 'processed', 'customer.subscription.created is processed');
select results_eq($$ select plan_id, period_anchor, period_start, period_end, balance from tollgate.accounts
                     where id = 'c2000000-0000-4000-8000-000000000002' $$,
  $$ values ('pro', '2027-03-05 00:00Z'::timestamptz, '2027-03-05 00:00Z'::timestamptz,
             '2027-04-05 00:00Z'::timestamptz, 500::bigint) $$,
  'an active subscription puts the account on the price''s plan, in a period anchored on the billing anchor');
select results_eq($$ select reason, delta, split_part(idempotency_key, ':', 1), lot_id from tollgate.credit_ledger
                     where account_id = 'c2000000-0000-4000-8000-000000000002' and seq > 1 order by seq $$,
  $$ values ('expire', -3::bigint, 'plan_change', (select id from tollgate.credit_lots
                                    where account_id = 'c2000000-0000-4000-8000-000000000002' and source = 'plan'
                                      and grant_key <> 'plan:2027-03-05T00:00:00.000000Z')),
            ('grant', 500::bigint, 'plan', (select id from tollgate.credit_lots
                                    where account_id = 'c2000000-0000-4000-8000-000000000002'
                                      and grant_key = 'plan:2027-03-05T00:00:00.000000Z')) $$,
  'the signup period''s credits are set aside and the pro allowance granted as the new period''s plan lot');
select results_eq($$ select status, plan_id, price_id, current_period_start, current_period_end,
                            billing_cycle_anchor, last_event_id from tollgate.stripe_subscriptions
                     where subscription_id = 'sub_u2' $$,
  $$ values ('active', 'pro', 'price_pro_monthly', '2027-03-05 00:00Z'::timestamptz,
             '2027-04-05 00:00Z'::timestamptz, '2027-03-05 00:00Z'::timestamptz, 'evt_sub_u2_1') $$,
  'the subscription is mirrored with its periods read from its item');
select is(pg_temp.handle(pg_temp.evt('evt_sub_u2_1', 'customer.subscription.created', '2027-03-10 11:00Z',
  pg_temp.sub('sub_u2', 'cus_u2', 'active', 'price_pro_monthly', '2027-03-05 00:00Z', '2027-03-05 00:00Z',
              '2027-04-05 00:00Z'))) ->> 'status', 'duplicate', 'a redelivered subscription event is a duplicate');
select is((select count(*) from tollgate.credit_ledger where account_id = 'c2000000-0000-4000-8000-000000000002'
            and reason = 'grant')::int, 2, 'the redelivery grants nothing more (signup + pro)');

select is(pg_temp.handle(pg_temp.evt('evt_sub_u2_2', 'customer.subscription.updated', '2027-03-10 11:30Z',
  pg_temp.sub('sub_u2', 'cus_u2', 'active', 'price_business_monthly', '2027-03-05 00:00Z', '2027-03-05 00:00Z',
              '2027-04-05 00:00Z'))) ->> 'status', 'processed', 'an upgrade is processed');
select results_eq($$ select plan_id, balance from tollgate.accounts
                     where id = 'c2000000-0000-4000-8000-000000000002' $$,
  $$ values ('business', 2500::bigint) $$, 'the upgrade brings the period''s plan credits to business''s allowance');
select results_eq($$ select amount, remaining from tollgate.credit_lots
                     where grant_key = 'plan:2027-03-05T00:00:00.000000Z'
                       and account_id = 'c2000000-0000-4000-8000-000000000002' $$,
  $$ values (2500::bigint, 2500::bigint) $$, 'the period keeps one plan lot, now holding business''s 2500');

select is(pg_temp.handle(pg_temp.evt('evt_sub_u2_0', 'customer.subscription.updated', '2027-03-10 10:00Z',
  pg_temp.sub('sub_u2', 'cus_u2', 'active', 'price_pro_monthly', '2027-03-05 00:00Z', '2027-03-05 00:00Z',
              '2027-04-05 00:00Z'))) ->> 'status', 'ignored', 'an update older than the last one applied is ignored');
select results_eq($$ select e.error like 'Older than event evt_sub_u2_2%', a.plan_id, s.last_event_id
                     from tollgate.stripe_events e, tollgate.accounts a, tollgate.stripe_subscriptions s
                    where e.id = 'evt_sub_u2_0' and a.id = 'c2000000-0000-4000-8000-000000000002'
                      and s.subscription_id = 'sub_u2' $$,
  $$ values (true, 'business', 'evt_sub_u2_2') $$,
  'the stale update keeps its reason and changes neither the plan nor the subscription');

select is(pg_temp.handle(pg_temp.evt('evt_sub_u2_3', 'customer.subscription.deleted', '2027-03-10 11:59Z',
  pg_temp.sub('sub_u2', 'cus_u2', 'canceled', 'price_business_monthly', '2027-03-05 00:00Z', '2027-03-05 00:00Z',
              '2027-04-05 00:00Z'))) ->> 'status', 'processed', 'customer.subscription.deleted is processed');
select results_eq($$ select a.plan_id, a.balance, s.status from tollgate.accounts a
                     join tollgate.stripe_subscriptions s on s.account_id = a.id
                    where a.id = 'c2000000-0000-4000-8000-000000000002' $$,
  $$ values ('free', 3::bigint, 'canceled') $$,
  'a canceled subscription falls back to the default plan and its allowance');
select is(pg_temp.handle(pg_temp.evt('evt_sub_u2_4', 'customer.subscription.updated', '2027-03-10 11:58Z',
  pg_temp.sub('sub_u2', 'cus_u2', 'active', 'price_business_monthly', '2027-03-05 00:00Z', '2027-03-05 00:00Z',
              '2027-04-05 00:00Z'))) ->> 'status', 'ignored', 'an update older than the deletion is ignored');
select is(pg_temp.handle(pg_temp.evt('evt_sub_u2_5', 'customer.subscription.updated', '2027-03-10 12:00Z',
  pg_temp.sub('sub_u2', 'cus_u2', 'active', 'price_business_monthly', '2027-03-05 00:00Z', '2027-03-05 00:00Z',
              '2027-04-05 00:00Z'))) ->> 'status', 'ignored',
  'an update stamped after the deletion is ignored too');
select results_eq($$ select s.status, a.plan_id, e.error like '%cannot revive it' from tollgate.stripe_subscriptions s
                     join tollgate.accounts a on a.id = s.account_id, tollgate.stripe_events e
                    where s.subscription_id = 'sub_u2' and e.id = 'evt_sub_u2_5' $$,
  $$ values ('canceled', 'free', true) $$, 'a late update never resurrects a canceled subscription');

select is(pg_temp.handle(pg_temp.evt('evt_sub_u2c_upd', 'customer.subscription.updated', '2027-03-10 11:59:30Z',
  pg_temp.sub('sub_u2c', 'cus_u2', 'incomplete_expired', 'price_pro_monthly', '2027-03-10 11:59:30Z',
              '2027-03-10 11:59:30Z', '2027-04-10 11:59:30Z'))) ->> 'status', 'processed',
  'an update that arrives before its created event is applied');
select is(pg_temp.handle(pg_temp.evt('evt_sub_u2c_cre', 'customer.subscription.created', '2027-03-10 11:59:30Z',
  pg_temp.sub('sub_u2c', 'cus_u2', 'incomplete', 'price_pro_monthly', '2027-03-10 11:59:30Z',
              '2027-03-10 11:59:30Z', '2027-04-10 11:59:30Z'))) ->> 'status', 'ignored',
  'a created event stamped the same second as an applied update is older than it');
select is((select status from tollgate.stripe_subscriptions where subscription_id = 'sub_u2c'), 'incomplete_expired',
  'the subscription keeps the update''s status');

select is(pg_temp.handle(pg_temp.evt('evt_co_u5_steal', 'checkout.session.completed', '2027-03-10 11:59Z',
  pg_temp.checkout('cs_u5_steal', 'payment', 'paid', 'cus_u1', 'c5000000-0000-4000-8000-000000000005',
                   '{"credits": "10"}', 'pi_u5_steal', 100))) ->> 'status', 'processed',
  'a paid checkout naming a customer linked to another user is still processed');
select results_eq($$ select e.error like 'Customer cus_u1 stays linked to account c1000000%', c.account_id
                     from tollgate.stripe_events e, tollgate.stripe_customers c
                    where e.id = 'evt_co_u5_steal' and c.customer_id = 'cus_u1' $$,
  $$ values (true, 'c1000000-0000-4000-8000-000000000001'::uuid) $$,
  'the customer stays linked to its account, and the event says so');
select is((select account_id from tollgate.credit_lots where grant_key = 'top_up:stripe:cs_u5_steal'),
  'c5000000-0000-4000-8000-000000000005'::uuid, 'the paid pack is granted to client_reference_id');

-- ---------------------------------------------------------------------------------------------------------------
-- Invoices
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_in_u2_failed', 'invoice.payment_failed', '2027-03-10 11:00Z',
  jsonb_build_object('id', 'in_u2a', 'object', 'invoice', 'customer', 'cus_u2', 'amount_due', 2000,
                     'currency', 'usd', 'attempt_count', 1, 'next_payment_attempt', pg_temp.at('2027-03-13 11:00Z'),
                     'parent', jsonb_build_object('type', 'subscription_details',
                       'subscription_details', jsonb_build_object('subscription', 'sub_u2'))))) ->> 'status',
  'processed', 'invoice.payment_failed is processed');
select results_eq($$ select account_id, invoice_id, amount, attempt_count, next_payment_attempt
                     from tollgate.stripe_payment_failures where id = 'in_u2a:1' $$,
  $$ values ('c2000000-0000-4000-8000-000000000002'::uuid, 'in_u2a', 2000::bigint, 1,
             '2027-03-13 11:00Z'::timestamptz) $$, 'a failure row records the attempt and the next retry');
select is(pg_temp.handle(pg_temp.evt('evt_in_u2_paid', 'invoice.paid', '2027-03-10 11:01Z',
  jsonb_build_object('id', 'in_u2a', 'object', 'invoice', 'customer', 'cus_u2', 'amount_paid', 2000,
                     'currency', 'usd', 'payments', jsonb_build_object('object', 'list', 'data', jsonb_build_array(
                       jsonb_build_object('payment', jsonb_build_object('type', 'payment_intent',
                                                                        'payment_intent', 'pi_in_u2a'))))))) ->> 'status',
  'processed', 'invoice.paid is processed');
select results_eq($$ select kind, amount, payment_intent_id, credits from tollgate.stripe_payments where id = 'in_u2a' $$,
  $$ values ('invoice', 2000::bigint, 'pi_in_u2a', 0::bigint) $$,
  'a paid invoice is recorded with the payment intent from its payments');

-- ---------------------------------------------------------------------------------------------------------------
-- Events before the link: pending, then applied in order once checkout links the customer
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_sub_u3_1', 'customer.subscription.created', '2027-03-10 11:30Z',
  pg_temp.sub('sub_u3', 'cus_u3', 'active', 'price_pro_annual', '2026-12-20 08:00Z', '2026-12-20 08:00Z',
              '2027-12-20 08:00Z'))) ->> 'status', 'pending',
  'a subscription for a customer nobody is linked to is pending');
select is(pg_temp.handle(pg_temp.evt('evt_in_u3', 'invoice.paid', '2027-03-10 11:31Z',
  jsonb_build_object('id', 'in_u3', 'object', 'invoice', 'customer', 'cus_u3', 'amount_paid', 20000,
                     'currency', 'usd'))) ->> 'status', 'pending', 'its invoice is pending too');
select results_eq($$ select a.plan_id, (select count(*) from tollgate.stripe_subscriptions
                                          where subscription_id = 'sub_u3')::int
                     from tollgate.accounts a where a.id = 'c3000000-0000-4000-8000-000000000003' $$,
  $$ values ('free', 0) $$, 'a pending event changes nothing yet');
select is(pg_temp.handle(pg_temp.evt('evt_co_u3', 'checkout.session.completed', '2027-03-10 11:32Z',
  pg_temp.checkout('cs_u3', 'subscription', 'paid', 'cus_u3', 'c3000000-0000-4000-8000-000000000003',
                   '{}', null, 20000))) ->> 'pending_applied', '2',
  'the checkout that links the customer applies both waiting events');
select results_eq($$ select id, status from tollgate.stripe_events where id in ('evt_sub_u3_1', 'evt_in_u3') order by id $$,
  $$ values ('evt_in_u3', 'processed'), ('evt_sub_u3_1', 'processed') $$, 'the waiting events are now processed');
select results_eq($$ select plan_id, period_start, period_end, balance from tollgate.accounts
                     where id = 'c3000000-0000-4000-8000-000000000003' $$,
  $$ values ('pro', '2027-02-20 08:00Z'::timestamptz, '2027-03-20 08:00Z'::timestamptz, 500::bigint) $$,
  'an annual subscription still gets monthly periods from its billing anchor, with a monthly allowance');
select isnt_empty($$ select 1 from tollgate.stripe_payments where id = 'in_u3' $$,
  'the waiting invoice is recorded once the link arrives');

select is(pg_temp.handle(pg_temp.evt('evt_sub_u3_2', 'customer.subscription.updated', '2027-03-10 11:40Z',
  pg_temp.sub('sub_u3', 'cus_u3', 'past_due', 'price_pro_annual', '2026-12-20 08:00Z', '2026-12-20 08:00Z',
              '2027-12-20 08:00Z'))) ->> 'status', 'processed', 'a past_due update is processed');
select results_eq($$ select a.plan_id, a.balance, s.status from tollgate.accounts a
                     join tollgate.stripe_subscriptions s on s.account_id = a.id
                    where a.id = 'c3000000-0000-4000-8000-000000000003' $$,
  $$ values ('pro', 500::bigint, 'past_due') $$, 'past_due keeps the plan and credits (grace), visibly');
select is(pg_temp.handle(pg_temp.evt('evt_sub_u3_3', 'customer.subscription.updated', '2027-03-10 11:50Z',
  pg_temp.sub('sub_u3', 'cus_u3', 'unpaid', 'price_pro_annual', '2026-12-20 08:00Z', '2026-12-20 08:00Z',
              '2027-12-20 08:00Z'))) ->> 'status', 'processed', 'an unpaid update is processed');
select results_eq($$ select plan_id, balance from tollgate.accounts where id = 'c3000000-0000-4000-8000-000000000003' $$,
  $$ values ('free', 3::bigint) $$, 'unpaid falls back to the default plan');

-- ---------------------------------------------------------------------------------------------------------------
-- An unknown price: failed, nothing applied; mapped and redelivered: applied
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_sub_u2b', 'customer.subscription.created', '2027-03-10 11:59Z',
  pg_temp.sub('sub_u2b', 'cus_u2', 'active', 'price_mystery', '2027-03-09 00:00Z', '2027-03-09 00:00Z',
              '2027-04-09 00:00Z'))) ->> 'status', 'failed', 'a subscription to an unknown price fails');
select results_eq($$ select e.error like 'Unknown price price_mystery%', a.plan_id,
                            (select count(*) from tollgate.stripe_subscriptions where subscription_id = 'sub_u2b')::int
                     from tollgate.stripe_events e, tollgate.accounts a
                    where e.id = 'evt_sub_u2b' and a.id = 'c2000000-0000-4000-8000-000000000002' $$,
  $$ values (true, 'free', 0) $$, 'the account keeps its plan and the subscription is not mirrored');
update tollgate.plans set stripe_price_ids = stripe_price_ids || '{price_mystery}' where id = 'pro';
select is(pg_temp.handle(pg_temp.evt('evt_sub_u2b', 'customer.subscription.created', '2027-03-10 11:59Z',
  pg_temp.sub('sub_u2b', 'cus_u2', 'active', 'price_mystery', '2027-03-09 00:00Z', '2027-03-09 00:00Z',
              '2027-04-09 00:00Z'))) ->> 'status', 'processed',
  'once the price is mapped, a redelivery of the failed event is applied');
select results_eq($$ select a.plan_id, a.balance, e.attempts, e.error from tollgate.accounts a, tollgate.stripe_events e
                    where a.id = 'c2000000-0000-4000-8000-000000000002' and e.id = 'evt_sub_u2b' $$,
  $$ values ('pro', 500::bigint, 2, null::text) $$, 'the retried event switched the plan and cleared its error');

-- ---------------------------------------------------------------------------------------------------------------
-- Refunds: claw back the refunded share once, into overdraft when the credits were spent
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_ch_u1', 'charge.refunded', '2027-03-10 11:59Z',
  pg_temp.charge('ch_u1', 'pi_u1', 1000, 300, null))) ->> 'status', 'processed',
  'a partial refund of a pack is processed');
select results_eq($$ select (select remaining from tollgate.credit_lots where grant_key = 'top_up:stripe:cs_u1'),
                            (select remaining from tollgate.credit_lots where grant_key = 'top_up:stripe:cs_u1b'),
                            pg_temp.balance('c1000000-0000-4000-8000-000000000001') $$,
  $$ values (70::bigint, 50::bigint, 133::bigint) $$,
  '30% refunded claws back 30 of the 100 credits, from the refunded pack''s own lot');
select results_eq($$ select delta, idempotency_key from tollgate.credit_ledger
                     where account_id = 'c1000000-0000-4000-8000-000000000001' and reason = 'refund' $$,
  $$ values (-30::bigint, 'stripe:evt_ch_u1') $$, 'one negative refund entry is in the ledger, keyed by its event');

select tollgate._consume_credits('c4000000-0000-4000-8000-000000000004', 'before-pack', 0, 'default', null,
                               '2027-03-10 11:00Z');
select is(pg_temp.handle(pg_temp.evt('evt_co_u4', 'checkout.session.completed', '2027-03-10 11:00Z',
  pg_temp.checkout('cs_u4', 'payment', 'paid', null, 'c4000000-0000-4000-8000-000000000004',
                   '{"credits": "10"}', 'pi_u4', 500))) ->> 'status', 'processed',
  'a guest checkout (no customer) still credits client_reference_id');
select is((tollgate._consume_credits('c4000000-0000-4000-8000-000000000004', 'spend-all', 13, 'default', null,
                                   '2027-03-10 11:10Z')) ->> 'balance', '0', 'the buyer spends every credit');
select is(pg_temp.handle(pg_temp.evt('evt_ch_u4_1', 'charge.refunded', '2027-03-10 11:20Z',
  pg_temp.charge('ch_u4', 'pi_u4', 500, 250, null))) ->> 'status', 'processed', 'a half refund is processed');
select results_eq($$ select balance, overdraft from tollgate.accounts where id = 'c4000000-0000-4000-8000-000000000004' $$,
  $$ values (-5::bigint, 5::bigint) $$, 'the claw-back of spent credits takes the balance below zero');
select is(pg_temp.handle(pg_temp.evt('evt_ch_u4_1', 'charge.refunded', '2027-03-10 11:20Z',
  pg_temp.charge('ch_u4', 'pi_u4', 500, 250, null))) ->> 'status', 'duplicate', 'the same refund event again is a duplicate');
select is(pg_temp.handle(pg_temp.evt('evt_ch_u4_1b', 'charge.refunded', '2027-03-10 11:21Z',
  pg_temp.charge('ch_u4', 'pi_u4', 500, 250, null))) ->> 'status', 'ignored',
  'another event for the same refunded amount finds nothing more to claw back');
select is(pg_temp.handle(pg_temp.evt('evt_ch_u4_2', 'charge.refunded', '2027-03-10 11:30Z',
  pg_temp.charge('ch_u4', 'pi_u4', 500, 500, '{"object": "list", "data": [{"id": "re_u4_1"}, {"id": "re_u4_2"}]}')))
  ->> 'status', 'processed', 'the rest of the refund is processed');
select results_eq($$ select p.refunded_credits, p.refund_ids, p.charge_id, a.balance
                     from tollgate.stripe_payments p join tollgate.accounts a on a.id = p.account_id where p.id = 'cs_u4' $$,
  $$ values (10::bigint, '{re_u4_1,re_u4_2}'::text[], 'ch_u4', -10::bigint) $$,
  'the full refund claws back only the remaining 5 credits, cumulatively 10');
select is(pg_temp.handle(pg_temp.evt('evt_ch_u4_0', 'charge.refunded', '2027-03-10 11:10Z',
  pg_temp.charge('ch_u4', 'pi_u4', 500, 100, null))) ->> 'status', 'ignored',
  'an older, smaller refund event arriving late claws back nothing');
select is((select count(*) from tollgate.credit_ledger where account_id = 'c4000000-0000-4000-8000-000000000004'
            and reason = 'refund')::int, 2, 'two refund entries in all, one per refunded amount');
select is(pg_temp.handle(pg_temp.evt('evt_ch_other', 'charge.refunded', '2027-03-10 11:30Z',
  pg_temp.charge('ch_other', 'pi_unknown', 500, 500, null))) ->> 'status', 'pending',
  'a refund of a charge Tollgate has not seen waits for its payment');

-- ---------------------------------------------------------------------------------------------------------------
-- Other types, malformed events, the books
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_misc', 'customer.created', '2027-03-10 11:00Z',
  '{"id": "cus_new", "object": "customer"}')) ->> 'status', 'ignored', 'an unhandled type is ignored');
select results_eq($$ select type, status, error from tollgate.stripe_events where id = 'evt_misc' $$,
  $$ values ('customer.created', 'ignored', 'Event type customer.created is not handled') $$,
  'an unhandled type is stored with its reason');
select throws_ok($$ select pg_temp.handle('{"type": "invoice.paid", "data": {"object": {}}}') $$, 'TGS02', null,
  'an event without an id is refused');
select throws_ok($$ select pg_temp.handle(pg_temp.evt('evt_no_object', 'invoice.paid', now(), '"x"')) $$, 'TGS02',
  null, 'an event without an object is refused');
select is_empty($$ select 1 from tollgate.stripe_events where id = 'evt_no_object' $$, 'a refused event is not stored');
select is_empty($$ select * from tollgate.check_ledger() $$, 'the books balance after every Stripe effect');

-- ---------------------------------------------------------------------------------------------------------------
-- Who may call it
-- ---------------------------------------------------------------------------------------------------------------
-- as anon
set local role anon;
select throws_ok($$ select tollgate.handle_stripe_event(pg_temp.evt('evt_anon', 'x.y', now(), '{}'), false) $$, '42501', null,
  'anon cannot feed events');
reset role;

-- as a user
set local role authenticated;
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "c1000000-0000-4000-8000-000000000001"}',
  true);
select throws_ok($$ select tollgate.handle_stripe_event(pg_temp.evt('evt_user', 'x.y', now(), '{}'), false) $$, '42501', null,
  'a user cannot feed events');
reset role;

-- as service_role
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is(tollgate.handle_stripe_event(pg_temp.evt('evt_service', 'x.y', now(), '{}'), false) ->> 'status', 'ignored',
  'service_role feeds events through handle_stripe_event');
select throws_ok($$ select tollgate._handle_stripe_event(pg_temp.evt('evt_pin', 'x.y', now(), '{}'), false, '[]',
  now()) $$, '42501', null, 'service_role cannot pick the time through the internal function');
select throws_ok($$ select tollgate._set_account_plan('c1000000-0000-4000-8000-000000000001', 'business', now(),
  2500, now()) $$, '42501', null, 'service_role cannot switch plans outside an event');
reset role;

select is_empty($$ select p.oid::regprocedure::text from pg_proc p
                    where p.pronamespace = 'tollgate'::regnamespace
                      and (p.proname like '\_stripe%' or p.proname like '\_apply\_stripe%'
                           or p.proname in ('_set_account_plan', '_sync_account_plan', '_link_stripe_customer',
                                            '_handle_stripe_event', '_record_stripe_outcome', '_settle_stripe_payment',
                                            '_apply_waiting_stripe_events'))
                      and (has_function_privilege('service_role', p.oid, 'execute')
                           or has_function_privilege('authenticated', p.oid, 'execute')) $$,
  'the internal Stripe helpers are granted to nobody');

select * from finish();
rollback;
