/**
 * Distinct signed Stripe events for the webhook load: `checkout.session.completed` in payment mode, paid, for a
 * bench user, shaped like the pinned SDK's API version and signed with its test-header helper.
 */
import Stripe from "stripe";
import { benchUserId } from "./fixtures.ts";

const stripe = new Stripe("sk_test_tollgate_bench_only");
const API_VERSION = (Stripe as unknown as { API_VERSION: string }).API_VERSION;

export interface SignedEvent {
  body: string;
  signature: string;
}

/** One checkout completion for bench user n; `id` makes the event and the session unique. */
export function checkoutCompleted(n: number, id: string, createdAt: number): Record<string, unknown> {
  return {
    id: `evt_bench_${id}`,
    object: "event",
    api_version: API_VERSION,
    created: createdAt,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: "checkout.session.completed",
    data: {
      object: {
        id: `cs_test_bench_${id}`,
        object: "checkout.session",
        mode: "payment",
        status: "complete",
        payment_status: "paid",
        client_reference_id: benchUserId(n),
        customer: `cus_bench_${String(n).padStart(8, "0")}`,
        metadata: { credits: "10" },
        amount_total: 1000,
        currency: "usd",
        payment_intent: `pi_bench_${id}`,
        subscription: null,
        created: createdAt,
        livemode: false,
      },
    },
  };
}

/** Signs `count` distinct events for random users among `users`, as Stripe would deliver them now. */
export async function signedEvents(opts: {
  count: number;
  users: number;
  secret: string;
  prefix: string;
}): Promise<SignedEvent[]> {
  const now = Math.floor(Date.now() / 1000);
  const events: SignedEvent[] = [];
  for (let i = 0; i < opts.count; i++) {
    const n = 1 + Math.floor(Math.random() * opts.users);
    const body = JSON.stringify(checkoutCompleted(n, `${opts.prefix}_${i}`, now));
    const signature = await stripe.webhooks.generateTestHeaderStringAsync({
      payload: body,
      secret: opts.secret,
      timestamp: now,
    });
    events.push({ body, signature });
  }
  return events;
}
