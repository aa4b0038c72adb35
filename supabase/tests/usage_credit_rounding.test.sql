-- How log-ai-usage turns a cost into credits: the exact cost times credits_per_usd, rounded half
-- up, so a charge is never half a credit or more away from the exact cost, at any credits_per_usd.
begin;
select plan(12);

insert into auth.users (id, email) values ('5c000000-0000-4000-8000-000000000001', 'rounding@example.com');
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select tollgate.grant_credits('5c000000-0000-4000-8000-000000000001', 1000000, 'rounding', 'top_up');
create temp table start as
  select balance from tollgate.accounts where id = '5c000000-0000-4000-8000-000000000001';

-- A price of 1 USD per million input tokens: n tokens cost exactly n / 1,000,000 USD. And one of 0.000001 USD
-- per million, the smallest a price can be: n tokens cost n / 10^12 USD, below cost_usd's 10 decimals.
insert into tollgate.model_prices (model, effective_from, input_usd_per_mtok, output_usd_per_mtok) values
  ('round-1', '2027-01-01 00:00Z', 1, 0),
  ('round-tiny', '2027-01-01 00:00Z', 0.000001, 0);

-- The credits a charged call of n input tokens of the model is charged, at a pinned time.
create function pg_temp.charged(p_key text, p_model text, p_tokens bigint) returns bigint language sql as $$
  select (tollgate._log_ai_usage('5c000000-0000-4000-8000-000000000001', p_key, p_model, p_tokens, 0, null,
                               'rounding', 0, null, 'success', null, true, null, null, null,
                               '2027-03-10 12:00Z') ->> 'credits_charged')::bigint
$$;

-- at the default 100 credits per USD (1 credit = 1 US cent)
update tollgate.usage_settings set credits_per_usd = 100;
select is(pg_temp.charged('a', 'round-1', 4999), 0::bigint, '0.4999 credits round down to 0');
select is(pg_temp.charged('b', 'round-1', 5000), 1::bigint, '0.5 credits round half up to 1');
select is(pg_temp.charged('c', 'round-1', 15000), 2::bigint, '1.5 credits round up to 2');
select is(pg_temp.charged('d', 'round-1', 25000), 3::bigint, '2.5 credits round up to 3 (half up, not to even)');
select is(pg_temp.charged('e', 'round-1', 24999), 2::bigint, '2.4999 credits round down to 2');
select is(pg_temp.charged('f', 'gpt-4o-mini', 1000), 0::bigint,
  'a 0.00015 USD call (1,000 gpt-4o-mini input tokens) is 0.015 credits: free, not a whole credit');
select is((select count(*) from tollgate.credit_ledger where account_id = '5c000000-0000-4000-8000-000000000001'
            and reason = 'usage' and idempotency_key in ('a', 'f'))::int, 0,
  'a call charged 0 credits writes no ledger entry');

-- at a high credits_per_usd
update tollgate.usage_settings set credits_per_usd = 1000000;
select is(pg_temp.charged('g', 'gpt-4o-mini', 1000), 150::bigint,
  'at 1,000,000 credits per USD the same 0.00015 USD call is exactly 150 credits');
update tollgate.usage_settings set credits_per_usd = 10000000000000;
select is(pg_temp.charged('h', 'round-tiny', 50), 500::bigint,
  'at 10^13 credits per USD, 5e-11 USD is 500 credits: the cost is not rounded to 10 decimals (1e-10, 1000) first');
select is((select cost_usd from tollgate.ai_usage where user_id = '5c000000-0000-4000-8000-000000000001'
            and request_id = 'h'), 0.0000000001::numeric(20, 10),
  'while cost_usd is still stored with 10 decimals');
select is(pg_temp.charged('i', 'round-tiny', 49), 490::bigint, 'and 4.9e-11 USD is 490 credits');

select is((select balance from tollgate.accounts where id = '5c000000-0000-4000-8000-000000000001'),
  (select balance from start) - (0 + 1 + 2 + 3 + 2 + 0 + 150 + 500 + 490),
  'the balance moved by exactly the charges');

select * from finish();
rollback;
