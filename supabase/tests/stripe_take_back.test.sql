-- Refunds and disputes through tollgate._handle_stripe_event at pinned times: what a payment takes back is what its
-- refunds and withdrawn disputes cover, minus what expired, once; a won dispute gives back where it took from.
begin;
select plan(36);

create function pg_temp.evt(p_id text, p_type text, p_created timestamptz, p_object jsonb) returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'event', 'created', extract(epoch from p_created)::bigint,
                            'type', p_type, 'livemode', false, 'data', jsonb_build_object('object', p_object))
$$;
-- A paid $10 pack of 100 credits for user p_user, paid with payment intent pi_<p_tag>.
create function pg_temp.pack(p_tag text, p_user uuid, p_created timestamptz, p_days text default null)
returns jsonb language sql as $$
  select pg_temp.evt('evt_co_' || p_tag, 'checkout.session.completed', p_created, jsonb_build_object(
    'id', 'cs_' || p_tag, 'object', 'checkout.session', 'mode', 'payment', 'payment_status', 'paid',
    'customer', null, 'client_reference_id', p_user, 'payment_intent', 'pi_' || p_tag, 'amount_total', 1000,
    'currency', 'usd', 'metadata', jsonb_strip_nulls(jsonb_build_object('credits', '100',
                                                                        'credits_expire_days', p_days))))
$$;
create function pg_temp.refund(p_id text, p_tag text, p_refunded bigint, p_created timestamptz) returns jsonb
language sql as $$
  select pg_temp.evt(p_id, 'charge.refunded', p_created, jsonb_build_object(
    'id', 'ch_' || p_tag, 'object', 'charge', 'amount', 1000, 'amount_refunded', p_refunded, 'currency', 'usd',
    'payment_intent', 'pi_' || p_tag))
$$;
create function pg_temp.dispute(p_id text, p_type text, p_tag text, p_status text, p_created timestamptz)
returns jsonb language sql as $$
  select pg_temp.evt(p_id, 'charge.dispute.' || p_type, p_created, jsonb_build_object(
    'id', 'du_' || p_tag, 'object', 'dispute', 'amount', 1000, 'currency', 'usd', 'charge', 'ch_' || p_tag,
    'payment_intent', 'pi_' || p_tag, 'status', p_status))
$$;
create function pg_temp.handle(p_event jsonb, p_now timestamptz default '2027-03-10 12:00Z') returns text
language sql as $$ select tollgate._handle_stripe_event(p_event, false, '[]', p_now) ->> 'status' $$;
-- Balance, overdraft and what is left in each lot: plan lots, then top-ups, then promos, oldest first.
create function pg_temp.books(p_user uuid) returns table (balance bigint, overdraft bigint, lots bigint[])
language sql as $$
  select a.balance, a.overdraft,
         array(select l.remaining from tollgate.credit_lots l where l.account_id = a.id
                order by l.source, l.created_at, l.id)
    from tollgate.accounts a where a.id = p_user
$$;
create function pg_temp.spend(p_user uuid, p_key text, p_amount bigint) returns void language sql as $$
  select tollgate._consume_credits(p_user, p_key, p_amount, 'default', null, '2027-03-10 11:00Z');
$$;

insert into auth.users (id, email) values
  ('d1000000-0000-4000-8000-000000000001', 'partial@example.com'),
  ('d2000000-0000-4000-8000-000000000002', 'overdraft@example.com'),
  ('d3000000-0000-4000-8000-000000000003', 'other-lot@example.com'),
  ('d4000000-0000-4000-8000-000000000004', 'expired@example.com'),
  ('d5000000-0000-4000-8000-000000000005', 'half-expired@example.com'),
  ('d6000000-0000-4000-8000-000000000006', 'inquiry@example.com');
-- Their signup periods pinned around the test times, with their 3 free credits.
update tollgate.accounts
   set period_anchor = '2027-03-01', period_start = '2027-03-01', period_end = '2027-04-01',
       next_expiry_at = '2027-04-01'
 where id::text like 'd_000000-0000-4000-8000-00000000000_';
update tollgate.credit_lots set expires_at = '2027-04-01' where account_id::text like 'd_000000-0000-4000-8000-00000000000_';
update tollgate.plan_limits set request_limit = 1000 where plan_id = 'free' and feature = 'default';

-- ---------------------------------------------------------------------------------------------------------------
-- Partial refunds: cumulative, each share once
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.pack('d1', 'd1000000-0000-4000-8000-000000000001', '2027-03-10 10:00Z')),
  'processed', 'the pack is granted');
