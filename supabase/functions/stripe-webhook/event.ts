import { z } from "zod";
import { parseBody } from "../_tollgate/contract.ts";
import { HttpError } from "../_tollgate/errors.ts";

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

/** How deeply a stored event may nest: Stripe's stay far below; PostgreSQL's parser fails near 10,000. */
export const MAX_EVENT_DEPTH = 256;

/**
 * Checks the envelope of a verified payload (400 when it is not a Stripe event) and returns it whole, as
 * PostgreSQL can store it (see storable).
 */
export function asStripeEvent(payload: unknown): StripeEvent {
  parseBody(Envelope, payload, "Stripe event");
  return storable(payload) as StripeEvent;
}

/**
 * A JSON value with every U+0000 and lone surrogate in its keys and strings replaced by the six characters of its
 * JSON escape (`\u0000`): jsonb refuses both, and a customer can type them into a name or a custom field, so the
 * event is stored and applied with that text instead of being refused on every delivery. 400 when the value nests
 * deeper than MAX_EVENT_DEPTH (Stripe sends no such event).
 */
export function storable(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return escapeUnstorable(value);
  if (value === null || typeof value !== "object") return value;
  // What JSON.stringify would write: an SDK object may serialize itself (its toJSON).
  const toJSON = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof toJSON === "function") return storable(toJSON.call(value), depth + 1);
  if (depth >= MAX_EVENT_DEPTH) {
    throw new HttpError(
      400,
      "invalid_request",
      `Invalid Stripe event: nested deeper than ${MAX_EVENT_DEPTH} levels`,
    );
  }
  if (Array.isArray(value)) return value.map((v) => storable(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [escapeUnstorable(k), storable(v, depth + 1)]),
  );
}

// deno-lint-ignore no-control-regex -- U+0000 is exactly what it looks for
const UNSTORABLE = /\u0000|[\ud800-\udfff]/gu;
const escapeUnstorable = (s: string) =>
  s.replace(UNSTORABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
