/**
 * HTTP level: autocannon against each function's own port (as deployed) and through the gateway (to show its
 * cost), at each connection count. Every request carries a fresh idempotency key, request id or event.
 */
import autocannon from "autocannon";
import { ensureSigningKey, freePort, serveFunctions, signUserToken } from "../scripts/lib/stack.ts";
import { LOCAL_SERVICE_ROLE_KEY } from "../scripts/lib/keys.ts";
import { type CpuPerRequest, cpuPerRequest } from "./cpu.ts";
import { benchUserId } from "./fixtures.ts";
import { openLoop, type OpenLoopResult } from "./open_loop.ts";
import { summarize } from "./stats.ts";
import { signedEvents } from "./stripe_events.ts";

export interface HttpResult {
  function: string;
  path: "direct" | "gateway";
  /** `user token`: one of 2,000 users' tokens, reused as a signed-in user reuses theirs; `new user token`: each once. */
  credential: "service key" | "user token" | "new user token" | "stripe signature";
  /** How the functions reach PostgreSQL: straight, or through pgbouncer in transaction mode. */
  db: "direct" | "pooled";
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  statuses: Record<string, number>;
  /** CPU per request by party during the run (bench/cpu.ts). */
  cpu?: CpuPerRequest;
}

export interface OpenLoopRun extends OpenLoopResult {
  function: string;
  path: "gateway";
  credential: "user token";
  db: "direct" | "pooled";
  /** The closed-loop rate the offered one is half of. */
  measured_max_per_s: number;
}

/** Builds each request's headers and body; null ends the run early (a pool of signed events ran out). */
export type NextRequest = () => { headers: Record<string, string>; body: string } | null;

/** One autocannon run; latencies come from every response, at full resolution. */
export async function load(opts: {
  url: string;
  connections: number;
  seconds: number;
  next: NextRequest;
  /** Send exactly this many requests instead of running for `seconds` (a pool of signed events). */
  amount?: number;
}): Promise<Omit<HttpResult, "function" | "path" | "credential" | "db">> {
  const times: number[] = [];
  const statuses: Record<string, number> = {};
  let exhausted = false;
  const instance = autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.amount ? { amount: opts.amount } : {}),
    timeout: 10,
    requests: [{
      method: "POST",
      setupRequest: (req: Record<string, unknown>) => {
        const next = opts.next();
        if (!next) {
          if (!exhausted) queueMicrotask(() => instance.stop());
          exhausted = true;
          return { ...req, body: "{}" };
        }
        return { ...req, headers: { "content-type": "application/json", ...next.headers }, body: next.body };
      },
    }],
  });
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    times.push(ms);
    statuses[status] = (statuses[status] ?? 0) + 1;
  });
  // A counted run that goes much slower than its estimate is still cut off.
  const watchdog = opts.amount ? setTimeout(() => instance.stop(), opts.seconds * 3_000) : undefined;
  const started = performance.now();
  const result = await instance;
  clearTimeout(watchdog);
  const seconds = (performance.now() - started) / 1000;
  const ok = Object.entries(statuses).filter(([s]) => s.startsWith("2")).reduce((n, [, c]) => n + c, 0);
  const errors = result.errors + result.timeouts + (times.length - ok);
  return {
    connections: opts.connections,
    seconds: Number(seconds.toFixed(2)),
    requests: times.length,
    rps: ok / seconds,
    ...summarize(times),
    errors,
    statuses,
  };
}

/** Every function served once for the bench, on one database path, with helpers to load it. */
export interface BenchStack {
  db: HttpResult["db"];
  ports: Record<string, number>;
  env: Record<string, string>;
  url: (name: string, path: HttpResult["path"]) => string;
  /** A run of autocannon, logged and returned as a result row. */
  measure: (
    name: string,
    path: HttpResult["path"],
    credential: HttpResult["credential"],
    connections: number,
    next: NextRequest,
    seconds?: number,
    amount?: number,
  ) => Promise<HttpResult>;
  /**
   * One unmeasured second at 16 connections: connections opened and statements prepared, as in steady state; with
   * `amount`, exactly that many requests instead.
   */
  warm: (name: string, next: NextRequest, amount?: number) => Promise<void>;
  /** A fresh idempotency key or request id. */
  key: () => string;
  randomUser: () => number;
  stop: () => Promise<void>;
}

