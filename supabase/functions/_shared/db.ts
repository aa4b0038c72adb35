import postgres from "postgres";
import type { Caller } from "./auth.ts";
import { fromDatabaseError } from "./errors.ts";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

/**
 * One pool per function instance. Supavisor's transaction mode (port 6543) cannot keep prepared statements,
 * so they are used only on direct connections.
 */
export function createPool(url: string, opts: { max?: number } = {}): Sql {
  const port = new URL(url).port;
  return postgres(url, {
    max: opts.max ?? 10,
    prepare: port !== "6543",
    idle_timeout: 30,
    connect_timeout: 5,
    onnotice: () => {},
    connection: { application_name: "tollgate-functions" },
  });
}

/** The claims PostgREST would set for this caller, so auth.uid() and auth.role() answer the same way. */
export function claimsFor(caller: Caller, userId?: string): Record<string, unknown> {
  return caller.kind === "service"
    ? { role: "service_role", sub: userId }
    : { ...caller.claims, role: "authenticated" };
}

/** The statement that makes a transaction act as the caller: their role and JWT claims, local to it. */
function actAs(tx: Tx | Sql, caller: Caller, userId?: string) {
  const role = caller.kind === "service" ? "service_role" : "authenticated";
  return tx`select set_config('role', ${role}, true), set_config('request.jwt.claims', ${
    JSON.stringify(claimsFor(caller, userId))
  }, true)`;
}

/**
 * Runs `work` in one transaction as the caller's database role (authenticated or service_role) with their JWT
 * claims, exactly as PostgREST would: grants and RLS apply. Any failure rolls everything back and is mapped to
 * an HttpError. The role and claims travel in the same round trip as work's first statement (pipelined on the
 * transaction's connection, so they still apply first; if they fail, the statement fails with them).
 */
export async function asCaller<T>(
  sql: Sql,
  caller: Caller,
  work: (tx: Tx) => Promise<T>,
  userId?: string,
): Promise<T> {
  try {
    return await sql.begin(async (tx) => {
      const [, result] = await Promise.all([actAs(tx, caller, userId).execute(), work(tx)]);
      return result;
    }) as T;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/**
 * Runs one statement in one transaction as the caller, like `asCaller`, in two round trips instead of four:
 * BEGIN with the role and claims, then the statement with COMMIT. The statement is sent only once BEGIN and the
 * role are confirmed; if it fails, the server turns the pipelined COMMIT into a rollback, so nothing is applied.
 */
export async function queryAs<T extends readonly postgres.MaybeRow[]>(
  sql: Sql,
  caller: Caller,
  statement: (tx: Sql) => postgres.PendingQuery<T>,
  userId?: string,
): Promise<T> {
  let tx: postgres.ReservedSql | null = null;
  try {
    tx = await sql.reserve();
    const opened = await Promise.allSettled([tx`begin`.execute(), actAs(tx, caller, userId).execute()]);
    const openError = opened.find((r) => r.status === "rejected");
    if (openError) {
      await tx`rollback`.catch(() => {});
      throw openError.reason;
    }
    const [result, commit] = await Promise.allSettled([statement(tx).execute(), tx`commit`.execute()]);
    if (result.status === "rejected") throw result.reason;
    if (commit.status === "rejected") throw commit.reason;
    return result.value;
  } catch (error) {
    throw fromDatabaseError(error);
  } finally {
    tx?.release();
  }
}