select is(pg_temp.handle(pg_temp.refund('evt_d1_r1', 'd1', 300, '2027-03-10 10:10Z')), 'processed',
  'a 30% refund is processed');
select is(pg_temp.handle(pg_temp.refund('evt_d1_r2', 'd1', 600, '2027-03-10 10:20Z')), 'processed',
  'the refund grown to 60% is processed');
select is(pg_temp.handle(pg_temp.refund('evt_d1_r0', 'd1', 300, '2027-03-10 10:05Z')), 'ignored',
  'an older, smaller refund event arriving late takes nothing');
select results_eq($$ select * from pg_temp.books('d1000000-0000-4000-8000-000000000001') $$,
  $$ values (43::bigint, 0::bigint, '{3,40}'::bigint[]) $$, '60 of the pack''s 100 are taken back, from its own lot');
select results_eq($$ select refunded_credits, taken_back, taken_from from tollgate.stripe_payments where id = 'cs_d1' $$,
  $$ values (60::bigint, 60::bigint, jsonb_build_object((select lot_id::text from tollgate.stripe_payments
                                                          where id = 'cs_d1'), 60)) $$,
  'the payment records what it took back and from where');
select results_eq($$ select delta from tollgate.credit_ledger
                     where account_id = 'd1000000-0000-4000-8000-000000000001' and reason = 'refund' order by seq $$,
  $$ values (-30::bigint), (-30::bigint) $$, 'one ledger entry per refunded share');

-- ---------------------------------------------------------------------------------------------------------------
-- A spent pack: a dispute takes it into overdraft, and winning it repays that overdraft
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.pack('d2', 'd2000000-0000-4000-8000-000000000002', '2027-03-10 10:00Z')),
  'processed', 'the pack is granted');
select pg_temp.spend('d2000000-0000-4000-8000-000000000002', 'spend-d2', 100);
select is(pg_temp.handle(pg_temp.dispute('evt_d2_open', 'created', 'd2', 'needs_response', '2027-03-10 11:10Z')),
  'processed', 'a chargeback takes the pack back');
select results_eq($$ select * from pg_temp.books('d2000000-0000-4000-8000-000000000002') $$,
  $$ values (-97::bigint, 97::bigint, '{0,0}'::bigint[]) $$,
  'the 3 left in its lot, and the 97 already spent as overdraft');
select is(pg_temp.handle(pg_temp.dispute('evt_d2_wd', 'funds_withdrawn', 'd2', 'needs_response',
                                         '2027-03-10 11:11Z')), 'ignored', 'the funds withdrawn change nothing more');
select is(pg_temp.handle(pg_temp.dispute('evt_d2_won', 'closed', 'd2', 'won', '2027-03-10 11:20Z')), 'processed',
  'the dispute won gives the credits back');
select results_eq($$ select * from pg_temp.books('d2000000-0000-4000-8000-000000000002') $$,
  $$ values (3::bigint, 0::bigint, '{0,3}'::bigint[]) $$,
  'the overdraft is repaid and the pack''s lot holds its 3 again: as if there had been no dispute');
select results_eq($$ select reason, delta from tollgate.credit_ledger
                     where account_id = 'd2000000-0000-4000-8000-000000000002' and reason = 'dispute' order by seq $$,
  $$ values ('dispute', -100::bigint), ('dispute', 100::bigint) $$, 'once taken, once given back');
select is(pg_temp.handle(pg_temp.dispute('evt_d2_reinstated', 'funds_reinstated', 'd2', 'won',
                                         '2027-03-10 11:19Z')), 'ignored', 'the reinstated funds give nothing twice');

-- ---------------------------------------------------------------------------------------------------------------
-- Taken from another lot: given back to that lot
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.pack('d3', 'd3000000-0000-4000-8000-000000000003', '2027-03-10 10:00Z')),
  'processed', 'the pack is granted');
select pg_temp.spend('d3000000-0000-4000-8000-000000000003', 'spend-d3', 103);
select tollgate._grant_lot('d3000000-0000-4000-8000-000000000003', 'promo', 200, '2027-06-01', 20, 'promo:d3', '{}',
                         '2027-03-10 11:05Z');
select is(pg_temp.handle(pg_temp.dispute('evt_d3_open', 'created', 'd3', 'needs_response', '2027-03-10 11:10Z')),
  'processed', 'a chargeback of the spent pack is processed');
select results_eq($$ select * from pg_temp.books('d3000000-0000-4000-8000-000000000003') $$,
  $$ values (100::bigint, 0::bigint, '{0,0,100}'::bigint[]) $$, 'the 100 come from the promo lot, not overdraft');
