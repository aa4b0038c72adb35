import { asCaller, type Sql } from "../_shared/db.ts";
import type { ResetResponse } from "../_shared/contract.ts";

/** Calls public.reset_monthly_quotas as the service role at the database's now(); bigint totals become numbers. */
export function resetWith(sql: Sql) {
  return (): Promise<ResetResponse> =>
    asCaller(sql, { kind: "service" }, async (tx) => {
      const [row] = await tx`
        select accounts_rolled, credits_granted, credits_expired from public.reset_monthly_quotas()`;
      return {
        accounts_rolled: Number(row.accounts_rolled),
        credits_granted: Number(row.credits_granted),
        credits_expired: Number(row.credits_expired),
      };
    });
}
