-- Rollback of 20261201161300_create_valid_metadata.sql: the entry points without the metadata check, then the check.

-- The gate's entry point as 20261122000800 defined it.
create or replace function public.consume_credits(
  p_idempotency_key text, p_amount integer default 1, p_feature text default 'default', p_metadata jsonb default null,
  p_user_id uuid default null
) returns jsonb
language sql
security definer
set search_path = ''
as $$
  select public._consume_credits(public._acting_user(p_user_id), p_idempotency_key, p_amount, p_feature, p_metadata,
                                 now())
$$;
revoke execute on function public.consume_credits(text, integer, text, jsonb, uuid) from public, anon;
grant execute on function public.consume_credits(text, integer, text, jsonb, uuid) to authenticated, service_role;

-- The meter's entry point as 20261123001040 defined it.
create or replace function public.log_ai_usage(
  p_request_id text, p_model text, p_input_tokens bigint, p_output_tokens bigint,
  p_provider text default null, p_feature text default 'default', p_cached_input_tokens bigint default 0,
  p_latency_ms integer default null, p_status text default 'success', p_error_code text default null,
  p_charge_credits boolean default false, p_prompt text default null, p_response text default null,
  p_metadata jsonb default null, p_user_id uuid default null
) returns jsonb
language sql
security definer
set search_path = ''
as $$
  select public._log_ai_usage(public._acting_user(p_user_id), p_request_id, p_model, p_input_tokens, p_output_tokens,
                              p_provider, p_feature, p_cached_input_tokens, p_latency_ms, p_status, p_error_code,
                              p_charge_credits, p_prompt, p_response, p_metadata, now())
$$;
revoke execute on function public.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, uuid) from public, anon, authenticated, service_role;
grant execute on function public.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, uuid) to authenticated, service_role;

-- grant_credits as 20261122000800 defined it.
create or replace function public.grant_credits(
  p_user_id uuid, p_amount bigint, p_idempotency_key text, p_source public.credit_source default 'promo',
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
  return public._grant_lot(p_user_id, p_source, p_amount, p_expires_at,
                           case p_source when 'promo' then 20 when 'refund' then 30 else 50 end,
                           p_source || ':' || p_idempotency_key, p_metadata, now());
end
$$;
revoke execute on function public.grant_credits(uuid, bigint, text, public.credit_source, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function public.grant_credits(uuid, bigint, text, public.credit_source, timestamptz, jsonb)
  to service_role;

drop function if exists public._valid_metadata(jsonb);
