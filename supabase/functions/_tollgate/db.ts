import postgres from "postgres";
import type { Caller } from "./auth.ts";
import { fromDatabaseError } from "./errors.ts";

export type Sql = postgres.Sql;

/**
 * One pool per function instance. `prepare` comes from TOLLGATE_DB_PREPARE (env.ts): a transaction pooler
 * (Supavisor on 6543, pgbouncer in transaction mode) hands each transaction another server connection, where a
 * named prepared statement does not exist.
 */
export function createPool(url: string, opts: { max?: number; prepare?: boolean } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    prepare: opts.prepare ?? true,
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
function actAs(tx: Sql, caller: Caller, userId?: string) {
  const role = caller.kind === "service" ? "service_role" : "authenticated";
  return tx`select set_config('role', ${role}, true), set_config('request.jwt.claims', ${
    JSON.stringify(claimsFor(caller, userId))
  }, true)`;
}

/**
 * Runs one statement in one transaction as the caller's database role (authenticated or service_role) with their
 * JWT claims, exactly as PostgREST would: grants and RLS apply. Two round trips instead of four: BEGIN with the
 * role and claims, then the statement with COMMIT; if the statement fails, the server turns the pipelined COMMIT
 * into a rollback, so nothing is applied. Any failure is mapped to an HttpError.
 *
 * A pooled connection the server closed while idle (a restart, a failover) fails at BEGIN, before the statement
 * was sent: that attempt is repeated on another connection, since nothing of it ran (at most once per pooled
 * connection, so a pool full of dead connections is drained and the request still succeeds).
 */
export async function queryAs<T extends readonly postgres.MaybeRow[]>(
  sql: Sql,
  caller: Caller,
  statement: (tx: Sql) => postgres.PendingQuery<T>,
  userId?: string,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await transaction(sql, caller, statement, userId);
    } catch (error) {
      if (error instanceof NotStarted && attempt <= sql.options.max) continue;
      throw fromDatabaseError(error instanceof NotStarted ? error.cause : error);
    }
  }
}

/** The connection was lost before the statement was sent: nothing ran. */
class NotStarted extends Error {}

async function transaction<T extends readonly postgres.MaybeRow[]>(
  sql: Sql,
  caller: Caller,
  statement: (tx: Sql) => postgres.PendingQuery<T>,
  userId?: string,
): Promise<T> {
  const tx = await sql.reserve();
  let lost = false;
  try {
    const begin = quiet(tx`begin`.execute());
    const actingAs = quiet(actAs(tx, caller, userId).execute());
    try {
      await begin;
      await actingAs;
    } catch (error) {
      if (connectionLost(error)) {
        throw new NotStarted("Connection lost before the statement", { cause: error });
      }
      await tx`rollback`.execute().catch(() => {});
      throw error;
    }
    const result = quiet(statement(tx).execute());
    const commit = quiet(tx`commit`.execute());
    let rows: T;
    try {
      rows = await result;
    } catch (error) {
      if (!connectionLost(error)) await commit.catch(() => {});
      throw error;
    }
    await commit;
    return rows;
  } catch (error) {
    lost = connectionLost(error instanceof NotStarted ? error.cause : error);
    throw error;
  } finally {
    // Once a connection is lost, postgres.js may never settle the queries still queued on it (so nothing else on
    // it is awaited above), and it is already back in the pool's closed queue: releasing it would mark it open, and
    // the next query would be written to its dead socket (an uncaught TypeError that kills the process).
    if (!lost) tx.release();
  }
}

/** Marks a promise as handled (it is awaited later, or abandoned with its connection) and returns it. */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Whether an error means the connection is gone (the same errors that answer 503). */
function connectionLost(error: unknown): boolean {
  return fromDatabaseError(error).status === 503;
}
