import { HttpError } from "../_tollgate/errors.ts";
import { endpoint, json, MAX_WEBHOOK_BODY, readBody } from "../_tollgate/http.ts";
import { asStripeEvent, type EventOutcome, type StripeEvent } from "./event.ts";
import type { SignatureVerifier } from "./signature.ts";

export interface WebhookDeps {
  verify: SignatureVerifier;
  /** The one SQL call: tollgate.handle_stripe_event, as the service role. */
  handleEvent: (event: StripeEvent) => Promise<EventOutcome>;
  log?: (line: string) => void;
}

/**
 * stripe-webhook: raw body (1 MiB at most), signature, one SQL call, `{"received": true}`. A database that cannot
 * be reached answers 500, not 503: the event was not stored, and Stripe retries any non-2xx answer.
 */
export function createHandler(deps: WebhookDeps): (req: Request) => Promise<Response> {
  return endpoint(async (req) => {
    const payload = await readBody(req, MAX_WEBHOOK_BODY);
    const event = asStripeEvent(await deps.verify(payload, req.headers.get("stripe-signature")));
    let outcome: EventOutcome;
    try {
      outcome = await deps.handleEvent(event);
    } catch (error) {
      if (error instanceof HttpError && error.status === 503) {
        throw new HttpError(500, "internal", "Internal error: the event was not recorded, retry it", {
          cause: error,
        });
      }
      throw error;
    }
    deps.log?.(`${event.id} ${event.type}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ""}`);
    return json({ received: true });
  });
}