/** Serves every function with SUPABASE_DB_URL `dbUrl` (a pooler: prepared statements off, as deployed there). */
export async function serveForBench(opts: {
  dbUrl: string;
  /** The cluster itself (for its processes' CPU), when `dbUrl` is a pooler in front of it. */
  pgUrl: string;
  db: HttpResult["db"];
  keyDir: string;
  users: number;
  seconds: number;
  log: (line: string) => void;
}): Promise<BenchStack> {
  const fns = await serveFunctions({
    dbUrl: opts.dbUrl,
    gatewayPort: freePort(),
    keyDir: opts.keyDir,
    extraEnv: { TOLLGATE_DB_PREPARE: String(opts.db === "direct") },
  });
  const run = Math.random().toString(36).slice(2, 8);
  let seq = 0;
  const url = (name: string, path: HttpResult["path"]) =>
    path === "direct"
      ? `http://127.0.0.1:${fns.ports[name]}/functions/v1/${name}`
      : `${fns.url}/functions/v1/${name}`;
  return {
    db: opts.db,
    ports: fns.ports,
    env: fns.env,
    url,
    async measure(name, path, credential, connections, next, seconds = opts.seconds, amount) {
      const measured = await cpuPerRequest(
        { pgUrl: opts.pgUrl, functionPid: fns.pids[name], pooler: opts.db === "pooled" },
        () => load({ url: url(name, path), connections, seconds, next, amount }),
      );
      const r: HttpResult = { function: name, path, credential, db: opts.db, ...measured };
      opts.log(
        `  http ${name} ${path} (${credential}, db ${opts.db}) c=${connections}: ${
          r.rps.toFixed(0)
        } req/s, ` +
          `p50 ${r.p50_ms.toFixed(2)} ms, p99 ${r.p99_ms.toFixed(2)} ms, max ${r.max_ms.toFixed(1)} ms, ` +
          `errors ${r.errors}; CPU ms/request: function ${r.cpu?.function_ms.toFixed(2)}, ` +
          `bench (load + gateway) ${r.cpu?.bench_ms.toFixed(2)}, postgres ${r.cpu?.postgres_ms.toFixed(2)}`,
      );
      return r;
    },
    async warm(name, next, amount) {
      const url = `http://127.0.0.1:${fns.ports[name]}/`;
      await load({ url, connections: 16, seconds: amount ? 60 : 1, next, amount });
    },
    key: () => `${run}-${seq++}`,
    randomUser: () => 1 + Math.floor(Math.random() * opts.users),
    stop: fns.stop,
  };
}

const service = { authorization: `Bearer ${LOCAL_SERVICE_ROLE_KEY}` };

/** consume-credit with the service key naming a random bench user. */
export function consumeAsService(stack: BenchStack): NextRequest {
  return () => ({
    headers: service,
    body: JSON.stringify({
      idempotency_key: stack.key(),
      amount: 1,
      user_id: benchUserId(stack.randomUser()),
    }),
  });
}

/** log-ai-usage with the service key naming a random bench user, priced by `model`. */
export function usageBody(stack: BenchStack, model: string, extra: Record<string, unknown> = {}) {
  return {
    request_id: stack.key(),
    model,
    provider: "bench",
    input_tokens: 1200,
    output_tokens: 350,
    latency_ms: 850,
    user_id: benchUserId(stack.randomUser()),
    ...extra,
  };
}

/**
 * consume-credit as the common caller: a signed-in user's own token (ES256, as new projects sign, verified by the
 * function against SUPABASE_JWKS, no network), one of 2,000 pre-signed at random per request, each reused as a
 * user's client reuses its access token. `signIn` sends each token once: the state of 2,000 users who have each
 * called before, whose tokens the function has verified and remembers (`new user token` measures the first call).
 */
export async function consumeAsUsers(
  stack: BenchStack,
  keyDir: string,
  users: number,
): Promise<{ next: NextRequest; signIn: { next: NextRequest; amount: number } }> {
  const tokens = await userTokens(keyDir, Math.min(users, 2_000), 0);
  const request = (token: string) => ({
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ idempotency_key: stack.key(), amount: 1 }),
  });
  let i = 0;
  return {
    next: () => request(tokens[Math.floor(Math.random() * tokens.length)]),
    signIn: { next: () => i < tokens.length ? request(tokens[i++]) : null, amount: tokens.length },
  };
}

/**
 * The same with every token used once (`count` of them, signed beforehand for users in turn, after the ones
 * `consumeAsUsers` signs): each request pays the signature check, as the first request of every session does.
 */
export async function consumeAsNewUsers(
  stack: BenchStack,
  keyDir: string,
  users: number,
  count: number,
): Promise<{ next: NextRequest; amount: number }> {
  const tokens = await userTokens(keyDir, count, 2_000, users);
  let i = 0;
  return {
    next: () => {
      const token = tokens[i++];
      return token === undefined ? null : {
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({ idempotency_key: stack.key(), amount: 1 }),
      };
    },
    amount: count,
  };
}

