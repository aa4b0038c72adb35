import { queryAs, type Sql } from "../_tollgate/db.ts";
import type { ResetResponse } from "../_tollgate/contract.ts";
import type { Database } from "../_tollgate/database.types.ts";

/**
 * tollgate.reset_monthly_quotas_batch as generated from the schema (dropping or renaming it fails deno check). Its
 * OUT parameters come out as Record<string, unknown>, so the counts are converted one by one below.
 */
type ResetBatch = Database["tollgate"]["Functions"]["reset_monthly_quotas_batch"];

/**
 * Runs the reset as the service role, one batch per transaction (each at the database's now()) until a batch finds
 * nothing due, so a consume never waits for more than one batch; answers the totals of all batches as numbers. A
 * run that stops midway (a timeout, a lost connection) leaves its committed batches done; the next run takes the
 * rest.
 */
export function resetWith(sql: Sql) {
  return async (): Promise<ResetResponse> => {
    const totals: ResetResponse = { accounts_rolled: 0, credits_granted: 0, credits_expired: 0 };
    for (;;) {
      const [batch] = await queryAs<ResetBatch["Returns"][]>(
        sql,
        { kind: "service" },
        (tx) =>
          tx`select accounts_settled, accounts_rolled, credits_granted, credits_expired
               from tollgate.reset_monthly_quotas_batch()`,
      );
      totals.accounts_rolled += Number(batch.accounts_rolled);
      totals.credits_granted += Number(batch.credits_granted);
      totals.credits_expired += Number(batch.credits_expired);
      if (Number(batch.accounts_settled) === 0) return totals;
    }
  };
}
