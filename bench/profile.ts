/**
 * Profile of the consume path: the function's own SQL call (`consumeWith` over `createPool`, exactly the code
 * the deployed function runs) driven in-process through a TCP proxy that counts what crosses the wire per
 * request: client flushes (round trips), Parse messages (statements prepared) and Execute/Query messages.
 */
import { createPool } from "../supabase/functions/_tollgate/db.ts";
import { consumeWith } from "../supabase/functions/consume-credit/consume.ts";
import { benchUserId } from "./fixtures.ts";
import { summarize } from "./stats.ts";

export interface ProfileResult {
  requests: number;
  round_trips_per_request: number;
  statements_per_request: number;
  parses_per_request: number;
  sequential_p50_ms: number;
  sequential_p99_ms: number;
  concurrent_16_per_s: number;
}

interface WireCounts {
  flushes: number;
  executes: number;
  parses: number;
}

/** Counts the frontend messages of one connection's client-to-server stream (after its startup packet). */
function messageCounter(counts: WireCounts): (chunk: Uint8Array) => void {
  let buf = new Uint8Array(0);
  let startup = true;
  return (chunk) => {
    counts.flushes++;
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    buf = joined;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let offset = 0;
    while (true) {
      if (startup) {
        if (buf.length - offset < 4) break;
        const len = view.getInt32(offset);
        if (buf.length - offset < len) break;
        offset += len;
        startup = false;
        continue;
      }
      if (buf.length - offset < 5) break;
      const type = String.fromCharCode(buf[offset]);
      const len = view.getInt32(offset + 1);
      if (buf.length - offset < 1 + len) break;
      if (type === "E" || type === "Q") counts.executes++;
      if (type === "P") counts.parses++;
      offset += 1 + len;
    }
    buf = buf.slice(offset);
  };
}

/** A loopback proxy in front of PostgreSQL that counts every connection's client traffic. */
function countingProxy(target: URL, counts: WireCounts): { port: number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
      conns.push(client, server);
      const count = messageCounter(counts);
      const upstream = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          count(chunk);
          c.enqueue(chunk);
        },
      });
      client.readable.pipeThrough(upstream).pipeTo(server.writable).catch(() => {});
      server.readable.pipeTo(client.writable).catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
    },
  };
}

/** Drives `consumeWith` over a pool at `url` with unique keys for random bench users. */
function consumer(url: string, users: number) {
  const sql = createPool(url);
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

/** Counts the wire traffic per request through the proxy, then times the same path on a direct pool. */
export async function runProfile(
  opts: { dbUrl: string; users: number; requests: number },
): Promise<ProfileResult> {
  const counts: WireCounts = { flushes: 0, executes: 0, parses: 0 };
  const proxy = countingProxy(new URL(opts.dbUrl), counts);
  const proxied = new URL(opts.dbUrl);
  proxied.port = String(proxy.port);
  const counted = consumer(proxied.toString(), opts.users);
  const sample = 200;
  try {
    await counted.warm();
    const before = { ...counts };
    for (let i = 0; i < sample; i++) await counted.one();
    const per = (k: keyof WireCounts) => Number(((counts[k] - before[k]) / sample).toFixed(2));
    const wire = {
      round_trips_per_request: per("flushes"),
      statements_per_request: per("executes"),
      parses_per_request: per("parses"),
    };

    const direct = consumer(opts.dbUrl, opts.users);
    try {
      await direct.warm();
      const times: number[] = [];
      for (let i = 0; i < opts.requests; i++) {
        const t = performance.now();
        await direct.one();
        times.push(performance.now() - t);
      }
      const latency = summarize(times);
      let done = 0;
      const started = performance.now();
      const deadline = started + 3_000;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (performance.now() < deadline) {
          await direct.one();
          done++;
        }
      }));
      return {
        requests: opts.requests,
        ...wire,
        sequential_p50_ms: Number(latency.p50_ms.toFixed(3)),
        sequential_p99_ms: Number(latency.p99_ms.toFixed(3)),
        concurrent_16_per_s: Math.round(done / ((performance.now() - started) / 1000)),
      };
    } finally {
      await direct.end();
    }
  } finally {
    await counted.end();
    proxy.close();
  }
}