/** `count` user tokens (each its own session, so all distinct) for bench users from `first` on, wrapping at `users`. */
async function userTokens(keyDir: string, count: number, first: number, users = count): Promise<string[]> {
  const { privateJwk } = await ensureSigningKey(keyDir);
  return await Promise.all(
    Array.from(
      { length: count },
      (_, i) => signUserToken(benchUserId(((first + i) % users) + 1), undefined, 3600, privateJwk),
    ),
  );
}

/** consume-credit, log-ai-usage and stripe-webhook at each connection count, direct and through the gateway. */
export async function runMatrix(stack: BenchStack, opts: {
  users: number;
  seconds: number;
  connections: number[];
  model: string;
  skip: (note: string) => void;
}): Promise<HttpResult[]> {
  const results: HttpResult[] = [];
  let webhookRate = 1;
  const bodies: Record<string, NextRequest> = {
    "consume-credit": consumeAsService(stack),
    "log-ai-usage": () => ({ headers: service, body: JSON.stringify(usageBody(stack, opts.model)) }),
  };
  for (const name of ["consume-credit", "log-ai-usage", "stripe-webhook"]) {
    if (stack.ports[name] === undefined) {
      opts.skip(`${name} function not installed (supabase/functions/${name}/index.ts)`);
      continue;
    }
    for (const path of ["direct", "gateway"] as const) {
      let warm = false;
      for (const connections of opts.connections) {
        if (name === "stripe-webhook") {
          // Events are signed before each run (Stripe's helper is async), so each run sends a counted pool
          // sized from the rate seen so far (first a 1,000-event warm-up at 4 connections).
          // Each connection builds one request ahead, so the pool holds one spare event per connection.
          const signed = async (count: number, spare: number, tag: string) => {
            const pool = await signedEvents({
              count: count + spare,
              users: opts.users,
              secret: stack.env.STRIPE_WEBHOOK_SECRET,
              prefix: `${stack.key()}_${path}_${tag}`,
            });
            let i = 0;
            const next: NextRequest = () => {
              const e = pool[i++];
              return e ? { headers: { "stripe-signature": e.signature }, body: e.body } : null;
            };
            return { next, amount: count };
          };
          if (!warm) {
            const w = await signed(1_000, 4, "warm");
            webhookRate =
              (await load({ url: stack.url(name, path), connections: 4, seconds: opts.seconds, ...w }))
                .rps;
          }
          warm = true;
          const count = Math.min(
            40_000,
            Math.max(connections * 20, Math.ceil(webhookRate * opts.seconds * 1.2)),
          );
          const { next, amount } = await signed(count, connections, String(connections));
          const r = await stack.measure(
            name,
            path,
            "stripe signature",
            connections,
            next,
            opts.seconds,
            amount,
          );
          results.push(r);
          webhookRate = Math.max(r.rps, 1);
          continue;
        }
        if (!warm) await stack.warm(name, bodies[name]);
        warm = true;
        results.push(await stack.measure(name, path, "service key", connections, bodies[name]));
      }
    }
  }
  return results;
}

/**
 * Offers half of `measuredMax` (consume-credit through the gateway with user tokens) open-loop for `seconds`:
 * each request sent at its scheduled time on its own fetch, latency from that time to the answer.
 */
export async function runOpenLoop(stack: BenchStack, opts: {
  next: NextRequest;
  measuredMax: number;
  seconds: number;
  log: (line: string) => void;
}): Promise<OpenLoopRun> {
  const url = stack.url("consume-credit", "gateway");
  const rate = Math.max(1, Math.round(opts.measuredMax / 2));
  const result = await openLoop({
    rate,
    seconds: opts.seconds,
    send: async () => {
      const req = opts.next()!;
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...req.headers },
        body: req.body,
      });
      await res.body?.cancel();
      return res.ok;
    },
  });
  opts.log(
    `  open loop consume-credit gateway (user token, db ${stack.db}) at ${rate}/s: achieved ` +
      `${result.achieved_per_s.toFixed(0)}/s, p50 ${result.p50_ms.toFixed(2)} ms, p99 ${
        result.p99_ms.toFixed(2)
      } ms, max ${result.max_ms.toFixed(1)} ms, errors ${result.errors}, in flight ≤ ${result.max_in_flight}`,
  );
  return {
    function: "consume-credit",
    path: "gateway",
    credential: "user token",
    db: stack.db,
    measured_max_per_s: Number(opts.measuredMax.toFixed(1)),
    ...result,
  };
}
