import type postgres from "postgres";
import { asCaller, type Sql } from "../_shared/db.ts";
import type { EventOutcome, StripeEvent } from "./event.ts";

/** Calls public.handle_stripe_event as the service role: store once, apply, all in one transaction. */
export function handleEventWith(sql: Sql) {
  return (event: StripeEvent): Promise<EventOutcome> =>
    asCaller(sql, { kind: "service" }, async (tx) => {
      const [row] = await tx`select public.handle_stripe_event(${
        tx.json(event as postgres.JSONValue)
      }) as result`;
      return row.result as EventOutcome;
    });
}
