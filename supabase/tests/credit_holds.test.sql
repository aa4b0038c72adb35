-- Holds at pinned times: consume with a hold reserves credits under the account's lock (no ledger movement), every
-- other call sees only balance - held, log_ai_usage with the hold_id charges the priced credits from it and releases
-- the rest (the excess post-paid), a call that cost nothing releases it all, a settle replays and is never settled
-- by another request, an expired hold comes back once (the sweeper or the account's next call, whichever first),
-- and check_ledger proves the books and the held credits throughout.
begin;
select plan(54);

insert into auth.users (id, email) values
  ('d1000000-0000-4000-8000-00000000000d', 'owner@example.com'),
  ('d2000000-0000-4000-8000-00000000000d', 'capped@example.com');
select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role": "service_role"}', true);
select set_config('test.team', tollgate.create_team_account('Holds', 'd1000000-0000-4000-8000-00000000000d')::text,
  true);
select set_config('test.other', tollgate.create_team_account('Other', 'd1000000-0000-4000-8000-00000000000d')::text,
  true);
select tollgate.add_account_member(current_setting('test.team')::uuid, 'd2000000-0000-4000-8000-00000000000d');
select tollgate.set_member_cap(current_setting('test.team')::uuid, 'd2000000-0000-4000-8000-00000000000d', 4, 'day');
select tollgate.grant_credits(current_setting('test.team')::uuid, 50, 'holds', 'top_up');
select tollgate.grant_credits(current_setting('test.other')::uuid, 10, 'other', 'top_up');
select set_config('role', 'none', true);
-- Both teams' credit periods run from 1 Feb 2030 10:00 UTC to 1 Mar 10:00; a price of 1 credit per 10,000 input
-- tokens (1 USD per million at 100 credits per USD), 2 per 10,000 output, cache reads a tenth, writes 1.25x.
update tollgate.accounts
   set period_anchor = '2030-02-01 10:00Z', period_start = '2030-02-01 10:00Z', period_end = '2030-03-01 10:00Z'
 where id in (current_setting('test.team')::uuid, current_setting('test.other')::uuid);
insert into tollgate.model_prices (model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok,
                                   cached_input_usd_per_mtok, cache_write_usd_per_mtok)
values ('hold-model', 'test', '2030-01-01 00:00Z', 1.00, 2.00, 0.10, 1.25);

create function pg_temp.team() returns uuid language sql as $$ select current_setting('test.team')::uuid $$;
-- Runs a statement that must fail; answers its SQLSTATE and JSON detail (the failed statement applies nothing).
create function pg_temp.refusal(p_sql text) returns jsonb language plpgsql as $$
declare
  v_detail text;
begin
  execute p_sql;
  return null;
exception when others then
  get stacked diagnostics v_detail = pg_exception_detail;
  return jsonb_build_object('sqlstate', sqlstate, 'detail', nullif(v_detail, '')::jsonb);
end
$$;
-- The team holds (p_hold) or consumes p_amount credits at p_at (feature 'gen': no request limits), as no member.
create function pg_temp.take(p_key text, p_amount bigint, p_at timestamptz, p_hold boolean default true,
                             p_ttl integer default 600, p_member uuid default null) returns jsonb
language sql as $$
  select tollgate._consume_credits(pg_temp.team(), p_key, p_amount, 'gen', null, p_at, p_member, p_hold, p_ttl)
$$;
-- The team logs a call of hold-model at p_at settling p_hold.
create function pg_temp.settle(p_request text, p_hold uuid, p_input bigint, p_at timestamptz,
                               p_status text default 'success', p_output bigint default 0,
                               p_cached bigint default 0, p_written bigint default 0,
                               p_member uuid default null) returns jsonb
language sql as $$
  select tollgate._log_ai_usage(pg_temp.team(), p_request, 'hold-model', p_input, p_output, 'test', 'gen', p_cached,
                                null, p_status, null, false, null, null, null, p_at, p_member, p_written, p_hold)
$$;
create function pg_temp.account() returns tollgate.accounts language sql as $$
  select * from tollgate.accounts where id = pg_temp.team() $$;
create function pg_temp.hold(p_key text) returns tollgate.credit_holds language sql as $$
  select * from tollgate.credit_holds where account_id = pg_temp.team() and idempotency_key = p_key $$;
create temp table answers (name text primary key, answer jsonb);

-- reserving
insert into answers values ('h1', pg_temp.take('h1', 20, '2030-02-10 12:00Z'));
select is((select answer - 'quota' - 'hold_id' from answers where name = 'h1'),
  '{"transaction_id": null, "consumed": 0, "balance": 30, "held": 20, "replayed": false,
    "hold_expires_at": "2030-02-10T12:10:00+00:00"}'::jsonb,
  'a hold of 20 against 50 answers balance 30 (what is still available), held 20, and expires after the default ttl');
