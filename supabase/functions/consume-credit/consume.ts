import type postgres from "postgres";
import type { Caller } from "../_shared/auth.ts";
import type { ConsumeRequest, ConsumeResponse } from "../_shared/contract.ts";
import { queryAs, type Sql } from "../_shared/db.ts";

/** Calls public.consume_credits in one transaction as the caller; the database owns every rule. */
export function consumeWith(sql: Sql) {
  return async (caller: Caller, userId: string, input: ConsumeRequest): Promise<ConsumeResponse> => {
    const [row] = await queryAs(sql, caller, (tx) => {
      const metadata = input.metadata === undefined ? null : tx.json(input.metadata as postgres.JSONValue);
      return tx`
        select public.consume_credits(
          ${input.idempotency_key}, ${input.amount}, ${input.feature}, ${metadata}, ${userId}
        ) as result`;
    }, userId);
    return row.result as ConsumeResponse;
  };
}
