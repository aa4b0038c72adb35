-- Accounts and the credits ledger: one billing account per auth user, the lots its credits are drawn from, and the
-- append-only ledger of every movement. The invariant every function keeps:
--   accounts.balance = sum(credit_ledger.delta) = sum(credit_lots.remaining) - accounts.overdraft
-- Every balance change happens under the account's row lock, taken first (_lock_account); lots are only touched
-- after it. Nobody but these functions writes; members read their own rows under RLS.

create table if not exists tollgate.accounts (
  user_id uuid primary key references auth.users (id) on delete cascade,
  plan_id text not null references tollgate.plans (id) on update cascade,
  period_anchor timestamptz not null,
  period_start timestamptz not null,
  period_end timestamptz not null,
  balance bigint not null default 0,
  overdraft bigint not null default 0 check (overdraft >= 0),
  next_expiry_at timestamptz,
  settle_at timestamptz generated always as (least(period_end, next_expiry_at)) stored,
  ledger_seq bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (period_start < period_end)
);
comment on table tollgate.accounts is
  'Tollgate: one billing account per auth user: plan, credit period and the cached balance every consume guards. '
  'Invariant: balance = sum(credit_ledger.delta) = sum(credit_lots.remaining) - overdraft.';
comment on column tollgate.accounts.period_anchor is
  'Credit periods are whole months counted from here (signup, or the subscription''s billing anchor).';
comment on column tollgate.accounts.overdraft is
  'Credits used post-paid beyond the lots; repaid first by the next grant.';
comment on column tollgate.accounts.next_expiry_at is
  'A lower bound on the earliest expiry among lots with credits left (null: none expire).';
comment on column tollgate.accounts.settle_at is
  'When the account next needs settling (period roll or lot expiry); every credit movement compares it with now.';
comment on column tollgate.accounts.ledger_seq is 'The seq of the account''s last credit_ledger row.';

create index if not exists accounts_plan_id_idx on tollgate.accounts (plan_id);
create index if not exists accounts_settle_at_idx on tollgate.accounts (settle_at);

alter table tollgate.accounts enable row level security;
revoke all on table tollgate.accounts from anon, authenticated, service_role;
grant select on table tollgate.accounts to authenticated, service_role;

drop policy if exists accounts_select_own on tollgate.accounts;
create policy accounts_select_own on tollgate.accounts for select to authenticated
  using (user_id = (select auth.uid()));

do $$ begin
  create type tollgate.credit_source as enum ('plan', 'top_up', 'promo', 'refund', 'adjustment');
exception when duplicate_object then null;
end $$;
comment on type tollgate.credit_source is
  'Tollgate: where a lot''s credits come from. Plan lots follow credit periods; a plan change or reset expires only them.';

create table if not exists tollgate.credit_lots (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references tollgate.accounts (user_id) on delete cascade,
  source tollgate.credit_source not null,
  amount bigint not null check (amount > 0),
  remaining bigint not null check (remaining between 0 and amount),
  expires_at timestamptz,
  priority integer not null default 100,
  grant_key text not null check (length(grant_key) between 1 and 300),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  unique (user_id, grant_key)
);
comment on table tollgate.credit_lots is
  'Tollgate: every grant is a lot that is drawn down, so plan credits can expire while bought top-ups survive. '
  'Drawn earliest expiry first, then by priority.';
comment on column tollgate.credit_lots.priority is 'Among lots expiring at the same time, the lower priority is drawn first.';
comment on column tollgate.credit_lots.grant_key is
  'The grant''s idempotency key: one lot per key and account, whatever the retries.';

-- The draw-down order, over lots with something left.
create index if not exists credit_lots_draw_idx on tollgate.credit_lots (user_id, expires_at, priority, created_at)
  where remaining > 0;

alter table tollgate.credit_lots enable row level security;
revoke all on table tollgate.credit_lots from anon, authenticated, service_role;
grant select on table tollgate.credit_lots to authenticated, service_role;

