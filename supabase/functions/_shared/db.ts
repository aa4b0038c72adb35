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

/**
 * Runs `work` in one transaction as the caller's database role (authenticated or service_role) with their JWT
 * claims, exactly as PostgREST would: grants and RLS apply. Any failure rolls everything back and is mapped to
 * an HttpError.
 */
export async function asCaller<T>(
  sql: Sql,
  caller: Caller,
  work: (tx: Tx) => Promise<T>,
  userId?: string,
): Promise<T> {
  const role = caller.kind === "service" ? "service_role" : "authenticated";
  try {
    return await sql.begin(async (tx) => {
      await tx`select set_config('role', ${role}, true), set_config('request.jwt.claims', ${
        JSON.stringify(claimsFor(caller, userId))
      }, true)`;
      return await work(tx);
    }) as T;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
