import assert from "node:assert/strict";
import { parseRetryAfter } from "./errors.ts";
import { backoffDelay, DEFAULT_RETRY, sleep } from "./retry.ts";

Deno.test("backoff draws full jitter under a ceiling that doubles per retry and stops at the cap", () => {
  const top = () => 0.999999;
  assert.equal(backoffDelay(0, undefined, DEFAULT_RETRY, top), 199);
  assert.equal(backoffDelay(1, undefined, DEFAULT_RETRY, top), 399);
  assert.equal(backoffDelay(2, undefined, DEFAULT_RETRY, top), 799);
  assert.equal(backoffDelay(10, undefined, DEFAULT_RETRY, top), 4999);
  assert.equal(backoffDelay(3, undefined, DEFAULT_RETRY, () => 0), 0);
});

Deno.test("backoff never waits less than the server's Retry-After", () => {
  assert.equal(backoffDelay(0, 2, DEFAULT_RETRY, () => 0.5), 2000);
  assert.equal(backoffDelay(5, 1, DEFAULT_RETRY, () => 0.5), 2500);
});

Deno.test("backoff gives up when Retry-After is longer than the client will wait", () => {
  assert.equal(backoffDelay(0, 31, DEFAULT_RETRY, () => 0.5), undefined);
  assert.equal(backoffDelay(0, 30, DEFAULT_RETRY, () => 0.5), 30_000);
});

Deno.test("Retry-After is read as seconds or as an HTTP date, and garbage is ignored", () => {
  const now = Date.parse("2030-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("7", now), 7);
  assert.equal(parseRetryAfter("Tue, 01 Jan 2030 00:00:42 GMT", now), 42);
  assert.equal(parseRetryAfter("Mon, 31 Dec 2029 00:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

Deno.test("sleep rejects with the abort reason when the signal fires", async () => {
  const controller = new AbortController();
  const waiting = sleep(60_000, controller.signal);
  controller.abort(new Error("user left"));
  await assert.rejects(waiting, /user left/);
});