drop policy if exists credit_lots_select_own on tollgate.credit_lots;
create policy credit_lots_select_own on tollgate.credit_lots for select to authenticated
  using (user_id = (select auth.uid()));

create table if not exists tollgate.credit_ledger (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  seq bigint not null check (seq > 0),
  delta bigint not null,
  balance_after bigint not null,
  reason text not null check (reason in ('consume', 'usage', 'grant', 'expire', 'refund', 'dispute', 'adjustment')),
  idempotency_key text,
  lot_id uuid,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  unique (user_id, seq)
);
comment on table tollgate.credit_ledger is
  'Tollgate: append-only credit ledger, one row per movement, numbered per account; never changed or removed. '
  'sum(delta) per account = accounts.balance. No foreign key: accounting records outlive a deleted user.';

-- A movement happens once per key and reason, whatever the retries.
create unique index if not exists credit_ledger_idempotency_idx
  on tollgate.credit_ledger (user_id, reason, idempotency_key) where idempotency_key is not null;

create or replace function tollgate._refuse_ledger_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'credit_ledger is append-only: % is not allowed', tg_op
    using errcode = 'TGLOG', hint = 'Correct a movement with a new adjustment entry.';
end
$$;
comment on function tollgate._refuse_ledger_change() is
  'Tollgate: keeps credit_ledger append-only for every role, the owner included (TGLOG).';
revoke execute on function tollgate._refuse_ledger_change() from public, anon, authenticated, service_role;

drop trigger if exists credit_ledger_append_only on tollgate.credit_ledger;
create trigger credit_ledger_append_only before update or delete on tollgate.credit_ledger
  for each row execute function tollgate._refuse_ledger_change();
drop trigger if exists credit_ledger_no_truncate on tollgate.credit_ledger;
create trigger credit_ledger_no_truncate before truncate on tollgate.credit_ledger
  for each statement execute function tollgate._refuse_ledger_change();

alter table tollgate.credit_ledger enable row level security;
revoke all on table tollgate.credit_ledger from anon, authenticated, service_role;
grant select on table tollgate.credit_ledger to authenticated, service_role;

drop policy if exists credit_ledger_select_own on tollgate.credit_ledger;
create policy credit_ledger_select_own on tollgate.credit_ledger for select to authenticated
  using (user_id = (select auth.uid()));

create or replace function tollgate._acting_user(p_user_id uuid) returns uuid
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
begin
  if auth.role() = 'service_role' then
    if p_user_id is null then
      raise exception 'Missing user_id: the service role must name the user it acts for' using errcode = 'TG400';
    end if;
    return p_user_id;
  end if;
  if v_uid is null then
    raise exception 'Not authenticated: no user in the request' using errcode = 'TG401';
  end if;
  if p_user_id is not null and p_user_id <> v_uid then
    raise exception 'Forbidden: a user may act only for themselves' using errcode = 'TG403';
  end if;
  return v_uid;
end
$$;
comment on function tollgate._acting_user(uuid) is
  'Tollgate: the user a call acts for. The service role names anyone; a user acts only for auth.uid() (TG403).';
revoke execute on function tollgate._acting_user(uuid) from public, anon, authenticated, service_role;

create or replace function tollgate._lock_account(p_user_id uuid) returns tollgate.accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts;
begin
  select * into v_account from tollgate.accounts where user_id = p_user_id for update;
  if not found then
    raise exception 'No account for user %', p_user_id
      using errcode = 'TG404', detail = jsonb_build_object('user_id', p_user_id)::text;
  end if;
  return v_account;
end
$$;
comment on function tollgate._lock_account(uuid) is
  'Tollgate: locks the account row and returns it (TG404 when there is none). Always the first lock a credit '
  'movement takes, so concurrent calls of one account serialize and never deadlock.';
revoke execute on function tollgate._lock_account(uuid) from public, anon, authenticated, service_role;

