-- The streamlined consume: one guarded UPDATE when the first lot covers the amount, the
-- cumulative draw otherwise, and the idempotency key recorded once with the response it answered: on the debit's
-- ledger entry, or in idempotency_keys when nothing is debited.
begin;
select plan(14);

insert into auth.users (id, email) values ('33333333-3333-4333-8333-333333333333', 'fast@example.com');

-- as the service role, at a pinned time
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
-- The signup's 3 plan credits go first, so the lots below start from a clean balance.
select tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'drain', 3, 'unlimited', null,
  '2026-11-23 12:00+00');
select tollgate.grant_credits('33333333-3333-4333-8333-333333333333', 5, 'late', 'promo', '2027-01-01 00:00+00');
select tollgate.grant_credits('33333333-3333-4333-8333-333333333333', 5, 'soon', 'promo', '2026-12-01 00:00+00');

create temp table answers (key text, answer jsonb) on commit drop;
insert into answers select 'one-lot', tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'one-lot', 3,
  'unlimited', '{"job": 1}', '2026-11-23 12:00+00');

select is((select remaining from tollgate.credit_lots where grant_key = 'promo:soon'), 2::bigint,
  'a consume the first lot covers draws from that lot only');
select is((select remaining from tollgate.credit_lots where grant_key = 'promo:late'), 5::bigint,
  'and leaves the later lot untouched');

insert into answers select 'exact', tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'exact', 2,
  'unlimited', null, '2026-11-23 12:00+00');
select is((select remaining from tollgate.credit_lots where grant_key = 'promo:soon'), 0::bigint,
  'an amount equal to the first lot''s remaining empties it');

insert into answers select 'spread', tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'spread', 4,
  'unlimited', null, '2026-11-23 12:00+00');
select is((select remaining from tollgate.credit_lots where grant_key = 'promo:late'), 1::bigint,
  'an amount no single lot covers is drawn across lots in order');
select is((select answer->>'balance' from answers where key = 'spread'), '1',
  'and the balance follows the lots');

select is((select response from tollgate.credit_ledger
            where account_id = '33333333-3333-4333-8333-333333333333' and reason = 'consume'
              and idempotency_key = 'one-lot'),
          (select answer from answers where key = 'one-lot'),
  'the debit''s ledger entry keeps the response the call answered');
select is((select count(*)::int from tollgate.idempotency_keys
            where account_id = '33333333-3333-4333-8333-333333333333' and scope = 'consume' and key = 'one-lot'), 0,
  'and the debit writes no idempotency_keys row');
select is((tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'one-lot', 3, 'unlimited', '{"job": 1}',
  '2026-11-23 12:05+00'))->>'replayed', 'true', 'the same key and body replay that response');
select is((select balance from tollgate.accounts where id = '33333333-3333-4333-8333-333333333333'), 1::bigint,
  'a replay debits nothing');
select throws_ok($$ select tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'one-lot', 3, 'unlimited',
  '{"job": 2}', '2026-11-23 12:05+00') $$, 'TG409', null, 'the same key with another body is still a conflict');

-- A consume that debits nothing keeps its record in idempotency_keys: its key is as taken as a debit's.
insert into answers select 'zero', tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'zero', 0,
  'unlimited', null, '2026-11-23 12:00+00');
select is(tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'zero', 0, 'unlimited', null,
  '2026-11-23 12:05+00'), (select answer || '{"replayed": true}' from answers where key = 'zero'),
  'a consume of 0 credits replays its answer from idempotency_keys');
select throws_ok($$ select tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'zero', 1, 'unlimited',
  null, '2026-11-23 12:05+00') $$, 'TG409', null, 'that key with a debit is a conflict');
select throws_ok($$ select tollgate._consume_credits('33333333-3333-4333-8333-333333333333', 'one-lot', 0,
  'unlimited', '{"job": 1}', '2026-11-23 12:05+00') $$, 'TG409', null,
  'and a debit''s key with nothing to debit is one too');

select is_empty($$ select * from tollgate.check_ledger('33333333-3333-4333-8333-333333333333') $$,
  'the ledger check finds nothing');

select * from finish();
rollback;
