-- tollgate.consume_credits: success, replay, conflict, insufficient balance, draw-down order, expired lots.
begin;
select plan(17);

insert into auth.users (id, email) values ('11111111-1111-4111-8111-111111111111', 'owner@example.com');

-- Pin the lots: drop the signup grant's effect by consuming it under the service role first.
select set_config('request.jwt.claims', '{"role": "service_role"}', true);

select is((select balance from tollgate.accounts where id = '11111111-1111-4111-8111-111111111111'), 3::bigint,
  'the signup trigger granted the default plan''s 3 credits');

-- as the owner
select set_config('request.jwt.claims',
  '{"role": "authenticated", "sub": "11111111-1111-4111-8111-111111111111"}', true);
set local role authenticated;

select is((tollgate.consume_credits('c1', 2, 'unlimited'))->>'balance', '1', 'a consume debits the balance');
select is((tollgate.consume_credits('c1', 2, 'unlimited'))->>'replayed', 'true', 'the same key and body replays');
select is((tollgate.consume_credits('c1', 2, 'unlimited'))->>'balance', '1', 'a replay does not debit again');
select throws_ok($$ select tollgate.consume_credits('c1', 1, 'unlimited') $$, 'TG409', null,
  'the same key with a different body is an idempotency conflict');
select throws_ok($$ select tollgate.consume_credits('c2', 5, 'unlimited') $$, 'TG402', null,
  'consuming more than the balance is refused');
select throws_ok($$ select count(*) from tollgate.idempotency_keys $$, '42501', null,
  'a user cannot read idempotency records');
select is((tollgate.consume_credits('c3', 0, 'unlimited'))->>'transaction_id', null,
  'a zero-credit consume writes no ledger row');
select throws_ok($$ select tollgate.consume_credits('c4', 1, 'unlimited', null, '22222222-2222-4222-8222-222222222222') $$,
  'TG403', null, 'a user cannot consume for another user');

reset role;
select is((select count(*) from tollgate.idempotency_keys where key = 'c2')::int, 0,
  'a refused consume binds no idempotency key');

-- draw-down order, at pinned times: the lot expiring first is drawn first, an expired lot is never drawn.
-- The account's period is pinned to 10 Mar - 10 Apr 2027, so its plan lot (1 credit left) expires between the
-- promos, whatever the date the suite runs on.
update tollgate.accounts
   set period_anchor = '2027-03-10 12:00Z', period_start = '2027-03-10 12:00Z', period_end = '2027-04-10 12:00Z',
       next_expiry_at = '2027-04-10 12:00Z'
 where id = '11111111-1111-4111-8111-111111111111';
update tollgate.credit_lots set expires_at = '2027-04-10 12:00Z'
 where account_id = '11111111-1111-4111-8111-111111111111' and source = 'plan';
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select tollgate.grant_credits('11111111-1111-4111-8111-111111111111', 5, 'late', 'promo', '2027-04-20 12:00Z');
select tollgate.grant_credits('11111111-1111-4111-8111-111111111111', 5, 'soon', 'promo', '2027-03-12 12:00Z');
select tollgate.grant_credits('11111111-1111-4111-8111-111111111111', 5, 'forever', 'top_up');
select tollgate._consume_credits('11111111-1111-4111-8111-111111111111', 'draw', 7, 'unlimited', null,
  '2027-03-10 13:00Z');

select is((select remaining from tollgate.credit_lots where grant_key = 'promo:soon'), 0::bigint,
  'the lot that expires first is drawn first');
select is((select remaining from tollgate.credit_lots where grant_key = 'promo:late'), 4::bigint,
  'then the plan lot (1 credit, expiring 10 Apr), then the next expiring lot');
select is((select remaining from tollgate.credit_lots where grant_key = 'top_up:forever'), 5::bigint,
  'a lot that never expires is drawn last');

-- A lot of 3 that expires at 14:00: at 15:00 only the 9 live credits (4 late + 5 forever) can be consumed, so 12
-- is refused; were the expired lot still drawable, the 12 would pass.
select tollgate.grant_credits('11111111-1111-4111-8111-111111111111', 3, 'stale', 'promo', '2027-03-10 14:00Z');
select is((tollgate._consume_credits('11111111-1111-4111-8111-111111111111', 'before', 0, 'unlimited', null,
  '2027-03-10 13:30Z'))->>'balance', '12', 'before its expiry the lot counts: 12 credits are available');
select throws_ok($$ select tollgate._consume_credits('11111111-1111-4111-8111-111111111111', 'after', 12, 'unlimited',
  null, '2027-03-10 15:00Z') $$, 'TG402', null, 'credits of an expired lot cannot be consumed');
select is((tollgate._consume_credits('11111111-1111-4111-8111-111111111111', 'live', 9, 'unlimited', null,
  '2027-03-10 15:00Z'))->>'balance', '0', 'the 9 live credits can');

select is_empty($$ select * from tollgate.check_ledger() $$, 'the ledger check finds nothing');

select * from finish();
rollback;
