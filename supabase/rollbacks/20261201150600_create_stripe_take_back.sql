-- Rollback of 20261201150600_create_stripe_take_back.sql: drops the take-back functions and restores
-- _apply_stripe_refund as 20261123002200 defined it.
drop function if exists public._apply_stripe_dispute(jsonb, timestamptz);
drop function if exists public._stripe_payment_of(text, text);
drop function if exists public._settle_stripe_payment(text, text, text, jsonb, timestamptz);
drop function if exists public._apply_stripe_refund(jsonb, timestamptz);

-- charge.refunded on a credit pack: claws back credits x amount_refunded / amount (cumulative, minus what was
-- already clawed back) with one negative 'refund' ledger entry, from the pack's lot first, then other live lots,
-- then as overdraft when the credits were spent. Repeats and older events find nothing more to claw back.
create or replace function public._apply_stripe_refund(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_charge jsonb := p_event #> '{data,object}';
  v_charge_id text := v_charge ->> 'id';
  v_payment_intent text := public._stripe_id(v_charge -> 'payment_intent');
  v_customer text := public._stripe_id(v_charge -> 'customer');
  v_amount bigint := coalesce((v_charge ->> 'amount')::bigint, 0);
  v_refunded bigint := coalesce((v_charge ->> 'amount_refunded')::bigint, 0);
  v_payment public.stripe_payments;
  v_account public.accounts;
  v_target bigint;
  v_claw bigint;
  v_own bigint;
  v_drawn bigint;
begin
  select * into v_payment from public.stripe_payments p
   where p.kind = 'checkout' and (p.payment_intent_id = v_payment_intent or p.charge_id = v_charge_id)
   order by p.created_at limit 1;
  if not found then
    if v_customer is not null
       and not exists (select 1 from public.stripe_customers c where c.customer_id = v_customer) then
      return public._stripe_outcome('pending', format('Customer %s is not linked to a user yet', v_customer));
    end if;
    return public._stripe_outcome('ignored', format(
      'No credit pack matches charge %s (payment intent %s): nothing to claw back', v_charge_id,
      coalesce(v_payment_intent, 'none')));
  end if;

  v_account := public._lock_account(v_payment.user_id);
  select * into strict v_payment from public.stripe_payments p where p.id = v_payment.id for update;
  if v_account.settle_at <= p_now then
    perform public._settle_accounts(p_now, v_payment.user_id);
  end if;
  v_target := case when v_amount > 0
                   then least(v_payment.credits, floor(v_payment.credits::numeric * least(v_refunded, v_amount)
                                                       / v_amount)::bigint)
                   else 0 end;
  v_claw := v_target - v_payment.refunded_credits;
  update public.stripe_payments p
     set charge_id = coalesce(p.charge_id, v_charge_id),
         refunded_credits = greatest(p.refunded_credits, v_target),
         refund_ids = array(select distinct r from unnest(p.refund_ids || array(
                        select e ->> 'id' from jsonb_array_elements(
                          case jsonb_typeof(v_charge #> '{refunds,data}') when 'array' then v_charge #> '{refunds,data}'
                               else '[]'::jsonb end) e
                         where e ->> 'id' is not null)) r order by r)
   where p.id = v_payment.id;
  if v_claw <= 0 then
    return public._stripe_outcome('ignored', format(
      'Charge %s: the %s of %s refunded is already clawed back', v_charge_id, v_refunded, v_amount));
  end if;

  select least(l.remaining, v_claw) into v_own from public.credit_lots l
   where l.id = v_payment.lot_id and l.remaining > 0 and (l.expires_at is null or l.expires_at > p_now);
  v_own := coalesce(v_own, 0);
  if v_own > 0 then
    update public.credit_lots set remaining = remaining - v_own where id = v_payment.lot_id;
  end if;
  v_drawn := v_own + public._draw_lots(v_payment.user_id, v_claw - v_own, p_now);
  perform public._post_ledger(v_payment.user_id, -v_claw, v_claw - v_drawn, 'refund',
                              'refund:' || v_charge_id || ':' || v_refunded, v_payment.lot_id,
                              jsonb_build_object('charge_id', v_charge_id, 'checkout_session_id', v_payment.id,
                                                 'amount_refunded', v_refunded, 'amount', v_amount),
                              p_now);
  return public._stripe_outcome('processed');
end
$$;
revoke execute on function public._apply_stripe_refund(jsonb, timestamptz)
  from public, anon, authenticated, service_role;
