-- Plan changes that do not depend on the order they are seen in: a credit period has one plan lot (grant key
-- plan:<period start>) that follows the plan the account is on, so passing through a plan and back within a
-- period neither mints credits (the old switch granted each plan's full allowance) nor loses them (a return to a
-- plan already granted got nothing). Trials grant the plan's trial credits once per account, ever.

drop function if exists public._switch_account_plan(uuid, text, timestamptz, text, timestamptz);

-- Puts an account on p_plan_id with credit periods counted monthly from p_anchor, and its current period's plan
-- credits at p_allowance minus what was already used of them this period (never below zero). Lots past their
-- expiry expire; the plan lots of another period (another anchor) are set aside at zero, so an account that
-- returns to that period gets back what it had not used. Top-ups are untouched. Idempotent: the same call again
-- moves nothing. Returns whether the plan changed.
create or replace function public._set_account_plan(
  p_user_id uuid, p_plan_id text, p_anchor timestamptz, p_allowance bigint, p_now timestamptz
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.accounts := public._lock_account(p_user_id);
  v_start timestamptz;
  v_end timestamptz;
  v_key text;
  v_lot public.credit_lots;
  v_expiring record;
  v_net bigint;
  v_target bigint;
  v_delta bigint;
  v_repaid bigint;
  v_change jsonb := jsonb_build_object('from', v_account.plan_id, 'to', p_plan_id);
begin
  select b.period_start, b.period_end into v_start, v_end from public.credit_period_at(p_anchor, p_now) b;
  v_key := public._plan_grant_key(v_start);
  for v_expiring in
    select l.id, l.remaining, l.source, l.expires_at from public.credit_lots l
     where l.user_id = p_user_id and l.remaining > 0
       and ((l.source = 'plan' and l.grant_key <> v_key) or l.expires_at <= p_now)
     order by l.expires_at nulls last, l.id
  loop
    update public.credit_lots set remaining = 0 where id = v_expiring.id;
    perform public._post_ledger(
      p_user_id, -v_expiring.remaining, 0, 'expire',
      case when v_expiring.expires_at <= p_now then 'expire:' || v_expiring.id
           else 'plan_change:' || v_expiring.id || ':'
                || (select a.ledger_seq + 1 from public.accounts a where a.user_id = p_user_id) end,
      v_expiring.id, jsonb_build_object('source', v_expiring.source, 'plan_change', v_change), p_now);
  end loop;
  update public.accounts
     set plan_id = p_plan_id, period_anchor = p_anchor, period_start = v_start, period_end = v_end, updated_at = p_now
   where user_id = p_user_id;

  select * into v_lot from public.credit_lots l where l.user_id = p_user_id and l.grant_key = v_key for update;
  if not found then
    if p_allowance > 0 then
      perform public._grant_lot(p_user_id, 'plan', p_allowance, v_end, 10, v_key,
                                jsonb_build_object('plan_id', p_plan_id), p_now);
    end if;
  elsif not exists (select 1 from public.credit_ledger e
                     where e.user_id = p_user_id and e.reason = 'expire' and e.idempotency_key = 'expire:' || v_lot.id)
  then
    -- A lot whose period ended is history; one set aside by a change of anchor comes back, less what was used.
    -- What the period's grants and plan changes put in the lot, less what is left, is what was used of it.
    select coalesce(sum(e.delta), 0) into v_net from public.credit_ledger e
     where e.user_id = p_user_id and e.lot_id = v_lot.id and e.reason in ('grant', 'expire');
    v_target := greatest(p_allowance - (v_net - v_lot.remaining), 0);
    v_delta := v_target - v_lot.remaining;
    if v_delta <> 0 then
      v_repaid := case when v_delta > 0
                       then least(v_delta, (select a.overdraft from public.accounts a where a.user_id = p_user_id))
                       else 0 end;
      update public.credit_lots
         set remaining = remaining + v_delta - v_repaid, amount = greatest(v_net + v_delta, 1), expires_at = v_end
       where id = v_lot.id;
      perform public._post_ledger(
        p_user_id, v_delta, -v_repaid, case when v_delta > 0 then 'grant' else 'expire' end,
        'plan_change:' || v_lot.id || ':' || (select a.ledger_seq + 1 from public.accounts a where a.user_id = p_user_id),
        v_lot.id, jsonb_build_object('source', 'plan', 'plan_id', p_plan_id, 'plan_change', v_change), p_now);
    end if;
  end if;
  update public.accounts a
     set next_expiry_at = (select min(l.expires_at) from public.credit_lots l
                            where l.user_id = p_user_id and l.remaining > 0 and l.expires_at > p_now)
   where a.user_id = p_user_id;
  return v_account.plan_id is distinct from p_plan_id;
end
$$;
revoke execute on function public._set_account_plan(uuid, text, timestamptz, bigint, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._set_account_plan(uuid, text, timestamptz, bigint, timestamptz) is
  'Tollgate: puts an account on a plan and anchor, its period''s plan lot at the allowance minus what was used of it.';

-- The account follows the user's subscriptions as mirrored, whatever order their events came in: the best live
-- one (active, trialing, past_due; highest sort_order, a paid one before a trial) sets plan and anchor, a trial
-- with no plan allowance but the plan's trial credits (once per account, ever, until trial_end). With none live,
-- the default plan, anchored where the latest subscription that was ever live left the periods.
create or replace function public._sync_account_plan(p_user_id uuid, p_now timestamptz) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_live record;
  v_plan public.plans;
  v_anchor timestamptz;
  v_trial public.credit_lots;
begin
  perform public._lock_account(p_user_id);
  select s.subscription_id, s.plan_id, s.billing_cycle_anchor, s.status, s.trial_end into v_live
    from public.stripe_subscriptions s join public.plans p on p.id = s.plan_id
   where s.user_id = p_user_id and s.status in ('active', 'trialing', 'past_due')
   order by p.sort_order desc, s.status = 'trialing', s.last_event_created desc, s.subscription_id
   limit 1;
  if found then
    select * into strict v_plan from public.plans where id = v_live.plan_id;
    v_anchor := v_live.billing_cycle_anchor;
  else
    select * into v_plan from public.plans where is_default;
    if not found then
      return;
    end if;
    select s.billing_cycle_anchor into v_anchor from public.stripe_subscriptions s
     where s.user_id = p_user_id and s.status not in ('incomplete', 'incomplete_expired')
     order by s.last_event_created desc, s.subscription_id
     limit 1;
  end if;
  perform public._set_account_plan(
    p_user_id, v_plan.id, coalesce(v_anchor, (select a.period_anchor from public.accounts a where a.user_id = p_user_id)),
    case when v_live.status = 'trialing' then 0 else v_plan.monthly_credits end, p_now);

  select * into v_trial from public.credit_lots l where l.user_id = p_user_id and l.grant_key = 'trial';
  if v_live.status = 'trialing' then
    if v_trial.id is null and v_plan.trial_credits > 0 and v_live.trial_end > p_now then
      perform public._grant_lot(p_user_id, 'promo', v_plan.trial_credits, v_live.trial_end, 15, 'trial',
                                jsonb_build_object('plan_id', v_plan.id, 'subscription_id', v_live.subscription_id),
                                p_now);
    end if;
  elsif v_trial.remaining > 0 then
    -- The trial is over (converted, canceled or superseded): its credits end with it.
    update public.credit_lots set remaining = 0 where id = v_trial.id;
    perform public._post_ledger(p_user_id, -v_trial.remaining, 0, 'expire', 'expire:' || v_trial.id, v_trial.id,
                                jsonb_build_object('source', 'promo', 'trial_ended', true), p_now);
  end if;
end
$$;
revoke execute on function public._sync_account_plan(uuid, timestamptz) from public, anon, authenticated, service_role;
comment on function public._sync_account_plan(uuid, timestamptz) is
  'Tollgate: the account''s plan, period and plan credits as its mirrored Stripe subscriptions say, in any event order.';
