import type postgres from "postgres";
import type { Acting, Caller } from "../_tollgate/auth.ts";
import type { ConsumeRequest, ConsumeResponse } from "../_tollgate/contract.ts";
import type { Database, Json } from "../_tollgate/database.types.ts";
import { queryAs, type Sql } from "../_tollgate/db.ts";
import { HttpError } from "../_tollgate/errors.ts";

/** tollgate.consume_credits as generated from the schema: a renamed, retyped or new parameter fails deno check. */
type ConsumeCredits = Database["tollgate"]["Functions"]["consume_credits"];
type RecordRefusal = Database["tollgate"]["Functions"]["record_consume_refusal"];
/** Every parameter, each passed (null: SQL null, the function's default rules apply). */
type AllArgs<A> = { [K in keyof A]-?: A[K] | null };

/**
 * Calls tollgate.consume_credits in one transaction as the caller; the database owns every rule. A refusal for
 * quota or cap (429) rolls that transaction back, so its billing events are written after it by
 * tollgate.record_consume_refusal (from the state in the database, once per window), and the 429 is answered.
 */
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
    try {
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
    } catch (error) {
      if (error instanceof HttpError && error.status === 429) {
        await recordRefusal(sql, { p_feature: args.p_feature, p_amount: args.p_amount, ...acting });
      }
      throw error;
    }
  };
}

/** Writes a refusal's billing events; a failure here is logged and never changes the answer (the 429). */
async function recordRefusal(
  sql: Sql,
  refused: { p_feature: string | null; p_amount: number | null; userId?: string; accountId?: string },
): Promise<void> {
  const args: AllArgs<RecordRefusal["Args"]> = {
    p_feature: refused.p_feature,
    p_amount: refused.p_amount,
    p_user_id: refused.userId ?? null,
    p_account_id: refused.accountId ?? null,
  };
  try {
    await queryAs(sql, { kind: "service" }, (tx) =>
      tx`select tollgate.record_consume_refusal(
           p_feature => ${args.p_feature}, p_amount => ${args.p_amount}, p_user_id => ${args.p_user_id},
           p_account_id => ${args.p_account_id})`);
  } catch (error) {
    console.error("Could not record the refusal's billing events", error);
  }
}
