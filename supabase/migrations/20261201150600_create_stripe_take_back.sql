-- Refunds and disputes take back what a payment granted, minus what expired from it, minus what was already
-- taken back; a won dispute gives it back. One function keeps a payment's taken-back credits equal to what its
-- refunds and disputes say now, so every delivery order ends the same. Business errors: TGS05 malformed field.

-- Keeps what payment p_payment_id takes back equal to what its refunds (refunded_credits) and disputes whose
-- funds are withdrawn cover, capped by what its grant still holds after expiry, whatever order they came in.
-- Taking back draws the payment's own lot first, then the account's other live lots in draw order; what was
-- spent becomes overdraft. Giving back (a won dispute) returns credits where they were taken from, repaying
-- overdraft first; credits taken from a lot that has expired since stay gone (they would have expired). One
-- ledger entry per change (p_reason, p_key). Returns the credits moved: negative when taken back.
create or replace function public._settle_stripe_payment(
  p_payment_id text, p_reason text, p_key text, p_metadata jsonb, p_now timestamptz
) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := (select p.user_id from public.stripe_payments p where p.id = p_payment_id);
  v_account public.accounts := public._lock_account(v_user);
  v_payment public.stripe_payments;
  v_own public.credit_lots;
  v_from jsonb;
  v_before jsonb;
  v_disputed bigint;
  v_expired bigint;
  v_target bigint;
  v_change bigint;
  v_left bigint;
  v_n bigint;
  v_spent bigint := 0;
  v_restored bigint := 0;
  v_pool bigint := 0;
  v_repaid bigint := 0;
  v_dropped bigint := 0;
  v_new_lot bigint := 0;
  v_source record;
begin
  select * into strict v_payment from public.stripe_payments p where p.id = p_payment_id for update;
  if v_account.settle_at <= p_now then
    perform public._settle_accounts(p_now, v_user);
  end if;
  if v_payment.credits = 0 then
    return 0;
  end if;
  v_from := v_payment.taken_from;
  select * into v_own from public.credit_lots l where l.id = v_payment.lot_id for update;
  v_expired := coalesce((select -sum(e.delta) from public.credit_ledger e
                          where e.user_id = v_user and e.lot_id = v_payment.lot_id and e.reason = 'expire'), 0)
             + coalesce((v_from ->> 'expired')::bigint, 0);
  select coalesce(sum(floor(v_payment.credits::numeric * least(d.amount, v_payment.amount) / v_payment.amount)), 0)
    into v_disputed
    from public.stripe_disputes d
   where d.payment_id = p_payment_id and v_payment.amount > 0
     and (d.funds_withdrawn or d.status in ('needs_response', 'under_review', 'lost'))
     and not d.funds_reinstated and d.status not in ('won', 'warning_closed', 'prevented');
  v_target := greatest(least(v_payment.credits, v_payment.refunded_credits + v_disputed,
                             v_payment.credits - v_expired), 0);
  v_change := v_payment.taken_back - v_target;
  if v_change = 0 then
    return 0;
  end if;

  if v_change < 0 then
    -- Take back: the pack's own lot, then the other live lots in draw order, the rest (spent) as overdraft.
    v_left := -v_change;
    if v_own.remaining > 0 and (v_own.expires_at is null or v_own.expires_at > p_now) then
      v_n := least(v_own.remaining, v_left);
      update public.credit_lots set remaining = remaining - v_n where id = v_own.id;
      v_from := v_from || jsonb_build_object(v_own.id, coalesce((v_from ->> v_own.id::text)::bigint, 0) + v_n);
      v_left := v_left - v_n;
    end if;
    if v_left > 0 then
      select coalesce(jsonb_object_agg(l.id, l.remaining), '{}') into v_before
        from public.credit_lots l where l.user_id = v_user and l.remaining > 0;
      v_spent := v_left - public._draw_lots(v_user, v_left, p_now);
      select v_from || coalesce(jsonb_object_agg(l.id, coalesce((v_from ->> l.id::text)::bigint, 0)
                                                      + (v_before ->> l.id::text)::bigint - l.remaining), '{}')
        into v_from
        from public.credit_lots l
       where l.user_id = v_user and v_before ? l.id::text and l.remaining < (v_before ->> l.id::text)::bigint;
      v_from := v_from || jsonb_build_object('overdraft', coalesce((v_from ->> 'overdraft')::bigint, 0) + v_spent);
    end if;
    perform public._post_ledger(v_user, v_change, v_spent, p_reason, p_key, v_payment.lot_id,
                                p_metadata || jsonb_build_object('payment_id', p_payment_id, 'taken_back', v_target),
                                p_now);
  else
    -- Give back, last taken first: what was spent (overdraft), then other lots, then the pack's own lot.
    v_left := v_change;
    for v_source in
      select j.key, j.value::bigint as n, l.id as lot_id, l.remaining, l.amount,
             l.id is not null and (l.expires_at is null or l.expires_at > p_now) as live
        from jsonb_each_text(v_from) j left join public.credit_lots l on l.id::text = j.key
       where j.key <> 'expired' and j.value::bigint > 0
       order by j.key = 'overdraft' desc, l.id = v_own.id, l.expires_at desc nulls first, j.key
    loop
      exit when v_left = 0;
      v_n := least(v_left, v_source.n);
      v_left := v_left - v_n;
      v_from := v_from || jsonb_build_object(v_source.key, v_source.n - v_n);
      if v_source.live then
        update public.credit_lots set remaining = remaining + least(v_n, v_source.amount - v_source.remaining)
         where id = v_source.lot_id;
        v_restored := v_restored + least(v_n, v_source.amount - v_source.remaining);
        v_pool := v_pool + v_n - least(v_n, v_source.amount - v_source.remaining);
      elsif v_source.key = 'overdraft' then
        v_pool := v_pool + v_n;
      else
        v_dropped := v_dropped + v_n;
        if v_source.lot_id = v_own.id then
          v_from := v_from || jsonb_build_object('expired', coalesce((v_from ->> 'expired')::bigint, 0) + v_n);
        end if;
      end if;
    end loop;
    v_pool := v_pool + v_left; -- taken back before taken_from was recorded: no place known
    -- Overdraft is repaid first (it never stands beside unspent lots), then the pool goes to the pack's own lot.
    v_repaid := least((select a.overdraft from public.accounts a where a.user_id = v_user), v_pool + v_restored);
    if v_repaid > v_pool then
      perform public._draw_lots(v_user, v_repaid - v_pool, p_now);
    end if;
    v_pool := greatest(v_pool - v_repaid, 0);
    if v_pool > 0 and v_own.id is not null and (v_own.expires_at is null or v_own.expires_at > p_now) then
      v_n := least(v_pool, (select l.amount - l.remaining from public.credit_lots l where l.id = v_own.id));
      update public.credit_lots set remaining = remaining + v_n where id = v_own.id;
      v_pool := v_pool - v_n;
    end if;
    v_new_lot := v_pool;
    if v_change - v_dropped - v_new_lot <> 0 then
      perform public._post_ledger(v_user, v_change - v_dropped - v_new_lot, -v_repaid, p_reason, p_key,
                                  v_payment.lot_id,
                                  p_metadata || jsonb_build_object('payment_id', p_payment_id, 'taken_back', v_target,
                                                                   'expired_meanwhile', v_dropped),
                                  p_now);
    end if;
    if v_new_lot > 0 then
      perform public._grant_lot(v_user, 'refund', v_new_lot, null, 30, 'given_back:' || p_key,
                                jsonb_build_object('payment_id', p_payment_id), p_now);
    end if;
  end if;
  update public.stripe_payments set taken_back = v_target, taken_from = v_from where id = p_payment_id;
  return -v_change;
