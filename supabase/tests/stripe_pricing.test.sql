-- The pricing mirror: price.* and product.* events (and a retrieval at checkout) keep the newest state whatever
-- order they arrive in; tollgate.pricing lists plans and active packs with their amounts, and anon reads it, but no
-- price the catalogue does not list.
begin;
select plan(16);

create function pg_temp.evt(p_id text, p_type text, p_created timestamptz, p_object jsonb) returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'event', 'created', extract(epoch from p_created)::bigint,
                            'type', p_type, 'livemode', false, 'data', jsonb_build_object('object', p_object))
$$;
create function pg_temp.price(p_id text, p_amount bigint, p_active boolean, p_interval text default null)
returns jsonb language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'price', 'product', 'prod_pricing', 'active', p_active,
                            'currency', 'usd', 'unit_amount', p_amount,
                            'recurring', case when p_interval is not null
                                              then jsonb_build_object('interval', p_interval, 'interval_count', 1) end)
$$;
create function pg_temp.handle(p_event jsonb) returns text language sql as $$
  select tollgate._handle_stripe_event(p_event, false, '[]', '2027-03-10 12:00Z') ->> 'status'
$$;
create function pg_temp.mirrored(p_id text) returns table (active boolean, unit_amount bigint, synced_from text)
language sql as $$ select active, unit_amount, synced_from from tollgate.stripe_prices where price_id = p_id $$;

update tollgate.plans set stripe_price_ids = '{price_pricing_monthly,price_pricing_yearly}' where id = 'pro';
insert into tollgate.credit_packs (id, name, credits, stripe_price_id, expires_after_days, active, sort_order) values
  ('pricing-small', 'Small', 100, 'price_pricing_pack', 365, true, 1),
  ('pricing-old', 'Old', 50, 'price_pricing_old', null, false, 2);

-- An update delivered before the creation it follows.
select is(pg_temp.handle(pg_temp.evt('evt_pr2', 'price.updated', '2027-03-10 10:00:05Z',
            pg_temp.price('price_pricing_monthly', 2500, true, 'month'))), 'processed', 'price.updated first');
select is(pg_temp.handle(pg_temp.evt('evt_pr1', 'price.created', '2027-03-10 10:00:00Z',
            pg_temp.price('price_pricing_monthly', 2000, true, 'month'))), 'ignored', 'the older price.created after it');
select results_eq($$ select * from pg_temp.mirrored('price_pricing_monthly') $$,
  $$ values (true, 2500::bigint, 'evt_pr2') $$, 'keeps the newer state');
select is(pg_temp.handle(pg_temp.evt('evt_pr3', 'price.created', '2027-03-10 10:00:05Z',
            pg_temp.price('price_pricing_monthly', 2000, true, 'month'))), 'ignored',
  'a created of the same second ranks before an updated, whichever comes first');
select is(pg_temp.handle(pg_temp.evt('evt_pr4', 'price.deleted', '2027-03-10 10:00:05Z',
            pg_temp.price('price_pricing_monthly', 2500, true, 'month'))), 'processed',
  'a deleted of the same second ranks after it');
select results_eq($$ select active from pg_temp.mirrored('price_pricing_monthly') $$, $$ values (false) $$,
  'and leaves the price inactive');

-- A retrieval at checkout stores the state as of now (the real clock); an event from before it changes nothing.
select is((tollgate.record_stripe_price(pg_temp.price('price_pricing_yearly', 24000, true, 'year')
                                        || '{"product": {"id": "prod_pricing", "object": "product", "name": "Pro",
                                             "active": true}}')).unit_amount,
  24000::bigint, 'a retrieved price is stored and returned');
select is((select name from tollgate.stripe_products where product_id = 'prod_pricing'), 'Pro',
  'with its expanded product');
select is(pg_temp.handle(pg_temp.evt('evt_pr5', 'price.updated', '2026-01-01 10:00:00Z',
            pg_temp.price('price_pricing_yearly', 1, true, 'year'))), 'ignored', 'an older event after it is ignored');
select is(pg_temp.handle(pg_temp.evt('evt_pr6', 'price.updated', '2027-03-10 10:00:00Z',
            pg_temp.price('price_pricing_pack', 900, true))), 'processed', 'the pack''s price');
select is(pg_temp.handle(pg_temp.evt('evt_pr8', 'price.created', '2027-03-10 10:00:00Z',
            pg_temp.price('price_pricing_custom', 5000000, true, 'year'))), 'processed',
  'a custom price no plan lists is mirrored too');
select is(pg_temp.handle(pg_temp.evt('evt_pr7', 'price.updated', '2027-03-10 10:00:00Z',
            '{"id": "not_a_price", "object": "price"}')), 'failed', 'a malformed price fails its event');

-- as anon
set local role anon;
select results_eq($$ select kind, id, credits, price_id, unit_amount, currency, recurring_interval
                       from tollgate.pricing where id in ('free', 'pro', 'pricing-small', 'pricing-old')
                      order by kind desc, sort_order, price_id $$,
  $$ values ('plan', 'free', 3::bigint, null, null::bigint, null, null),
            ('plan', 'pro', 500, 'price_pricing_yearly', 24000, 'usd', 'year'),
            ('pack', 'pricing-small', 100, 'price_pricing_pack', 900, 'usd', null) $$,
  'anon reads the pricing: the free plan, pro''s active yearly price (the deleted monthly one is left out), the '
  'active pack with its amount; not the inactive pack');
select is((select count(*)::int from tollgate.credit_packs where id like 'pricing-%'), 1,
  'anon reads only active packs from the catalogue');
select results_eq($$ select price_id from tollgate.stripe_prices where price_id like 'price_pricing_%' order by 1 $$,
  $$ values ('price_pricing_monthly'), ('price_pricing_pack'), ('price_pricing_yearly') $$,
  'and only the prices the catalogue lists: not price_pricing_custom, a price no plan or active pack names');
reset role;
select pg_temp.handle(pg_temp.evt('evt_pd1', 'product.deleted', '2030-01-01 11:00Z',
                                  '{"id": "prod_pricing", "object": "product", "name": "Pro", "active": false}'));
set local role anon;
select is((select count(*)::int from tollgate.pricing where price_id like 'price_pricing_%'), 0,
  'a deleted product takes its prices off the pricing');
reset role;

select * from finish();
rollback;
