-- The role matrix of every table in tollgate (its partitions excepted: ai_usage_partitions.test.sql locks them), for
-- anon, a team's owner, admin and member, a user who is not a member, and the service role: how many of the team's
-- rows each one reads, or 'denied' when the role may not select the table at all ('all': a catalogue read whole).
-- Members read the account, its lots, holds, ledger, counters, billing events and subscription; a member reads their
-- own usage rows, owners and admins everyone's and the payments; a non-member nothing of it; anon only the catalogue;
-- the service role alone the delivery state of the events. The table list comes
-- from the catalogue, so a new table fails here until it has its row. Then: nobody reads another account's rows,
-- and nobody but the table owner writes billing data.
begin;
select plan(10);

insert into auth.users (id, email) values
  ('e1000000-0000-4000-8000-00000000000e', 'owner@example.com'),
  ('e2000000-0000-4000-8000-00000000000e', 'admin@example.com'),
  ('e3000000-0000-4000-8000-00000000000e', 'member@example.com'),
  ('e4000000-0000-4000-8000-00000000000e', 'outsider@example.com');

create function pg_temp.act_as(p_role text, p_sub uuid default null) returns void language sql as $$
  select set_config('role', p_role, true),
         set_config('request.jwt.claims', json_build_object('role', p_role, 'sub', p_sub)::text, true) $$;

-- The team, its members and a row in every table, each written the way Tollgate writes it where it can be.
select pg_temp.act_as('authenticated', 'e1000000-0000-4000-8000-00000000000e');
select set_config('test.team', tollgate.create_team_account('Matrix')::text, true);
select tollgate.add_account_member(current_setting('test.team')::uuid, 'e2000000-0000-4000-8000-00000000000e', 'admin');
select tollgate.add_account_member(current_setting('test.team')::uuid, 'e3000000-0000-4000-8000-00000000000e');
select pg_temp.act_as('service_role');
select tollgate.grant_credits(current_setting('test.team')::uuid, 100, 'matrix', 'top_up');
select pg_temp.act_as('authenticated', 'e3000000-0000-4000-8000-00000000000e');
select tollgate.consume_credits('by-member', 1, 'default', null, null, current_setting('test.team')::uuid);
select tollgate.log_ai_usage('by-member', 'gpt-4o', 10, 10, p_account_id => current_setting('test.team')::uuid);
select tollgate.consume_credits('hold-by-member', 1, 'matrix', null, null, current_setting('test.team')::uuid,
                                p_hold => true);
select pg_temp.act_as('authenticated', 'e2000000-0000-4000-8000-00000000000e');
select tollgate.consume_credits('by-admin', 1, 'default', null, null, current_setting('test.team')::uuid);
select pg_temp.act_as('authenticated', 'e1000000-0000-4000-8000-00000000000e');
select tollgate.log_ai_usage('by-owner', 'gpt-4o', 10, 10, p_account_id => current_setting('test.team')::uuid);
-- The outsider's own activity, which must not show up for the team's members.
select pg_temp.act_as('authenticated', 'e4000000-0000-4000-8000-00000000000e');
select tollgate.consume_credits('outsider', 1);
select tollgate.log_ai_usage('outsider', 'gpt-4o', 10, 10);
select pg_temp.act_as('none');
insert into tollgate.stripe_customers (customer_id, account_id) values
  ('cus_matrix', current_setting('test.team')::uuid), ('cus_outsider', 'e4000000-0000-4000-8000-00000000000e');
insert into tollgate.stripe_events (id, type, created, customer_id, payload)
values ('evt_matrix', 'customer.subscription.created', now(), 'cus_matrix', '{}');
insert into tollgate.stripe_subscriptions (subscription_id, account_id, customer_id, status, plan_id,
                                           last_event_created, last_event_id)
values ('sub_matrix', current_setting('test.team')::uuid, 'cus_matrix', 'active', 'pro', now(), 'evt_matrix'),
       ('sub_outsider', 'e4000000-0000-4000-8000-00000000000e', 'cus_outsider', 'active', 'pro', now(), 'evt_x');
insert into tollgate.stripe_payments (id, account_id, kind, amount, currency, event_id) values
  ('cs_matrix', current_setting('test.team')::uuid, 'checkout', 1000, 'usd', 'evt_p'),
  ('cs_outsider', 'e4000000-0000-4000-8000-00000000000e', 'checkout', 1000, 'usd', 'evt_q');
