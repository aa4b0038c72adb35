-- Credit periods and the reset: whole months from each account's anchor; when one ends, the plan credits left
-- expire and the plan's allowance is granted once for the new period. _settle_accounts is the one implementation
-- of that roll-forward, over accounts its caller has locked: the hourly reset (reset_monthly_quotas_batch locks a
-- batch and settles it; its callers commit batch by batch), and every credit movement that finds its account due
-- (_settle_if_due: consume, usage, Stripe take-backs and plan changes). Personal accounts open at signup (and, for
-- the users already there, when this file is applied) with the first period's allowance; team accounts open when a
-- user creates one (create_team_account), with no allowance until a subscription gives them a plan.

create or replace function tollgate.credit_period_at(
  p_anchor timestamptz, p_at timestamptz, out period_start timestamptz, out period_end timestamptz
)
language plpgsql immutable parallel safe
set search_path = ''
as $$
declare
  v_anchor timestamp := p_anchor at time zone 'UTC';
  v_months integer := ((extract(year from p_at at time zone 'UTC') - extract(year from v_anchor)) * 12
                       + extract(month from p_at at time zone 'UTC') - extract(month from v_anchor))::integer;
begin
  if (v_anchor + make_interval(months => v_months)) at time zone 'UTC' > p_at then
    v_months := v_months - 1;
  end if;
  period_start := (v_anchor + make_interval(months => v_months)) at time zone 'UTC';
  period_end := (v_anchor + make_interval(months => v_months + 1)) at time zone 'UTC';
end
$$;
comment on function tollgate.credit_period_at(timestamptz, timestamptz) is
  'Tollgate: the credit period containing p_at: whole months from the anchor in UTC, clamped to month ends '
  '(anchored on Jan 31: Feb 28 or 29, then Mar 31). PL/pgSQL: as SQL returning a record it is never inlined and '
  'cost about 19 us a call against 4 us (the reset calls it for every account, consume and usage on every call).';
revoke execute on function tollgate.credit_period_at(timestamptz, timestamptz) from public, anon;
grant execute on function tollgate.credit_period_at(timestamptz, timestamptz) to authenticated, service_role;

