-- The usage read API: a breakdown of AI calls by UTC day, feature and model, and the state of every request limit
-- of the plan. A user reads their own; the service role names anyone.

-- AI calls of the acting user in [p_from, p_to), grouped by UTC day, feature and model.
create or replace function public.get_usage_breakdown(p_from timestamptz, p_to timestamptz, p_user_id uuid default null)
returns table (day date, feature text, model text, calls bigint, errors bigint, input_tokens bigint,
               output_tokens bigint, cached_input_tokens bigint, cost_usd numeric, credits bigint)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := public._acting_user(p_user_id);
begin
  if p_from is null or p_to is null or p_from >= p_to then
    raise exception 'Invalid range: p_from must be before p_to' using errcode = 'TG400';
  end if;
  return query
    select (u.created_at at time zone 'UTC')::date, u.feature, u.model, count(*),
           count(*) filter (where u.status = 'error'), sum(u.input_tokens)::bigint, sum(u.output_tokens)::bigint,
           sum(u.cached_input_tokens)::bigint, sum(u.cost_usd), sum(u.credits_charged)::bigint
      from public.ai_usage u
     where u.user_id = v_user and u.created_at >= p_from and u.created_at < p_to
     group by 1, 2, 3
     order by 1, 2, 3;
end
$$;
revoke execute on function public.get_usage_breakdown(timestamptz, timestamptz, uuid)
  from public, anon, authenticated, service_role;
grant execute on function public.get_usage_breakdown(timestamptz, timestamptz, uuid) to authenticated, service_role;

-- Each request limit the user's plan sets for p_feature at p_now: the window's use, what remains, when it resets.
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
     where l.plan_id = v_account.plan_id and l.feature = p_feature
     order by l.period;
end
$$;
revoke execute on function public._quota_status(uuid, text, timestamptz)
  from public, anon, authenticated, service_role;

-- Public entry point: the acting user's quota state for a feature, now (column "limit", as in consume-credit's
-- quota list; the internal function says request_limit because plpgsql reserves the word). Replaces
-- check_quota_available.
create or replace function public.get_quota_status(p_feature text default 'default', p_user_id uuid default null)
returns table (feature text, period public.quota_period, used bigint, "limit" bigint, remaining bigint,
               resets_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
  select q.feature, q.period, q.used, q.request_limit, q.remaining, q.resets_at
    from public._quota_status(public._acting_user(p_user_id), p_feature, now()) q
$$;
revoke execute on function public.get_quota_status(text, uuid) from public, anon, authenticated, service_role;
grant execute on function public.get_quota_status(text, uuid) to authenticated, service_role;
