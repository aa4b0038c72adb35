/**
 * A receiver for Tollgate's billing webhooks (docs/events.md): verifies each delivery with the `standardwebhooks`
 * package and the endpoint's secret, refuses anything unsigned or wrongly signed with 400, and hands each event to
 * `handle` once: deliveries are at least once, so a retry (the same `webhook-id`) is answered 2xx and skipped.
 * `seen` remembers the ids handled; keep them in a table with a unique key in production.
 *
 *   TOLLGATE_WEBHOOK_SECRET=whsec_... deno run -A examples/billing_webhook_receiver.ts   # listens on :8787
 */
import { Webhook, WebhookVerificationError } from "standardwebhooks";

/** The body of a delivery. */
export interface BillingWebhook {
  id: string;
  type: string;
  timestamp: string;
  account_id: string;
  data: Record<string, unknown>;
}

export function createReceiver(
  secret: string,
  handle: (event: BillingWebhook) => Promise<void>,
  seen: Set<string> = new Set(),
): (req: Request) => Promise<Response> {
  const webhook = new Webhook(secret);
  return async (req) => {
    const body = await req.text();
    let event: BillingWebhook;
    try {
      event = webhook.verify(body, Object.fromEntries(req.headers)) as BillingWebhook;
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        return new Response("Invalid signature", { status: 400 });
      }
      throw error;
    }
    if (!seen.has(event.id)) {
      await handle(event); // throws: 500, and Tollgate delivers it again later
      seen.add(event.id);
    }
    return new Response(null, { status: 204 });
  };
}

if (import.meta.main) {
  const secret = Deno.env.get("TOLLGATE_WEBHOOK_SECRET");
  if (!secret) throw new Error("Set TOLLGATE_WEBHOOK_SECRET to the endpoint's whsec_... secret");
  Deno.serve(
    { port: 8787 },
    createReceiver(secret, (event) => {
      console.log(event.type, event.account_id, JSON.stringify(event.data));
      return Promise.resolve();
    }),
  );
}
