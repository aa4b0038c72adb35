-- stripe-import (docs/adoption.md): an app's existing Stripe customers and subscriptions, as listed from the Stripe
-- API by `npx tollgate stripe-import`, applied through the webhook's own SQL: the customer is linked as a checkout
-- links it (_link_stripe_customer), each subscription is mirrored and the plan follows as an event would
-- (_mirror_stripe_subscription), and the webhook events that waited for the link are applied. A listed state counts
-- as retrieved from the Stripe API at the moment it was listed, so it never overrides a newer event, and an older
-- event never overrides it. Idempotent: listing the same state again changes nothing.
-- Business errors: TGS02 malformed call (refused, nothing applied); per subscription TGS01 unknown price and TGS05
-- malformed field (that subscription reported failed, the rest applied).

create or replace function tollgate._import_stripe_subscription(
  p_account_id uuid, p_customer_id text, p_subscription jsonb, p_listed_at timestamptz, p_current jsonb,
  p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id text := p_subscription ->> 'id';
  v_existing tollgate.stripe_subscriptions;
  v_skew constant interval := tollgate._stripe_clock_skew();
begin
  if v_id is null or v_id !~ '^sub_' then
    raise exception 'Cannot import a subscription of customer %: no subscription id', p_customer_id
      using errcode = 'TGS05';
  end if;
  if tollgate._stripe_id(p_subscription -> 'customer') is distinct from p_customer_id then
    raise exception 'Cannot import subscription %: it belongs to customer %, not %', v_id,
      coalesce(tollgate._stripe_id(p_subscription -> 'customer'), '(none)'), p_customer_id using errcode = 'TGS05';
  end if;
  select * into v_existing from tollgate.stripe_subscriptions s where s.subscription_id = v_id for update;
  if found then
    if tollgate._stripe_subscription_unchanged(p_subscription, v_existing) then
      return tollgate._stripe_outcome('unchanged');
    end if;
    if p_listed_at < v_existing.last_event_created - v_skew then
      return tollgate._stripe_outcome('ignored', format('Listed at %s, before the state mirrored at %s (%s)',
                                                      p_listed_at, v_existing.last_event_created,
                                                      v_existing.last_event_id));
    end if;
    if p_listed_at <= v_existing.last_event_created + v_skew then
      -- Too close to the mirrored state to tell which is newer: the current state decides.
      return tollgate._mirror_stripe_subscription(
        p_account_id, p_customer_id, tollgate._stripe_current_subscription(p_current, v_id), p_now, 'stripe-import',
        true, format('Listed within a minute of the state mirrored at %s: applied the state retrieved at %s',
                     v_existing.last_event_created, p_now), p_now);
    end if;
  end if;
  return tollgate._mirror_stripe_subscription(p_account_id, p_customer_id, p_subscription, p_listed_at,
                                              'stripe-import', true, null, p_now);
end
$$;
comment on function tollgate._import_stripe_subscription(uuid, text, jsonb, timestamptz, jsonb, timestamptz) is
  'Tollgate: mirrors a subscription as listed from the Stripe API at p_listed_at, like a state retrieved then: '
  'unchanged when the mirror already holds it; ignored when the mirror holds a state from more than a minute '
  'later (a newer event); within a minute either way the current state (p_current, TGS06 to retrieve it) is '
  'applied instead.';
revoke execute on function tollgate._import_stripe_subscription(uuid, text, jsonb, timestamptz, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._import_stripe_customer(
  p_customer_id text, p_account_id uuid, p_subscriptions jsonb, p_listed_at timestamptz, p_current jsonb,
  p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_linked uuid;
  v_account_id uuid;
  v_subscription jsonb;
  v_outcome jsonb;
  v_results jsonb := '[]'::jsonb;
  v_applied integer;
  v_retrieve text;
begin
  if p_customer_id is null or p_customer_id !~ '^cus_' or p_listed_at is null
     or jsonb_typeof(p_subscriptions) is distinct from 'array'
     or exists (select 1 from jsonb_array_elements(p_subscriptions) s where jsonb_typeof(s) <> 'object') then
    raise exception 'Invalid Stripe import: a customer id (cus_...), p_listed_at and an array of subscriptions '
      'are required' using errcode = 'TGS02';
  end if;
  begin
    perform tollgate._lock_stripe_keys(array['customer:' || p_customer_id]);
    select c.account_id into v_linked from tollgate.stripe_customers c where c.customer_id = p_customer_id;
    v_account_id := coalesce(v_linked, p_account_id);
    if v_account_id is null then
      return jsonb_build_object('status', 'unmapped', 'customer_id', p_customer_id,
                                'reason', 'No account named for it, and it is not linked to one');
    elsif v_linked <> p_account_id then
      return jsonb_build_object('status', 'conflict', 'customer_id', p_customer_id, 'account_id', v_linked,
                                'reason', format('Customer %s is linked to account %s, not %s: nothing imported',
                                                 p_customer_id, v_linked, p_account_id));
    elsif v_linked is null then
      if not exists (select 1 from tollgate.accounts a where a.id = p_account_id) then
        return jsonb_build_object('status', 'failed', 'customer_id', p_customer_id, 'account_id', p_account_id,
                                  'reason', format('No Tollgate account %s: nothing imported', p_account_id));
      end if;
      perform tollgate._link_stripe_customer(p_customer_id, p_account_id, p_now);
    end if;

    for v_subscription in
      select s from jsonb_array_elements(p_subscriptions) s order by s ->> 'id'
    loop
      begin
        v_outcome := tollgate._import_stripe_subscription(v_account_id, p_customer_id, v_subscription, p_listed_at,
                                                          p_current, p_now);
      exception when sqlstate 'TGS01' or sqlstate 'TGS05' then
        v_outcome := tollgate._stripe_outcome('failed', sqlerrm);
      end;
      v_results := v_results || jsonb_build_array(jsonb_build_object('subscription_id', v_subscription ->> 'id')
                                                     || v_outcome);
    end loop;
    v_applied := tollgate._apply_waiting_stripe_events(array['customer:' || p_customer_id], p_current, p_now);
    return jsonb_build_object(
      'status', case when v_linked is null or v_applied > 0
                       or exists (select 1 from jsonb_array_elements(v_results) r where r ->> 'status' = 'processed')
                     then 'imported' else 'unchanged' end,
      'customer_id', p_customer_id, 'account_id', v_account_id, 'linked', v_linked is null,
      'subscriptions', v_results, 'pending_applied', v_applied);
  exception when sqlstate 'TGS06' then
    get stacked diagnostics v_retrieve = pg_exception_detail;
    return jsonb_build_object('status', 'retrieve', 'customer_id', p_customer_id, 'subscription_id', v_retrieve);
  end;
end
$$;
comment on function tollgate._import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb, timestamptz) is
  'Tollgate: the implementation of import_stripe_customer at a given time (pgTAP pins it). Under the customer''s '
  'lock (the one its webhook events take): a customer linked to another account than p_account_id is a conflict '
  'and one linked to none with no p_account_id is unmapped (nothing applied); otherwise it is linked, each listed '
  'subscription mirrored (_import_stripe_subscription; one with an unknown price or a malformed field is reported '
  'failed, the others applied), and the events that waited for the link applied. When a subscription''s current '
  'state is needed nothing is kept and the answer is {"status": "retrieve", "subscription_id": ...}.';
revoke execute on function tollgate._import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate.import_stripe_customer(
  p_customer_id text, p_account_id uuid, p_subscriptions jsonb, p_listed_at timestamptz,
  p_current jsonb default '[]'::jsonb
) returns jsonb
language sql
security definer
set search_path = ''
as $$ select tollgate._import_stripe_customer(p_customer_id, p_account_id, p_subscriptions, p_listed_at, p_current,
                                               now()) $$;
comment on function tollgate.import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb) is
  'Tollgate: stripe-import''s one SQL call per customer, service role only since it moves money: links '
  'p_customer_id to p_account_id (null: only if already linked), mirrors its subscriptions as listed from the '
  'Stripe API at p_listed_at (the listing''s Date), applies the webhook events waiting for it. Answers status '
  'imported, unchanged, unmapped, conflict, failed, or retrieve (call again with that subscription''s current state '
  'in p_current).';
revoke execute on function tollgate.import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function tollgate.import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb) to service_role;