create or replace function tollgate._plan_grant_key(p_period_start timestamptz) returns text
language sql immutable parallel safe
as $$ select 'plan:' || to_char(p_period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
comment on function tollgate._plan_grant_key(timestamptz) is
  'Tollgate: the grant key of a period''s plan allowance: one grant per account and period start. No SET '
  'search_path, unlike the others, so PostgreSQL inlines it (the reset computes one per account: 3 us a call with '
  'the SET, 0.6 us inlined); it names nothing but built-in functions, and nobody but its owner may execute it.';
revoke execute on function tollgate._plan_grant_key(timestamptz) from public, anon, authenticated, service_role;

create or replace function tollgate._settle_accounts(
  p_now timestamptz, p_account_ids uuid[],
  out accounts_rolled bigint, out credits_granted bigint, out credits_expired bigint
)
language plpgsql
security definer
set search_path = ''
-- Index lookups per account whatever the statistics say, so a batch costs the same on any size of table: planned
-- freely, a plan cached while credit_lots was small scans all of it once per account when it is large, and one
-- planned for 2,000 accounts hash-joins them to a full scan of accounts and of credit_lots.
set enable_seqscan = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
declare
  -- The ids of the lots and ledger rows written here start with the time in milliseconds (the UUIDv7 layout, RFC
  -- 9562), so they go to the end of the primary key indexes: random ones land on random pages of them, which in a
  -- large reset are mostly out of shared_buffers, each read, written back and logged as a full page again.
  v_ids text := regexp_replace(
    lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0'),
    '^(.{8})(.{4})$', '\1-\2-7');
begin
  -- Linear whatever the planner believes (a whole cohort can be due at once, e.g. every user backfilled at
  -- install shares one anniversary): no CTE is ever joined to another, per-account figures come from index
  -- lookups on credit_lots, and each later step reads one CTE only. Rows read here are written back by their ctid
  -- (no lot nor account changes under the locks held), sparing an index descent per row.
  with due as materialized (
    select a.id as account_id, a.ctid as account_ctid, a.balance, a.overdraft, a.ledger_seq, a.plan_id,
           p.monthly_credits * a.seats as allowance,
           b.period_start, b.period_end, b.period_start <> a.period_start as rolled
      from tollgate.accounts a
      join tollgate.plans p on p.id = a.plan_id
     cross join lateral tollgate.credit_period_at(a.period_anchor, p_now) b
     where a.id = any (p_account_ids) and a.settle_at <= p_now
       for update of a skip locked
  ), settled as materialized (
    -- One row per due account with everything the writes need: the lots that expire, in the order their ledger
    -- rows are numbered, and the grant if the period rolled.
    select d.*, x.n as expired_lots, x.total as expired, x.lot_ctids, x.lot_ids, x.lot_remaining,
           case when d.rolled then d.allowance else 0 end as granted,
           case when d.rolled then least(d.allowance, d.overdraft) else 0 end as repaid
      from due d
     cross join lateral (
       select count(*) as n, coalesce(sum(l.remaining), 0) as total,
              array_agg(l.ctid order by l.expires_at, l.id) as lot_ctids,
              array_agg(l.id order by l.expires_at, l.id) as lot_ids,
              array_agg(l.remaining order by l.expires_at, l.id) as lot_remaining
         from tollgate.credit_lots l
        where l.account_id = d.account_id and l.remaining > 0 and l.expires_at <= p_now
     ) x
  ), expiring as materialized (
    select s.account_id, e.ctid, e.id, e.remaining, s.ledger_seq + e.n as seq,
           s.balance - sum(e.remaining) over (partition by s.account_id order by e.n) as balance_after
      from settled s
     cross join lateral unnest(s.lot_ctids, s.lot_ids, s.lot_remaining) with ordinality e(ctid, id, remaining, n)
     where s.expired_lots > 0
  ), expired_lots as (
    update tollgate.credit_lots l set remaining = 0 from expiring e where l.ctid = e.ctid
  ), expiry_entries as (
    insert into tollgate.credit_ledger (id, account_id, seq, delta, balance_after, reason, idempotency_key, lot_id,
                                        created_at)
    select (v_ids || substr(gen_random_uuid()::text, 16))::uuid, account_id, seq, -remaining, balance_after,
           'expire', 'expire:' || id, id, p_now
      from expiring
  ), grants as materialized (
    select account_id, (v_ids || substr(gen_random_uuid()::text, 16))::uuid as lot_id, granted as amount, repaid,
           ledger_seq + expired_lots + 1 as seq, balance - expired + granted as balance_after,
           plan_id, period_end, tollgate._plan_grant_key(period_start) as grant_key
      from settled
     where granted > 0
  ), granted_lots as (
    insert into tollgate.credit_lots (id, account_id, source, amount, remaining, expires_at, priority, grant_key,
                                      metadata, created_at)
    select lot_id, account_id, 'plan', amount, amount - repaid, period_end, 10, grant_key,
           jsonb_build_object('plan_id', plan_id), p_now
      from grants
  ), grant_entries as (
    insert into tollgate.credit_ledger (id, account_id, seq, delta, balance_after, reason, idempotency_key, lot_id,
                                        metadata, created_at)
    select (v_ids || substr(gen_random_uuid()::text, 16))::uuid, account_id, seq, amount, balance_after, 'grant',
           grant_key, lot_id, jsonb_build_object('source', 'plan', 'plan_id', plan_id), p_now
      from grants
  ), updated as (
    update tollgate.accounts a
       set balance = s.balance - s.expired + s.granted,
           overdraft = s.overdraft - s.repaid,
           ledger_seq = s.ledger_seq + s.expired_lots + (s.granted > 0)::int,
           period_start = s.period_start,
           period_end = s.period_end,
           -- The new grant is not visible to this statement's snapshot: its expiry is added by hand.
           next_expiry_at = least(
             case when s.granted > 0 then s.period_end end,
             (select min(l.expires_at) from tollgate.credit_lots l
               where l.account_id = s.account_id and l.remaining > 0 and l.expires_at > p_now)),
           updated_at = p_now
      from settled s
     where a.ctid = s.account_ctid
  )
  select count(*) filter (where rolled), coalesce(sum(granted), 0), coalesce(sum(expired), 0)
    into accounts_rolled, credits_granted, credits_expired
    from settled;
end
$$;
comment on function tollgate._settle_accounts(timestamptz, uuid[]) is
  'Tollgate: settles the accounts p_account_ids that are due: expires lots past their expiry and, where the credit '
  'period has ended, advances it to the period containing p_now and grants the plan''s allowance (monthly_credits '
  'x seats) once (three idle months: one grant). Set-based. The caller holds every one of their locks, taken in an '
  'earlier statement: this statement''s snapshot is then newer than every change to their lots (lots change only '
  'under the account lock). A lock taken in this statement would see a consume that committed after its snapshot '
  'while the lots it reads would not, and expire spent credits again.';
revoke execute on function tollgate._settle_accounts(timestamptz, uuid[])
  from public, anon, authenticated, service_role;

create or replace function tollgate._settle_if_due(p_account tollgate.accounts, p_now timestamptz)
returns tollgate.accounts
language plpgsql
as $$
declare
  v_account tollgate.accounts := p_account;
begin
  if v_account.settle_at <= p_now then
    perform tollgate._settle_accounts(p_now, array[v_account.id]);
    select * into v_account from tollgate.accounts where id = v_account.id;
  end if;
  -- Holds past their expiry come back now, if the sweeper has not released them yet.
  if v_account.held > 0 and tollgate._expire_holds(v_account.id, p_now) > 0 then
    select * into v_account from tollgate.accounts where id = v_account.id;
  end if;
  return v_account;
end
$$;
comment on function tollgate._settle_if_due(tollgate.accounts, timestamptz) is
  'Tollgate: settles a locked account when it is due (period ended or a lot expired), expires its holds past their '
  'expiry, and returns it as it is now, so every credit movement acts on the current period, live lots and live '
  'holds. The caller holds the account lock. Neither '
  'security definer nor SET search_path, unlike every other function: it is called on every consume from security '
  'definer functions (so it runs as their owner, with their empty search path), a SET would cost each call a '
  'configuration change (measured: 3% of a consume), every name in it is schema-qualified, and nobody but its '
  'owner may execute it.';
revoke execute on function tollgate._settle_if_due(tollgate.accounts, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate.reset_monthly_quotas_batch(
  p_now timestamptz default now(), p_batch_size integer default 2000,
  out accounts_settled bigint, out accounts_rolled bigint, out credits_granted bigint, out credits_expired bigint
)
language plpgsql
security definer
set search_path = ''
-- Due accounts read from the settle_at index in its order, never by scanning and sorting all of them per batch.
set enable_seqscan = off
set enable_bitmapscan = off
as $$
declare
  v_ids uuid[];
begin
  if p_batch_size is null or p_batch_size < 1 then
    raise exception 'Invalid batch size: % (a reset settles at least one account per batch)', p_batch_size
      using errcode = 'TG400';
  end if;
  -- The batch's locks, earliest due first, then by id (a cohort sharing one due time then walks the indexes keyed
  -- by account in order, not at random: docs/periods.md "Batches"); nobody waits: accounts locked elsewhere (a
  -- consume, another runner) are skipped, so two runners take different accounts.
  select coalesce(array_agg(d.id), '{}') into v_ids
    from (select a.id from tollgate.accounts a
           where a.settle_at <= p_now
           order by a.settle_at, a.id
           limit p_batch_size
             for update of a skip locked) d;
  accounts_settled := cardinality(v_ids);
  -- A later statement, so a newer snapshot: it sees every committed change to the lots of the accounts now locked.
  select s.accounts_rolled, s.credits_granted, s.credits_expired
    into accounts_rolled, credits_granted, credits_expired
    from tollgate._settle_accounts(p_now, v_ids) s;
end
$$;
comment on function tollgate.reset_monthly_quotas_batch(timestamptz, integer) is
  'Tollgate: one batch of the reset: locks up to p_batch_size accounts due at p_now (earliest first, skipping '
  'accounts locked elsewhere) and settles them, in the caller''s transaction. accounts_settled 0: nothing was left '
  'to take. The reset-monthly-quotas function calls it in a loop, one transaction per batch; '
  'reset_monthly_quotas_in_batches does the same in SQL. Service role only.';
revoke execute on function tollgate.reset_monthly_quotas_batch(timestamptz, integer)
  from public, anon, authenticated, service_role;
grant execute on function tollgate.reset_monthly_quotas_batch(timestamptz, integer) to service_role;

create or replace procedure tollgate.reset_monthly_quotas_in_batches(
  p_now timestamptz default null, p_batch_size integer default 2000,
  inout accounts_rolled bigint default 0, inout credits_granted bigint default 0,
  inout credits_expired bigint default 0
)
language plpgsql
as $$
declare
  v_batch record;
begin
  accounts_rolled := 0;
  credits_granted := 0;
  credits_expired := 0;
  loop
    select * into v_batch
      from tollgate.reset_monthly_quotas_batch(coalesce(p_now, pg_catalog.now()), p_batch_size);
    accounts_rolled := accounts_rolled + v_batch.accounts_rolled;
    credits_granted := credits_granted + v_batch.credits_granted;
    credits_expired := credits_expired + v_batch.credits_expired;
    commit;
    exit when v_batch.accounts_settled = 0;
  end loop;
end
$$;
comment on procedure tollgate.reset_monthly_quotas_in_batches(timestamptz, integer, bigint, bigint, bigint) is
  'Tollgate: the hourly reset (pg_cron job tollgate-reset-monthly-quotas: call it on its own, not inside a '
  'transaction): reset_monthly_quotas_batch until a batch finds nothing due, committing after each, so no '
  'transaction holds more than p_batch_size account locks and a consume waits for one batch at most. Stopped '
  'midway, the batches done stay done and the next run takes the rest; two runs at once take different accounts. '
  'p_now null: each batch at its own now(). Answers the totals of all batches. Neither security definer nor SET: '
  'PostgreSQL refuses COMMIT in procedures with either, so it runs as its caller, names everything '
  'schema-qualified and does nothing but call the batch function, which is both. Service role only.';
revoke execute on procedure tollgate.reset_monthly_quotas_in_batches(timestamptz, integer, bigint, bigint, bigint)
  from public, anon, authenticated, service_role;
grant execute on procedure tollgate.reset_monthly_quotas_in_batches(timestamptz, integer, bigint, bigint, bigint)
  to service_role;

create or replace function tollgate.reset_monthly_quotas(
  p_now timestamptz default now(),
  out accounts_rolled bigint, out credits_granted bigint, out credits_expired bigint
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_batch record;
begin
  accounts_rolled := 0;
  credits_granted := 0;
  credits_expired := 0;
  loop
    select * into v_batch from tollgate.reset_monthly_quotas_batch(p_now);
    accounts_rolled := accounts_rolled + v_batch.accounts_rolled;
    credits_granted := credits_granted + v_batch.credits_granted;
    credits_expired := credits_expired + v_batch.credits_expired;
    exit when v_batch.accounts_settled = 0;
  end loop;
end
$$;
comment on function tollgate.reset_monthly_quotas(timestamptz) is
  'Tollgate: the whole reset in the caller''s transaction: rolls every account whose credit period has ended into '
  'the period containing p_now, expires the lots that are due and grants each rolled account its allowance once, '
  'batch by batch (reset_monthly_quotas_batch), answering the totals. A function cannot commit, so it holds every '
  'account it settled locked until the caller commits: fine for a few thousand due accounts; the schedule calls '
  'reset_monthly_quotas_in_batches, which commits per batch. Re-running it at the same p_now changes nothing. '
  'Service role only.';
revoke execute on function tollgate.reset_monthly_quotas(timestamptz) from public, anon, authenticated, service_role;
grant execute on function tollgate.reset_monthly_quotas(timestamptz) to service_role;

create or replace function tollgate._plan_seats(
  p_kind tollgate.account_kind, p_per_seat boolean, p_quantity integer
) returns integer
language sql immutable parallel safe
set search_path = ''
as $$
  select case when p_quantity is null then case p_kind when 'team' then 0 else 1 end
              when p_per_seat then p_quantity
              else 1 end
$$;
comment on function tollgate._plan_seats(tollgate.account_kind, boolean, integer) is
  'Tollgate: accounts.seats, the one rule: with a live subscription (p_quantity, its quantity) a per-seat plan '
  'grants per seat and any other plan once; without one a personal account gets the default plan''s allowance and '
  'a team none, so creating teams never mints credits.';
revoke execute on function tollgate._plan_seats(tollgate.account_kind, boolean, integer)
  from public, anon, authenticated, service_role;

create or replace function tollgate._open_account(
  p_account_id uuid, p_kind tollgate.account_kind, p_name text, p_owner_id uuid, p_now timestamptz
) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_plan tollgate.plans;
  v_period_end timestamptz := (tollgate.credit_period_at(p_now, p_now)).period_end;
  v_seats integer;
begin
  select * into v_plan from tollgate.plans where is_default;
  if not found then
    raise exception 'Cannot open an account: no default plan (set plans.is_default on one plan)' using errcode = 'TG500';
  end if;
  v_seats := tollgate._plan_seats(p_kind, v_plan.credits_per_seat, null);
  insert into tollgate.accounts (id, kind, name, plan_id, seats, period_anchor, period_start, period_end, created_at,
                                 updated_at)
  values (p_account_id, p_kind, p_name, v_plan.id, v_seats, p_now, p_now, v_period_end, p_now, p_now)
  on conflict (id) do nothing;
  if found and v_plan.monthly_credits * v_seats > 0 then
    perform tollgate._grant_lot(p_account_id, 'plan', v_plan.monthly_credits * v_seats, v_period_end, 10,
                                tollgate._plan_grant_key(p_now), jsonb_build_object('plan_id', v_plan.id), p_now);
  end if;
  insert into tollgate.account_members (account_id, user_id, role, created_at, updated_at)
  select p_account_id, p_owner_id, 'owner', p_now, p_now
   where exists (select 1 from tollgate.accounts a where a.id = p_account_id and a.kind = p_kind)
  on conflict (account_id, user_id) do nothing;
end
$$;
comment on function tollgate._open_account(uuid, tollgate.account_kind, text, uuid, timestamptz) is
  'Tollgate: opens an account on the default plan with p_owner_id as its owner, its first period anchored at '
  'p_now, with that period''s allowance (none for a team). Does nothing when the account and the owner''s '
  'membership exist.';
revoke execute on function tollgate._open_account(uuid, tollgate.account_kind, text, uuid, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._on_auth_user_created() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform tollgate._open_account(new.id, 'personal', null, new.id, now());
  return new;
end
$$;
comment on function tollgate._on_auth_user_created() is
  'Tollgate: trigger tollgate_on_auth_user_created on auth.users: every new user gets their personal account (id = '
  'their id, they its owner) as they sign up.';
revoke execute on function tollgate._on_auth_user_created() from public, anon, authenticated, service_role;

drop trigger if exists tollgate_on_auth_user_created on auth.users;
create trigger tollgate_on_auth_user_created after insert on auth.users
  for each row execute function tollgate._on_auth_user_created();

-- The users that signed up before Tollgate was installed get their personal accounts now (once: re-running opens
-- none).
select tollgate._open_account(u.id, 'personal', null, u.id, now())
  from auth.users u
 where not exists (select 1 from tollgate.account_members m where m.account_id = u.id and m.user_id = u.id);

create or replace function tollgate.create_team_account(p_name text, p_owner_id uuid default null) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_owner uuid := (tollgate._acting_member(null, p_owner_id)).user_id;
  v_id uuid := gen_random_uuid();
begin
  if p_name is null or length(btrim(p_name)) not between 1 and 100 then
    raise exception 'Invalid name: a team''s name is 1 to 100 characters' using errcode = 'TG400';
  end if;
  if not exists (select 1 from auth.users u where u.id = v_owner) then
    raise exception 'Cannot create a team: no user %', v_owner
      using errcode = 'TGM04', detail = jsonb_build_object('user_id', v_owner)::text;
  end if;
  perform tollgate._open_account(v_id, 'team', btrim(p_name), v_owner, now());
  return v_id;
end
$$;
comment on function tollgate.create_team_account(text, uuid) is
  'Tollgate: opens a team account named p_name on the default plan, with no credits until a subscription or a '
  'grant gives it some, and returns its id. The signed-in user becomes its owner (p_owner_id, if given, must be '
  'them); the service role names the owner in p_owner_id. Callable over rpc.';
revoke execute on function tollgate.create_team_account(text, uuid) from public, anon;
grant execute on function tollgate.create_team_account(text, uuid) to authenticated, service_role;
