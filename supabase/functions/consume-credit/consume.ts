import type postgres from "postgres";
import type { Caller } from "../_tollgate/auth.ts";
import type { ConsumeRequest, ConsumeResponse } from "../_tollgate/contract.ts";
import type { Database, Json } from "../_tollgate/database.types.ts";
import { queryAs, type Sql } from "../_tollgate/db.ts";

/** tollgate.consume_credits as generated from the schema: a renamed, retyped or new parameter fails deno check. */
type ConsumeCredits = Database["tollgate"]["Functions"]["consume_credits"];

/** Calls tollgate.consume_credits in one transaction as the caller; the database owns every rule. */
export function consumeWith(sql: Sql) {
  return async (caller: Caller, userId: string, input: ConsumeRequest): Promise<ConsumeResponse> => {
    const args: Required<ConsumeCredits["Args"]> = {
      p_idempotency_key: input.idempotency_key,
      p_amount: input.amount,
      p_feature: input.feature,
      p_metadata: (input.metadata ?? null) as Json,
      p_user_id: userId,
    };
    const [row] = await queryAs<{ result: ConsumeCredits["Returns"] }[]>(sql, caller, (tx) => {
      const metadata = args.p_metadata === null ? null : tx.json(args.p_metadata as postgres.JSONValue);
      return tx`
        select tollgate.consume_credits(
          p_idempotency_key => ${args.p_idempotency_key}, p_amount => ${args.p_amount},
          p_feature => ${args.p_feature}, p_metadata => ${metadata}, p_user_id => ${args.p_user_id}
        ) as result`;
    }, userId);
    return row.result as ConsumeResponse;
  };
}
