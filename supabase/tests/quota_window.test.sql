-- tollgate._quota_window, the one definition of a quota window: the gate (consume), the meter (log usage) and the
-- status read all count and read the same counter rows, in any session time zone (a DST change day in New York).
begin;
select plan(6);

insert into auth.users (id, email) values ('5b111111-1111-4111-8111-111111111111', 'window@example.com');
set local timezone = 'America/New_York';

select results_eq($$ select * from tollgate._quota_window('day', '2030-11-03 12:00Z', '2030-10-20 00:00Z', '2030-11-20 00:00Z') $$,
  $$ values ('2030-11-03 00:00Z'::timestamptz, '2030-11-04 00:00Z'::timestamptz) $$,
  'a day window is the UTC day, 24 hours long even on a DST change day in a non-UTC session');
select results_eq($$ select * from tollgate._quota_window('month', '2030-11-03 12:00Z', '2030-10-20 00:00Z', '2030-11-20 00:00Z') $$,
  $$ values ('2030-10-20 00:00Z'::timestamptz, '2030-11-20 00:00Z'::timestamptz) $$,
  'a month window is the credit period it is given');

select tollgate._consume_credits('5b111111-1111-4111-8111-111111111111', 'w1', 1, 'default', null,
                                 '2030-11-03 12:00Z');
select tollgate._log_ai_usage('5b111111-1111-4111-8111-111111111111', 'w1', 'gpt-4o', 100, 10, null, 'default', 0,
                              null, 'success', null, false, null, null, null, '2030-11-03 12:01Z');
select results_eq($$ select period::text, window_end - window_start, requests, input_tokens from tollgate.usage_counters
                     where account_id = '5b111111-1111-4111-8111-111111111111' order by period $$,
  $$ values ('day', interval '24 hours', 1::bigint, 100::bigint),
            ('month', (select period_end - period_start from tollgate.accounts
                        where id = '5b111111-1111-4111-8111-111111111111'), 1::bigint, 100::bigint) $$,
  'the gate''s request and the meter''s tokens land in the same day and month rows');
select results_eq($$ select c.window_start, c.window_end from tollgate.usage_counters c
                     where c.account_id = '5b111111-1111-4111-8111-111111111111' and c.period = 'month' $$,
  $$ select period_start, period_end from tollgate.accounts
      where id = '5b111111-1111-4111-8111-111111111111' $$,
  'the month row is the account''s current credit period');
select results_eq($$ select period::text, used, resets_at from tollgate._quota_status(
                      '5b111111-1111-4111-8111-111111111111', 'default', '2030-11-03 13:00Z') order by period $$,
  $$ values ('day', 1::bigint, '2030-11-04 00:00Z'::timestamptz),
            ('month', 1::bigint, (select period_end from tollgate.accounts
                                   where id = '5b111111-1111-4111-8111-111111111111')) $$,
  'the status reads those rows back');
select is((tollgate._consume_credits('5b111111-1111-4111-8111-111111111111', 'w2', 1, 'default', null,
                                     '2030-11-03 23:59Z') -> 'quota' -> 0 ->> 'used')::int, 2,
  'a consume late in the UTC day (evening in New York) counts in the same day row');

select * from finish();
rollback;
