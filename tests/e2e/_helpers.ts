/** Shared helpers of the end-to-end tests: they talk to the gateway and the database `npm test` started. */
import * as jose from "jose";
import postgres from "postgres";
import { LOCAL_JWT_SECRET } from "../../scripts/lib/keys.ts";
import { spawnFunction, startPostgres, stopPostgres } from "../../scripts/lib/stack.ts";
import { dbPrepare } from "../../supabase/functions/_tollgate/env.ts";

function env(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: run the end-to-end tests through npm test`);
  return value;
}

export const BASE_URL = env("TOLLGATE_URL");
/** The superuser's URL (supabase_admin): the functions connect as postgres, through FUNCTIONS_DB_URL. */
export const DB_URL = env("TOLLGATE_DB_URL");
/** Exactly the environment the functions under test were started with (the hosted default secrets). */
export const FUNCTION_ENV: Record<string, string> = JSON.parse(env("TOLLGATE_FUNCTION_ENV"));
export const FUNCTIONS_DB_URL = FUNCTION_ENV.SUPABASE_DB_URL;
export const FUNCTIONS_DB_PREPARE = dbPrepare(FUNCTIONS_DB_URL, FUNCTION_ENV.TOLLGATE_DB_PREPARE || null);
export const ANON_KEY = FUNCTION_ENV.SUPABASE_ANON_KEY;
export const SERVICE_KEY = FUNCTION_ENV.SUPABASE_SERVICE_ROLE_KEY;
export const PUBLISHABLE_KEY: string = JSON.parse(FUNCTION_ENV.SUPABASE_PUBLISHABLE_KEYS).default;
export const SECRET_KEY: string = JSON.parse(FUNCTION_ENV.SUPABASE_SECRET_KEYS).default;

/** A superuser connection for arranging and checking state; tests close it with `sql.end()`. */
export function db() {
  return postgres(DB_URL, { max: 4, onnotice: () => {} });
}

/**
 * Starts one more instance of a function as deployed, with the suite's environment plus `overrides`, on `port`,
 * run by the same Deno as the functions under test. Stop it with `kill` and `await child.status`.
 */
export function spawnAsDeployed(
  name: string,
  overrides: Record<string, string>,
  port: number,
): Deno.ChildProcess {
  return spawnFunction(name, { ...FUNCTION_ENV, ...overrides }, port, {
    deno: Deno.env.get("TOLLGATE_FUNCTIONS_DENO") ?? Deno.execPath(),
  });
}

/**
 * Signs a legacy HS256 token with the local JWT secret (functions confirm it through the Auth endpoint); options
 * make expired, forged or odd tokens for attack tests.
 */
export function hsToken(
  claims: jose.JWTPayload,
  opts: { expiresIn?: number; secret?: string } = {},
): Promise<string> {
  return new jose.SignJWT({ role: "authenticated", aud: "authenticated", ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.expiresIn ?? 3600))
    .sign(new TextEncoder().encode(opts.secret ?? LOCAL_JWT_SECRET));
}

/**
 * Signs an ES256 user token as a project on signing keys does, with the key the stack publishes in its JWKS
 * (`key`: another one, for forgeries).
 */
export async function esToken(
  claims: jose.JWTPayload,
  opts: { expiresIn?: number; key?: CryptoKey } = {},
): Promise<string> {
  const jwk = JSON.parse(env("TOLLGATE_SIGNING_JWK")) as jose.JWK;
  return new jose.SignJWT({ role: "authenticated", aud: "authenticated", ...claims })
    .setProtectedHeader({ alg: "ES256", kid: jwk.kid, typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.expiresIn ?? 3600))
    .sign(opts.key ?? await jose.importJWK(jwk, "ES256"));
}

/** Credentials every function must answer 401: each case names itself and makes its token. */
export const BAD_TOKENS: [string, () => Promise<string | undefined>][] = [
  ["missing", () => Promise.resolve(undefined)],
  ["malformed", () => Promise.resolve("not-a-jwt")],
  [
    "forged",
    () => hsToken({ sub: crypto.randomUUID() }, { secret: "another-secret-that-is-at-least-32-chars!!" }),
  ],
  ["alg none", () => {
    const enc = (o: unknown) =>
      btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
    return Promise.resolve(
      `${enc({ alg: "none", typ: "JWT" })}.${
        enc({ sub: crypto.randomUUID(), role: "authenticated", exp: 4102444800 })
      }.`,
    );
  }],
  ["expired", () => hsToken({ sub: crypto.randomUUID() }, { expiresIn: -60 })],
];

/** Creates a user (the signup trigger opens their account) and returns their id and an ES256 token. */
export async function newUser(sql: postgres.Sql): Promise<{ id: string; token: string }> {
  const id = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${id}, ${`${id}@example.com`})`;
  return { id, token: await esToken({ sub: id }) };
}

