-- Accounts and the credits ledger: the billing accounts (every user's personal one, and teams with members), the
-- lots their credits are drawn from, the append-only ledger of every movement, and the holds that reserve credits
-- for work whose cost is known only afterwards. The invariants every function keeps:
--   accounts.balance = sum(credit_ledger.delta) = sum(credit_lots.remaining) - accounts.overdraft
--   accounts.held = sum(credit_holds.amount) of the holds still open; what a call may take is balance - held
-- Every balance change happens under the account's row lock, taken first (_lock_account); lots are only touched
-- after it. Nobody but these functions writes; members read their accounts' rows under RLS (member_accounts), and
-- _acting_member is the one answer to "who may act for which account".

do $$ begin
  create type tollgate.account_kind as enum ('personal', 'team');
exception when duplicate_object then null;
end $$;
comment on type tollgate.account_kind is
  'Tollgate: personal = one user''s own account (its id is the user''s id); team = an account with members.';

create table if not exists tollgate.accounts (
  id uuid primary key default gen_random_uuid(),
  kind tollgate.account_kind not null default 'personal',
  name text check (name is null or length(name) between 1 and 100),
  personal_user_id uuid generated always as (case when kind = 'personal' then id end) stored
    references auth.users (id) on delete cascade,
  plan_id text not null references tollgate.plans (id) on update cascade,
  seats integer not null default 1 check (seats >= 0),
  period_anchor timestamptz not null,
  period_start timestamptz not null,
  period_end timestamptz not null,
  balance bigint not null default 0,
  overdraft bigint not null default 0 check (overdraft >= 0),
  held bigint not null default 0 check (held >= 0),
  next_expiry_at timestamptz,
  settle_at timestamptz generated always as (least(period_end, next_expiry_at)) stored,
  ledger_seq bigint not null default 0,
  low_balance_threshold bigint check (low_balance_threshold >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (period_start < period_end),
  check (kind = 'personal' or name is not null)
);
comment on table tollgate.accounts is
  'Tollgate: the billing accounts: every user''s personal account (id = the user''s id, opened at signup) and team '
  'accounts with members (account_members). Each holds the plan, credit period and the cached balance every '
  'consume guards. Invariant: balance = sum(credit_ledger.delta) = sum(credit_lots.remaining) - overdraft.';
comment on column tollgate.accounts.personal_user_id is
  'The user of a personal account (its id), null for a team: deleting the user deletes their personal account.';
comment on column tollgate.accounts.seats is
  'How many times each credit period grants the plan''s monthly_credits: the subscription''s quantity on a '
  'per-seat plan, else 1; 0 for a team without a live subscription (creating teams never mints credits).';
comment on column tollgate.accounts.period_anchor is
  'Credit periods are whole months counted from here (signup, or the subscription''s billing anchor).';
comment on column tollgate.accounts.overdraft is
  'Credits used post-paid beyond the lots; repaid first by the next grant.';
comment on column tollgate.accounts.held is
  'Credits reserved by open holds (credit_holds): a reservation, not a ledger movement. What a consume or a hold '
  'may take, and what every answer calls balance, is balance - held.';
comment on column tollgate.accounts.next_expiry_at is
  'A lower bound on the earliest expiry among lots with credits left (null: none expire).';
comment on column tollgate.accounts.settle_at is
  'When the account next needs settling (period roll or lot expiry); every credit movement compares it with now.';
comment on column tollgate.accounts.ledger_seq is 'The seq of the account''s last credit_ledger row.';
comment on column tollgate.accounts.low_balance_threshold is
  'Below this available balance the account is low on credits (null: the plan''s).';

create index if not exists accounts_plan_id_idx on tollgate.accounts (plan_id);
create index if not exists accounts_settle_at_idx on tollgate.accounts (settle_at, id);
create index if not exists accounts_personal_user_idx on tollgate.accounts (personal_user_id)
  where personal_user_id is not null;

do $$ begin
  create type tollgate.member_role as enum ('owner', 'admin', 'member');
exception when duplicate_object then null;
end $$;
comment on type tollgate.member_role is
  'Tollgate: owners and admins manage members; only owners grant or take the owner role; every member consumes.';

create table if not exists tollgate.account_members (
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role tollgate.member_role not null default 'member',
  cap_credits bigint check (cap_credits >= 0),
  cap_period tollgate.quota_period,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (account_id, user_id),
  check ((cap_credits is null) = (cap_period is null))
);
comment on table tollgate.account_members is
  'Tollgate: who belongs to which account, with their role and cap. A personal account has exactly one member, '
  'its owner; every account keeps at least one owner. Changed only by the member functions, under the account''s '
  'lock.';
comment on column tollgate.account_members.cap_credits is
  'At most this many credits per cap_period (day = UTC day, month = the account''s credit period), counted when '
  'credits are taken (member_usage); null: no cap.';

create index if not exists account_members_user_idx on tollgate.account_members (user_id);

create or replace function tollgate.member_accounts(
  p_roles tollgate.member_role[] default '{owner,admin,member}'
) returns setof uuid
language sql stable
security definer
set search_path = ''
rows 10
as $$
  select m.account_id from tollgate.account_members m
   where m.user_id = (select auth.uid()) and m.role = any (p_roles)
$$;
comment on function tollgate.member_accounts(tollgate.member_role[]) is
  'Tollgate: the accounts the signed-in user (auth.uid()) is a member of with one of p_roles: what every policy '
  'on billing data asks (account_id in (select tollgate.member_accounts())), once per statement. Security definer, '
  'so account_members'' own policy can ask it without recursing.';
revoke execute on function tollgate.member_accounts(tollgate.member_role[]) from public, anon;
grant execute on function tollgate.member_accounts(tollgate.member_role[]) to authenticated, service_role;

alter table tollgate.accounts enable row level security;
revoke all on table tollgate.accounts from anon, authenticated, service_role;
grant select on table tollgate.accounts to authenticated, service_role;

drop policy if exists accounts_select_member on tollgate.accounts;
create policy accounts_select_member on tollgate.accounts for select to authenticated
  using (id in (select tollgate.member_accounts()));

alter table tollgate.account_members enable row level security;
revoke all on table tollgate.account_members from anon, authenticated, service_role;
grant select on table tollgate.account_members to authenticated, service_role;

drop policy if exists account_members_select_member on tollgate.account_members;
create policy account_members_select_member on tollgate.account_members for select to authenticated
  using (account_id in (select tollgate.member_accounts()));

do $$ begin
  create type tollgate.credit_source as enum ('plan', 'top_up', 'promo', 'refund', 'adjustment');
exception when duplicate_object then null;
end $$;
comment on type tollgate.credit_source is
  'Tollgate: where a lot''s credits come from. Plan lots follow credit periods; a plan change or reset expires only them.';

create table if not exists tollgate.credit_lots (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  source tollgate.credit_source not null,
  amount bigint not null check (amount > 0),
  remaining bigint not null check (remaining between 0 and amount),
  expires_at timestamptz,
  priority integer not null default 100,
  grant_key text not null check (length(grant_key) between 1 and 300),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  unique (account_id, grant_key)
);
comment on table tollgate.credit_lots is
  'Tollgate: every grant is a lot that is drawn down, so plan credits can expire while bought top-ups survive. '
  'Drawn earliest expiry first, then by priority.';
comment on column tollgate.credit_lots.priority is 'Among lots expiring at the same time, the lower priority is drawn first.';
comment on column tollgate.credit_lots.grant_key is
  'The grant''s idempotency key: one lot per key and account, whatever the retries.';

-- The draw-down order, over lots with something left.
create index if not exists credit_lots_draw_idx on tollgate.credit_lots (account_id, expires_at, priority, created_at)
  where remaining > 0;

alter table tollgate.credit_lots enable row level security;
revoke all on table tollgate.credit_lots from anon, authenticated, service_role;
grant select on table tollgate.credit_lots to authenticated, service_role;

drop policy if exists credit_lots_select_member on tollgate.credit_lots;
create policy credit_lots_select_member on tollgate.credit_lots for select to authenticated
  using (account_id in (select tollgate.member_accounts()));

create table if not exists tollgate.credit_ledger (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null,
  seq bigint not null check (seq > 0),
  delta bigint not null,
  balance_after bigint not null,
  reason text not null check (reason in ('consume', 'usage', 'grant', 'expire', 'refund', 'dispute', 'adjustment')),
  idempotency_key text,
  lot_id uuid,
  actor_id uuid,
  metadata jsonb not null default '{}'::jsonb,
  request_hash text,
  response jsonb,
  created_at timestamptz not null default now(),
  unique (account_id, seq)
);
comment on table tollgate.credit_ledger is
  'Tollgate: append-only credit ledger, one row per movement, numbered per account; never changed or removed. '
  'sum(delta) per account = accounts.balance. No foreign key: accounting records outlive a deleted user or account.';
comment on column tollgate.credit_ledger.request_hash is
  'With response, the replay record of the consume that debited this entry (null on every other movement): the '
  'hash of its request, so the same idempotency key with another body is a conflict.';
comment on column tollgate.credit_ledger.response is
  'The answer the consume that debited this entry gave, answered again (replayed: true) to a retry with its key. '
  'Kept on the entry, a debit needs no idempotency_keys row of its own.';
comment on column tollgate.credit_ledger.actor_id is
  'The member whose call moved the credits (consume, usage); null for the system''s movements (grants, expiries, '
  'Stripe, a service call for a team that named no member).';

-- A movement happens once per key and reason, whatever the retries.
create unique index if not exists credit_ledger_idempotency_idx
  on tollgate.credit_ledger (account_id, reason, idempotency_key) where idempotency_key is not null;

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

drop policy if exists credit_ledger_select_member on tollgate.credit_ledger;
create policy credit_ledger_select_member on tollgate.credit_ledger for select to authenticated
  using (account_id in (select tollgate.member_accounts()));

create table if not exists tollgate.credit_holds (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  user_id uuid,
  idempotency_key text not null check (length(idempotency_key) between 1 and 255),
  feature text not null,
  amount bigint not null check (amount >= 0),
  status text not null default 'held' check (status in ('held', 'settled', 'expired')),
  expires_at timestamptz not null,
  charged bigint check (charged >= 0),
  released bigint check (released >= 0),
  settled_by text check (length(settled_by) between 1 and 255),
  closed_at timestamptz,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  unique (account_id, idempotency_key),
  check ((status = 'held') = (closed_at is null)),
  check (status = 'held' or charged + released = amount),
  check (status <> 'settled' or settled_by is not null)
);
comment on table tollgate.credit_holds is
  'Tollgate: credits reserved before work whose cost is known only afterwards (consume-credit with hold), under '
  'the account''s lock; a reservation, not a ledger movement: accounts.held sums the open ones, and the ledger '
  'moves once, when log-ai-usage settles the hold (charging from it, releasing the rest). Each hold closes exactly '
  'once: settled, or expired (by the sweeper or the account''s next call, whichever comes first).';
comment on column tollgate.credit_holds.user_id is
  'The member who holds the credits (counted against their cap when held); null: a service call naming no member.';
comment on column tollgate.credit_holds.idempotency_key is 'The consume-credit key that opened the hold.';
comment on column tollgate.credit_holds.charged is 'Of amount, what the settlement charged (0 when it expired).';
comment on column tollgate.credit_holds.released is 'Of amount, what came back to the available balance.';
comment on column tollgate.credit_holds.settled_by is
  'The log-ai-usage request_id that settled the hold (also for an expired one logged afterwards): one request '
  'settles a hold, another request_id naming it is refused (TGH09).';

-- The open holds (only the in-flight ones, so a small index) by account and expiry: each account's lazy release,
-- and the sweeper's scan of them all.
create index if not exists credit_holds_open_idx on tollgate.credit_holds (account_id, expires_at)
  where status = 'held';

alter table tollgate.credit_holds enable row level security;
revoke all on table tollgate.credit_holds from anon, authenticated, service_role;
grant select on table tollgate.credit_holds to authenticated, service_role;

drop policy if exists credit_holds_select_member on tollgate.credit_holds;
create policy credit_holds_select_member on tollgate.credit_holds for select to authenticated
  using (account_id in (select tollgate.member_accounts()));

create or replace function tollgate._acting_member(
  p_account_id uuid, p_user_id uuid, out account_id uuid, out user_id uuid, out role tollgate.member_role
)
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid;
  v_kind tollgate.account_kind;
begin
  if auth.role() = 'service_role' then
    if p_account_id is null then
      if p_user_id is null then
        raise exception 'Missing user_id: the service role must name the account or the user it acts for'
          using errcode = 'TG400';
      end if;
      -- That user's personal account (whether it exists, the account lock says: TG404).
      account_id := p_user_id;
      user_id := p_user_id;
      role := 'owner';
      return;
    end if;
    select a.kind into v_kind from tollgate.accounts a where a.id = p_account_id;
    if not found then
      raise exception 'No account %', p_account_id
        using errcode = 'TG404', detail = jsonb_build_object('account_id', p_account_id)::text;
    end if;
    account_id := p_account_id;
    if p_user_id is null then
      -- A personal account's only member is its owner; for a team the service acts as no member (no cap).
      if v_kind = 'personal' then
        user_id := p_account_id;
        role := 'owner';
      end if;
      return;
    end if;
    select m.role into role from tollgate.account_members m
     where m.account_id = p_account_id and m.user_id = p_user_id;
    if not found then
      raise exception 'Forbidden: user % is not a member of account %', p_user_id, p_account_id
        using errcode = 'TG403';
    end if;
    user_id := p_user_id;
    return;
  end if;
  v_uid := auth.uid();
  if v_uid is null then
    raise exception 'Not authenticated: no user in the request' using errcode = 'TG401';
  end if;
  if p_user_id is not null and p_user_id <> v_uid then
    raise exception 'Forbidden: a user may act only for themselves' using errcode = 'TG403';
  end if;
  account_id := coalesce(p_account_id, v_uid);
  user_id := v_uid;
  if account_id = v_uid then
    role := 'owner';
    return;
  end if;
  select m.role into role from tollgate.account_members m
   where m.account_id = p_account_id and m.user_id = v_uid;
  if not found then
    -- The same answer whether or not the account exists: a user learns nothing of accounts not theirs.
    raise exception 'Forbidden: you are not a member of account %', p_account_id using errcode = 'TG403';
  end if;
end
$$;
comment on function tollgate._acting_member(uuid, uuid) is
  'Tollgate: who a call acts for, the one answer: the account (p_account_id, default the personal account) and the '
  'member acting with their role. The service role names any account (TG404 if none) and any member of it (TG403 '
  'if not one; for a team it may name none), or only a user (their personal account); a user acts only as '
  'auth.uid() (TG403) in an account they are a member of (TG403, the same whether or not it exists).';
revoke execute on function tollgate._acting_member(uuid, uuid) from public, anon, authenticated, service_role;

create or replace function tollgate._lock_account(p_account_id uuid) returns tollgate.accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts;
begin
  select * into v_account from tollgate.accounts where id = p_account_id for update;
  if not found then
    raise exception 'No account %', p_account_id
      using errcode = 'TG404', detail = jsonb_build_object('account_id', p_account_id)::text;
  end if;
  return v_account;
end
$$;
comment on function tollgate._lock_account(uuid) is
  'Tollgate: locks the account row and returns it (TG404 when there is none). Always the first lock a credit '
  'movement or a membership change takes, so concurrent calls of one account serialize and never deadlock.';
revoke execute on function tollgate._lock_account(uuid) from public, anon, authenticated, service_role;

create or replace function tollgate._low_balance_threshold(p_account tollgate.accounts) returns bigint
language plpgsql stable
security definer
set search_path = ''
as $$
begin
  return coalesce(p_account.low_balance_threshold,
                  (select p.low_balance_threshold from tollgate.plans p where p.id = p_account.plan_id));
end
$$;
comment on function tollgate._low_balance_threshold(tollgate.accounts) is
  'Tollgate: the available balance below which an account is low on credits (balance.low): its own '
  'low_balance_threshold, else its plan''s; null: none. PL/pgSQL, not SQL: every debit calls it from a statement '
  'that is set up afresh per call, where PostgreSQL 15 parses and plans a SQL function''s body again each time '
  '(measured: a tenth of a consume); PL/pgSQL keeps its plan for the session.';
revoke execute on function tollgate._low_balance_threshold(tollgate.accounts)
  from public, anon, authenticated, service_role;

create or replace function tollgate._post_ledger(
  p_account_id uuid, p_delta bigint, p_overdraft_delta bigint, p_reason text, p_key text, p_lot_id uuid,
  p_metadata jsonb, p_now timestamptz, p_actor_id uuid default null, p_entry_id uuid default null,
  p_request_hash text default null, p_response jsonb default null
) returns tollgate.credit_ledger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance bigint;
  v_seq bigint;
  v_available bigint;
  v_threshold bigint;
  v_row tollgate.credit_ledger;
begin
  update tollgate.accounts a
     set balance = balance + p_delta, overdraft = overdraft + p_overdraft_delta,
         ledger_seq = ledger_seq + 1, updated_at = p_now
   where id = p_account_id
  returning a.balance, a.ledger_seq, a.balance - a.held, tollgate._low_balance_threshold(a)
    into v_balance, v_seq, v_available, v_threshold;
  insert into tollgate.credit_ledger (id, account_id, seq, delta, balance_after, reason, idempotency_key,
                                      lot_id, actor_id, metadata, request_hash, response, created_at)
  values (coalesce(p_entry_id, gen_random_uuid()), p_account_id, v_seq, p_delta, v_balance, p_reason, p_key,
          p_lot_id, p_actor_id, coalesce(p_metadata, '{}'::jsonb), p_request_hash, p_response, p_now)
  returning * into v_row;
  -- Spending and taking back may cross the low-balance threshold or zero; an expiry is followed by the period's
  -- new allowance (the reset), so it reports neither.
  if p_delta < 0 and p_reason <> 'expire' then
    perform tollgate._emit_balance_events(p_account_id, v_available - p_delta, v_available, v_threshold,
                                          'ledger:' || v_seq, p_now);
  end if;
  return v_row;
end
$$;
comment on function tollgate._post_ledger(uuid, bigint, bigint, text, text, uuid, jsonb, timestamptz, uuid, uuid, text,
  jsonb) is
  'Tollgate: appends one ledger row (naming the acting member, if any) and moves the cached balance (and '
  'overdraft) with it, numbering the row; a debit that crosses the low-balance threshold or zero writes its '
  'billing event. p_entry_id names the row (default: a new id); p_request_hash and p_response are the replay '
  'record of the call that posts it (a consume''s debit), kept on the row. The caller holds the account lock '
  'and has already moved the lots.';
revoke execute on function tollgate._post_ledger(uuid, bigint, bigint, text, text, uuid, jsonb, timestamptz, uuid, uuid,
  text, jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate._grant_lot(
  p_account_id uuid, p_source tollgate.credit_source, p_amount bigint, p_expires_at timestamptz, p_priority integer,
  p_grant_key text, p_metadata jsonb, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts := tollgate._lock_account(p_account_id);
  v_lot tollgate.credit_lots;
  v_repaid bigint := least(p_amount, v_account.overdraft);
  v_entry tollgate.credit_ledger;
begin
  if p_amount is null or p_amount <= 0 then
    raise exception 'Cannot grant credits: amount must be positive, got %', p_amount using errcode = 'TG400';
  end if;
  insert into tollgate.credit_lots (account_id, source, amount, remaining, expires_at, priority, grant_key, metadata,
                                    created_at)
  values (p_account_id, p_source, p_amount, p_amount - v_repaid, p_expires_at, p_priority, p_grant_key,
          coalesce(p_metadata, '{}'::jsonb), p_now)
  on conflict (account_id, grant_key) do nothing
  returning * into v_lot;
  if not found then
    select * into v_lot from tollgate.credit_lots where account_id = p_account_id and grant_key = p_grant_key;
    if v_lot.amount <> p_amount or v_lot.source <> p_source then
      raise exception 'Idempotency conflict: grant % was already made with a different amount or source', p_grant_key
        using errcode = 'TG409', detail = jsonb_build_object('amount', v_lot.amount, 'source', v_lot.source)::text;
    end if;
    select * into v_entry from tollgate.credit_ledger
     where account_id = p_account_id and reason = 'grant' and idempotency_key = p_grant_key;
    return jsonb_build_object('lot_id', v_lot.id, 'transaction_id', v_entry.id,
                              'balance', v_account.balance - v_account.held, 'replayed', true);
  end if;
  v_entry := tollgate._post_ledger(p_account_id, p_amount, -v_repaid, 'grant', p_grant_key, v_lot.id,
                                   coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('source', p_source),
                                   p_now);
  if p_expires_at is not null then
    update tollgate.accounts set next_expiry_at = least(next_expiry_at, p_expires_at) where id = p_account_id;
  end if;
  -- A period's plan allowance is the plan's rhythm, not news: every other grant is an event.
  if p_source <> 'plan' then
    perform tollgate._emit_event(p_account_id, 'credits.granted', jsonb_build_object(
      'lot_id', v_lot.id, 'transaction_id', v_entry.id, 'source', p_source, 'amount', p_amount,
      'expires_at', p_expires_at, 'balance', v_entry.balance_after - v_account.held), p_grant_key, p_now);
  end if;
  return jsonb_build_object('lot_id', v_lot.id, 'transaction_id', v_entry.id,
                            'balance', v_entry.balance_after - v_account.held, 'replayed', false);
end
$$;
comment on function tollgate._grant_lot(uuid, tollgate.credit_source, bigint, timestamptz, integer, text, jsonb,
  timestamptz) is
  'Tollgate: grants a lot once per (account, grant key), repaying any overdraft first, with a credits.granted event '
  'unless it is a plan''s allowance; a replay returns the first grant, the same key with another amount or source '
  'is TG409.';
revoke execute on function tollgate._grant_lot(uuid, tollgate.credit_source, bigint, timestamptz, integer, text,
  jsonb, timestamptz) from public, anon, authenticated, service_role;

create or replace function tollgate._draw_lots(p_account_id uuid, p_amount bigint, p_now timestamptz) returns bigint
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
                  where account_id = p_account_id and remaining > 0 and (expires_at is null or expires_at > p_now)
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
     where account_id = p_account_id and remaining > 0 and (expires_at is null or expires_at > p_now)
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

create or replace function tollgate._require_available(p_account_id uuid, p_amount bigint) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_available bigint;
begin
  select a.balance - a.held into v_available from tollgate.accounts a where a.id = p_account_id;
  if v_available < p_amount then
    raise exception 'Cannot consume credits: balance is %, % required', v_available, p_amount
      using errcode = 'TG402', detail = jsonb_build_object('balance', v_available, 'required', p_amount)::text;
  end if;
end
$$;
comment on function tollgate._require_available(uuid, bigint) is
  'Tollgate: the one rule of what a call may take: TG402 (balance = what is available, required) unless the '
  'account''s balance minus its held credits covers p_amount. The caller holds the account lock.';
revoke execute on function tollgate._require_available(uuid, bigint) from public, anon, authenticated, service_role;

create or replace function tollgate._debit(
  p_account_id uuid, p_amount bigint, p_allow_negative boolean, p_reason text, p_key text, p_metadata jsonb,
  p_now timestamptz, p_actor_id uuid default null, p_entry_id uuid default null, p_request_hash text default null,
  p_response jsonb default null
) returns tollgate.credit_ledger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_drawn bigint;
begin
  if not p_allow_negative then
    perform tollgate._require_available(p_account_id, p_amount);
  end if;
  v_drawn := tollgate._draw_lots(p_account_id, p_amount, p_now);
  return tollgate._post_ledger(p_account_id, -p_amount, p_amount - v_drawn, p_reason, p_key, null, p_metadata, p_now,
                               p_actor_id, p_entry_id, p_request_hash, p_response);
end
$$;
comment on function tollgate._debit(uuid, bigint, boolean, text, text, jsonb, timestamptz, uuid, uuid, text, jsonb) is
  'Tollgate: debits credits for the acting member, refused with TG402 when the available balance (balance - held) '
  'is below the amount unless post-paid (p_allow_negative), in which case what the lots cannot cover becomes '
  'overdraft. The entry id and replay record go to _post_ledger. The caller holds the account lock and has settled '
  'the account.';
revoke execute on function tollgate._debit(uuid, bigint, boolean, text, text, jsonb, timestamptz, uuid, uuid, text,
  jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate._hold_credits(
  p_account_id uuid, p_amount bigint, p_key text, p_ttl_seconds integer, p_feature text, p_metadata jsonb,
  p_now timestamptz, p_actor_id uuid
) returns tollgate.credit_holds
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_hold tollgate.credit_holds;
  v_available bigint;
  v_threshold bigint;
begin
  perform tollgate._require_available(p_account_id, p_amount);
  insert into tollgate.credit_holds (account_id, user_id, idempotency_key, feature, amount, expires_at, metadata,
                                     created_at)
  values (p_account_id, p_actor_id, p_key, p_feature, p_amount, p_now + make_interval(secs => p_ttl_seconds),
          coalesce(p_metadata, '{}'::jsonb), p_now)
  returning * into v_hold;
  update tollgate.accounts a set held = held + p_amount, updated_at = p_now where id = p_account_id
  returning a.balance - a.held, tollgate._low_balance_threshold(a) into v_available, v_threshold;
  -- Holding lowers what is available as a debit does.
  perform tollgate._emit_balance_events(p_account_id, v_available + p_amount, v_available, v_threshold,
                                        'hold:' || v_hold.id, p_now);
  return v_hold;
end
$$;
comment on function tollgate._hold_credits(uuid, bigint, text, integer, text, jsonb, timestamptz, uuid) is
  'Tollgate: reserves p_amount credits for p_ttl_seconds (TG402 unless balance - held covers them): a hold row '
  'and accounts.held, no ledger movement (a balance.low or balance.depleted it causes is written). The caller holds the account lock and has counted the request and the '
  'member''s cap.';
revoke execute on function tollgate._hold_credits(uuid, bigint, text, integer, text, jsonb, timestamptz, uuid)
  from public, anon, authenticated, service_role;

create or replace function tollgate._expire_holds(p_account_id uuid, p_now timestamptz) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_released bigint := 0;
  v_hold record;
begin
  for v_hold in
    update tollgate.credit_holds h
       set status = 'expired', charged = 0, released = h.amount, closed_at = p_now
     where h.account_id = p_account_id and h.status = 'held' and h.expires_at <= p_now
    returning h.id, h.amount, h.user_id, h.feature, h.expires_at
  loop
    v_released := v_released + v_hold.amount;
    perform tollgate._emit_event(p_account_id, 'hold.expired', jsonb_build_object(
      'hold_id', v_hold.id, 'amount', v_hold.amount, 'user_id', v_hold.user_id, 'feature', v_hold.feature,
      'expires_at', v_hold.expires_at), v_hold.id::text, p_now);
  end loop;
  if v_released > 0 then
    update tollgate.accounts set held = held - v_released, updated_at = p_now where id = p_account_id;
  end if;
  return v_released;
end
$$;
comment on function tollgate._expire_holds(uuid, timestamptz) is
  'Tollgate: the one place holds expire: closes the account''s open holds past their expiry at p_now, each with a '
  'hold.expired event, and gives their credits back to the available balance (returns how many). Once per hold, whoever comes first: the '
  'sweeper (release_expired_holds) or the account''s next consume or usage call. The caller holds the account lock.';
revoke execute on function tollgate._expire_holds(uuid, timestamptz) from public, anon, authenticated, service_role;

create or replace function tollgate._settle_hold(
  p_account_id uuid, p_hold_id uuid, p_credits bigint, p_request_id text, p_now timestamptz
) returns tollgate.credit_holds
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_hold tollgate.credit_holds;
begin
  select * into v_hold from tollgate.credit_holds h
   where h.id = p_hold_id and h.account_id = p_account_id for update;
  if not found then
    raise exception 'No hold % on account %', p_hold_id, p_account_id
      using errcode = 'TG404', detail = jsonb_build_object('hold_id', p_hold_id)::text;
  end if;
  if v_hold.settled_by is not null then
    raise exception 'Cannot settle hold %: it was settled by request_id %', p_hold_id, v_hold.settled_by
      using errcode = 'TGH09', detail = jsonb_build_object(
        'hold_id', p_hold_id, 'settled_by', v_hold.settled_by, 'status', v_hold.status)::text;
  end if;
  if v_hold.status = 'expired' then
    -- Its credits came back when it expired: the whole charge is post-paid, and nothing is released now.
    update tollgate.credit_holds h set settled_by = p_request_id where h.id = p_hold_id
    returning * into v_hold;
    v_hold.charged := 0;
    v_hold.released := 0;
    return v_hold;
  end if;
  update tollgate.credit_holds h
     set status = 'settled', charged = least(p_credits, h.amount), released = h.amount - least(p_credits, h.amount),
         settled_by = p_request_id, closed_at = p_now
   where h.id = p_hold_id
  returning * into v_hold;
  update tollgate.accounts set held = held - v_hold.amount, updated_at = p_now where id = p_account_id;
  return v_hold;
end
$$;
comment on function tollgate._settle_hold(uuid, uuid, bigint, text, timestamptz) is
  'Tollgate: closes an open hold for the usage request p_request_id that costs p_credits: charged = what the hold '
  'covers, released = the rest (back to the available balance); the caller then debits p_credits, so what exceeds '
  'the hold is post-paid. A hold that already expired is only marked settled_by (charged and released 0 in the '
  'answer: the whole charge is post-paid). TG404 when the account has no such hold, TGH09 when another request '
  'settled it. The caller holds the account lock and has expired the account''s due holds.';
revoke execute on function tollgate._settle_hold(uuid, uuid, bigint, text, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate.release_expired_holds(
  p_now timestamptz default now(), p_batch_size integer default 1000,
  out accounts_released bigint, out credits_released bigint
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account_id uuid;
begin
  if p_now is null or p_batch_size is null or p_batch_size not between 1 and 100000 then
    raise exception 'Invalid arguments: p_now must be a time and p_batch_size 1 to 100000' using errcode = 'TG400';
  end if;
  accounts_released := 0;
  credits_released := 0;
  -- One batch of account locks: the accounts of the first p_batch_size holds due, those busy now skipped (their
  -- own next call releases them, or the next run).
  for v_account_id in
    select a.id from tollgate.accounts a
     where a.id in (select h.account_id from tollgate.credit_holds h
                     where h.status = 'held' and h.expires_at <= p_now
                     order by h.expires_at limit p_batch_size)
     order by a.id
       for update of a skip locked
  loop
    credits_released := credits_released + tollgate._expire_holds(v_account_id, p_now);
    accounts_released := accounts_released + 1;
  end loop;
end
$$;
comment on function tollgate.release_expired_holds(timestamptz, integer) is
  'Tollgate: the hold sweeper (pg_cron job tollgate-release-expired-holds, every minute): expires the open holds '
  'due at p_now of up to p_batch_size holds'' accounts, each under its lock, and returns how many accounts and '
  'credits it released; accounts locked by a call are skipped (that call releases them). Re-running it changes '
  'nothing. Service role only.';
revoke execute on function tollgate.release_expired_holds(timestamptz, integer) from public, anon, authenticated;
grant execute on function tollgate.release_expired_holds(timestamptz, integer) to service_role;

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
  p_account_id uuid, p_amount bigint, p_key text, p_source text default 'promo',
  p_expires_at timestamptz default null, p_metadata jsonb default '{}'::jsonb
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_source is null or p_source not in ('top_up', 'promo', 'refund', 'adjustment') then
    raise exception 'Invalid source %: grant top_up, promo, refund or adjustment (plan credits follow periods)',
      coalesce(p_source, '(null)') using errcode = 'TG400';
  end if;
  if p_key is null or length(p_key) not between 1 and 255 then
    raise exception 'Invalid idempotency key: must be 1 to 255 characters' using errcode = 'TG400';
  end if;
  return tollgate._grant_lot(p_account_id, p_source::tollgate.credit_source, p_amount, p_expires_at,
                             case p_source when 'promo' then 20 when 'refund' then 30 else 50 end,
                             p_source || ':' || p_key, tollgate._valid_metadata(p_metadata), now());
end
$$;
comment on function tollgate.grant_credits(uuid, bigint, text, text, timestamptz, jsonb) is
  'Tollgate: adds credits (top_up, promo, refund, adjustment) to an account (personal: the user''s id; or a team) '
  'as a lot, once per (source, key). Service role only: it adds money. Returns lot_id, transaction_id, balance '
  '(available: balance - held) and replayed.';
revoke execute on function tollgate.grant_credits(uuid, bigint, text, text, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function tollgate.grant_credits(uuid, bigint, text, text, timestamptz, jsonb) to service_role;

create or replace function tollgate.check_ledger(p_account_id uuid default null)
returns table (account_id uuid, balance bigint, ledger_sum bigint, last_balance_after bigint, lots_remaining bigint,
               overdraft bigint, ledger_seq bigint, ledger_rows bigint, held bigint, holds_open bigint, problem text)
language sql stable
security definer
set search_path = ''
as $$
  select * from (
    select a.id, a.balance, coalesce(l.total, 0)::bigint, l.last_balance, coalesce(r.remaining, 0)::bigint,
           a.overdraft, a.ledger_seq, coalesce(l.n, 0)::bigint, a.held, coalesce(h.open, 0)::bigint,
           concat_ws('; ',
             case when coalesce(l.total, 0) <> a.balance then 'ledger sum differs from balance' end,
             case when coalesce(r.remaining, 0) - a.overdraft <> a.balance
                  then 'lots remaining minus overdraft differs from balance' end,
             case when coalesce(l.n, 0) <> a.ledger_seq or coalesce(l.max_seq, 0) <> a.ledger_seq
                  then 'ledger sequence has gaps' end,
             case when l.n > 0 and l.last_balance <> a.balance then 'last balance_after differs from balance' end,
             case when a.overdraft > 0 and coalesce(r.remaining, 0) > 0 then 'overdraft beside unspent lots' end,
             case when coalesce(h.open, 0) <> a.held then 'held differs from the open holds' end)
      from tollgate.accounts a
      left join lateral (
        select sum(e.delta) as total, count(*) as n, max(e.seq) as max_seq,
               (array_agg(e.balance_after order by e.seq desc))[1] as last_balance
          from tollgate.credit_ledger e where e.account_id = a.id
      ) l on true
      left join lateral (
        select sum(c.remaining) as remaining from tollgate.credit_lots c where c.account_id = a.id
      ) r on true
      left join lateral (
        select sum(h.amount) as open from tollgate.credit_holds h where h.account_id = a.id and h.status = 'held'
      ) h on true
     where p_account_id is null or a.id = p_account_id
  ) s (account_id, balance, ledger_sum, last_balance_after, lots_remaining, overdraft, ledger_seq, ledger_rows,
       held, holds_open, problem)
  where problem <> ''
$$;
comment on function tollgate.check_ledger(uuid) is
  'Tollgate: lists every account (or one) whose ledger sum, cached balance, lots and sequence disagree, or whose '
  'held credits differ from its open holds, with the problem named. Empty means the books balance. Holds are '
  'reservations, not movements: the ledger moves when one settles. Service role only.';
revoke execute on function tollgate.check_ledger(uuid) from public, anon, authenticated;
grant execute on function tollgate.check_ledger(uuid) to service_role;

-- Members: the signed-in user manages the accounts they own or administer over rpc (the service role any account),
-- under the account's lock, so the rules hold under concurrency: an account always keeps an owner, only owners
-- grant or take the owner role (admins manage the other members), anyone may leave, a personal account has only
-- its owner. Business errors: TGM01 personal account, TGM02 not an owner or admin, TGM03 not an owner, TGM04 no
-- such user, TGM05 the last owner, TGM06 not a member.

create or replace function tollgate._member_manager(p_account_id uuid, p_action text) returns tollgate.member_role
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_role tollgate.member_role;
begin
  if p_account_id is null then
    raise exception 'Missing account_id: name the account whose members change' using errcode = 'TG400';
  end if;
  -- Resolving the caller first refuses a non-member (TG403, the same whether or not the account exists).
  v_role := case when auth.role() = 'service_role' then 'owner'::tollgate.member_role
                 else (tollgate._acting_member(p_account_id, null)).role end;
  if p_action is not null and v_role not in ('owner', 'admin') then
    raise exception 'Cannot %: only owners and admins of account % manage its members', p_action, p_account_id
      using errcode = 'TGM02';
  end if;
  return v_role;
end
$$;
comment on function tollgate._member_manager(uuid, text) is
  'Tollgate: the caller''s role in p_account_id (the service role counts as an owner), refused with TGM02 unless '
  'owner or admin when p_action names a change to members; TG403 for a user who is not a member, TG404 for the '
  'service role naming no account.';
revoke execute on function tollgate._member_manager(uuid, text) from public, anon, authenticated, service_role;

create or replace function tollgate.add_account_member(
  p_account_id uuid, p_user_id uuid, p_role text default 'member'
) returns tollgate.account_members
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_manager tollgate.member_role := tollgate._member_manager(p_account_id, 'change members');
  v_account tollgate.accounts;
  v_role tollgate.member_role;
  v_existing tollgate.account_members;
  v_row tollgate.account_members;
begin
  if p_user_id is null then
    raise exception 'Missing p_user_id: name the user to add' using errcode = 'TG400';
  end if;
  if p_role is null or p_role not in ('owner', 'admin', 'member') then
    raise exception 'Invalid role %: owner, admin or member', coalesce(p_role, '(null)') using errcode = 'TG400';
  end if;
  v_role := p_role::tollgate.member_role;
  v_account := tollgate._lock_account(p_account_id);
  select * into v_existing from tollgate.account_members m
   where m.account_id = p_account_id and m.user_id = p_user_id for update;
  if v_existing.role = v_role then
    return v_existing;
  end if;
  if v_account.kind = 'personal' then
    raise exception 'Cannot add members: account % is a personal account, whose only member is its owner',
      p_account_id using errcode = 'TGM01';
  end if;
  if v_manager <> 'owner' and (v_role = 'owner' or v_existing.role = 'owner') then
    raise exception 'Cannot change members: only an owner grants or takes the owner role' using errcode = 'TGM03';
  end if;
  if v_existing.user_id is null then
    if not exists (select 1 from auth.users u where u.id = p_user_id) then
      raise exception 'Cannot add members: no user %', p_user_id
        using errcode = 'TGM04', detail = jsonb_build_object('user_id', p_user_id)::text;
    end if;
    insert into tollgate.account_members (account_id, user_id, role)
    values (p_account_id, p_user_id, v_role)
    returning * into v_row;
  else
    if v_existing.role = 'owner' and not exists (
      select 1 from tollgate.account_members m
       where m.account_id = p_account_id and m.role = 'owner' and m.user_id <> p_user_id) then
      raise exception 'Cannot change the role of user %: the last owner of account % keeps it', p_user_id,
        p_account_id using errcode = 'TGM05';
    end if;
    update tollgate.account_members m set role = v_role, updated_at = now()
     where m.account_id = p_account_id and m.user_id = p_user_id
    returning * into v_row;
  end if;
  return v_row;
end
$$;
comment on function tollgate.add_account_member(uuid, uuid, text) is
  'Tollgate: adds a user to a team account with a role, or changes the role of a member; the same role again '
  'changes nothing. Owners and admins manage members (TGM02); only owners grant or take the owner role (TGM03); '
  'the last owner keeps it (TGM05); a personal account takes no members (TGM01); the user must exist (TGM04). '
  'Callable over rpc by the signed-in user, and by the service role for any account. Returns the membership.';
revoke execute on function tollgate.add_account_member(uuid, uuid, text) from public, anon;
grant execute on function tollgate.add_account_member(uuid, uuid, text) to authenticated, service_role;

create or replace function tollgate.remove_account_member(p_account_id uuid, p_user_id uuid) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- Anyone may leave; removing someone else takes an owner or admin.
  v_leaving boolean := auth.role() is distinct from 'service_role' and p_user_id = auth.uid();
  v_manager tollgate.member_role := tollgate._member_manager(p_account_id,
                                                             case when not v_leaving then 'remove others' end);
  v_existing tollgate.account_members;
begin
  if p_user_id is null then
    raise exception 'Missing p_user_id: name the member to remove' using errcode = 'TG400';
  end if;
  perform tollgate._lock_account(p_account_id);
  select * into v_existing from tollgate.account_members m
   where m.account_id = p_account_id and m.user_id = p_user_id for update;
  if not found then
    return false;
  end if;
  if v_existing.role = 'owner' then
    if v_manager <> 'owner' then
      raise exception 'Cannot remove user %: only an owner removes an owner', p_user_id using errcode = 'TGM03';
    end if;
    if not exists (select 1 from tollgate.account_members m
                    where m.account_id = p_account_id and m.role = 'owner' and m.user_id <> p_user_id) then
      raise exception 'Cannot remove user %: the last owner of account % stays (make another member owner first)',
        p_user_id, p_account_id using errcode = 'TGM05';
    end if;
  end if;
  delete from tollgate.account_members m where m.account_id = p_account_id and m.user_id = p_user_id;
  return true;
end
$$;
comment on function tollgate.remove_account_member(uuid, uuid) is
  'Tollgate: removes a member from an account (true), or nothing when they are not one (false). Any member may '
  'leave; owners and admins remove others (TGM02), only owners remove an owner (TGM03), and the last owner stays '
  '(TGM05). Their usage and the ledger keep naming them. Callable over rpc by the signed-in user, and by the '
  'service role for any account.';
revoke execute on function tollgate.remove_account_member(uuid, uuid) from public, anon;
grant execute on function tollgate.remove_account_member(uuid, uuid) to authenticated, service_role;

create or replace function tollgate.set_member_cap(
  p_account_id uuid, p_user_id uuid, p_credits bigint, p_period text
) returns tollgate.account_members
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_manager tollgate.member_role := tollgate._member_manager(p_account_id, 'set a cap');
  v_account tollgate.accounts;
  v_existing tollgate.account_members;
  v_row tollgate.account_members;
begin
  if p_user_id is null then
    raise exception 'Missing p_user_id: name the member to cap' using errcode = 'TG400';
  end if;
  if p_credits < 0 then
    raise exception 'Invalid cap %: credits must be 0 or more (null: no cap)', p_credits using errcode = 'TG400';
  end if;
  if p_credits is not null and (p_period is null or p_period not in ('day', 'month')) then
    raise exception 'Invalid period %: day or month', coalesce(p_period, '(null)') using errcode = 'TG400';
  end if;
  v_account := tollgate._lock_account(p_account_id);
  if v_account.kind = 'personal' then
    raise exception 'Cannot set a cap: account % is a personal account, which has no member caps', p_account_id
      using errcode = 'TGM01';
  end if;
  select * into v_existing from tollgate.account_members m
   where m.account_id = p_account_id and m.user_id = p_user_id for update;
  if not found then
    raise exception 'Cannot set a cap: user % is not a member of account %', p_user_id, p_account_id
      using errcode = 'TGM06', detail = jsonb_build_object('user_id', p_user_id)::text;
  end if;
  if v_existing.role = 'owner' and v_manager <> 'owner' then
    raise exception 'Cannot set a cap: only an owner caps an owner' using errcode = 'TGM03';
  end if;
  update tollgate.account_members m
     set cap_credits = p_credits, cap_period = case when p_credits is not null then p_period::tollgate.quota_period end,
         updated_at = now()
   where m.account_id = p_account_id and m.user_id = p_user_id
  returning * into v_row;
  return v_row;
end
$$;
comment on function tollgate.set_member_cap(uuid, uuid, bigint, text) is
  'Tollgate: caps what a member of a team account takes: at most p_credits per p_period (day = UTC day, month = '
  'the account''s credit period), counted when credits are taken, including what they took earlier in the window; '
  'null credits: no cap. Owners and admins set caps (TGM02), only owners cap owners (TGM03); personal accounts '
  'have none (TGM01); the user must be a member (TGM06). Callable over rpc by the signed-in user, and by the '
  'service role for any account. Returns the membership.';
revoke execute on function tollgate.set_member_cap(uuid, uuid, bigint, text) from public, anon;
grant execute on function tollgate.set_member_cap(uuid, uuid, bigint, text) to authenticated, service_role;