select is((select answer ->> 'hold_id' from answers where name = 'h1'), (pg_temp.hold('h1')).id::text,
  'the answer names the hold');
select is(((pg_temp.account()).balance, (pg_temp.account()).held), (50::bigint, 20::bigint),
  'the cached balance stays 50 with 20 held: a hold is a reservation, not a ledger movement');
select is((select count(*)::int from tollgate.credit_ledger where account_id = pg_temp.team() and reason <> 'grant'),
  0, 'no ledger row for a hold');
select is(pg_temp.refusal($$ select pg_temp.take('h2', 31, '2030-02-10 12:01Z') $$),
  '{"sqlstate": "TG402", "detail": {"balance": 30, "required": 31}}'::jsonb,
  'a second hold beyond what is available is TG402, naming the available balance');
select is(pg_temp.refusal($$ select pg_temp.take('c1', 31, '2030-02-10 12:01Z', false) $$),
  '{"sqlstate": "TG402", "detail": {"balance": 30, "required": 31}}'::jsonb,
  'so is a plain consume: held credits count against the balance for every other call');
select is((pg_temp.take('c1', 30, '2030-02-10 12:01Z', false) - 'quota' - 'transaction_id'),
  '{"consumed": 30, "balance": 0, "held": 20, "replayed": false}'::jsonb,
  'a consume of exactly what is available succeeds and leaves 0 available, 20 still held');
select is_empty($$ select * from tollgate.check_ledger(pg_temp.team()) $$, 'the books balance with 20 held');

-- replays and conflicts of the hold itself
select is((select pg_temp.take('h1', 20, '2030-02-10 12:02Z') - 'replayed' = answer - 'replayed' from answers
            where name = 'h1'), true, 'the same key and body answers the first hold again');
select is((pg_temp.take('h1', 20, '2030-02-10 12:02Z') ->> 'replayed')::boolean, true, 'marked replayed');
select is(((pg_temp.account()).held, (select count(*)::int from tollgate.credit_holds
                                        where account_id = pg_temp.team())), (20::bigint, 1),
  'and nothing more is held');
select is(pg_temp.refusal($$ select pg_temp.take('h1', 20, '2030-02-10 12:02Z', false) $$) ->> 'sqlstate', 'TG409',
  'the hold''s key used for a plain consume is TG409');
select is(pg_temp.refusal($$ select pg_temp.take('h1', 20, '2030-02-10 12:02Z', true, 60) $$) ->> 'sqlstate',
  'TG409', 'and with another ttl');
select is(pg_temp.refusal($$ select pg_temp.take('bad', 1, '2030-02-10 12:02Z', true, 9) $$) ->> 'sqlstate', 'TG400',
  'a ttl under 10 seconds is TG400');
select is(pg_temp.refusal($$ select pg_temp.take('bad', 1, '2030-02-10 12:02Z', true, 86401) $$) ->> 'sqlstate',
  'TG400', 'a ttl over a day is TG400');

-- settling: 60,000 input tokens = 6 credits of the 20 held
insert into answers values ('s1', pg_temp.settle('s1', (pg_temp.hold('h1')).id, 60000, '2030-02-10 12:05Z'));
select is((select answer - 'usage_id' from answers where name = 's1'),
  '{"cost_usd": "0.06", "credits_charged": 6, "balance": 14, "hold_released": 14, "unpriced": false,
    "replayed": false}'::jsonb,
  'settling charges the priced 6 credits from the hold and releases the other 14: 14 available');
select is(((pg_temp.account()).balance, (pg_temp.account()).held), (14::bigint, 0::bigint),
  'the cached balance moved by the charge only, and nothing is held');
select is(((pg_temp.hold('h1')).status, (pg_temp.hold('h1')).charged, (pg_temp.hold('h1')).released,
           (pg_temp.hold('h1')).settled_by), ('settled'::text, 6::bigint, 14::bigint, 's1'::text),
  'the hold is settled by s1: 6 charged, 14 released');
select is((select (delta, reason, metadata ->> 'from_hold') from tollgate.credit_ledger
            where account_id = pg_temp.team() and idempotency_key = 's1'), (-6::bigint, 'usage'::text, '6'::text),
  'one usage row of -6 in the ledger, naming what came from the hold');
select is((select hold_id from tollgate.ai_usage where account_id = pg_temp.team() and request_id = 's1'),
  (pg_temp.hold('h1')).id, 'the usage row names the hold it settled');