insert into tollgate.stripe_disputes (dispute_id, payment_id, account_id, amount, currency, status, last_event_id)
values ('du_matrix', 'cs_matrix', current_setting('test.team')::uuid, 1000, 'usd', 'needs_response', 'evt_d'),
       ('du_outsider', 'cs_outsider', 'e4000000-0000-4000-8000-00000000000e', 1000, 'usd', 'lost', 'evt_e');
insert into tollgate.stripe_payment_failures (id, account_id, invoice_id, amount, currency, event_id) values
  ('fail_matrix', current_setting('test.team')::uuid, 'in_matrix', 2000, 'usd', 'evt_f'),
  ('fail_outsider', 'e4000000-0000-4000-8000-00000000000e', 'in_outsider', 2000, 'usd', 'evt_g');

-- Every table of tollgate, with the column that names its account (null: not keyed by account) and its row count
-- as its owner sees it.
create temp table matrix_tables (tbl regclass primary key, key text, total bigint);
insert into matrix_tables (tbl, key)
select c.oid::regclass,
       case when exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'account_id'
                           and not a.attisdropped) then 'account_id'
            when c.oid = 'tollgate.accounts'::regclass then 'id' end
  from pg_class c
 where c.relnamespace = 'tollgate'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition;
do $$
declare
  t record;
begin
  for t in select tbl from matrix_tables loop
    execute format('update matrix_tables set total = (select count(*) from %s) where tbl = %L::regclass', t.tbl,
                   t.tbl);
  end loop;
end
$$;
grant select on matrix_tables to public;

-- What the current role reads of a table: 'denied', the team's rows, or for a table not keyed by account 'all'
-- (every row) or how many.
create function pg_temp.seen(p_table regclass, p_key text) returns text language plpgsql as $$
declare
  v_n bigint;
begin
  if not has_table_privilege(current_user, p_table, 'select') then
    return 'denied';
  end if;
  if p_key is null then
    execute format('select count(*) from %s', p_table) into v_n;
    return case when v_n = (select total from matrix_tables where tbl = p_table) then 'all' else v_n::text end;
  end if;
  execute format('select count(*) from %s where %I = $1', p_table, p_key) into v_n
    using current_setting('test.team')::uuid;
  return v_n::text;
end
$$;
-- Rows of accounts the current user is not a member of that they can read, per table (must be none).
create function pg_temp.leaks() returns table (tbl text, rows bigint) language plpgsql as $$
declare
  t record;
begin
  for t in select m.tbl, m.key from matrix_tables m
            where m.key is not null and has_table_privilege(current_user, m.tbl, 'select') loop
    tbl := t.tbl::text;
    execute format('select count(*) from %s where %I not in (select account_id from tollgate.account_members '
                   'where user_id = auth.uid())', t.tbl, t.key) into rows;
    if rows > 0 then
      return next;
    end if;
  end loop;
end
$$;

create temp table expected (tbl text primary key, anon text, owner text, admin text, member text, outsider text,
                            service text);
grant select on expected to public;
insert into expected values
  ('tollgate.account_members',         'denied', '3',      '3',      '3',      '0',      '3'),
  ('tollgate.accounts',                'denied', '1',      '1',      '1',      '0',      '1'),
  ('tollgate.billing_event_deliveries', 'denied', 'denied', 'denied', 'denied', 'denied', 'all'),
  ('tollgate.billing_events',          'denied', '2',      '2',      '2',      '0',      '2'),
  ('tollgate.ai_usage',                'denied', '2',      '2',      '1',      '0',      '2'),
  ('tollgate.credit_holds',            'denied', '1',      '1',      '1',      '0',      '1'),
  ('tollgate.credit_ledger',           'denied', '3',      '3',      '3',      '0',      '3'),
  ('tollgate.credit_lots',             'denied', '1',      '1',      '1',      '0',      '1'),
  ('tollgate.credit_packs',            'all',    'all',    'all',    'all',    'all',    'all'),
  ('tollgate.idempotency_keys',        'denied', 'denied', 'denied', 'denied', 'denied', '3'),
  ('tollgate.member_usage',            'denied', '4',      '4',      '2',      '0',      '4'),
  ('tollgate.model_prices',            'all',    'all',    'all',    'all',    'all',    'all'),
  ('tollgate.plan_limits',             'all',    'all',    'all',    'all',    'all',    'all'),
  ('tollgate.plans',                   'all',    'all',    'all',    'all',    'all',    'all'),
  ('tollgate.stripe_customers',        'denied', 'denied', 'denied', 'denied', 'denied', '1'),
  ('tollgate.stripe_disputes',         'denied', '1',      '1',      '0',      '0',      '1'),
  ('tollgate.stripe_events',           'denied', 'denied', 'denied', 'denied', 'denied', 'all'),
  ('tollgate.stripe_payment_failures', 'denied', '1',      '1',      '0',      '0',      '1'),
  ('tollgate.stripe_payments',         'denied', '1',      '1',      '0',      '0',      '1'),
  ('tollgate.stripe_prices',           'all',    'all',    'all',    'all',    'all',    'all'),
  ('tollgate.stripe_products',         'all',    'all',    'all',    'all',    'all',    'all'),
  ('tollgate.stripe_subscriptions',    'denied', '1',      '1',      '1',      '0',      '1'),
  ('tollgate.usage_counters',          'denied', '2',      '2',      '2',      '0',      '2'),
  ('tollgate.usage_settings',          'denied', 'denied', 'denied', 'denied', 'denied', 'all');

