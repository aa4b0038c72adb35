import type { Acting, Caller } from "../_tollgate/auth.ts";
import type { BillingStatusResponse } from "../_tollgate/contract.ts";
import type { Database } from "../_tollgate/database.types.ts";
import { queryAs, type Sql } from "../_tollgate/db.ts";

/** tollgate.billing_status as generated from the schema: a renamed or dropped parameter fails deno check. */
type BillingStatus = Database["tollgate"]["Functions"]["billing_status"];
/** Every parameter, each passed (null: SQL null, the function's default rules apply). */
type AllArgs<A> = { [K in keyof A]-?: A[K] | null };

/** Calls tollgate.billing_status in one transaction as the caller; the database decides membership and reads. */
export function statusWith(sql: Sql) {
  return async (caller: Caller, acting: Acting): Promise<BillingStatusResponse> => {
    const args: AllArgs<BillingStatus["Args"]> = {
      p_account_id: acting.accountId ?? null,
      p_user_id: acting.userId ?? null,
    };
    const [row] = await queryAs<{ result: BillingStatus["Returns"] }[]>(
      sql,
      caller,
      (tx) =>
        tx`select tollgate.billing_status(p_account_id => ${args.p_account_id}, p_user_id => ${args.p_user_id})
             as result`,
      acting.userId,
    );
    return row.result as BillingStatusResponse;
  };
}
