import type postgres from "postgres";
import { queryAs, type Sql } from "../_tollgate/db.ts";
import type { EventOutcome, StripeEvent } from "./event.ts";

/** Calls public.handle_stripe_event as the service role in one transaction: the event is stored and applied
 * together or not at all. */
export function handleEventWith(sql: Sql) {
  return async (event: StripeEvent): Promise<EventOutcome> => {
    const [row] = await queryAs<{ result: EventOutcome }[]>(
      sql,
      { kind: "service" },
      (tx) =>
        tx`select public.handle_stripe_event(${tx.json(event as unknown as postgres.JSONValue)}) as result`,
    );
    return row.result;
  };
}
