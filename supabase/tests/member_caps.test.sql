-- Member caps at pinned times: a team member's credits are counted when they are taken (consume), in their UTC day
-- and in the account's credit period, whatever the cap; over the cap is TGM29 with cap, used, period, resets_at
-- and retry_after, and nothing is applied; no cap is unlimited; post-paid usage counts but is never refused.
begin;
select plan(31);

insert into auth.users (id, email) values
  ('c1000000-0000-4000-8000-00000000000c', 'owner@example.com'),
  ('c2000000-0000-4000-8000-00000000000c', 'capped@example.com'),
  ('c3000000-0000-4000-8000-00000000000c', 'free@example.com');
select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role": "service_role"}', true);
select set_config('test.team', tollgate.create_team_account('Caps', 'c1000000-0000-4000-8000-00000000000c')::text,
  true);
select tollgate.add_account_member(current_setting('test.team')::uuid, 'c2000000-0000-4000-8000-00000000000c');
select tollgate.add_account_member(current_setting('test.team')::uuid, 'c3000000-0000-4000-8000-00000000000c');
select tollgate.set_member_cap(current_setting('test.team')::uuid, 'c2000000-0000-4000-8000-00000000000c', 3, 'day');
select tollgate.grant_credits(current_setting('test.team')::uuid, 1000, 'caps', 'top_up');
select set_config('role', 'none', true);
-- The team's credit period runs from 31 Jan 2030 10:00 UTC to 28 Feb 10:00 (the clamped anniversary).
update tollgate.accounts
   set period_anchor = '2030-01-31 10:00Z', period_start = '2030-01-31 10:00Z', period_end = '2030-02-28 10:00Z'
 where id = current_setting('test.team')::uuid;

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
-- Member p_member takes p_amount credits from the team at p_at (feature 'gen': no request limits on the plan).
create function pg_temp.take(p_member uuid, p_key text, p_amount bigint, p_at timestamptz) returns jsonb
language sql as $$
  select tollgate._consume_credits(current_setting('test.team')::uuid, p_key, p_amount, 'gen', null, p_at, p_member)
$$;
create function pg_temp.used(p_member uuid, p_period text, p_at timestamptz) returns bigint language sql as $$
  select credits from tollgate.member_usage
   where account_id = current_setting('test.team')::uuid and user_id = p_member and period::text = p_period
     and p_at >= window_start and p_at < window_end
$$;
create function pg_temp.books() returns jsonb language sql as $$
  select jsonb_build_object(
    'balance', (select balance from tollgate.accounts where id = current_setting('test.team')::uuid),
    'ledger', (select count(*) from tollgate.credit_ledger where account_id = current_setting('test.team')::uuid),
    'keys', (select count(*) from tollgate.idempotency_keys where account_id = current_setting('test.team')::uuid),
    'counted', (select coalesce(sum(credits), 0) from tollgate.member_usage
                 where account_id = current_setting('test.team')::uuid))
$$;
create temp table snap (name text primary key, state jsonb);

-- a day cap of 3
select is((pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'd1', 2, '2030-02-10 09:00Z') ->> 'consumed')::int, 2,
  'the capped member takes 2 of their 3');
select is((pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'd2', 1, '2030-02-10 23:59Z') ->> 'consumed')::int, 1,
  'and the third, exactly at the cap, later the same UTC day');
select results_eq($$ select pg_temp.used('c2000000-0000-4000-8000-00000000000c', 'day', '2030-02-10 12:00Z'),
                            pg_temp.used('c2000000-0000-4000-8000-00000000000c', 'month', '2030-02-10 12:00Z') $$,
  $$ values (3::bigint, 3::bigint) $$, 'counted in their day and in the account''s credit period');
insert into snap values ('at cap', pg_temp.books());
select is(pg_temp.refusal($$ select pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'd3', 1, '2030-02-10 23:59:30Z') $$),
  jsonb_build_object('sqlstate', 'TGM29', 'detail', jsonb_build_object(
    'cap', 3, 'used', 3, 'required', 1, 'period', 'day', 'resets_at', '2030-02-11T00:00:00+00:00', 'retry_after', 30)),
  'one more credit is TGM29 with cap, used, period, resets_at and retry_after');
select is(pg_temp.books(), (select state from snap where name = 'at cap'),
  'and nothing of it is applied: balance, ledger, replay record and count unchanged');
select is(pg_temp.refusal($$ select pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'd3', 1, '2030-02-10 23:59:30Z') $$) ->> 'sqlstate',
  'TGM29', 'a refused key binds nothing: the same key is refused again, not replayed');
select is((pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'd4', 0, '2030-02-10 23:59:40Z') ->> 'consumed')::int, 0,
  'taking no credits is within any cap');
select is((pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'd1', 2, '2030-02-10 23:59:50Z') ->> 'replayed')::boolean,
  true, 'a replay of an earlier key answers again');
select is(pg_temp.used('c2000000-0000-4000-8000-00000000000c', 'day', '2030-02-10 12:00Z'), 3::bigint,
  'and counts nothing twice');

-- the other member goes on, with no cap
select is((pg_temp.take('c3000000-0000-4000-8000-00000000000c', 'f1', 50, '2030-02-10 23:59:55Z') ->> 'balance')::int, 947,
  'a member without a cap takes 50 from the same balance (1000 - 3 - 50)');

