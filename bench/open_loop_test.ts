import assert from "node:assert/strict";
import { dueBy, openLoop, type Sent, summarizeOpenLoop } from "./open_loop.ts";

Deno.test("the schedule has one request due at its start and one more every 1/rate seconds", () => {
  assert.equal(dueBy(-1, 100), 0);
  assert.equal(dueBy(0, 100), 1);
  assert.equal(dueBy(9.99, 100), 1);
  assert.equal(dueBy(10, 100), 2);
  assert.equal(dueBy(1000, 100), 101);
});

Deno.test("latency runs from the scheduled send, so a late send or a stall is counted, not hidden", () => {
  const records: Sent[] = [
    { scheduled: 0, sent: 0, answered: 2, ok: true },
    { scheduled: 10, sent: 10, answered: 12, ok: true },
    // Sent 30 ms late (the driver starved), answered 2 ms after it was sent: 32 ms as a user saw it.
    { scheduled: 20, sent: 50, answered: 52, ok: true },
    { scheduled: 30, sent: 50, answered: 60, ok: false },
  ];
  const r = summarizeOpenLoop(records, 100, 40);
  assert.equal(r.sent, 4);
  assert.equal(r.ok, 3);
  assert.equal(r.errors, 1);
  assert.equal(r.max_ms, 32);
  assert.equal(r.p50_ms, 2);
  assert.equal(r.max_send_lag_ms, 30);
  assert.equal(r.max_in_flight, 2);
  // 3 successes between the first scheduled send and the last answer (60 ms).
  assert.equal(r.achieved_per_s, 50);
  assert.equal(r.offered_per_s, 100);
});

Deno.test("an answer and a send at the same instant do not count as both in flight", () => {
  const r = summarizeOpenLoop(
    [
      { scheduled: 0, sent: 0, answered: 10, ok: true },
      { scheduled: 10, sent: 10, answered: 20, ok: true },
    ],
    100,
    20,
  );
  assert.equal(r.max_in_flight, 1);
});

Deno.test("openLoop keeps offering while answers are slow, and stops when told", async () => {
  let release!: () => void;
  const stop = new Promise<void>((r) => (release = r));
  setTimeout(release, 300);
  // Every answer takes 100 ms, far longer than the 5 ms between sends: a closed loop of one would send 3.
  const r = await openLoop({
    rate: 200,
    seconds: 10,
    until: stop,
    send: () => new Promise((resolve) => setTimeout(() => resolve(true), 100)),
  });
  assert.ok(r.sent >= 40 && r.sent <= 70, `sent ${r.sent} in 300 ms at 200/s`);
  assert.ok(r.max_in_flight >= 15, `in flight ${r.max_in_flight}`);
  assert.equal(r.errors, 0);
  assert.ok(r.p50_ms >= 100);
  assert.ok(r.seconds < 1);
});

Deno.test("openLoop counts a rejected send as an error", async () => {
  const r = await openLoop({ rate: 100, seconds: 0.05, send: () => Promise.reject(new Error("down")) });
  assert.ok(r.sent >= 1);
  assert.equal(r.errors, r.sent);
});
