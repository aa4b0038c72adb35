/**
 * HTTP level: autocannon against each function's own port (as deployed) and through the gateway (to show its
 * cost), at each connection count. Every request carries a fresh idempotency key, request id or event.
 */
import autocannon from "autocannon";
import { ensureSigningKey, freePort, serveFunctions, signUserToken } from "../scripts/lib/stack.ts";
import { LOCAL_SERVICE_ROLE_KEY } from "../scripts/lib/keys.ts";
import { benchUserId } from "./fixtures.ts";
import { summarize } from "./stats.ts";
import { signedEvents } from "./stripe_events.ts";

export interface HttpResult {
  function: string;
  path: "direct" | "gateway";
  credential: "service key" | "user token" | "stripe signature";
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  statuses: Record<string, number>;
}

/** Builds each request's headers and body; null ends the run early (a pool of signed events ran out). */
type NextRequest = () => { headers: Record<string, string>; body: string } | null;

/** One autocannon run; latencies come from every response, at full resolution. */
export async function load(opts: {
  url: string;
  connections: number;
  seconds: number;
  next: NextRequest;
  /** Send exactly this many requests instead of running for `seconds` (a pool of signed events). */
  amount?: number;
}): Promise<Omit<HttpResult, "function" | "path" | "credential">> {
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

/** Serves every function, loads consume-credit, log-ai-usage and stripe-webhook, stops them again. */
export async function runHttpLevel(opts: {
  dbUrl: string;
  keyDir: string;
  users: number;
  seconds: number;
  connections: number[];
  model: string;
  skip: (note: string) => void;
  log: (line: string) => void;
  cleanups: (() => Promise<void>)[];
}): Promise<HttpResult[]> {
  const fns = await serveFunctions({ dbUrl: opts.dbUrl, gatewayPort: freePort(), keyDir: opts.keyDir });
  opts.cleanups.push(fns.stop);
  const results: HttpResult[] = [];
  const run = Math.random().toString(36).slice(2, 8);
  let seq = 0;
  let webhookRate = 1;
  const randomUser = () => 1 + Math.floor(Math.random() * opts.users);
  const service = { authorization: `Bearer ${LOCAL_SERVICE_ROLE_KEY}` };

  const bodies: Record<string, { credential: HttpResult["credential"]; next: (n: number) => NextRequest }> = {
    "consume-credit": {
      credential: "service key",
      next: () => () => ({
        headers: service,
        body: JSON.stringify({
          idempotency_key: `${run}-${seq++}`,
          amount: 1,
          user_id: benchUserId(randomUser()),
        }),
      }),
    },
    "log-ai-usage": {
      credential: "service key",
      next: () => () => ({
        headers: service,
        body: JSON.stringify({
          request_id: `${run}-${seq++}`,
          model: opts.model,
          provider: "bench",
          input_tokens: 1200,
          output_tokens: 350,
          latency_ms: 850,
          user_id: benchUserId(randomUser()),
        }),
      }),
    },
  };

  const measure = async (
    name: string,
    path: HttpResult["path"],
    credential: HttpResult["credential"],
    connections: number,
    next: NextRequest,
    seconds = opts.seconds,
    amount?: number,
  ) => {
    const port = fns.ports[name];
    const url = path === "direct"
      ? `http://127.0.0.1:${port}/functions/v1/${name}`
      : `${fns.url}/functions/v1/${name}`;
    const r = {
      function: name,
      path,
      credential,
      ...(await load({ url, connections, seconds, next, amount })),
    };
    results.push(r);
    opts.log(
      `  http ${name} ${path} c=${connections}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50_ms.toFixed(2)} ms, ` +
        `p99 ${r.p99_ms.toFixed(2)} ms, max ${r.max_ms.toFixed(1)} ms, errors ${r.errors}`,
    );
    return r;
  };

  try {
    for (const name of ["consume-credit", "log-ai-usage", "stripe-webhook"]) {
      if (fns.ports[name] === undefined) {
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
                secret: fns.env.STRIPE_WEBHOOK_SECRET,
                prefix: `${run}_${path}_${tag}`,
              });
              let i = 0;
              const next: NextRequest = () => {
                const e = pool[i++];
                return e ? { headers: { "stripe-signature": e.signature }, body: e.body } : null;
              };
              return { next, amount: count };
            };
            const url = path === "direct"
              ? `http://127.0.0.1:${fns.ports[name]}/functions/v1/${name}`
              : `${fns.url}/functions/v1/${name}`;
            if (!warm) {
              const w = await signed(1_000, 4, "warm");
              webhookRate = (await load({ url, connections: 4, seconds: opts.seconds, ...w })).rps;
            }
            warm = true;
            const count = Math.min(
              40_000,
              Math.max(connections * 20, Math.ceil(webhookRate * opts.seconds * 1.2)),
            );
            const { next, amount } = await signed(count, connections, String(connections));
            const r = await measure(name, path, "stripe signature", connections, next, opts.seconds, amount);
            webhookRate = Math.max(r.rps, 1);
            continue;
          }
          const { credential, next } = bodies[name];
          // One unmeasured second first: connections opened and statements prepared, as in steady state.
          if (!warm) {
            await load({
              url: `http://127.0.0.1:${fns.ports[name]}/`,
              connections: 16,
              seconds: 1,
              next: next(0),
            });
          }
          warm = true;
          await measure(name, path, credential, connections, next(0));
        }
      }
    }
    if (fns.ports["consume-credit"] !== undefined) {
      // The common caller: a signed-in user's own token, signed ES256 as new projects sign, verified by the
      // function against SUPABASE_JWKS on every request (no network).
      const { privateJwk } = await ensureSigningKey(opts.keyDir);
      const tokens = await Promise.all(
        Array.from(
          { length: Math.min(opts.users, 2_000) },
          (_, i) => signUserToken(benchUserId(i + 1), undefined, 3600, privateJwk),
        ),
      );
      const next: NextRequest = () => ({
        headers: { authorization: `Bearer ${tokens[Math.floor(Math.random() * tokens.length)]}` },
        body: JSON.stringify({ idempotency_key: `${run}-${seq++}`, amount: 1 }),
      });
      await measure("consume-credit", "direct", "user token", 16, next);
      await measure("consume-credit", "gateway", "user token", 16, next);
    }
  } finally {
    await fns.stop();
  }
  return results;
}
