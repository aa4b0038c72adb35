/**
 * An open-loop load driver: requests are started on a fixed schedule (one every 1/rate seconds) whether or not
 * earlier ones have answered, and each latency runs from the moment the schedule said to send, so a slow answer
 * or a late send is counted rather than hidden. A closed loop (autocannon, even with `overallRate`) sends a
 * connection's next request only after its answer, so when the server stalls it stops offering load and the
 * stall never shows in its latencies (coordinated omission).
 */
import { summarize } from "./stats.ts";

export interface OpenLoopResult {
  offered_per_s: number;
  /** How long requests were offered (the schedule's length). */
  seconds: number;
  sent: number;
  ok: number;
  errors: number;
  /** Successful answers per second, from the first scheduled send to the last answer. */
  achieved_per_s: number;
  /** From the scheduled send to the answer. */
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  max_in_flight: number;
  /** The driver's own worst lateness in sending (its process starved of CPU), included in the latencies. */
  max_send_lag_ms: number;
}

/** One request as the driver saw it, in ms since the schedule started. */
export interface Sent {
  scheduled: number;
  sent: number;
  answered: number;
  ok: boolean;
}

/** How many requests the schedule has due `elapsedMs` after its start (the first is due at 0). */
export function dueBy(elapsedMs: number, rate: number): number {
  return elapsedMs < 0 ? 0 : Math.floor((elapsedMs * rate) / 1000) + 1;
}

/** The figures of a run from what each request saw; `offeredMs` is how long the schedule ran. */
export function summarizeOpenLoop(records: Sent[], rate: number, offeredMs: number): OpenLoopResult {
  const ok = records.filter((r) => r.ok).length;
  const lastAnswer = records.reduce((m, r) => Math.max(m, r.answered), 0);
  // In flight at each send: sends so far minus answers so far (a sweep over both event lists).
  const events = records.flatMap((r) => [[r.sent, 1], [r.answered, -1]] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let inFlight = 0;
  let maxInFlight = 0;
  for (const [, d] of events) maxInFlight = Math.max(maxInFlight, inFlight += d);
  return {
    offered_per_s: rate,
    seconds: Number((offeredMs / 1000).toFixed(2)),
    sent: records.length,
    ok,
    errors: records.length - ok,
    achieved_per_s: lastAnswer > 0 ? ok / (lastAnswer / 1000) : NaN,
    ...summarize(records.map((r) => r.answered - r.scheduled)),
    max_in_flight: maxInFlight,
    max_send_lag_ms: records.reduce((m, r) => Math.max(m, r.sent - r.scheduled), 0),
  };
}

/**
 * Offers `rate` requests per second for `seconds`, or until `until` settles (at most `seconds`), then waits for
 * every answer. `send` resolves true for a success; false or a rejection counts as an error.
 */
export async function openLoop(opts: {
  rate: number;
  seconds: number;
  until?: Promise<unknown>;
  send: () => Promise<boolean>;
}): Promise<OpenLoopResult> {
  let stopped = false;
  opts.until?.finally(() => (stopped = true)).catch(() => {});
  const records: Sent[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const since = () => performance.now() - start;
  let next = 0;
  while (!stopped && since() < opts.seconds * 1000) {
    for (const due = dueBy(since(), opts.rate); next < due; next++) {
      const r: Sent = { scheduled: (next * 1000) / opts.rate, sent: since(), answered: 0, ok: false };
      records.push(r);
      pending.push((async () => {
        try {
          r.ok = await opts.send();
        } catch {
          r.ok = false;
        }
        r.answered = since();
      })());
    }
    const wait = (next * 1000) / opts.rate - since();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
  }
  const offeredMs = since();
  await Promise.all(pending);
  return summarizeOpenLoop(records, opts.rate, offeredMs);
}