/** Grants top-up credits through the SQL function, as the service role would. */
export async function topUp(sql: postgres.Sql, userId: string, amount: number): Promise<void> {
  await sql`select tollgate.grant_credits(${userId}::uuid, ${amount}, ${crypto.randomUUID()}, 'top_up')`;
}

/** POSTs JSON (or a raw string) to a function through the gateway. */
export async function call(
  fn: string,
  body: unknown,
  opts: { token?: string; method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = { "Content-Type": "application/json", ...opts.headers };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${BASE_URL}/functions/v1/${fn}`, {
    method: opts.method ?? "POST",
    headers,
    body: opts.method === "GET" || opts.method === "OPTIONS"
      ? undefined
      : typeof body === "string"
      ? body
      : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {}, headers: res.headers };
}

/**
 * Runs a test body that counts requests in a UTC day window, again once if a UTC midnight passed while it ran (the
 * window reset under it): the database's clock is this machine's, and a second run cannot straddle another
 * midnight. The body must arrange its own state (a new user), so it can run twice.
 */
export async function withinOneUtcDay(body: () => Promise<void>): Promise<void> {
  const today = () => new Date().toISOString().slice(0, 10);
  const started = today();
  try {
    await body();
    return;
  } catch (error) {
    if (today() === started) throw error;
  }
  await body();
}

/** The test cluster's data folder, so outage tests can stop and restart it; unset, they are skipped. */
export const PG_DATA = Deno.env.get("TOLLGATE_PG_DATA");

/** Polls `query` until it returns a row (10 s at most). */
export async function waitFor(query: () => Promise<readonly unknown[]>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await query()).length > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("Timed out waiting for the database to reach the expected state");
}

/**
 * Stops the database in the middle of a request: another session holds `userId`'s account lock, `send` starts a
 * request whose transaction waits on it inside `fn` (a function name in its statement), the cluster stops, and
 * the answer is returned. The cluster is restarted whatever happens, or every later test would fail.
 */
export async function answerWhileDatabaseStops<T>(
  sql: postgres.Sql,
  userId: string,
  fn: string,
  send: () => Promise<T>,
): Promise<T> {
  if (!PG_DATA) throw new Error("TOLLGATE_PG_DATA is not set: run the end-to-end tests through npm test");
  const lock = `select 1 from tollgate.accounts where id = '${userId}' for update`;
  const holder = new Deno.Command("psql", {
    args: [DB_URL, "-X", "-q", "-c", "begin", "-c", lock, "-c", "select pg_sleep(120)"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let stopped = false;
  try {
    await waitFor(() => sql`select 1 from pg_stat_activity where query = 'select pg_sleep(120)'`);
    const answer = send();
    await waitFor(() =>
      sql`select 1 from pg_stat_activity where application_name = 'tollgate-functions'
             and wait_event_type = 'Lock' and query like ${`%${fn}%`}`
    );
    // The test cluster commits asynchronously: flush what is committed, or the crash-like stop would lose it.
    await sql`checkpoint`;
    await stopPostgres(PG_DATA);
    stopped = true;
    return await answer;
  } finally {
    if (!stopped) holder.kill("SIGTERM");
    await holder.status;
    if (stopped) await startPostgres(PG_DATA, Number(new URL(DB_URL).port), { fast: true });
  }
}
