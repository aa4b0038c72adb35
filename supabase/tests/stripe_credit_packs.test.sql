-- Credit packs from the catalogue, at a pinned time (2027-03-10 12:00Z): a paid one-time checkout grants what
-- tollgate.credit_packs says its pack buys (named by Tollgate's metadata.tollgate_pack_id, or by the prices of its
-- line items), never a number in its metadata; sessions an app created before packs were data keep their
-- metadata.credits when no pack matches; an unknown pack fails the event and grants nothing.
begin;
select plan(16);

create function pg_temp.evt(p_id text, p_created timestamptz, p_object jsonb) returns jsonb language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'event', 'created', extract(epoch from p_created)::bigint,
                            'type', 'checkout.session.completed', 'livemode', false,
                            'data', jsonb_build_object('object', p_object))
$$;
create function pg_temp.session(p_id text, p_user uuid, p_metadata jsonb, p_extra jsonb default '{}') returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'checkout.session', 'mode', 'payment', 'status', 'complete',
                            'payment_status', 'paid', 'customer', 'cus_' || p_id, 'client_reference_id', p_user,
                            'metadata', p_metadata, 'payment_intent', 'pi_' || p_id, 'amount_total', 900,
                            'currency', 'usd') || p_extra
$$;
create function pg_temp.handle(p_event jsonb) returns jsonb language sql as $$
  select tollgate._handle_stripe_event(p_event, false, '[]', '2027-03-10 12:00Z')
$$;
create function pg_temp.lot(p_session text) returns table (amount bigint, expires_at timestamptz, pack text)
language sql as $$
  select l.amount, l.expires_at, l.metadata ->> 'pack_id' from tollgate.credit_lots l
   where l.grant_key = 'top_up:stripe:' || p_session
$$;

insert into tollgate.credit_packs (id, name, credits, stripe_price_id, expires_after_days) values
  ('small', 'Small pack', 100, 'price_pack_small', 30),
  ('large', 'Large pack', 1000, 'price_pack_large', null);
insert into auth.users (id, email) values
  ('d1000000-0000-4000-8000-00000000000d', 'packs@example.com');

select is(pg_temp.handle(pg_temp.evt('evt_pack1', '2027-03-10 11:00Z',
            pg_temp.session('cs_pack1', 'd1000000-0000-4000-8000-00000000000d',
                            '{"tollgate_pack_id": "small", "credits": "1000000"}'))) ->> 'status',
  'processed', 'a session Tollgate created for a pack is processed');
select results_eq($$ select * from pg_temp.lot('cs_pack1') $$,
  $$ values (100::bigint, '2027-04-09 11:00Z'::timestamptz, 'small') $$,
  'it grants the catalogue''s 100 credits, expiring 30 days after the event, whatever metadata.credits says');
select is((select credits from tollgate.stripe_payments where id = 'cs_pack1'), 100::bigint,
  'the payment records the credits a refund takes back');
select is(pg_temp.handle(pg_temp.evt('evt_pack1', '2027-03-10 11:00Z',
            pg_temp.session('cs_pack1', 'd1000000-0000-4000-8000-00000000000d',
                            '{"tollgate_pack_id": "small"}'))) ->> 'status',
  'duplicate', 'a redelivery changes nothing');
select is(pg_temp.handle(pg_temp.evt('evt_pack1b', '2027-03-10 11:00Z',
            pg_temp.session('cs_pack1', 'd1000000-0000-4000-8000-00000000000d',
                            '{"tollgate_pack_id": "small"}'))) ->> 'status',
  'processed', 'nor does async_payment_succeeded-like second event of the same session');
select is((select count(*)::int from tollgate.credit_lots where grant_key = 'top_up:stripe:cs_pack1'), 1,
  'one grant per session');

update tollgate.credit_packs set active = false where id = 'large';
select is(pg_temp.handle(pg_temp.evt('evt_pack2', '2027-03-10 11:01Z',
            pg_temp.session('cs_pack2', 'd1000000-0000-4000-8000-00000000000d', '{}',
                            '{"line_items": {"object": "list", "data": [{"price": {"id": "price_pack_large"},
                              "quantity": 2}]}}'))) ->> 'status',
  'processed', 'a session that lists its line items (retrieved with expand) is processed');
select results_eq($$ select * from pg_temp.lot('cs_pack2') $$,
  $$ values (2000::bigint, null::timestamptz, 'large') $$,
  'its pack is found by price: two large packs, 2000 credits that never expire, though the pack is no longer sold');

select is(pg_temp.handle(pg_temp.evt('evt_pack3', '2027-03-10 11:02Z',
            pg_temp.session('cs_pack3', 'd1000000-0000-4000-8000-00000000000d',
                            '{"credits": "7", "credits_expire_days": "10"}'))) ->> 'status',
  'processed', 'a session an app created with metadata.credits (before packs) is still processed');
select results_eq($$ select * from pg_temp.lot('cs_pack3') $$,
  $$ values (7::bigint, '2027-03-20 11:02Z'::timestamptz, null::text) $$,
  'and grants its metadata.credits, since no pack matches it');
select is(pg_temp.handle(pg_temp.evt('evt_pack4', '2027-03-10 11:03Z',
            pg_temp.session('cs_pack4', 'd1000000-0000-4000-8000-00000000000d', '{"credits": "999999"}',
                            '{"line_items": {"data": [{"price": "price_pack_small", "quantity": 1}]}}'))) ->> 'status',
  'processed', 'a legacy session whose line items are a pack');
select results_eq($$ select amount from pg_temp.lot('cs_pack4') $$, $$ values (100::bigint) $$,
  'gets the pack''s credits, not its metadata.credits');

select is(pg_temp.handle(pg_temp.evt('evt_pack5', '2027-03-10 11:04Z',
            pg_temp.session('cs_pack5', 'd1000000-0000-4000-8000-00000000000d',
                            '{"tollgate_pack_id": "gone", "credits": "50"}'))),
  '{"status": "failed", "event_id": "evt_pack5", "pending_applied": 0,
    "reason": "Cannot apply checkout cs_pack5: pack gone is not in tollgate.credit_packs"}'::jsonb,
  'a pack the catalogue no longer has fails the event (TGS07), so the operator sees it');
select is_empty($$ select * from pg_temp.lot('cs_pack5') $$, 'and grants nothing, not even metadata.credits');
select is(pg_temp.handle(pg_temp.evt('evt_pack6', '2027-03-10 11:05Z',
            pg_temp.session('cs_pack6', 'd1000000-0000-4000-8000-00000000000d', '{}'))) ->> 'status',
  'processed', 'a payment session with neither pack nor credits links its customer');
select is_empty($$ select * from pg_temp.lot('cs_pack6') $$, 'and grants nothing');

select * from finish();
rollback;
