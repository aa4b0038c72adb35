-- Rollback of 20261123004000_streamline_consume_credits.sql: it created nothing new, so this puts back the two
-- functions as 20261122000800_create_credit_functions.sql defined them (create or replace, re-runnable).

-- Draws p_amount from the account's live lots, earliest expiry first, then priority; returns what was drawn
-- (less than p_amount only when the lots run out). Caller holds the account lock.
create or replace function public._draw_lots(p_user_id uuid, p_amount bigint, p_now timestamptz) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_drawn bigint;
begin
  with ordered as (
    select id, remaining,
           sum(remaining) over (order by expires_at nulls last, priority, created_at, id) as cum
      from public.credit_lots
     where user_id = p_user_id and remaining > 0 and (expires_at is null or expires_at > p_now)
  ), take as (
    select id, least(remaining, p_amount - (cum - remaining)) as n from ordered where cum - remaining < p_amount
  ), drawn as (
    update public.credit_lots l set remaining = l.remaining - take.n from take where l.id = take.id returning take.n
  )
  select coalesce(sum(n), 0) into v_drawn from drawn;
  return v_drawn;
end
$$;
revoke execute on function public._draw_lots(uuid, bigint, timestamptz) from public, anon, authenticated, service_role;

-- The gate: settles the account if due, counts the request against the plan's limits, debits the credits.
-- All or nothing, idempotent per (user, key): the first success is replayed, a different body is TG409, and a
-- refused attempt binds nothing.
create or replace function public._consume_credits(
  p_user_id uuid, p_idempotency_key text, p_amount bigint, p_feature text, p_metadata jsonb, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.accounts := public._lock_account(p_user_id);
  v_hash text := md5(jsonb_build_object('amount', p_amount, 'feature', p_feature,
                                        'metadata', coalesce(p_metadata, '{}'::jsonb))::text);
  v_previous public.idempotency_keys;
  v_quota jsonb;
  v_entry public.credit_ledger;
  v_response jsonb;
begin
  if p_amount is null or p_amount < 0 or p_amount > 1000000 then
    raise exception 'Invalid amount: must be an integer from 0 to 1000000' using errcode = 'TG400';
  end if;
  if p_idempotency_key is null or length(p_idempotency_key) not between 1 and 255 then
    raise exception 'Invalid idempotency key: must be 1 to 255 characters' using errcode = 'TG400';
  end if;
  if p_feature is null or length(p_feature) not between 1 and 64 then
    raise exception 'Invalid feature: must be 1 to 64 characters' using errcode = 'TG400';
  end if;

  insert into public.idempotency_keys (user_id, scope, key, request_hash, created_at)
  values (p_user_id, 'consume', p_idempotency_key, v_hash, p_now)
  on conflict do nothing;
  if not found then
    select * into v_previous from public.idempotency_keys
     where user_id = p_user_id and scope = 'consume' and key = p_idempotency_key;
    if v_previous.request_hash <> v_hash then
      raise exception 'Idempotency conflict: key % was already used with a different request', p_idempotency_key
        using errcode = 'TG409', detail = jsonb_build_object('idempotency_key', p_idempotency_key)::text;
    end if;
    return v_previous.response || jsonb_build_object('replayed', true);
  end if;

  if v_account.settle_at <= p_now then
    perform public._settle_accounts(p_now, p_user_id);
    select * into v_account from public.accounts where user_id = p_user_id;
  end if;

  v_quota := public._count_request(v_account, p_feature, p_now);

  if p_amount > 0 then
    v_entry := public._debit(p_user_id, p_amount, false, 'consume', p_idempotency_key,
                             coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('feature', p_feature), p_now);
  end if;

  v_response := jsonb_build_object(
    'transaction_id', v_entry.id,
    'consumed', p_amount,
    'balance', coalesce(v_entry.balance_after, v_account.balance),
    'quota', v_quota,
    'replayed', false);
  update public.idempotency_keys set response = v_response
   where user_id = p_user_id and scope = 'consume' and key = p_idempotency_key;
  return v_response;
end
$$;
revoke execute on function public._consume_credits(uuid, text, bigint, text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;
