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

/**
 * BEGIN and the statement that makes the transaction act as the caller (their role and JWT claims, local to it), as
 * one simple query: its values are quoted literals rather than parameters, so no Describe round trip is needed to
 * learn their types, with or without prepared statements.
 */
function beginAs(caller: Caller, userId?: string): string {
  const role = caller.kind === "service" ? "service_role" : "authenticated";
  return `begin; select set_config('role', ${literal(role)}, true), ` +
    `set_config('request.jwt.claims', ${literal(JSON.stringify(claimsFor(caller, userId)))}, true)`;
}

/**
 * A string literal PostgreSQL reads back exactly: an escape string (E'...', read the same whatever
 * standard_conforming_strings says) with backslashes and quotes doubled. A NUL cannot be sent at all.
 */
export function literal(text: string): string {
  if (text.includes("\0")) throw new Error("A SQL string cannot contain NUL");
  return `E'${text.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/**
 * Runs one statement in one transaction as the caller's database role (authenticated or service_role) with their
 * JWT claims, exactly as PostgREST would: grants and RLS apply. Any failure is mapped to an HttpError.
 *
 * Round trips (docs/benchmarks.md shows the messages): BEGIN with the role and claims is one simple query, no
 * Describe. With prepared statements the statement follows once that is confirmed, COMMIT pipelined behind it:
 * 2 round trips. Without them (behind a transaction pooler) postgres.js sends a statement with parameters as Parse
 * and Describe, then Bind and Execute once the server has described it, and COMMIT after its answer; the statement
 * goes out with BEGIN, so that is 3 round trips, not 4. It runs only after the server has run BEGIN and set the
 * role and claims (a statement without parameters runs right behind them), and if setting them failed the
 * transaction is aborted and the statement fails too. Only a BEGIN that itself failed (cancelled by an operator)
 * would let it run outside a transaction as the pool's login role with no claims, which `_acting_user` refuses
 * (the service-only calls were authorized by the function already). COMMIT is sent only once BEGIN, the role and
 * claims are confirmed; if the statement failed, the server turns it into a rollback, so nothing is applied.
 *
 * A pooled connection the server closed while idle (a restart, a failover) fails at BEGIN, before the statement
 * ran: that attempt is repeated on another connection, since nothing of it ran (at most once per pooled
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

/** The connection was lost before the statement ran: nothing of it was applied. */
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
    const begin = quiet(tx.unsafe(beginAs(caller, userId)).execute());
    let result = sql.options.prepare ? null : quiet(statement(tx).execute());
    try {
      await begin;
    } catch (error) {
      if (connectionLost(error)) {
        throw new NotStarted("Connection lost before the statement", { cause: error });
      }
      await result?.catch(() => {});
      await tx`rollback`.execute().catch(() => {});
      throw error;
    }
    result ??= quiet(statement(tx).execute());
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
