/**
 * Profile of the consume path: the function's own SQL call (`consumeWith` over `createPool`, exactly the code
 * the deployed function runs) driven in-process, directly and behind pgbouncer (transaction mode, prepared
 * statements off, as the functions run behind a pooler). Through a counting proxy (bench/wire.ts): round trips,
 * statements and parses per request and one request's messages; then latency and throughput without the proxy.
 */
import { createPool } from "../supabase/functions/_tollgate/db.ts";
import { consumeWith } from "../supabase/functions/consume-credit/consume.ts";
import { benchUserId } from "./fixtures.ts";
import { summarize } from "./stats.ts";
import { countingProxy, newCounts, type WireCounts } from "./wire.ts";

export interface PathProfile {
  db: "direct" | "pooled";
  prepare: boolean;
  round_trips_per_request: number;
  statements_per_request: number;
  parses_per_request: number;
  /** One request's flushes, each listing its frontend messages ("Bind Execute Sync"). */
  trace: string[];
  sequential_p50_ms: number;
  sequential_p99_ms: number;
  concurrent_16_per_s: number;
}

export interface ProfileResult {
  requests: number;
  paths: PathProfile[];
}

/** Drives `consumeWith` over a pool at `url` with unique keys for random bench users. */
function consumer(url: string, users: number, prepare: boolean) {
  const sql = createPool(url, { prepare });
  const consume = consumeWith(sql);
  const run = Math.random().toString(36).slice(2, 8);
  let seq = 0;
  const one = () =>
    consume({ kind: "service" }, { userId: benchUserId(1 + Math.floor(Math.random() * users)) }, {
      idempotency_key: `profile-${run}-${seq++}`,
      amount: 1,
      feature: "default",
      hold: false,
      hold_ttl_seconds: 600,
    });
  // Warm every pool connection first (open, statements prepared), as in steady state.
  const warm = () => Promise.all(Array.from({ length: 32 }, one));
  return { one, warm, end: () => sql.end() };
}

/** Wire counts per request over `sample` sequential requests through the proxy, and the last one's trace. */
async function countWire(url: string, users: number, prepare: boolean, sample: number) {
  const counts: WireCounts = newCounts();
  const proxy = countingProxy(new URL(url), counts);
  const counted = consumer(proxy.url, users, prepare);
  try {
    await counted.warm();
    const before = { ...counts };
    for (let i = 0; i < sample - 1; i++) await counted.one();
    counts.trace.length = 0;
    await counted.one();
    const per = (k: "flushes" | "executes" | "parses") =>
      Number(((counts[k] - before[k]) / sample).toFixed(2));
    return {
      round_trips_per_request: per("flushes"),
      statements_per_request: per("executes"),
      parses_per_request: per("parses"),
      trace: [...counts.trace],
    };
  } finally {
    await counted.end();
    proxy.close();
  }
}

/** Sequential p50/p99 over `requests`, then 16 concurrent callers for 3 s. */
async function time(url: string, users: number, prepare: boolean, requests: number) {
  const timed = consumer(url, users, prepare);
  try {
    await timed.warm();
    const times: number[] = [];
    for (let i = 0; i < requests; i++) {
      const t = performance.now();
      await timed.one();
      times.push(performance.now() - t);
    }
    const latency = summarize(times);
    let done = 0;
    const started = performance.now();
    const deadline = started + 3_000;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (performance.now() < deadline) {
        await timed.one();
        done++;
      }
    }));
    return {
      sequential_p50_ms: Number(latency.p50_ms.toFixed(3)),
      sequential_p99_ms: Number(latency.p99_ms.toFixed(3)),
      concurrent_16_per_s: Math.round(done / ((performance.now() - started) / 1000)),
    };
  } finally {
    await timed.end();
  }
}

/** Profiles the direct path and, given a pooler, the pooled one. */
export async function runProfile(
  opts: { dbUrl: string; poolerUrl?: string; users: number; requests: number },
): Promise<ProfileResult> {
  const paths: PathProfile[] = [];
  const targets = [
    { db: "direct" as const, url: opts.dbUrl, prepare: true },
    ...(opts.poolerUrl ? [{ db: "pooled" as const, url: opts.poolerUrl, prepare: false }] : []),
  ];
  for (const t of targets) {
    paths.push({
      db: t.db,
      prepare: t.prepare,
      ...(await countWire(t.url, opts.users, t.prepare, 200)),
      ...(await time(t.url, opts.users, t.prepare, opts.requests)),
    });
  }
  return { requests: opts.requests, paths };
}