create or replace function tollgate._post_ledger(
  p_user_id uuid, p_delta bigint, p_overdraft_delta bigint, p_reason text, p_key text, p_lot_id uuid,
  p_metadata jsonb, p_now timestamptz
) returns tollgate.credit_ledger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance bigint;
  v_seq bigint;
  v_row tollgate.credit_ledger;
begin
  update tollgate.accounts
     set balance = balance + p_delta, overdraft = overdraft + p_overdraft_delta,
         ledger_seq = ledger_seq + 1, updated_at = p_now
   where user_id = p_user_id
  returning balance, ledger_seq into v_balance, v_seq;
  insert into tollgate.credit_ledger (user_id, seq, delta, balance_after, reason, idempotency_key, lot_id, metadata,
                                      created_at)
  values (p_user_id, v_seq, p_delta, v_balance, p_reason, p_key, p_lot_id, coalesce(p_metadata, '{}'::jsonb), p_now)
  returning * into v_row;
  return v_row;
end
$$;
comment on function tollgate._post_ledger(uuid, bigint, bigint, text, text, uuid, jsonb, timestamptz) is
  'Tollgate: appends one ledger row and moves the cached balance (and overdraft) with it, numbering the row. The '
  'caller holds the account lock and has already moved the lots.';
revoke execute on function tollgate._post_ledger(uuid, bigint, bigint, text, text, uuid, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._grant_lot(
  p_user_id uuid, p_source tollgate.credit_source, p_amount bigint, p_expires_at timestamptz, p_priority integer,
  p_grant_key text, p_metadata jsonb, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts := tollgate._lock_account(p_user_id);
  v_lot tollgate.credit_lots;
  v_repaid bigint := least(p_amount, v_account.overdraft);
  v_entry tollgate.credit_ledger;
begin
  if p_amount is null or p_amount <= 0 then
    raise exception 'Cannot grant credits: amount must be positive, got %', p_amount using errcode = 'TG400';
  end if;
  insert into tollgate.credit_lots (user_id, source, amount, remaining, expires_at, priority, grant_key, metadata,
                                    created_at)
  values (p_user_id, p_source, p_amount, p_amount - v_repaid, p_expires_at, p_priority, p_grant_key,
          coalesce(p_metadata, '{}'::jsonb), p_now)
  on conflict (user_id, grant_key) do nothing
  returning * into v_lot;
  if not found then
    select * into v_lot from tollgate.credit_lots where user_id = p_user_id and grant_key = p_grant_key;
    if v_lot.amount <> p_amount or v_lot.source <> p_source then
      raise exception 'Idempotency conflict: grant % was already made with a different amount or source', p_grant_key
        using errcode = 'TG409', detail = jsonb_build_object('amount', v_lot.amount, 'source', v_lot.source)::text;
    end if;
    select * into v_entry from tollgate.credit_ledger
     where user_id = p_user_id and reason = 'grant' and idempotency_key = p_grant_key;
    return jsonb_build_object('lot_id', v_lot.id, 'transaction_id', v_entry.id, 'balance', v_account.balance,
                              'replayed', true);
  end if;
  v_entry := tollgate._post_ledger(p_user_id, p_amount, -v_repaid, 'grant', p_grant_key, v_lot.id,
                                   coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('source', p_source),
                                   p_now);
  if p_expires_at is not null then
    update tollgate.accounts set next_expiry_at = least(next_expiry_at, p_expires_at) where user_id = p_user_id;
  end if;
  return jsonb_build_object('lot_id', v_lot.id, 'transaction_id', v_entry.id, 'balance', v_entry.balance_after,
                            'replayed', false);
end
$$;
comment on function tollgate._grant_lot(uuid, tollgate.credit_source, bigint, timestamptz, integer, text, jsonb,
  timestamptz) is
  'Tollgate: grants a lot once per (account, grant key), repaying any overdraft first; a replay returns the first '
  'grant, the same key with another amount or source is TG409.';
revoke execute on function tollgate._grant_lot(uuid, tollgate.credit_source, bigint, timestamptz, integer, text,
  jsonb, timestamptz) from public, anon, authenticated, service_role;

create or replace function tollgate._draw_lots(p_user_id uuid, p_amount bigint, p_now timestamptz) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_drawn bigint;
begin
  -- The common case: the first lot in draw order covers the amount, and one guarded UPDATE does it.
  update tollgate.credit_lots l set remaining = l.remaining - p_amount
   where l.id = (select id from tollgate.credit_lots
                  where user_id = p_user_id and remaining > 0 and (expires_at is null or expires_at > p_now)
                  order by expires_at nulls last, priority, created_at, id
                  limit 1)
     and l.remaining >= p_amount;
  if found then
    return p_amount;
  end if;
  with ordered as (
    select id, remaining,
           sum(remaining) over (order by expires_at nulls last, priority, created_at, id) as cum
      from tollgate.credit_lots
     where user_id = p_user_id and remaining > 0 and (expires_at is null or expires_at > p_now)
  ), take as (
    select id, least(remaining, p_amount - (cum - remaining)) as n from ordered where cum - remaining < p_amount
  ), drawn as (
    update tollgate.credit_lots l set remaining = l.remaining - take.n from take where l.id = take.id returning take.n
  )
  select coalesce(sum(n), 0) into v_drawn from drawn;
  return v_drawn;
end
$$;
comment on function tollgate._draw_lots(uuid, bigint, timestamptz) is
  'Tollgate: draws p_amount from the account''s live lots, earliest expiry first, then priority, and returns what '
  'was drawn (less than p_amount only when the lots run out). The caller holds the account lock.';
revoke execute on function tollgate._draw_lots(uuid, bigint, timestamptz) from public, anon, authenticated, service_role;

create or replace function tollgate._debit(
  p_user_id uuid, p_amount bigint, p_allow_negative boolean, p_reason text, p_key text, p_metadata jsonb,
  p_now timestamptz
) returns tollgate.credit_ledger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance bigint;
  v_drawn bigint;
begin
  select balance into v_balance from tollgate.accounts where user_id = p_user_id;
  if not p_allow_negative and v_balance < p_amount then
    raise exception 'Cannot consume credits: balance is %, % required', v_balance, p_amount
      using errcode = 'TG402', detail = jsonb_build_object('balance', v_balance, 'required', p_amount)::text;
  end if;
  v_drawn := tollgate._draw_lots(p_user_id, p_amount, p_now);
  return tollgate._post_ledger(p_user_id, -p_amount, p_amount - v_drawn, p_reason, p_key, null, p_metadata, p_now);
end
$$;
comment on function tollgate._debit(uuid, bigint, boolean, text, text, jsonb, timestamptz) is
  'Tollgate: debits credits, refused with TG402 below the amount unless post-paid (p_allow_negative), in which case '
  'what the lots cannot cover becomes overdraft. The caller holds the account lock and has settled the account.';
revoke execute on function tollgate._debit(uuid, bigint, boolean, text, text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._valid_metadata(p_metadata jsonb) returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
  v_message text;
begin
  if p_metadata is null then
    return null;
  end if;
  if jsonb_typeof(p_metadata) <> 'object' then
    v_message := format('must be a JSON object, not %s', jsonb_typeof(p_metadata));
  elsif octet_length(p_metadata::text) > 16384 then
    v_message := format('must be at most 16384 bytes as JSON, not %s', octet_length(p_metadata::text));
  else
    return p_metadata;
  end if;
  raise exception 'Invalid metadata: %', v_message using errcode = 'TG400',
    detail = jsonb_build_object('issues', jsonb_build_array(
      jsonb_build_object('path', jsonb_build_array('metadata'), 'message', v_message)))::text;
end
$$;
comment on function tollgate._valid_metadata(jsonb) is
  'Tollgate: p_metadata when it is null or a JSON object of at most 16384 bytes of text; TG400 naming the field '
  'otherwise. metadata also reaches the SQL functions over rpc (PostgREST), where no zod schema stands in front: '
  'anything else is refused before anything is written, instead of being stored as sent (an array, a string) or '
  'growing every ledger row without bound.';
revoke execute on function tollgate._valid_metadata(jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate.grant_credits(
  p_user_id uuid, p_amount bigint, p_idempotency_key text, p_source tollgate.credit_source default 'promo',
  p_expires_at timestamptz default null, p_metadata jsonb default '{}'::jsonb
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_source = 'plan' then
    raise exception 'Cannot grant plan credits directly: they follow credit periods' using errcode = 'TG400';
  end if;
  if p_idempotency_key is null or length(p_idempotency_key) not between 1 and 255 then
    raise exception 'Invalid idempotency key: must be 1 to 255 characters' using errcode = 'TG400';
  end if;
  return tollgate._grant_lot(p_user_id, p_source, p_amount, p_expires_at,
                             case p_source when 'promo' then 20 when 'refund' then 30 else 50 end,
                             p_source || ':' || p_idempotency_key, tollgate._valid_metadata(p_metadata), now());
end
$$;
comment on function tollgate.grant_credits(uuid, bigint, text, tollgate.credit_source, timestamptz, jsonb) is
  'Tollgate: adds credits (top_up, promo, refund, adjustment) as a lot, once per (source, idempotency key). Service '
  'role only: it adds money. Returns lot_id, transaction_id, balance and replayed.';
revoke execute on function tollgate.grant_credits(uuid, bigint, text, tollgate.credit_source, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function tollgate.grant_credits(uuid, bigint, text, tollgate.credit_source, timestamptz, jsonb)
  to service_role;

create or replace function tollgate.check_ledger(p_user_id uuid default null)
returns table (user_id uuid, balance bigint, ledger_sum bigint, last_balance_after bigint, lots_remaining bigint,
               overdraft bigint, ledger_seq bigint, ledger_rows bigint, problem text)
language sql stable
security definer
set search_path = ''
as $$
  select * from (
    select a.user_id, a.balance, coalesce(l.total, 0)::bigint, l.last_balance, coalesce(r.remaining, 0)::bigint,
           a.overdraft, a.ledger_seq, coalesce(l.n, 0)::bigint,
           concat_ws('; ',
             case when coalesce(l.total, 0) <> a.balance then 'ledger sum differs from balance' end,
             case when coalesce(r.remaining, 0) - a.overdraft <> a.balance
                  then 'lots remaining minus overdraft differs from balance' end,
             case when coalesce(l.n, 0) <> a.ledger_seq or coalesce(l.max_seq, 0) <> a.ledger_seq
                  then 'ledger sequence has gaps' end,
             case when l.n > 0 and l.last_balance <> a.balance then 'last balance_after differs from balance' end,
             case when a.overdraft > 0 and coalesce(r.remaining, 0) > 0 then 'overdraft beside unspent lots' end)
      from tollgate.accounts a
      left join lateral (
        select sum(e.delta) as total, count(*) as n, max(e.seq) as max_seq,
               (array_agg(e.balance_after order by e.seq desc))[1] as last_balance
          from tollgate.credit_ledger e where e.user_id = a.user_id
      ) l on true
      left join lateral (
        select sum(c.remaining) as remaining from tollgate.credit_lots c where c.user_id = a.user_id
      ) r on true
     where p_user_id is null or a.user_id = p_user_id
  ) s (user_id, balance, ledger_sum, last_balance_after, lots_remaining, overdraft, ledger_seq, ledger_rows, problem)
  where problem <> ''
$$;
comment on function tollgate.check_ledger(uuid) is
  'Tollgate: lists every account (or one) whose ledger sum, cached balance, lots and sequence disagree, with the '
  'problem named. Empty means the books balance. Service role only.';
revoke execute on function tollgate.check_ledger(uuid) from public, anon, authenticated;
grant execute on function tollgate.check_ledger(uuid) to service_role;
