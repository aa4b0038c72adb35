import { z } from "zod";
import { parseBody } from "../_tollgate/contract.ts";
import { storable } from "../_tollgate/stripe.ts";

/** The envelope every Stripe event has; the rest of the payload is passed to the database untouched. */
const Envelope = z.object({
  id: z.string().regex(/^evt_/),
  type: z.string().min(1),
  created: z.int().positive(),
  livemode: z.boolean(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

/** A verified Stripe event: its envelope checked, every other field kept as Stripe sent it. */
export type StripeEvent = z.infer<typeof Envelope> & Record<string, unknown>;

/**
 * What handle_stripe_event answers: the event's status and, for ignored, pending, failed or refused events, why.
 * `retrieve` means nothing was kept: the subscription's current state is needed from the Stripe API first.
 */
export interface EventOutcome {
  status: "processed" | "ignored" | "pending" | "failed" | "refused" | "duplicate" | "retrieve";
  event_id: string;
  reason?: string;
  waits_for?: string;
  previous_status?: string;
  pending_applied?: number;
  subscription_id?: string;
}

/**
 * Checks the envelope of a verified payload (400 when it is not a Stripe event) and returns it whole, as
 * PostgreSQL can store it (see storable).
 */
export function asStripeEvent(payload: unknown): StripeEvent {
  parseBody(Envelope, payload, "Stripe event");
  return storable(payload) as StripeEvent;
}

export { MAX_EVENT_DEPTH, storable } from "../_tollgate/stripe.ts";
