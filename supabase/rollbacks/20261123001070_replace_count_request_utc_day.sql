-- Rollback of 20261123001070_replace_count_request_utc_day.sql: public._count_request as
-- 20261122000800_create_credit_functions.sql defined it (run before that migration's own rollback drops it).

-- Counts one request against every limit the account's plan sets for p_feature, refusing with TG429 when a
-- window is full. Returns each limit's state. Caller holds the account lock.
create or replace function public._count_request(
  p_account public.accounts, p_feature text, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_limit record;
  v_start timestamptz;
  v_end timestamptz;
  v_used bigint;
  v_quota jsonb := '[]'::jsonb;
begin
  for v_limit in
    select period, request_limit from public.plan_limits
     where plan_id = p_account.plan_id and feature = p_feature order by period
  loop
    if v_limit.period = 'day' then
      v_start := date_trunc('day', p_now, 'UTC');
      v_end := v_start + interval '1 day';
    else
      v_start := p_account.period_start;
      v_end := p_account.period_end;
    end if;
    v_used := null;
    if v_limit.request_limit > 0 then
      insert into public.usage_counters as c (user_id, feature, period, window_start, window_end, requests, updated_at)
      values (p_account.user_id, p_feature, v_limit.period, v_start, v_end, 1, p_now)
      on conflict (user_id, feature, period, window_start) do update
        set requests = c.requests + 1, updated_at = p_now
        where c.requests < v_limit.request_limit
      returning requests into v_used;
    end if;
    if v_used is null then
      select requests into v_used from public.usage_counters
       where user_id = p_account.user_id and feature = p_feature and period = v_limit.period and window_start = v_start;
      raise exception 'Quota exceeded: % requests per % for feature %', v_limit.request_limit, v_limit.period, p_feature
        using errcode = 'TG429', detail = jsonb_build_object(
          'feature', p_feature, 'period', v_limit.period, 'limit', v_limit.request_limit,
          'used', coalesce(v_used, 0), 'resets_at', v_end,
          'retry_after', greatest(1, ceil(extract(epoch from v_end - p_now)))::bigint)::text;
    end if;
    v_quota := v_quota || jsonb_build_object('feature', p_feature, 'period', v_limit.period, 'used', v_used,
                                             'limit', v_limit.request_limit, 'resets_at', v_end);
  end loop;
  return v_quota;
end
$$;
revoke execute on function public._count_request(public.accounts, text, timestamptz)
  from public, anon, authenticated, service_role;