select is_empty($$ select * from tollgate.check_ledger(pg_temp.team()) $$, 'the books balance after the settle');
select is((select pg_temp.settle('s1', (pg_temp.hold('h1')).id, 60000, '2030-02-10 12:06Z') - 'replayed'
                  = answer - 'replayed' from answers where name = 's1'), true,
  'the same request_id and body answers the settle again');
select is(((pg_temp.account()).balance, (select count(*)::int from tollgate.credit_ledger
                                           where account_id = pg_temp.team() and reason = 'usage')), (14::bigint, 1),
  'and charges nothing more');
select is(pg_temp.refusal($$ select pg_temp.settle('s1', (pg_temp.hold('h1')).id, 70000, '2030-02-10 12:06Z') $$)
            ->> 'sqlstate', 'TG409', 'the same request_id with other tokens is TG409');
select is(pg_temp.refusal($$ select pg_temp.settle('s2', (pg_temp.hold('h1')).id, 0, '2030-02-10 12:06Z') $$),
  jsonb_build_object('sqlstate', 'TGH09', 'detail', jsonb_build_object('hold_id', (pg_temp.hold('h1')).id,
                     'settled_by', 's1', 'status', 'settled')),
  'another request_id settling the same hold is TGH09, naming who settled it');
select is(pg_temp.refusal($$ select pg_temp.settle('s3', 'f0000000-0000-4000-8000-00000000000f', 0,
                                                   '2030-02-10 12:06Z') $$) ->> 'sqlstate', 'TG404',
  'an unknown hold is TG404');
select set_config('test.foreign', (tollgate._consume_credits(current_setting('test.other')::uuid, 'theirs', 1, 'gen',
  null, '2030-02-10 12:06Z', null, true, 600) ->> 'hold_id'), true);
select is(pg_temp.refusal($$ select pg_temp.settle('s4', current_setting('test.foreign')::uuid, 0,
                                                   '2030-02-10 12:06Z') $$) ->> 'sqlstate', 'TG404',
  'so is another account''s hold');

-- the excess post-paid, a failed call released, cache tokens at their own prices
select pg_temp.take('h3', 5, '2030-02-10 13:00Z');
select is(pg_temp.settle('s5', (pg_temp.hold('h3')).id, 80000, '2030-02-10 13:01Z') - 'usage_id',
  '{"cost_usd": "0.08", "credits_charged": 8, "balance": 6, "hold_released": 0, "unpriced": false,
    "replayed": false}'::jsonb,
  'a call costing 8 against a hold of 5 takes the 5 and 3 more post-paid');
select pg_temp.take('h4', 6, '2030-02-10 13:02Z');
select is(pg_temp.settle('s6', (pg_temp.hold('h4')).id, 90000, '2030-02-10 13:03Z') - 'usage_id',
  '{"cost_usd": "0.09", "credits_charged": 9, "balance": -3, "hold_released": 0, "unpriced": false,
    "replayed": false}'::jsonb,
  'the excess is post-paid even below zero: usage already happened');
select is(pg_temp.refusal($$ select pg_temp.take('c2', 1, '2030-02-10 13:04Z', false) $$),
  '{"sqlstate": "TG402", "detail": {"balance": -3, "required": 1}}'::jsonb, 'and the next consume is TG402');
select tollgate.grant_credits(pg_temp.team(), 100, 'more', 'top_up');
select pg_temp.take('h5', 10, '2030-02-10 13:05Z');
select is(pg_temp.settle('s7', (pg_temp.hold('h5')).id, 0, '2030-02-10 13:06Z', 'error') - 'usage_id',
  '{"cost_usd": "0", "credits_charged": 0, "balance": 97, "hold_released": 10, "unpriced": false,
    "replayed": false}'::jsonb,
  'a failed call with no tokens releases the whole hold and charges nothing');
select is((select count(*)::int from tollgate.credit_ledger where account_id = pg_temp.team()
                                                             and idempotency_key = 's7'), 0,
  'no ledger row for a release');
select pg_temp.take('h6', 10, '2030-02-10 13:07Z');
-- 10,000 uncached input (1 credit), 200,000 cache reads at a tenth (2), 80,000 cache writes at 1.25x (10),
-- 10,000 output at 2x (2): 15 credits.
select is(pg_temp.settle('s8', (pg_temp.hold('h6')).id, 10000, '2030-02-10 13:08Z', 'success', 10000, 200000,
                         80000) - 'usage_id',
  '{"cost_usd": "0.15", "credits_charged": 15, "balance": 82, "hold_released": 0, "unpriced": false,
    "replayed": false}'::jsonb,
  'cache reads and cache writes are priced at their own rates, input_tokens at the input price');
select is((select (cached_input_tokens, cache_write_tokens) from tollgate.ai_usage
            where account_id = pg_temp.team() and request_id = 's8'), (200000::bigint, 80000::bigint),
  'the usage row keeps both cache counts');