select results_eq($$ select tbl::text from matrix_tables order by 1 $$, $$ select tbl from expected order by 1 $$,
  'the matrix has a row for every table in tollgate, and only for tables that exist');

-- as anon
select pg_temp.act_as('anon');
select results_eq($$ select tbl::text, pg_temp.seen(tbl, key) from matrix_tables order by 1 $$,
  $$ select tbl, anon from expected order by 1 $$, 'anon reads the catalogue and nothing else');

-- as the team's owner
select pg_temp.act_as('authenticated', 'e1000000-0000-4000-8000-00000000000e');
select results_eq($$ select tbl::text, pg_temp.seen(tbl, key) from matrix_tables order by 1 $$,
  $$ select tbl, owner from expected order by 1 $$,
  'the owner reads the team''s account, members, lots, ledger, counters, every member''s usage, the subscription and '
  'the payments, failures and disputes');
select is_empty($$ select * from pg_temp.leaks() $$, 'and nothing of an account they are not a member of');

-- as the team's admin
select pg_temp.act_as('authenticated', 'e2000000-0000-4000-8000-00000000000e');
select results_eq($$ select tbl::text, pg_temp.seen(tbl, key) from matrix_tables order by 1 $$,
  $$ select tbl, admin from expected order by 1 $$, 'an admin reads what the owner reads');

-- as a member
select pg_temp.act_as('authenticated', 'e3000000-0000-4000-8000-00000000000e');
select results_eq($$ select tbl::text, pg_temp.seen(tbl, key) from matrix_tables order by 1 $$,
  $$ select tbl, member from expected order by 1 $$,
  'a member reads the account, its members, lots, ledger, counters and subscription, but only their own usage rows '
  'and no payments');
select is_empty($$ select * from pg_temp.leaks() $$, 'and nothing of an account they are not a member of');

-- as a user who is not a member
select pg_temp.act_as('authenticated', 'e4000000-0000-4000-8000-00000000000e');
select results_eq($$ select tbl::text, pg_temp.seen(tbl, key) from matrix_tables order by 1 $$,
  $$ select tbl, outsider from expected order by 1 $$, 'a non-member reads nothing of the team');

-- as the service role
select pg_temp.act_as('service_role');
select results_eq($$ select tbl::text, pg_temp.seen(tbl, key) from matrix_tables order by 1 $$,
  $$ select tbl, service from expected order by 1 $$, 'the service role reads every row');

-- writes: only the operators' catalogue and settings are written outside the functions (by the service role)
select pg_temp.act_as('none');
select is_empty($$
  select m.tbl::text || ': ' || r.role || ' may ' || p.priv from matrix_tables m
   cross join (values ('anon'), ('authenticated'), ('service_role')) r(role)
   cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p(priv)
   where has_table_privilege(r.role, m.tbl, p.priv)
     and not (r.role = 'service_role' and (m.tbl::text in ('tollgate.plans', 'tollgate.plan_limits',
                                                            'tollgate.credit_packs')
                                            and p.priv <> 'TRUNCATE'
                                           or m.tbl::text = 'tollgate.model_prices' and p.priv = 'INSERT'
                                           or m.tbl::text = 'tollgate.usage_settings' and p.priv = 'UPDATE'))
$$, 'no role writes billing data directly: the service role edits only plans, limits, packs, prices and settings');

select * from finish();
rollback;
