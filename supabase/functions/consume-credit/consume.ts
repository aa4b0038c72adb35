import type postgres from "postgres";
import type { Caller } from "../_shared/auth.ts";
import type { ConsumeRequest, ConsumeResponse } from "../_shared/contract.ts";
import { asCaller, type Sql } from "../_shared/db.ts";

/** Calls public.consume_credits in one transaction as the caller; the database owns every rule. */
export function consumeWith(sql: Sql) {
  return (caller: Caller, userId: string, input: ConsumeRequest): Promise<ConsumeResponse> =>
    asCaller(sql, caller, async (tx) => {
      const metadata = input.metadata === undefined ? null : tx.json(input.metadata as postgres.JSONValue);
      const [row] = await tx`
        select public.consume_credits(
          ${input.idempotency_key}, ${input.amount}, ${input.feature}, ${metadata}, ${userId}
        ) as result`;
      return row.result as ConsumeResponse;
    }, userId);
}
