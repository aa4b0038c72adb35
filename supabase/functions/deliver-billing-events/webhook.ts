import { Webhook } from "standardwebhooks";
import { type EnvReader, requireEnv } from "../_tollgate/env.ts";

/** Where billing events go and the secret they are signed with. */
export interface WebhookConfig {
  url: string;
  secret: string;
}

/** A billing event as claimed from tollgate.claim_billing_events. */
export interface BillingEvent {
  id: string;
  account_id: string;
  type: string;
  data: unknown;
  created_at: Date | string;
}

/**
 * TOLLGATE_WEBHOOK_URL and TOLLGATE_WEBHOOK_SECRET (`whsec_<base64>`), read at cold start: neither set means
 * delivery is off (null); one without the other, a URL that is not http(s) or a secret the Standard Webhooks
 * library cannot use fails loudly, naming the variable.
 */
export function loadWebhookConfig(get: EnvReader = (name) => Deno.env.get(name)): WebhookConfig | null {
  if (!get("TOLLGATE_WEBHOOK_URL") && !get("TOLLGATE_WEBHOOK_SECRET")) return null;
  const url = requireEnv("TOLLGATE_WEBHOOK_URL", get);
  const secret = requireEnv("TOLLGATE_WEBHOOK_SECRET", get);
  if (!/^https?:\/\//.test(url) || !URL.canParse(url)) {
    throw new Error("TOLLGATE_WEBHOOK_URL must be an http(s) URL");
  }
  if (!secret.startsWith("whsec_")) throw new Error("TOLLGATE_WEBHOOK_SECRET must start with whsec_");
  try {
    new Webhook(secret);
  } catch (cause) {
    throw new Error(`TOLLGATE_WEBHOOK_SECRET is not a usable secret: ${(cause as Error).message}`);
  }
  return { url, secret };
}

/**
 * The request that delivers one event, per Standard Webhooks: `webhook-id` is the event's id (the same on every
 * retry, so receivers deduplicate by it), `webhook-timestamp` the moment of this attempt, `webhook-signature`
 * `v1,<HMAC-SHA256>` over `<id>.<timestamp>.<body>`.
 */
export function signedRequest(config: WebhookConfig, event: BillingEvent, now: Date): Request {
  const body = JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: new Date(event.created_at).toISOString(),
    account_id: event.account_id,
    data: event.data,
  });
  return new Request(config.url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "webhook-id": event.id,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": new Webhook(config.secret).sign(event.id, now, body),
    },
    body,
  });
}
