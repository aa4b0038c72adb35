-- The webhook delivery of billing events, as deliver-billing-events drives it at pinned times: claims take due
-- events oldest first and lease them (a second claim skips them), outcomes are recorded in one call per batch, a
-- failure backs off exponentially with its error kept, a delivered event is never due again. Service role only.
begin;
select plan(12);

insert into auth.users (id, email) values ('d1000000-0000-4000-8000-00000000000d', 'dispatch@example.com');
-- Two events of this account, due at 10:00 and 10:01 on 1 Jan 2031; nothing else is due before 2031.
select tollgate._emit_event('d1000000-0000-4000-8000-00000000000d', 'credits.granted', '{"n": 1}', 'one',
                            '2031-01-01 10:00Z');
select tollgate._emit_event('d1000000-0000-4000-8000-00000000000d', 'credits.granted', '{"n": 2}', 'two',
                            '2031-01-01 10:01Z');
update tollgate.billing_event_deliveries set next_attempt_at = '2032-01-01'
 where event_id not in (select id from tollgate.billing_events where account_id = 'd1000000-0000-4000-8000-00000000000d');

create function pg_temp.claim(p_at timestamptz) returns setof jsonb language sql as $$
  select jsonb_build_object('n', (data ->> 'n')::int, 'attempts', attempts)
    from tollgate.claim_billing_events(100, 120, p_at)
$$;
create function pg_temp.event(p_n int) returns uuid language sql as $$
  select id from tollgate.billing_events
   where account_id = 'd1000000-0000-4000-8000-00000000000d' and (data ->> 'n')::int = p_n
$$;
create function pg_temp.delivery(p_n int) returns jsonb language sql as $$
  select jsonb_build_object('attempts', attempts, 'next', next_attempt_at, 'delivered', delivered_at,
                            'error', last_error)
    from tollgate.billing_event_deliveries where event_id = pg_temp.event(p_n)
$$;

select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is_empty($$ select pg_temp.claim('2031-01-01 09:59Z') $$, 'nothing is due before it was written');
select results_eq($$ select pg_temp.claim('2031-01-01 10:05Z') $$,
  $$ values ('{"n": 1, "attempts": 1}'::jsonb), ('{"n": 2, "attempts": 1}'::jsonb) $$,
  'a claim takes the due events oldest first, counting the attempt');
select is_empty($$ select pg_temp.claim('2031-01-01 10:06Z') $$, 'claimed events are leased: a second claim skips them');
select is(tollgate.record_billing_event_deliveries(jsonb_build_array(
  jsonb_build_object('id', pg_temp.event(1), 'error', null),
  jsonb_build_object('id', pg_temp.event(2), 'error', 'HTTP 503: down')), '2031-01-01 10:06Z'), 2,
  'both outcomes are recorded in one call');
select is(pg_temp.delivery(1), jsonb_build_object('attempts', 1, 'next', '2031-01-01 10:07Z'::timestamptz,
  'delivered', '2031-01-01 10:06Z'::timestamptz, 'error', null), 'the delivered one is marked delivered');
select is(pg_temp.delivery(2), jsonb_build_object('attempts', 1, 'next', '2031-01-01 10:06:30Z'::timestamptz,
  'delivered', null, 'error', 'HTTP 503: down'), 'the failed one keeps its error and is due again 30 s later');
select is_empty($$ select pg_temp.claim('2031-01-01 10:06:29Z') $$, 'not before its backoff ends');
select results_eq($$ select pg_temp.claim('2031-01-01 10:06:30Z') $$, $$ values ('{"n": 2, "attempts": 2}'::jsonb) $$,
  'then the failed one alone comes back, the delivered one never');
select tollgate.record_billing_event_deliveries(jsonb_build_array(
  jsonb_build_object('id', pg_temp.event(2), 'error', 'timeout')), '2031-01-01 10:07Z');
select is(pg_temp.delivery(2) -> 'next', to_jsonb('2031-01-01 10:08Z'::timestamptz),
  'the second failure backs off twice as long (60 s)');
select is(tollgate.record_billing_event_deliveries(jsonb_build_array(
  jsonb_build_object('id', pg_temp.event(1), 'error', 'late')), '2031-01-01 10:09Z'), 0,
  'an outcome for a delivered event changes nothing');
select throws_ok($$ select tollgate.record_billing_event_deliveries('{}', now()) $$, 'TG400', null,
  'outcomes must be an array');

select set_config('role', 'authenticated', true),
       set_config('request.jwt.claims', '{"role": "authenticated", "sub": "d1000000-0000-4000-8000-00000000000d"}', true);
select throws_ok($$ select tollgate.claim_billing_events() $$, '42501', null, 'a user may not claim events');

select * from finish();
rollback;
