import type postgres from "postgres";
import type Stripe from "stripe";
import type { Acting } from "../_tollgate/auth.ts";
import type { CheckoutRequest, CheckoutResponse } from "../_tollgate/contract.ts";
import { queryAs, type Sql } from "../_tollgate/db.ts";
import { fromStripeError, storable } from "../_tollgate/stripe.ts";

/** What tollgate.checkout_target answers: who pays, for what, and how. */
export interface CheckoutTarget {
  account_id: string;
  customer_id: string | null;
  email: string | null;
  name: string | null;
  mode: "subscription" | "payment";
  plan_id: string | null;
  pack_id: string | null;
  price_id: string;
  price_known: boolean;
  trial_days: number | null;
}

/** Every I/O a checkout makes: three SQL calls (as the service role) and three Stripe calls. */
export interface CheckoutDeps {
  target: (acting: Acting, input: CheckoutRequest) => Promise<CheckoutTarget>;
  /** Retrieves a price (its product expanded) from Stripe and stores it in the pricing mirror. */
  refreshPrice: (priceId: string) => Promise<void>;
  createCustomer: (target: CheckoutTarget) => Promise<string>;
  linkCustomer: (accountId: string, customerId: string) => Promise<void>;
  createSession: (
    params: Stripe.Checkout.SessionCreateParams,
    idempotencyKey: string,
  ) => Promise<CheckoutResponse>;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The Stripe idempotency key of a checkout: the account and the caller's idempotency_key, or without one the
 * request itself, so a retried or double-clicked request gets the same session from Stripe.
 */
export async function sessionKey(accountId: string, input: CheckoutRequest): Promise<string> {
  const request = input.idempotency_key ?? JSON.stringify([
    input.plan_id ?? null,
    input.pack_id ?? null,
    input.price_id ?? null,
    input.success_url,
    input.cancel_url,
  ]);
  return `tollgate-checkout-${accountId}-${await sha256(request)}`;
}

/** The session's parameters: the catalogue's price, the account as client_reference_id and in Tollgate's metadata. */
export function sessionParams(
  target: CheckoutTarget,
  customer: string,
  input: CheckoutRequest,
): Stripe.Checkout.SessionCreateParams {
  const metadata: Record<string, string> = {
    tollgate_account_id: target.account_id,
    ...(target.pack_id ? { tollgate_pack_id: target.pack_id } : { tollgate_plan_id: target.plan_id ?? "" }),
  };
  return {
    mode: target.mode,
    customer,
    client_reference_id: target.account_id,
    line_items: [{ price: target.price_id, quantity: 1 }],
    success_url: input.success_url,
    cancel_url: input.cancel_url,
    metadata,
    ...(target.mode === "subscription"
      ? {
        subscription_data: {
          metadata,
          ...(target.trial_days ? { trial_period_days: target.trial_days } : {}),
        },
      }
      : { payment_intent_data: { metadata } }),
  };
}

/**
 * Starts a checkout: who may and what is bought (SQL), the price's pricing data when the mirror has not seen it
 * (refused when Stripe reports it inactive), the account's customer or a new one linked before the session, then
 * the session, idempotent by sessionKey.
 */
export async function startCheckout(
  deps: CheckoutDeps,
  acting: Acting,
  input: CheckoutRequest,
): Promise<CheckoutResponse> {
  let target = await deps.target(acting, input);
  if (!target.price_known) {
    // Asked again once the mirror knows the price, so the SQL refuses an inactive one (TGC02) as always.
    await deps.refreshPrice(target.price_id);
    target = await deps.target(acting, input);
  }
  let customer = target.customer_id;
  if (customer === null) {
    customer = await deps.createCustomer(target);
    await deps.linkCustomer(target.account_id, customer);
  }
  return await deps.createSession(
    sessionParams(target, customer, input),
    await sessionKey(target.account_id, input),
  );
}

/** The SQL and Stripe calls of a checkout, against the pool and the SDK. */
export function checkoutDepsWith(sql: Sql, stripe: Stripe): CheckoutDeps {
  const service = { kind: "service" } as const;
  const stripeCall = async <T>(action: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      throw fromStripeError(error, action);
    }
  };
  return {
    target: async (acting, input) => {
      const [row] = await queryAs<{ result: CheckoutTarget }[]>(
        sql,
        service,
        (tx) =>
          tx`select tollgate.checkout_target(${acting.accountId ?? null}, ${acting.userId ?? null}, ${
            input.plan_id ?? null
          }, ${input.pack_id ?? null}, ${input.price_id ?? null}) as result`,
        acting.userId,
      );
      return row.result;
    },
    refreshPrice: async (priceId) => {
      const price = await stripeCall(
        "start a checkout",
        () => stripe.prices.retrieve(priceId, { expand: ["product"] }),
      );
      await queryAs(
        sql,
        service,
        (tx) => tx`select tollgate.record_stripe_price(${tx.json(storable(price) as postgres.JSONValue)})`,
      );
    },
    createCustomer: (target) =>
      stripeCall("start a checkout", async () =>
        (await stripe.customers.create({
          ...(target.email ? { email: target.email } : {}),
          ...(target.name ? { name: target.name } : {}),
          metadata: { tollgate_account_id: target.account_id },
        }, { idempotencyKey: `tollgate-customer-${target.account_id}` })).id),
    linkCustomer: async (accountId, customerId) => {
      await queryAs(
        sql,
        service,
        (tx) => tx`select tollgate.link_stripe_customer(${accountId}, ${customerId})`,
      );
    },
    createSession: (params, idempotencyKey) =>
      stripeCall("start a checkout", async () => {
        const session = await stripe.checkout.sessions.create(params, { idempotencyKey });
        if (!session.url) throw new Error(`Checkout session ${session.id} has no url`);
        return { url: session.url, session_id: session.id };
      }),
  };
}
