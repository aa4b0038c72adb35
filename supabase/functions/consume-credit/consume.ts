import type postgres from "postgres";
import type { Acting, Caller } from "../_tollgate/auth.ts";
import type { ConsumeRequest, ConsumeResponse } from "../_tollgate/contract.ts";
import type { Database, Json } from "../_tollgate/database.types.ts";
import { queryAs, type Sql } from "../_tollgate/db.ts";

/** tollgate.consume_credits as generated from the schema: a renamed, retyped or new parameter fails deno check. */
type ConsumeCredits = Database["tollgate"]["Functions"]["consume_credits"];
/** Every parameter, each passed (null: SQL null, the function's default rules apply). */
type AllArgs<A> = { [K in keyof A]-?: A[K] | null };

/** Calls tollgate.consume_credits in one transaction as the caller; the database owns every rule. */
export function consumeWith(sql: Sql) {
  return async (caller: Caller, acting: Acting, input: ConsumeRequest): Promise<ConsumeResponse> => {
    const args: AllArgs<ConsumeCredits["Args"]> = {
      p_idempotency_key: input.idempotency_key,
      p_amount: input.amount,
      p_feature: input.feature,
      p_metadata: (input.metadata ?? null) as Json,
      p_user_id: acting.userId ?? null,
      p_account_id: acting.accountId ?? null,
      p_hold: input.hold,
      p_hold_ttl_seconds: input.hold_ttl_seconds,
    };
    const [row] = await queryAs<{ result: ConsumeCredits["Returns"] }[]>(sql, caller, (tx) => {
      const metadata = args.p_metadata === null ? null : tx.json(args.p_metadata as postgres.JSONValue);
      return tx`
        select tollgate.consume_credits(
          p_idempotency_key => ${args.p_idempotency_key}, p_amount => ${args.p_amount},
          p_feature => ${args.p_feature}, p_metadata => ${metadata}, p_user_id => ${args.p_user_id},
          p_account_id => ${args.p_account_id}, p_hold => ${args.p_hold},
          p_hold_ttl_seconds => ${args.p_hold_ttl_seconds}
        ) as result`;
    }, acting.userId);
    return row.result as ConsumeResponse;
  };
}
