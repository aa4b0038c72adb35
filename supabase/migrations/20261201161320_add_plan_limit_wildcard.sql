-- A plan could limit only the features it names, and the feature is the caller's to choose: any other name was
-- unlimited. A plan_limits row on feature '*' now limits every request of the plan, whatever its feature, in one
-- window per period (counted in usage_counters under feature '*'), beside the named feature's own limits. A
-- feature with no row, on a plan with no '*' row, stays unlimited; the seeded plans keep their limits on default.

-- Counts one request against every limit the account's plan sets for p_feature, then against the plan's
-- limits on feature '*' (one window for the requests of every feature), refusing with TG429 when a window is
-- full. Returns each limit's state. Caller holds the account lock.
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
    select feature, period, request_limit from public.plan_limits
     where plan_id = p_account.plan_id and feature in (p_feature, '*') order by feature = '*', period
  loop
    if v_limit.period = 'day' then
      v_start := date_trunc('day', p_now, 'UTC');
      v_end := v_start + interval '24 hours';
    else
      v_start := p_account.period_start;
      v_end := p_account.period_end;
    end if;
    v_used := null;
    if v_limit.request_limit > 0 then
      insert into public.usage_counters as c (user_id, feature, period, window_start, window_end, requests, updated_at)
      values (p_account.user_id, v_limit.feature, v_limit.period, v_start, v_end, 1, p_now)
      on conflict (user_id, feature, period, window_start) do update
        set requests = c.requests + 1, updated_at = p_now
        where c.requests < v_limit.request_limit
      returning requests into v_used;
    end if;
    if v_used is null then
      select requests into v_used from public.usage_counters
       where user_id = p_account.user_id and feature = v_limit.feature and period = v_limit.period
         and window_start = v_start;
      raise exception 'Quota exceeded: % requests per % %', v_limit.request_limit, v_limit.period,
        case v_limit.feature when '*' then 'across all features' else 'for feature ' || v_limit.feature end
        using errcode = 'TG429', detail = jsonb_build_object(
          'feature', v_limit.feature, 'period', v_limit.period, 'limit', v_limit.request_limit,
          'used', coalesce(v_used, 0), 'resets_at', v_end,
          'retry_after', greatest(1, ceil(extract(epoch from v_end - p_now)))::bigint)::text;
    end if;
    v_quota := v_quota || jsonb_build_object('feature', v_limit.feature, 'period', v_limit.period, 'used', v_used,
                                             'limit', v_limit.request_limit, 'resets_at', v_end);
  end loop;
  return v_quota;
end
$$;
revoke execute on function public._count_request(public.accounts, text, timestamptz)
  from public, anon, authenticated, service_role;

-- Each request limit the user's plan sets for p_feature at p_now, then its limits on '*' (every feature's requests
-- together): the window's use, what remains, when it resets.
-- Read-only: an account whose period ended but is not settled yet is shown in the period containing p_now.
create or replace function public._quota_status(p_user_id uuid, p_feature text, p_now timestamptz)
returns table (feature text, period public.quota_period, used bigint, request_limit bigint, remaining bigint,
               resets_at timestamptz)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_account public.accounts;
  v_month record;
  v_day timestamptz := date_trunc('day', p_now, 'UTC');
begin
  if p_feature is null or length(p_feature) not between 1 and 64 then
    raise exception 'Invalid feature: must be 1 to 64 characters' using errcode = 'TG400';
  end if;
  select * into v_account from public.accounts a where a.user_id = p_user_id;
  if not found then
    raise exception 'No account for user %', p_user_id
      using errcode = 'TG404', detail = jsonb_build_object('user_id', p_user_id)::text;
  end if;
  v_month := public.credit_period_at(v_account.period_anchor, p_now);
  return query
    select l.feature, l.period, coalesce(c.requests, 0), l.request_limit,
           greatest(l.request_limit - coalesce(c.requests, 0), 0), w.window_end
      from public.plan_limits l
     cross join lateral (
       select case l.period when 'day' then v_day else v_month.period_start end as window_start,
              case l.period when 'day' then v_day + interval '24 hours' else v_month.period_end end as window_end
     ) w
      left join public.usage_counters c
        on c.user_id = p_user_id and c.feature = l.feature and c.period = l.period
       and c.window_start = w.window_start
     where l.plan_id = v_account.plan_id and l.feature in (p_feature, '*')
     order by l.feature = '*', l.period;
end
$$;
revoke execute on function public._quota_status(uuid, text, timestamptz)
  from public, anon, authenticated, service_role;
