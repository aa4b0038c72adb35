-- Pure mappers from Stripe objects to Tollgate values, in one place, for the API version the pinned SDK uses
-- (2026-10-28.endive: subscription periods on items, invoice -> subscription under parent) and the older shapes.

-- A Stripe reference that is either an id or the expanded object, as the id.
create or replace function public._stripe_id(p_value jsonb) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select case jsonb_typeof(p_value) when 'string' then p_value #>> '{}' when 'object' then p_value ->> 'id' end
$$;
revoke execute on function public._stripe_id(jsonb) from public, anon, authenticated, service_role;

-- A Stripe timestamp (Unix seconds) as timestamptz; anything else is null.
create or replace function public._stripe_time(p_value jsonb) returns timestamptz
language sql immutable parallel safe
set search_path = ''
as $$
  select case when jsonb_typeof(p_value) = 'number' then to_timestamp((p_value #>> '{}')::double precision) end
$$;
revoke execute on function public._stripe_time(jsonb) from public, anon, authenticated, service_role;

-- The fields Tollgate mirrors from a Subscription. Periods come from the first item (where recent API versions
-- put them), else from the subscription (older versions); price_ids lists every item's price.
create or replace function public._stripe_subscription_fields(
  p_subscription jsonb,
  out status text, out price_ids text[], out current_period_start timestamptz, out current_period_end timestamptz,
  out cancel_at_period_end boolean, out trial_end timestamptz, out billing_cycle_anchor timestamptz
)
language sql immutable parallel safe
set search_path = ''
as $$
  select p_subscription ->> 'status',
         coalesce((select array_agg(coalesce(public._stripe_id(i -> 'price'), i #>> '{plan,id}') order by n)
                     from jsonb_array_elements(case jsonb_typeof(p_subscription #> '{items,data}')
                                                 when 'array' then p_subscription #> '{items,data}'
                                                 else '[]'::jsonb end) with ordinality e(i, n)
                    where coalesce(public._stripe_id(i -> 'price'), i #>> '{plan,id}') is not null), '{}'),
         coalesce(public._stripe_time(p_subscription #> '{items,data,0,current_period_start}'),
                  public._stripe_time(p_subscription -> 'current_period_start')),
         coalesce(public._stripe_time(p_subscription #> '{items,data,0,current_period_end}'),
                  public._stripe_time(p_subscription -> 'current_period_end')),
         coalesce(jsonb_typeof(p_subscription -> 'cancel_at_period_end') = 'boolean'
                  and (p_subscription ->> 'cancel_at_period_end')::boolean, false),
         public._stripe_time(p_subscription -> 'trial_end'),
         coalesce(public._stripe_time(p_subscription -> 'billing_cycle_anchor'),
                  public._stripe_time(p_subscription -> 'start_date'),
                  public._stripe_time(p_subscription -> 'created'))
$$;
revoke execute on function public._stripe_subscription_fields(jsonb) from public, anon, authenticated, service_role;

-- The payment intent of an invoice: from its payments (recent API versions) or its own field (older ones).
create or replace function public._stripe_invoice_payment_intent(p_invoice jsonb) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select coalesce(public._stripe_id(p_invoice #> '{payments,data,0,payment,payment_intent}'),
                  public._stripe_id(p_invoice -> 'payment_intent'))
$$;
revoke execute on function public._stripe_invoice_payment_intent(jsonb) from public, anon, authenticated, service_role;

-- The subscription an invoice bills: under parent.subscription_details (recent) or its own field (older).
create or replace function public._stripe_invoice_subscription(p_invoice jsonb) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select coalesce(public._stripe_id(p_invoice #> '{parent,subscription_details,subscription}'),
                  public._stripe_id(p_invoice -> 'subscription'))
$$;
revoke execute on function public._stripe_invoice_subscription(jsonb) from public, anon, authenticated, service_role;

-- A positive whole number from Stripe metadata (always strings), or null when absent; TGS05 when malformed.
create or replace function public._stripe_metadata_count(p_metadata jsonb, p_key text, p_max bigint) returns bigint
language plpgsql immutable
set search_path = ''
as $$
declare
  v_text text := p_metadata ->> p_key;
begin
  if v_text is null then
    return null;
  end if;
  if v_text !~ '^\s*[0-9]{1,12}\s*$' or trim(v_text)::bigint not between 1 and p_max then
    raise exception 'Invalid metadata.%: expected a whole number from 1 to %, got %', p_key, p_max, v_text
      using errcode = 'TGS05', detail = jsonb_build_object('key', p_key, 'value', v_text)::text;
  end if;
  return trim(v_text)::bigint;
end
$$;
revoke execute on function public._stripe_metadata_count(jsonb, text, bigint)
  from public, anon, authenticated, service_role;
