-- billing_status at pinned times: what a UI shows of an account (plan and features, balance available, held,
-- overdraft, period, every limit's state, the acting member's cap, the next expiry), for members only, reading
-- only: it counts no request and no cap and releases no hold.
begin;
select plan(14);

insert into auth.users (id, email) values
  ('b1000000-0000-4000-8000-00000000000b', 'owner@example.com'),
  ('b2000000-0000-4000-8000-00000000000b', 'capped@example.com'),
  ('b3000000-0000-4000-8000-00000000000b', 'outsider@example.com');
select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role": "service_role"}', true);
select set_config('test.team', tollgate.create_team_account('Status', 'b1000000-0000-4000-8000-00000000000b')::text,
  true);
select tollgate.add_account_member(current_setting('test.team')::uuid, 'b2000000-0000-4000-8000-00000000000b');
select tollgate.set_member_cap(current_setting('test.team')::uuid, 'b2000000-0000-4000-8000-00000000000b', 10,
  'month');
select tollgate.grant_credits(current_setting('test.team')::uuid, 40, 'status', 'top_up');
select tollgate.grant_credits(current_setting('test.team')::uuid, 5, 'promo-1', 'promo', '2030-02-20 00:00Z');
select tollgate.grant_credits(current_setting('test.team')::uuid, 3, 'promo-2', 'promo', '2030-02-20 00:00Z');
select tollgate.grant_credits(current_setting('test.team')::uuid, 7, 'promo-3', 'promo', '2030-02-25 00:00Z');
select set_config('role', 'none', true);
update tollgate.accounts
   set period_anchor = '2030-02-01 10:00Z', period_start = '2030-02-01 10:00Z', period_end = '2030-03-01 10:00Z',
       next_expiry_at = '2030-02-20 00:00Z'
 where id = current_setting('test.team')::uuid;
update tollgate.plans set features = '{"export": true}' where id = 'free';

create function pg_temp.team() returns uuid language sql as $$ select current_setting('test.team')::uuid $$;
-- The capped member takes 2 credits, holds 4 (for 60 s) and makes one request on 'default' (of 2 a day, 5 a month).
select tollgate._consume_credits(pg_temp.team(), 'used', 2, 'gen', null, '2030-02-10 12:00Z',
                                 'b2000000-0000-4000-8000-00000000000b');
select tollgate._consume_credits(pg_temp.team(), 'held', 4, 'default', null, '2030-02-10 12:00Z',
                                 'b2000000-0000-4000-8000-00000000000b', true, 60);
-- Everything billing_status could touch, to compare after it ran.
create function pg_temp.state() returns text language sql as $$
  select md5(concat_ws('|',
    (select string_agg(to_jsonb(c)::text, ',' order by c.feature, c.period, c.window_start)
       from tollgate.usage_counters c where c.account_id = pg_temp.team()),
    (select string_agg(to_jsonb(u)::text, ',' order by u.user_id, u.period, u.window_start)
       from tollgate.member_usage u where u.account_id = pg_temp.team()),
    (select string_agg(to_jsonb(h)::text, ',' order by h.id) from tollgate.credit_holds h
      where h.account_id = pg_temp.team()),
    (select to_jsonb(a)::text from tollgate.accounts a where a.id = pg_temp.team())))
$$;
select set_config('test.before', pg_temp.state(), true);

select is(tollgate._billing_status(pg_temp.team(), 'b2000000-0000-4000-8000-00000000000b', '2030-02-10 12:00:30Z'),
  jsonb_build_object(
    'account_id', pg_temp.team(), 'kind', 'team', 'plan', '{"id": "free", "features": {"export": true}}'::jsonb,
    'balance', 49, 'held', 4, 'overdraft', 0,
    'period', '{"start": "2030-02-01T10:00:00+00:00", "end": "2030-03-01T10:00:00+00:00"}'::jsonb,
    'quota', '[{"feature": "default", "period": "day", "used": 1, "limit": 2, "resets_at": "2030-02-11T00:00:00+00:00"},
               {"feature": "default", "period": "month", "used": 1, "limit": 5,
                "resets_at": "2030-03-01T10:00:00+00:00"}]'::jsonb,
    'member_cap', '{"cap": 10, "period": "month", "used": 6, "remaining": 4,
                    "resets_at": "2030-03-01T10:00:00+00:00"}'::jsonb,
    'next_expiry', '{"at": "2030-02-20T00:00:00+00:00", "credits": 6}'::jsonb),
  'the member sees the plan and its features, 49 available with 4 held, every limit, their cap (held credits '
  'count) and the 6 credits left of the lots expiring first (the 2 taken came from them)');
select is(pg_temp.state(), current_setting('test.before'), 'reading it changed no counter, cap, hold or account');
select is(tollgate._billing_status(pg_temp.team(), 'b2000000-0000-4000-8000-00000000000b', '2030-02-10 12:01Z')
            -> 'held', '0'::jsonb, 'after the hold''s expiry it is no longer shown held');
select is(tollgate._billing_status(pg_temp.team(), 'b2000000-0000-4000-8000-00000000000b', '2030-02-10 12:01Z')
            -> 'balance', '53'::jsonb, 'and its credits are available again');
select is(pg_temp.state(), current_setting('test.before'), 'without releasing it: only a call or the sweeper writes');
select is(tollgate._billing_status(pg_temp.team(), null, '2030-02-10 12:00:30Z') -> 'member_cap', 'null'::jsonb,
  'no member named: no cap');
select is(tollgate._billing_status(pg_temp.team(), 'b1000000-0000-4000-8000-00000000000b', '2030-02-10 12:00:30Z')
            -> 'member_cap', 'null'::jsonb, 'a member without a cap: null');
select is(tollgate._billing_status(pg_temp.team(), null, '2030-02-26 00:00Z') -> 'next_expiry', 'null'::jsonb,
  'no lot left to expire: null');

-- who may read it
select set_config('role', 'authenticated', true),
       set_config('request.jwt.claims', '{"role": "authenticated", "sub": "b2000000-0000-4000-8000-00000000000b"}',
                  true);
select is(tollgate.billing_status(pg_temp.team()) ->> 'account_id', pg_temp.team()::text,
  'a member reads their team''s status over rpc');
select is(tollgate.billing_status() ->> 'kind', 'personal', 'and their own personal account''s without naming it');
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "b3000000-0000-4000-8000-00000000000b"}',
                  true);
select throws_ok($$ select tollgate.billing_status(pg_temp.team()) $$, 'TG403', null,
  'a user who is not a member is refused');
select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is(tollgate.billing_status(p_user_id => 'b3000000-0000-4000-8000-00000000000b') ->> 'account_id',
  'b3000000-0000-4000-8000-00000000000b', 'the service role names a user: their personal account');
select throws_ok($$ select tollgate.billing_status(p_account_id => 'f0000000-0000-4000-8000-00000000000f') $$,
  'TG404', null, 'the service role naming no existing account gets TG404');
select set_config('role', 'anon', true), set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select tollgate.billing_status() $$, '42501', null, 'anon may not call it');

select * from finish();
rollback;
