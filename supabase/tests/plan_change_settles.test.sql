-- tollgate._set_account_plan settles a due account first (_settle_if_due, like every credit movement): the period
-- that ended rolls under the plan the account was on, then the plan changes. So a plan change writes the same
-- ledger whether or not a consume happened to settle the account before it arrived.
begin;
select plan(5);

-- Accounts that exist before this test must not roll at the pinned times below.
update tollgate.accounts set period_end = 'infinity', next_expiry_at = null;

insert into auth.users (id, email) values
  ('5c111111-1111-4111-8111-111111111111', 'settled-first@example.com'),
  ('5c222222-2222-4222-8222-222222222222', 'not-settled@example.com');
-- Both on pro until 5 April, with 3 credits left that expire with the period.
update tollgate.accounts
   set plan_id = 'pro', period_anchor = '2027-03-05', period_start = '2027-03-05', period_end = '2027-04-05',
       next_expiry_at = '2027-04-05'
 where id::text like '5c______-____-4___-8___-____________';
update tollgate.credit_lots set expires_at = '2027-04-05'
 where account_id::text like '5c______-____-4___-8___-____________';

-- On 10 April the first account is settled by a consume of nothing; then both learn they are back on free.
select tollgate._consume_credits('5c111111-1111-4111-8111-111111111111', 'peek', 0, 'default', null,
                                 '2027-04-10 12:00Z');
select tollgate._set_account_plan(u, 'free', '2027-03-05', 3, '2027-04-10 12:30Z')
  from unnest('{5c111111-1111-4111-8111-111111111111,5c222222-2222-4222-8222-222222222222}'::uuid[]) u;

create temp view story as
  select account_id, seq, reason, delta, case when idempotency_key like 'plan_change:%' then 'plan_change'
                                            else regexp_replace(idempotency_key, ':.*', '') end as key_kind
    from tollgate.credit_ledger where account_id::text like '5c%' and seq > 1;

select results_eq($$ select seq, reason, delta, key_kind from story
                      where account_id = '5c222222-2222-4222-8222-222222222222' order by seq $$,
  $$ values (2::bigint, 'expire', -3::bigint, 'expire'), (3::bigint, 'grant', 500::bigint, 'plan'),
            (4::bigint, 'expire', -497::bigint, 'plan_change') $$,
  'the ended period expires and rolls on pro, then the change to free leaves the free allowance of the new period');
select results_eq($$ select seq, reason, delta, key_kind from story
                      where account_id = '5c111111-1111-4111-8111-111111111111' order by seq $$,
  $$ select seq, reason, delta, key_kind from story where account_id = '5c222222-2222-4222-8222-222222222222'
      order by seq $$,
  'the account a consume settled first has exactly the same ledger');
select results_eq($$ select plan_id, period_start, period_end, balance from tollgate.accounts
                      where id::text like '5c%' order by id $$,
  $$ values ('free', '2027-04-05 00:00Z'::timestamptz, '2027-05-05 00:00Z'::timestamptz, 3::bigint),
            ('free', '2027-04-05 00:00Z'::timestamptz, '2027-05-05 00:00Z'::timestamptz, 3::bigint) $$,
  'both are on free in the period containing now, with its 3 credits');
select is((select count(*) from tollgate.credit_lots where account_id::text like '5c%' and remaining > 0)::int, 2,
  'one live plan lot each');
select is_empty($$ select * from tollgate.check_ledger() where account_id::text like '5c%' $$, 'the books balance');

select * from finish();
rollback;
