-- metadata also reaches the SQL functions over rpc (PostgREST), where no zod schema stands in front: anything but
-- a JSON object, or an object over 16 KiB as PostgreSQL prints it, is refused with TG400 before anything is
-- written, instead of being stored as sent (an array, a string) or growing every ledger row without bound.

-- p_metadata when it is null or a JSON object of at most 16384 bytes of text; TG400 naming the field otherwise.
create or replace function public._valid_metadata(p_metadata jsonb) returns jsonb
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
revoke execute on function public._valid_metadata(jsonb) from public, anon, authenticated, service_role;
comment on function public._valid_metadata(jsonb) is
  'Tollgate: p_metadata if null or a JSON object of at most 16384 bytes as text; TG400 naming metadata otherwise.';

-- The gate's entry point (as in 20261122000800), checking metadata first.
create or replace function public.consume_credits(
  p_idempotency_key text, p_amount integer default 1, p_feature text default 'default', p_metadata jsonb default null,
  p_user_id uuid default null
) returns jsonb
language sql
security definer
set search_path = ''
as $$
  select public._consume_credits(public._acting_user(p_user_id), p_idempotency_key, p_amount, p_feature,
                                 public._valid_metadata(p_metadata), now())
$$;
revoke execute on function public.consume_credits(text, integer, text, jsonb, uuid) from public, anon;
grant execute on function public.consume_credits(text, integer, text, jsonb, uuid) to authenticated, service_role;

-- The meter's entry point (as in 20261123001040), checking metadata first.
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
                              p_charge_credits, p_prompt, p_response, public._valid_metadata(p_metadata), now())
$$;
revoke execute on function public.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, uuid) from public, anon, authenticated, service_role;
grant execute on function public.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, uuid) to authenticated, service_role;

-- Adds credits (as in 20261122000800), checking metadata first. Service role only: it adds money.
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
                           p_source || ':' || p_idempotency_key, public._valid_metadata(p_metadata), now());
end
$$;
revoke execute on function public.grant_credits(uuid, bigint, text, public.credit_source, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function public.grant_credits(uuid, bigint, text, public.credit_source, timestamptz, jsonb)
  to service_role;