end
$$;
revoke execute on function public._settle_stripe_payment(text, text, text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._settle_stripe_payment(text, text, text, jsonb, timestamptz) is
  'Tollgate: takes back (or gives back) a payment''s credits so they match its refunds and disputes, once.';

-- The payment a charge, refund or dispute is about: by payment intent, or by charge once one told it.
create or replace function public._stripe_payment_of(p_payment_intent text, p_charge_id text)
returns public.stripe_payments
language sql stable
security definer
set search_path = ''
as $$
  select p.* from public.stripe_payments p
   where p.payment_intent_id = p_payment_intent or p.charge_id = p_charge_id
   order by p.payment_intent_id = p_payment_intent desc nulls last, p.created_at, p.id
   limit 1
$$;
revoke execute on function public._stripe_payment_of(text, text) from public, anon, authenticated, service_role;
comment on function public._stripe_payment_of(text, text) is
  'Tollgate: the recorded payment of a payment intent or charge, or null.';

drop function if exists public._apply_stripe_refund(jsonb, timestamptz);

-- charge.refunded: refunds are cumulative (amount_refunded), so the payment's refunded credits become
-- credits x amount_refunded / amount (rounded down) if more than before, and the take-back follows. A refund
-- of a payment not seen yet waits for it.
create or replace function public._apply_stripe_refund(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_charge jsonb := p_event #> '{data,object}';
  v_charge_id text := v_charge ->> 'id';
  v_payment_intent text := public._stripe_id(v_charge -> 'payment_intent');
  v_amount bigint := coalesce((v_charge ->> 'amount')::bigint, 0);
  v_refunded bigint := coalesce((v_charge ->> 'amount_refunded')::bigint, 0);
  v_payment public.stripe_payments := public._stripe_payment_of(v_payment_intent, v_charge_id);
  v_moved bigint;
begin
  if v_payment.id is null then
    return public._stripe_wait_for_payment('refund', v_payment_intent, v_charge_id);
  end if;
  perform public._lock_account(v_payment.user_id);
  update public.stripe_payments p
     set charge_id = coalesce(p.charge_id, v_charge_id),
         refunded_credits = greatest(p.refunded_credits, case when v_amount > 0
           then least(p.credits, floor(p.credits::numeric * least(v_refunded, v_amount) / v_amount)::bigint)
           else 0 end),
         refund_ids = array(select distinct r from unnest(p.refund_ids || array(
                        select e ->> 'id' from jsonb_array_elements(
                          case jsonb_typeof(v_charge #> '{refunds,data}') when 'array' then v_charge #> '{refunds,data}'
                               else '[]'::jsonb end) e
                         where e ->> 'id' is not null)) r order by r)
   where p.id = v_payment.id;
  v_moved := public._settle_stripe_payment(
    v_payment.id, 'refund', 'stripe:' || (p_event ->> 'id'),
    jsonb_build_object('charge_id', v_charge_id, 'amount_refunded', v_refunded, 'amount', v_amount), p_now);
  if v_moved = 0 then
    return public._stripe_outcome('ignored', format('Charge %s: nothing more to take back for %s of %s refunded',
                                                    v_charge_id, v_refunded, v_amount));
  end if;
  return public._stripe_outcome('processed');
end
$$;
revoke execute on function public._apply_stripe_refund(jsonb, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._apply_stripe_refund(jsonb, timestamptz) is
  'Tollgate: charge.refunded -> the refunded share of a pack''s credits taken back once; pending before its payment.';

-- charge.dispute.*: a dispute's state is what its events add up to in any order (a later status in the
-- lifecycle wins; funds withdrawn or reinstated stick), and the payment's take-back follows it: credits are
-- taken back while the funds are withdrawn (created, funds_withdrawn, lost) and given back when reinstated (won).
-- Inquiries (warning_*) move nothing. A dispute of a payment not seen yet waits for it.
create or replace function public._apply_stripe_dispute(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_dispute jsonb := p_event #> '{data,object}';
  v_id text := v_dispute ->> 'id';
  v_status text := v_dispute ->> 'status';
  v_charge_id text := public._stripe_id(v_dispute -> 'charge');
  v_payment_intent text := public._stripe_id(v_dispute -> 'payment_intent');
  v_payment public.stripe_payments;
  v_order constant text[] := array['warning_needs_response', 'warning_under_review', 'needs_response',
                                   'under_review'];
  v_moved bigint;
begin
  if v_id !~ '^(du|dp)_' or v_status is null
     or v_status not in ('warning_needs_response', 'warning_under_review', 'warning_closed', 'needs_response',
                         'under_review', 'won', 'lost', 'prevented') then
    raise exception 'Cannot apply dispute %: status % is not one Tollgate knows', v_id, v_status
      using errcode = 'TGS05';
  end if;
  v_payment := public._stripe_payment_of(v_payment_intent, v_charge_id);
  if v_payment.id is null then
    return public._stripe_wait_for_payment('dispute', v_payment_intent, v_charge_id);
  end if;
  perform public._lock_account(v_payment.user_id);
  insert into public.stripe_disputes as d (dispute_id, payment_id, user_id, charge_id, amount, currency, status,
                                           funds_withdrawn, funds_reinstated, last_event_id, updated_at)
  values (v_id, v_payment.id, v_payment.user_id, v_charge_id, coalesce((v_dispute ->> 'amount')::bigint, 0),
          coalesce(v_dispute ->> 'currency', ''), v_status,
          p_event ->> 'type' = 'charge.dispute.funds_withdrawn', p_event ->> 'type' = 'charge.dispute.funds_reinstated',
          p_event ->> 'id', p_now)
  on conflict (dispute_id) do update
    -- Closed states (won, lost, warning_closed, prevented) are final; open ones only move forward.
    set status = case when d.status not in (select unnest(v_order)) then d.status
                      when excluded.status not in (select unnest(v_order)) then excluded.status
                      when array_position(v_order, excluded.status) > array_position(v_order, d.status)
                        then excluded.status
                      else d.status end,
        funds_withdrawn = d.funds_withdrawn or excluded.funds_withdrawn,
        funds_reinstated = d.funds_reinstated or excluded.funds_reinstated,
        amount = excluded.amount, last_event_id = excluded.last_event_id, updated_at = excluded.updated_at;
  update public.stripe_payments p set charge_id = coalesce(p.charge_id, v_charge_id) where p.id = v_payment.id;
  v_moved := public._settle_stripe_payment(
    v_payment.id, 'dispute', 'stripe:' || (p_event ->> 'id'),
    jsonb_build_object('dispute_id', v_id, 'status', v_status, 'charge_id', v_charge_id), p_now);
  if v_moved = 0 then
    return public._stripe_outcome('ignored', format('Dispute %s (%s): no credits to move', v_id, v_status));
  end if;
  return public._stripe_outcome('processed');
end
$$;
revoke execute on function public._apply_stripe_dispute(jsonb, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._apply_stripe_dispute(jsonb, timestamptz) is
  'Tollgate: charge.dispute.* -> the dispute''s state; credits taken back while its funds are withdrawn, given back if won.';
