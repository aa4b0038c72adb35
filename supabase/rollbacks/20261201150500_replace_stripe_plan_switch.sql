-- Rollback of 20261201150500_replace_stripe_plan_switch.sql: drops the new plan functions and restores
-- _switch_account_plan as 20261123002200 defined it.
drop function if exists public._sync_account_plan(uuid, timestamptz);
drop function if exists public._set_account_plan(uuid, text, timestamptz, bigint, timestamptz);

-- Switches an account to p_plan_id unless it is on it already: expires what is left of its plan credits (and
-- of any lot already past its expiry), starts the monthly credit period containing p_now counted from p_anchor
-- (annual subscriptions too), and grants the new plan's allowance once per (subscription, plan, period start).
-- Top-ups are untouched. Returns whether the plan changed.
create or replace function public._switch_account_plan(
  p_user_id uuid, p_plan_id text, p_anchor timestamptz, p_subscription_id text, p_now timestamptz
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.accounts := public._lock_account(p_user_id);
  v_credits bigint;
  v_lot record;
  v_start timestamptz;
  v_end timestamptz;
  v_key text;
begin
  if v_account.plan_id = p_plan_id then
    return false;
  end if;
  select monthly_credits into strict v_credits from public.plans where id = p_plan_id;
  for v_lot in
    select l.id, l.remaining, l.source from public.credit_lots l
     where l.user_id = p_user_id and l.remaining > 0 and (l.source = 'plan' or l.expires_at <= p_now)
     order by l.expires_at nulls last, l.id
  loop
    update public.credit_lots set remaining = 0 where id = v_lot.id;
    perform public._post_ledger(p_user_id, -v_lot.remaining, 0, 'expire', 'expire:' || v_lot.id, v_lot.id,
                                jsonb_build_object('source', v_lot.source, 'plan_change',
                                                   jsonb_build_object('from', v_account.plan_id, 'to', p_plan_id)),
                                p_now);
  end loop;
  select b.period_start, b.period_end into v_start, v_end from public.credit_period_at(p_anchor, p_now) b;
  update public.accounts a
     set plan_id = p_plan_id, period_anchor = p_anchor, period_start = v_start, period_end = v_end,
         next_expiry_at = (select min(l.expires_at) from public.credit_lots l
                            where l.user_id = p_user_id and l.remaining > 0 and l.expires_at > p_now),
         updated_at = p_now
   where a.user_id = p_user_id;
  v_key := 'plan:' || p_subscription_id || ':' || p_plan_id || ':'
        || to_char(v_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
  if v_credits > 0
     and not exists (select 1 from public.credit_lots l where l.user_id = p_user_id and l.grant_key = v_key) then
    perform public._grant_lot(p_user_id, 'plan', v_credits, v_end, 10, v_key,
                              jsonb_build_object('plan_id', p_plan_id, 'subscription_id', p_subscription_id), p_now);
  end if;
  return true;
end
$$;
revoke execute on function public._switch_account_plan(uuid, text, timestamptz, text, timestamptz)
  from public, anon, authenticated, service_role;
