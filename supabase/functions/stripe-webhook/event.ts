import { z } from "zod";
import { HttpError } from "../_shared/errors.ts";

/** The event types handle_stripe_event acts on; every other verified event is stored and ignored. */
export const HANDLED_EVENT_TYPES = [
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
  "customer.subscription.created",
  "customer.subscription.updated",
  "customer.subscription.deleted",
  "invoice.paid",
  "invoice.payment_failed",
  "charge.refunded",
] as const;

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
  const result = Envelope.safeParse(payload);
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message }));
    throw new HttpError(
      400,
      "invalid_request",
      "Invalid Stripe event: id, type, created and data.object are required",
      {
        details: { issues },
      },
    );
  }
  return payload as StripeEvent;
}
