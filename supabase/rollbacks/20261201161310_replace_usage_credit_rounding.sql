-- Rollback of 20261201161310_replace_usage_credit_rounding.sql: _log_ai_usage as 20261123006000 defined it.

create or replace function public._log_ai_usage(
  p_user_id uuid, p_request_id text, p_model text, p_input_tokens bigint, p_output_tokens bigint,
  p_provider text, p_feature text, p_cached_input_tokens bigint, p_latency_ms integer, p_status text,
  p_error_code text, p_charge_credits boolean, p_prompt text, p_response text, p_metadata jsonb, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.accounts := public._lock_account(p_user_id);
  v_prompt_sha text := encode(pg_catalog.sha256(convert_to(p_prompt, 'UTF8')), 'hex');
  v_response_sha text := encode(pg_catalog.sha256(convert_to(p_response, 'UTF8')), 'hex');
  v_hash text;
  v_replay jsonb;
  v_settings public.usage_settings;
  v_price public.model_prices;
  v_unpriced boolean;
  v_cost numeric(20, 10) := 0;
  v_credits bigint := 0;
  v_usage_id uuid := gen_random_uuid();
  v_consume_id uuid;
  v_entry public.credit_ledger;
  v_day timestamptz := date_trunc('day', p_now, 'UTC');
  v_response jsonb;
begin
  if p_request_id is null or length(p_request_id) not between 1 and 255 then
    raise exception 'Invalid request_id: must be 1 to 255 characters' using errcode = 'TG400';
  end if;
  if p_model is null or length(p_model) not between 1 and 128 then
    raise exception 'Invalid model: must be 1 to 128 characters' using errcode = 'TG400';
  end if;
  if p_provider is not null and length(p_provider) not between 1 and 64 then
    raise exception 'Invalid provider: must be 1 to 64 characters' using errcode = 'TG400';
  end if;
  if p_feature is null or length(p_feature) not between 1 and 64 then
    raise exception 'Invalid feature: must be 1 to 64 characters' using errcode = 'TG400';
  end if;
  if p_input_tokens is null or p_output_tokens is null or p_cached_input_tokens is null
     or least(p_input_tokens, p_output_tokens, p_cached_input_tokens) < 0
     or greatest(p_input_tokens, p_output_tokens, p_cached_input_tokens) > 1000000000 then
    raise exception 'Invalid token counts: input, output and cached input tokens must be 0 to 1000000000'
      using errcode = 'TG400';
  end if;
  if p_latency_ms is not null and p_latency_ms not between 0 and 86400000 then
    raise exception 'Invalid latency_ms: must be 0 to 86400000' using errcode = 'TG400';
  end if;
  if p_status is null or p_status not in ('success', 'error') then
    raise exception 'Invalid status: must be success or error' using errcode = 'TG400';
  end if;
  if p_error_code is not null and length(p_error_code) not between 1 and 128 then
    raise exception 'Invalid error_code: must be 1 to 128 characters' using errcode = 'TG400';
  end if;
  if p_charge_credits is null then
    raise exception 'Invalid charge_credits: must be true or false' using errcode = 'TG400';
  end if;
  if length(p_prompt) > 1000000 or length(p_response) > 1000000 then
    raise exception 'Invalid prompt or response: at most 1000000 characters each' using errcode = 'TG400';
  end if;
  if p_metadata is not null and jsonb_typeof(p_metadata) <> 'object' then
    raise exception 'Invalid metadata: must be a JSON object' using errcode = 'TG400';
  end if;

  -- Everything the caller sent except the user: the same request_id with another body is a conflict.
  v_hash := md5(jsonb_build_object(
    'model', p_model, 'provider', p_provider, 'feature', p_feature, 'input_tokens', p_input_tokens,
    'output_tokens', p_output_tokens, 'cached_input_tokens', p_cached_input_tokens, 'latency_ms', p_latency_ms,
    'status', p_status, 'error_code', p_error_code, 'charge_credits', p_charge_credits,
    'prompt', v_prompt_sha, 'response', v_response_sha, 'metadata', coalesce(p_metadata, '{}'::jsonb))::text);
  v_replay := public._replay(p_user_id, 'usage', 'request_id', p_request_id, v_hash);
  if v_replay is not null then
    return v_replay;
  end if;

  if v_account.settle_at <= p_now then
    perform public._settle_accounts(p_now, p_user_id);
    select * into v_account from public.accounts where user_id = p_user_id;
  end if;

  select * into v_settings from public.usage_settings where id;
  select * into v_price from public.model_prices
   where model = p_model and effective_from <= p_now
   order by effective_from desc limit 1;
  v_unpriced := not found;
  if not v_unpriced then
    v_cost := (p_input_tokens * v_price.input_usd_per_mtok + p_output_tokens * v_price.output_usd_per_mtok
               + p_cached_input_tokens * coalesce(v_price.cached_input_usd_per_mtok, v_price.input_usd_per_mtok))
              / 1000000;
  end if;

  if p_charge_credits and v_cost > 0 then
    v_credits := ceil(v_cost * coalesce(v_settings.credits_per_usd, 100))::bigint;
    v_entry := public._debit(p_user_id, v_credits, true, 'usage', p_request_id,
                             jsonb_build_object('feature', p_feature, 'model', p_model, 'usage_id', v_usage_id), p_now);
  end if;

  select id into v_consume_id from public.credit_ledger
   where user_id = p_user_id and reason = 'consume' and idempotency_key = p_request_id;

  insert into public.ai_usage (
    id, user_id, request_id, model, provider, feature, input_tokens, output_tokens, cached_input_tokens, latency_ms,
    status, error_code, cost_usd, unpriced, price_effective_from, credits_charged, prompt_sha256, prompt_length,
    response_sha256, response_length, prompt, response, metadata, consume_entry_id, charge_entry_id, created_at)
  values (
    v_usage_id, p_user_id, p_request_id, p_model, p_provider, p_feature, p_input_tokens, p_output_tokens,
    p_cached_input_tokens, p_latency_ms, p_status, p_error_code, v_cost, v_unpriced, v_price.effective_from,
    v_credits, v_prompt_sha, length(p_prompt), v_response_sha, length(p_response),
    case when v_settings.store_full_text then p_prompt end, case when v_settings.store_full_text then p_response end,
    coalesce(p_metadata, '{}'::jsonb), v_consume_id, v_entry.id, p_now);

  -- Tokens and cost only: the request itself was counted against the quota by consume-credit, if at all.
  insert into public.usage_counters as c (user_id, feature, period, window_start, window_end, input_tokens,
                                          output_tokens, cached_input_tokens, cost_usd, updated_at)
  values (p_user_id, p_feature, 'day', v_day, v_day + interval '24 hours', p_input_tokens, p_output_tokens,
          p_cached_input_tokens, v_cost, p_now),
         (p_user_id, p_feature, 'month', v_account.period_start, v_account.period_end, p_input_tokens,
          p_output_tokens, p_cached_input_tokens, v_cost, p_now)
  on conflict (user_id, feature, period, window_start) do update
    set input_tokens = c.input_tokens + excluded.input_tokens, output_tokens = c.output_tokens + excluded.output_tokens,
        cached_input_tokens = c.cached_input_tokens + excluded.cached_input_tokens,
        cost_usd = c.cost_usd + excluded.cost_usd, updated_at = p_now;

  v_response := jsonb_build_object(
    'usage_id', v_usage_id,
    'cost_usd', trim_scale(v_cost)::text,
    'credits_charged', v_credits,
    'balance', coalesce(v_entry.balance_after, v_account.balance),
    'unpriced', v_unpriced,
    'replayed', false);
  insert into public.idempotency_keys (user_id, scope, key, request_hash, response, created_at)
  values (p_user_id, 'usage', p_request_id, v_hash, v_response, p_now);
  return v_response;
end
$$;
revoke execute on function public._log_ai_usage(uuid, text, text, bigint, bigint, text, text, bigint, integer, text,
  text, boolean, text, text, jsonb, timestamptz) from public, anon, authenticated, service_role;
