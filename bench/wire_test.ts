import assert from "node:assert/strict";
import { messageCounter, newCounts } from "./wire.ts";

/** A frontend message: type byte, then its length (itself included) and body. */
function message(type: string, body: number[] = []): number[] {
  const len = 4 + body.length;
  return [type.charCodeAt(0), len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255, ...body];
}
const startup = [0, 0, 0, 8, 0, 3, 0, 0];

Deno.test("each chunk counts as a flush, with its messages named in the trace", () => {
  const counts = newCounts();
  const count = messageCounter(counts);
  count(new Uint8Array(startup));
  count(
    new Uint8Array([
      ...message("Q", [0]),
      ...message("P", [0, 0, 0, 0]),
      ...message("D", [83, 0]),
      ...message("H"),
    ]),
  );
  count(
    new Uint8Array([
      ...message("B", [0, 0, 0, 0, 0, 0, 0, 0]),
      ...message("E", [0, 0, 0, 0, 0]),
      ...message("S"),
    ]),
  );
  assert.equal(counts.flushes, 3);
  assert.equal(counts.executes, 2); // the Query and the Execute
  assert.equal(counts.parses, 1);
  assert.deepEqual(counts.trace, ["Startup", "Query Parse Describe Flush", "Bind Execute Sync"]);
});

Deno.test("a message split across chunks is counted once, when it is whole", () => {
  const counts = newCounts();
  const count = messageCounter(counts);
  count(new Uint8Array(startup));
  const bytes = [...message("P", [1, 2, 3, 4, 5, 6]), ...message("S")];
  count(new Uint8Array(bytes.slice(0, 4)));
  count(new Uint8Array(bytes.slice(4)));
  assert.equal(counts.parses, 1);
  assert.deepEqual(counts.trace, ["Startup", "Parse Sync"]);
});
