import type { Sql } from "../_shared/db.ts";
import { fromDatabaseError } from "../_shared/errors.ts";
import type { EventOutcome, StripeEvent } from "./event.ts";

/**
 * Calls public.handle_stripe_event as the service role (role and claims as PostgREST sets them) in ONE
 * simple-protocol query: its statements form one implicit transaction, so the event is stored and applied
 * together or not at all. Not `sql.begin` (asCaller): when the server closes a connection inside a transaction,
 * postgres.js 3.4.9 writes its rollback to a null socket and the uncaught TypeError kills the whole function
 * (porsager/postgres#1154, #1208), where this answer must be a 500 that Stripe retries.
 */
export function handleEventWith(sql: Sql) {
  return async (event: StripeEvent): Promise<EventOutcome> => {
    const payload = JSON.stringify(event);
    const quote = dollarQuote(payload);
    try {
      const results = await sql.unsafe(
        `select set_config('role', 'service_role', true),
                set_config('request.jwt.claims', '{"role": "service_role"}', true);
         select public.handle_stripe_event(${quote}${payload}${quote}::jsonb) as result`,
      ).simple();
      const last = results.at(-1) as unknown as { result: EventOutcome }[];
      return last[0].result;
    } catch (error) {
      throw fromDatabaseError(error);
    }
  };
}

/** A dollar-quote tag that does not occur in `text`, so the literal needs no escaping. */
function dollarQuote(text: string): string {
  for (;;) {
    const tag = `$tg${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}$`;
    if (!text.includes(tag)) return tag;
  }
}
