/**
 * Figures for pieces other issues deliver, measured through their HTTP contract (DESIGN.md) once the catalogue
 * shows them installed, and skipped with a note until then:
 *
 * - hold + settle: consume-credit with `hold: true`, then log-ai-usage with its `hold_id` (the holds issue), found
 *   by `tollgate.consume_credits` taking `p_hold` and `tollgate.log_ai_usage` taking `p_hold_id`;
 * - batch ingest: log-ai-usage with `{"events": [...]}` of 1,000 events (the performance issue), found by a
 *   function in schema tollgate taking `p_events`.
 */
import { psql } from "../scripts/lib/stack.ts";
import { benchUserId } from "./fixtures.ts";
import { type BenchStack, load, usageBody } from "./http_level.ts";
import { LOCAL_SERVICE_ROLE_KEY } from "../scripts/lib/keys.ts";
import { summarize } from "./stats.ts";

export interface HoldSettleResult {
  connections: number;
  seconds: number;
  /** Completed hold + settle pairs per second (each pair is two requests). */
  pairs_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
}

export interface BatchIngestResult {
  connections: number;
  seconds: number;
  batch_size: number;
  events_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
}

/** Names of functions in schema tollgate that take an argument called `arg`. */
export async function functionsTaking(dbUrl: string, arg: string): Promise<string[]> {
  const out = await psql(
    dbUrl,
    `select distinct p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'tollgate' and '${arg}' = any(p.proargnames) order by 1`,
  );
  return out ? out.split("\n") : [];
}

/** What the hooks need, from the catalogue; `null` names what is missing. */
export async function detectHooks(dbUrl: string): Promise<{ holds: string | null; batch: string | null }> {
  const holds = (await functionsTaking(dbUrl, "p_hold")).includes("consume_credits") &&
    (await functionsTaking(dbUrl, "p_hold_id")).includes("log_ai_usage");
  const batch = (await functionsTaking(dbUrl, "p_events")).length > 0;
  return {
    holds: holds ? null : "hold+settle not installed (tollgate.consume_credits(p_hold) and " +
      "tollgate.log_ai_usage(p_hold_id))",
    batch: batch ? null : "batch ingest not installed (no function in schema tollgate takes p_events)",
  };
}

const headers = { "content-type": "application/json", authorization: `Bearer ${LOCAL_SERVICE_ROLE_KEY}` };

async function post(url: string, body: unknown): Promise<{ ok: boolean; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  return { ok: res.ok, json };
}

/**
 * `connections` callers each hold 1 credit, then settle it with one priced call, through the gateway with the
 * service key, for `seconds`; a pair's latency is from the hold's send to the settle's answer.
 */
export async function runHoldSettle(stack: BenchStack, opts: {
  connections: number;
  seconds: number;
  model: string;
}): Promise<HoldSettleResult> {
  const consume = stack.url("consume-credit", "gateway");
  const usage = stack.url("log-ai-usage", "gateway");
  const times: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + opts.seconds * 1000;
  await Promise.all(Array.from({ length: opts.connections }, async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      const user = benchUserId(stack.randomUser());
      const hold = await post(consume, {
        idempotency_key: stack.key(),
        amount: 1,
        user_id: user,
        hold: true,
      });
      const holdId = hold.json.hold_id;
      if (!hold.ok || typeof holdId !== "string") {
        errors++;
        continue;
      }
      const settle = await post(usage, { ...usageBody(stack, opts.model), user_id: user, hold_id: holdId });
      if (settle.ok) times.push(performance.now() - t);
      else errors++;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return {
    connections: opts.connections,
    seconds: Number(seconds.toFixed(2)),
    pairs_per_s: times.length / seconds,
    ...summarize(times),
    errors,
  };
}

/** Batches of `batchSize` distinct events to log-ai-usage through the gateway at `connections`, for `seconds`. */
export async function runBatchIngest(stack: BenchStack, opts: {
  connections: number;
  seconds: number;
  batchSize: number;
  model: string;
}): Promise<BatchIngestResult> {
  const r = await load({
    url: stack.url("log-ai-usage", "gateway"),
    connections: opts.connections,
    seconds: opts.seconds,
    next: () => ({
      headers: { authorization: headers.authorization },
      body: JSON.stringify({
        events: Array.from({ length: opts.batchSize }, () => usageBody(stack, opts.model)),
      }),
    }),
  });
  return {
    connections: opts.connections,
    seconds: r.seconds,
    batch_size: opts.batchSize,
    events_per_s: r.rps * opts.batchSize,
    p50_ms: r.p50_ms,
    p99_ms: r.p99_ms,
    max_ms: r.max_ms,
    errors: r.errors,
  };
}