select is(pg_temp.handle(pg_temp.dispute('evt_d3_won', 'funds_reinstated', 'd3', 'won', '2027-03-10 11:20Z')),
  'processed', 'the dispute won gives back');
select results_eq($$ select * from pg_temp.books('d3000000-0000-4000-8000-000000000003') $$,
  $$ values (200::bigint, 0::bigint, '{0,0,200}'::bigint[]) $$, 'the promo lot gets its 100 back');

-- ---------------------------------------------------------------------------------------------------------------
-- Expiry: what expired from the pack is never taken back again
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.pack('d4', 'd4000000-0000-4000-8000-000000000004', '2027-03-01 10:00Z', '5'),
                         '2027-03-01 10:00Z'), 'processed', 'a pack expiring after 5 days is granted');
select is(pg_temp.handle(pg_temp.refund('evt_d4_r', 'd4', 1000, '2027-03-10 10:00Z')), 'ignored',
  'a full refund after the pack expired takes nothing');
select results_eq($$ select * from pg_temp.books('d4000000-0000-4000-8000-000000000004') $$,
  $$ values (3::bigint, 0::bigint, '{3,0}'::bigint[]) $$,
  'the 100 expired once; the refund does not take them again from the free credits');

select is(pg_temp.handle(pg_temp.pack('d5', 'd5000000-0000-4000-8000-000000000005', '2027-03-01 10:00Z', '5'),
                         '2027-03-01 10:00Z'), 'processed', 'a pack expiring after 5 days is granted');
select tollgate._consume_credits('d5000000-0000-4000-8000-000000000005', 'spend-d5', 33, 'default', null,
                               '2027-03-02 10:00Z');
select is(pg_temp.handle(pg_temp.refund('evt_d5_r', 'd5', 1000, '2027-03-10 10:00Z')), 'processed',
  'a full refund after 70 of the pack expired is processed');
select results_eq($$ select * from pg_temp.books('d5000000-0000-4000-8000-000000000005') $$,
  $$ values (-30::bigint, 30::bigint, '{0,0}'::bigint[]) $$,
  'it takes back the 30 that were spent, not the 70 that expired');

select is(pg_temp.handle(pg_temp.pack('d6', 'd6000000-0000-4000-8000-000000000006', '2027-03-01 10:00Z', '5'),
                         '2027-03-01 10:00Z'), 'processed', 'a pack expiring after 5 days is granted');
select is(pg_temp.handle(pg_temp.dispute('evt_d6_inq', 'created', 'd6', 'warning_needs_response',
                                         '2027-03-02 10:00Z'), '2027-03-02 10:00Z'), 'ignored',
  'an inquiry moves no credits');
select is(pg_temp.handle(pg_temp.dispute('evt_d6_open', 'created', 'd6', 'needs_response', '2027-03-03 10:00Z'),
                         '2027-03-03 10:00Z'), 'processed', 'the chargeback takes the pack back before it expires');
select is(pg_temp.handle(pg_temp.dispute('evt_d6_won', 'closed', 'd6', 'won', '2027-03-10 10:00Z')), 'processed',
  'winning it after the pack''s expiry is processed');
select results_eq($$ select b.balance, b.lots, p.taken_back, p.taken_from ->> 'expired'
                     from pg_temp.books('d6000000-0000-4000-8000-000000000006') b, tollgate.stripe_payments p
                    where p.id = 'cs_d6' $$,
  $$ values (3::bigint, '{3,0}'::bigint[], 0::bigint, '100') $$,
  'nothing comes back: the pack would have expired meanwhile, and that is remembered as expired');
select is(pg_temp.handle(pg_temp.refund('evt_d6_r', 'd6', 1000, '2027-03-10 11:00Z')), 'ignored',
  'a refund afterwards finds nothing left to take back');
select is(pg_temp.handle(pg_temp.dispute('evt_d6_late', 'created', 'd6', 'needs_response', '2027-03-03 10:00Z')),
  'ignored', 'a late created event never reopens the dispute won');
select is((select status from tollgate.stripe_disputes where dispute_id = 'du_d6'), 'won', 'a closed dispute stays closed');

select is_empty($$ select * from tollgate.check_ledger() $$, 'the books balance after every take-back');

-- as service_role
set local role service_role;
select throws_ok($$ select tollgate._settle_stripe_payment('cs_d1', 'refund', 'x', '{}', now()) $$, '42501', null,
  'service_role cannot move a payment''s credits outside an event');
reset role;

select * from finish();
rollback;