select is((select cache_write_tokens from tollgate.usage_counters
            where account_id = pg_temp.team() and feature = 'gen' and period = 'day'), 80000::bigint,
  'and the counters add the cache writes');
select is_empty($$ select * from tollgate.check_ledger(pg_temp.team()) $$,
  'the books balance after post-paid excess, a release and a cached call');

-- expiry: lazily, by the account's next call, once
select pg_temp.take('e1', 7, '2030-02-10 14:00Z', true, 60);
select is((pg_temp.account()).held, 7::bigint, '7 held until 14:01');
select is((pg_temp.take('c3', 1, '2030-02-10 14:00:59Z', false) ->> 'held')::bigint, 7::bigint,
  'a call a second before the expiry still sees it held');
select is(pg_temp.take('c4', 1, '2030-02-10 14:01Z', false) - 'quota' - 'transaction_id',
  '{"consumed": 1, "balance": 80, "held": 0, "replayed": false}'::jsonb,
  'the account''s next call after the expiry finds the 7 credits back');
select is(((pg_temp.hold('e1')).status, (pg_temp.hold('e1')).released, (pg_temp.hold('e1')).closed_at),
  ('expired'::text, 7::bigint, '2030-02-10 14:01Z'::timestamptz), 'the hold expired at that call');
select is((tollgate.release_expired_holds('2030-02-10 14:05Z')).credits_released, 1::bigint,
  'the sweeper finds only the other team''s expired hold (1 credit) left to release, none of this team''s');
select is((pg_temp.account()).balance - (pg_temp.account()).held, 80::bigint, 'so the 7 came back exactly once');

-- expiry: by the sweeper, once; then a late settle is charged post-paid
select pg_temp.take('e2', 9, '2030-02-10 15:00Z', true, 60);
select is((select (accounts_released, credits_released) from tollgate.release_expired_holds('2030-02-10 15:00:30Z')),
  (0::bigint, 0::bigint), 'the sweeper leaves a hold that has not expired');
select is((select (accounts_released, credits_released) from tollgate.release_expired_holds('2030-02-10 15:01Z')),
  (1::bigint, 9::bigint), 'and releases it once it has, without any call of the account');
select is((pg_temp.account()).held, 0::bigint, 'nothing is held any more');
select is((select (accounts_released, credits_released) from tollgate.release_expired_holds('2030-02-10 15:02Z')),
  (0::bigint, 0::bigint), 'running it again releases nothing');
select is(pg_temp.settle('s9', (pg_temp.hold('e2')).id, 40000, '2030-02-10 15:03Z') - 'usage_id',
  '{"cost_usd": "0.04", "credits_charged": 4, "balance": 76, "hold_released": 0, "unpriced": false,
    "replayed": false}'::jsonb,
  'usage logged after its hold expired is charged post-paid in full, and releases nothing twice');
select is(pg_temp.refusal($$ select pg_temp.settle('s10', (pg_temp.hold('e2')).id, 0, '2030-02-10 15:04Z') $$)
            ->> 'sqlstate', 'TGH09', 'and no other request settles that hold again');

-- the member's cap counts held credits when they are held
select is(pg_temp.take('m1', 3, '2030-02-10 16:00Z', true, 600, 'd2000000-0000-4000-8000-00000000000d') ->> 'held',
  '3', 'a capped member holds 3 of their 4 a day');
select is(pg_temp.refusal($$ select pg_temp.take('m2', 2, '2030-02-10 16:01Z', false, 600,
                                                 'd2000000-0000-4000-8000-00000000000d') $$) ->> 'sqlstate', 'TGM29',
  'then a consume of 2 is over the cap: the hold counted');
select is(pg_temp.settle('m1', (pg_temp.hold('m1')).id, 10000, '2030-02-10 16:02Z', 'success', 0, 0, 0,
                         'd2000000-0000-4000-8000-00000000000d') ->> 'hold_released', '2',
  'settling 1 of the 3 releases 2 credits to the account');
select is((select credits from tollgate.member_usage where account_id = pg_temp.team()
              and user_id = 'd2000000-0000-4000-8000-00000000000d' and period = 'day'), 3::bigint,
  'the member''s count stays what was held: caps count when credits are held, never at settlement');

-- the books, and the check that proves held
select is_empty($$ select * from tollgate.check_ledger() $$, 'every account''s books balance, holds included');
update tollgate.accounts set held = held + 1 where id = pg_temp.team();
select is((select problem from tollgate.check_ledger(pg_temp.team())), 'held differs from the open holds',
  'check_ledger names held credits that differ from the open holds');

select * from finish();
rollback;
