import { z } from "zod";
import { parseBody } from "../_tollgate/contract.ts";

/** The envelope every Stripe event has; the rest of the payload is passed to the database untouched. */
const Envelope = z.object({
  id: z.string().regex(/^evt_/),
  type: z.string().min(1),
  created: z.int().positive(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

/** A verified Stripe event: its envelope checked, every other field kept as Stripe sent it. */
export type StripeEvent = z.infer<typeof Envelope> & Record<string, unknown>;

/** What handle_stripe_event answers: the event's status and, for ignored or failed events, why. */
export interface EventOutcome {
  status: "processed" | "ignored" | "pending" | "failed" | "duplicate";
  event_id: string;
  reason?: string;
  previous_status?: string;
  pending_applied?: number;
}

/** Checks the envelope of a verified payload (400 when it is not a Stripe event) and returns it whole. */
export function asStripeEvent(payload: unknown): StripeEvent {
  parseBody(Envelope, payload, "Stripe event");
  return payload as StripeEvent;
}