-- the next UTC day
select is(pg_temp.refusal($$ select pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'n1', 4, '2030-02-11 00:00Z') $$) -> 'detail' ->> 'used',
  '0', 'a new day starts at 0 used, and 4 at once is over a cap of 3');
select is((pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'n2', 3, '2030-02-11 00:00Z') ->> 'consumed')::int, 3,
  'while 3 is exactly the cap again');

-- a month cap counts what was taken earlier in the period
select is((tollgate.set_member_cap(current_setting('test.team')::uuid, 'c2000000-0000-4000-8000-00000000000c', 8,
  'month')).cap_period::text, 'month', 'the cap becomes 8 per credit period');
select is(pg_temp.refusal($$ select pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'm1', 3, '2030-02-12 10:00Z') $$),
  jsonb_build_object('sqlstate', 'TGM29', 'detail', jsonb_build_object(
    'cap', 8, 'used', 6, 'required', 3, 'period', 'month', 'resets_at', '2030-02-28T10:00:00+00:00',
    'retry_after', 1382400)),
  'with 6 already taken this period, 3 more is over it; it resets with the credit period');
select is((pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'm2', 2, '2030-02-12 10:00Z') ->> 'consumed')::int, 2,
  'but 2 reach it exactly');

-- post-paid usage counts toward the cap, never refused by it
select is((tollgate._log_ai_usage(current_setting('test.team')::uuid, 'u1', 'gpt-4o', 400000, 100000, null, 'gen', 0,
  null, 'success', null, true, null, null, null, '2030-02-12 11:00Z', 'c2000000-0000-4000-8000-00000000000c')
  ->> 'credits_charged')::int, 200, 'a member at their cap logs a charged call of 200 credits: usage already happened');
select is(pg_temp.used('c2000000-0000-4000-8000-00000000000c', 'month', '2030-02-12 11:00Z'), 208::bigint,
  'and it counts toward the cap, going over it');
select results_eq($$ select user_id from tollgate.ai_usage where account_id = current_setting('test.team')::uuid $$,
  $$ values ('c2000000-0000-4000-8000-00000000000c'::uuid) $$, 'the usage row names the member');
select is(pg_temp.refusal($$ select pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'm3', 1, '2030-02-13 10:00Z') $$) -> 'detail' ->> 'used',
  '208', 'so the next consume is refused, showing the overshoot');

-- a cap of 0, and no cap
select lives_ok($$ select tollgate.set_member_cap(current_setting('test.team')::uuid,
  'c3000000-0000-4000-8000-00000000000c', 0, 'day') $$, 'a cap of 0 a day');
select is(pg_temp.refusal($$ select pg_temp.take('c3000000-0000-4000-8000-00000000000c', 'z1', 1, '2030-02-13 10:00Z') $$) ->> 'sqlstate',
  'TGM29', 'refuses any credit');
select lives_ok($$ select tollgate.set_member_cap(current_setting('test.team')::uuid,
  'c3000000-0000-4000-8000-00000000000c', null, null) $$, 'and lifting it');
select is((pg_temp.take('c3000000-0000-4000-8000-00000000000c', 'z2', 10, '2030-02-13 10:00Z') ->> 'consumed')::int, 10,
  'leaves the member unlimited');

-- leaving and coming back does not reset a count
select lives_ok($$ select tollgate.remove_account_member(current_setting('test.team')::uuid,
  'c2000000-0000-4000-8000-00000000000c') $$, 'the capped member is removed');
select is(pg_temp.refusal($$ select pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'r1', 1, '2030-02-13 10:00Z') $$) ->> 'sqlstate',
  'TG403', 'a removed member takes nothing, checked under the account''s lock');
select lives_ok($$ select tollgate.add_account_member(current_setting('test.team')::uuid,
  'c2000000-0000-4000-8000-00000000000c') $$, 'and added back, without a cap');
select lives_ok($$ select tollgate.set_member_cap(current_setting('test.team')::uuid,
  'c2000000-0000-4000-8000-00000000000c', 210, 'month') $$, 'then capped at 210 a period');
select is(pg_temp.refusal($$ select pg_temp.take('c2000000-0000-4000-8000-00000000000c', 'r2', 3, '2030-02-13 10:00Z') $$) -> 'detail' ->> 'used',
  '208', 'still finds the 208 they took this period');

-- the ledger and the books
select results_eq($$ select actor_id, sum(-delta)::int from tollgate.credit_ledger
                      where account_id = current_setting('test.team')::uuid and reason in ('consume', 'usage')
                      group by actor_id order by actor_id $$,
  $$ values ('c2000000-0000-4000-8000-00000000000c'::uuid, 208), ('c3000000-0000-4000-8000-00000000000c'::uuid, 60) $$,
  'every debit names its member: 2+1+3+2 credits and a 200-credit charge, and 50+10');
select is_empty($$ select * from tollgate.member_usage m join tollgate.accounts a on a.id = m.account_id
                    where a.kind = 'personal' $$, 'personal accounts count no member usage');
select is_empty($$ select * from tollgate.check_ledger(current_setting('test.team')::uuid) $$, 'the books balance');

select * from finish();
rollback;
