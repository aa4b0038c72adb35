/**
 * What crosses the wire from a PostgreSQL client: a loopback proxy that parses the client's protocol stream and
 * counts, per connection, its flushes (one per round trip: a client waiting for an answer writes nothing more),
 * Execute/Query messages (statements) and Parse messages (statements prepared), and keeps the message sequence
 * of each flush for a trace. Used by the bench's profile and by the e2e test that holds queryAs to its round trips.
 */

export interface WireCounts {
  flushes: number;
  executes: number;
  parses: number;
  /** The frontend messages of each flush since the last `trace.length = 0`, e.g. "Parse Describe Flush". */
  trace: string[];
}

export const newCounts = (): WireCounts => ({ flushes: 0, executes: 0, parses: 0, trace: [] });

/** Frontend message types (protocol 3.0) by their first byte. */
const MESSAGES: Record<string, string> = {
  B: "Bind",
  C: "Close",
  D: "Describe",
  E: "Execute",
  H: "Flush",
  P: "Parse",
  Q: "Query",
  S: "Sync",
  X: "Terminate",
  p: "Password",
  d: "CopyData",
  c: "CopyDone",
  f: "CopyFail",
  F: "FunctionCall",
};

/**
 * Parses one connection's client-to-server stream chunk by chunk (after its startup packet, which has no type
 * byte), counting into `counts`. A message split across chunks is kept until it is whole.
 */
export function messageCounter(counts: WireCounts): (chunk: Uint8Array) => void {
  let buf = new Uint8Array(0);
  let startup = true;
  return (chunk) => {
    counts.flushes++;
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    buf = joined;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const seen: string[] = [];
    let offset = 0;
    while (true) {
      if (startup) {
        if (buf.length - offset < 4) break;
        const len = view.getInt32(offset);
        if (buf.length - offset < len) break;
        offset += len;
        startup = false;
        seen.push("Startup");
        continue;
      }
      if (buf.length - offset < 5) break;
      const type = String.fromCharCode(buf[offset]);
      const len = view.getInt32(offset + 1);
      if (buf.length - offset < 1 + len) break;
      if (type === "E" || type === "Q") counts.executes++;
      if (type === "P") counts.parses++;
      seen.push(MESSAGES[type] ?? `'${type}'`);
      offset += 1 + len;
    }
    if (seen.length) counts.trace.push(seen.join(" "));
    buf = buf.slice(offset);
  };
}

/** A loopback proxy in front of `target` (host and port of a database URL) counting every connection's traffic. */
export function countingProxy(target: URL, counts: WireCounts): { url: string; close: () => void } {
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
  const url = new URL(target);
  url.port = String((listener.addr as Deno.NetAddr).port);
  return {
    url: url.toString(),
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
