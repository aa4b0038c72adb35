import { queryAs, type Sql } from "../_tollgate/db.ts";
import type { ResetResponse } from "../_tollgate/contract.ts";
import type { Database } from "../_tollgate/database.types.ts";

/**
 * tollgate.reset_monthly_quotas as generated from the schema (dropping or renaming it fails deno check). Its OUT
 * parameters come out as Record<string, unknown>, so the totals are converted one by one below.
 */
type ResetMonthlyQuotas = Database["tollgate"]["Functions"]["reset_monthly_quotas"];

/** Calls tollgate.reset_monthly_quotas as the service role at the database's now(); bigint totals become numbers. */
export function resetWith(sql: Sql) {
  return async (): Promise<ResetResponse> => {
    const [row] = await queryAs<ResetMonthlyQuotas["Returns"][]>(
      sql,
      { kind: "service" },
      (tx) =>
        tx`select accounts_rolled, credits_granted, credits_expired from tollgate.reset_monthly_quotas()`,
    );
    return {
      accounts_rolled: Number(row.accounts_rolled),
      credits_granted: Number(row.credits_granted),
      credits_expired: Number(row.credits_expired),
    };
  };
}
