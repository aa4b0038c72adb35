/**
 * Cold start: each function started as deployed (its own `deno run` of index.ts, as `serveFunctions` does),
 * timed from process start to its first answered request, which includes opening its database connection.
 */
import { freePort, functionEnv, functionNames, spawnFunction } from "../scripts/lib/stack.ts";
import { LOCAL_SERVICE_ROLE_KEY } from "../scripts/lib/keys.ts";
import { benchUserId } from "./fixtures.ts";
import { signedEvents } from "./stripe_events.ts";

export interface ColdStartResult {
  function: string;
  trials: number;
  median_ms: number;
  max_ms: number;
  status: number;
}

const TRIALS = 3;

/** The first request each function gets: a real call, so the database connection is part of the figure. */
async function firstRequest(name: string, secret: string): Promise<RequestInit> {
  const service = { authorization: `Bearer ${LOCAL_SERVICE_ROLE_KEY}`, "content-type": "application/json" };
  const key = crypto.randomUUID();
  switch (name) {
    case "consume-credit":
      return {
        method: "POST",
        headers: service,
        body: JSON.stringify({ idempotency_key: key, user_id: benchUserId(1) }),
      };
    case "log-ai-usage":
      return {
        method: "POST",
        headers: service,
        body: JSON.stringify({
          request_id: key,
          model: "bench-model",
          input_tokens: 1,
          output_tokens: 1,
          user_id: benchUserId(1),
        }),
      };
    case "stripe-webhook": {
      const [e] = await signedEvents({ count: 1, users: 1, secret, prefix: `cold_${key}` });
      return { method: "POST", headers: { "stripe-signature": e.signature }, body: e.body };
    }
    default:
      return { method: "POST", headers: service, body: "{}" };
  }
}

async function once(name: string, env: Record<string, string>): Promise<{ ms: number; status: number }> {
  const port = freePort();
  const init = await firstRequest(name, env.STRIPE_WEBHOOK_SECRET);
  const started = performance.now();
  const child = spawnFunction(name, env, port);
  try {
    const deadline = started + 30_000;
    while (performance.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/functions/v1/${name}`, init);
        await res.body?.cancel();
        return { ms: performance.now() - started, status: res.status };
      } catch {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    throw new Error(`${name} did not answer within 30 s of starting`);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

/** Starts each function TRIALS times and reports the median and worst time to its first answer. */
export async function runColdStarts(opts: {
  dbUrl: string;
  skip: (note: string) => void;
  log: (line: string) => void;
}): Promise<ColdStartResult[]> {
  // Only the service key calls here, so neither the JWKS nor the Auth server behind SUPABASE_URL is needed.
  const env = functionEnv({ dbUrl: opts.dbUrl, supabaseUrl: "http://127.0.0.1:9", jwks: { keys: [] } });
  const results: ColdStartResult[] = [];
  for (const name of functionNames()) {
    const trials = [];
    for (let i = 0; i < TRIALS; i++) trials.push(await once(name, env));
    const sorted = trials.map((t) => t.ms).sort((a, b) => a - b);
    const r = {
      function: name,
      trials: TRIALS,
      median_ms: Number(sorted[Math.floor(TRIALS / 2)].toFixed(1)),
      max_ms: Number(sorted[TRIALS - 1].toFixed(1)),
      status: trials[trials.length - 1].status,
    };
    results.push(r);
    opts.log(`  cold ${name}: median ${r.median_ms} ms, max ${r.max_ms} ms (answered ${r.status})`);
  }
  for (const name of ["log-ai-usage", "stripe-webhook"]) {
    if (!functionNames().includes(name)) opts.skip(`cold start of ${name}: function not installed`);
  }
  return results;
}
