import assert from "node:assert/strict";
import { type CreditCalls, type StoredWork, withCredits, workKey } from "./credits.ts";
import { TollgateError } from "./errors.ts";
import type { ConsumeCreditInput, ConsumeCreditResult, LogAiUsageInput, LogAiUsageResult } from "./types.ts";

const HOLD_ID = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c";

/** A fake Tollgate: holds replay per key as the database does; every call is recorded in order. */
function fakeTollgate() {
  const log: string[] = [];
  const holds = new Map<string, ConsumeCreditResult>();
  const consumes: ConsumeCreditInput[] = [];
  const settles: LogAiUsageInput[] = [];
  const client: CreditCalls = {
    consumeCredit(input) {
      log.push("hold");
      consumes.push(input);
      const key = input.idempotency_key!;
      const first = holds.get(key);
      const answer: ConsumeCreditResult = first ? { ...first, replayed: true } : {
        transaction_id: null,
        consumed: 0,
        balance: 9,
        held: 1,
        quota: [],
        replayed: false,
        hold_id: HOLD_ID,
        hold_expires_at: "2030-01-01T00:10:00+00:00",
      };
      if (!first) holds.set(key, answer);
      return Promise.resolve(answer);
    },
    logAiUsage(input) {
      log.push("settle");
      settles.push(input);
      const answer: LogAiUsageResult = {
        usage_id: "3d2c1b0a-9e8d-4c7b-8a6f-5e4d3c2b1a09",
        cost_usd: "0.01",
        credits_charged: 1,
        balance: 9,
        hold_released: 0,
        unpriced: false,
        replayed: settles.length > 1,
      };
      return Promise.resolve(answer);
    },
  };
  const store = new Map<string, StoredWork<string>>();
  const storage = {
    load: (key: string) => Promise.resolve(store.get(key)),
    save: (key: string, stored: StoredWork<string>) => {
      log.push("save");
      store.set(key, stored);
      return Promise.resolve();
    },
  };
  return { client, log, consumes, settles, storage, store };
}

const USAGE = { input_tokens: 1200, output_tokens: 300, cached_input_tokens: 800, provider: "openai" };
const WORK = { prompt: "Summarize this", model: "gpt-4o" };

Deno.test("withCredits holds under the work's key, runs once, stores the result, then settles the hold", async () => {
  const t = fakeTollgate();
  let runs = 0;
  const out = await withCredits(t.client, { work: WORK, model: "gpt-4o", amount: 3, ...t.storage }, () => {
    runs++;
    return Promise.resolve({ result: "a summary", usage: USAGE });
  });
  const key = await workKey(WORK);
  assert.deepEqual([runs, out.result, out.replayed, t.log], [1, "a summary", false, [
    "hold",
    "save",
    "settle",
  ]]);
  assert.deepEqual(t.consumes, [{ idempotency_key: key, amount: 3, feature: "default", hold: true }]);
  assert.deepEqual(t.settles, [{
    ...USAGE,
    request_id: key,
    hold_id: HOLD_ID,
    model: "gpt-4o",
    feature: "default",
  }]);
});

Deno.test("withCredits on the same work returns the stored result without running it, re-sending the same settle", async () => {
  const t = fakeTollgate();
  const run = () => Promise.resolve({ result: "a summary", usage: USAGE });
  await withCredits(t.client, { work: WORK, model: "gpt-4o", ...t.storage }, run);
  let ranAgain = false;
  const again = await withCredits(t.client, {
    work: { model: "gpt-4o", prompt: "Summarize this" },
    model: "gpt-4o",
    ...t.storage,
  }, () => {
    ranAgain = true;
    return run();
  });
  assert.equal(ranAgain, false, "one credit never buys the work twice");
  assert.deepEqual([again.result, again.replayed, again.hold.replayed], ["a summary", true, true]);
  assert.deepEqual(t.settles[1], t.settles[0], "the settle is replayed with the same body (idempotent)");
});

Deno.test("withCredits answers in_progress when the key is held but nothing is stored, never running the work", async () => {
  const t = fakeTollgate();
  await t.client.consumeCredit({ idempotency_key: await workKey(WORK), hold: true }); // a run still going
  let ran = false;
  const error = await withCredits(t.client, { work: WORK, model: "gpt-4o", ...t.storage }, () => {
    ran = true;
    return Promise.resolve({ result: "x", usage: USAGE });
  }).catch((e) => e);
  assert.ok(error instanceof TollgateError);
  assert.deepEqual([error.code, error.status, ran, t.settles.length], ["in_progress", 409, false, 0]);
});

Deno.test("withCredits settles a failed run as an error with no tokens (releasing the hold) and rethrows", async () => {
  const t = fakeTollgate();
  const failure = new RangeError("provider timed out");
  const error = await withCredits(
    t.client,
    { work: WORK, model: "gpt-4o", ...t.storage },
    () => Promise.reject(failure),
  )
    .catch((e) => e);
  assert.equal(error, failure);
  assert.deepEqual(
    t.settles.map((s) => [s.status, s.input_tokens, s.output_tokens, s.error_code, s.hold_id]),
    [
      ["error", 0, 0, "RangeError", HOLD_ID],
    ],
  );
  assert.equal(t.store.size, 0, "nothing stored for a failed run");
});

Deno.test("withCredits passes account, member, ttl and metadata, and refuses to run without the work or its key", async () => {
  const t = fakeTollgate();
  const team = "7a2e8d1f-6c0b-4e9f-8a4b-3d2c1b0a9f8e";
  const member = "6f1d7c0e-5b9a-4d8e-9f3a-2c1b0a9e8d7c";
  await withCredits(t.client, {
    key: "job:42",
    model: "claude-sonnet-4",
    feature: "summarize",
    account_id: team,
    user_id: member,
    hold_ttl_seconds: 120,
    metadata: { job: 42 },
    ...t.storage,
  }, () => Promise.resolve({ result: "ok", usage: USAGE }));
  assert.deepEqual(t.consumes[0], {
    account_id: team,
    user_id: member,
    idempotency_key: "job:42",
    amount: 1,
    feature: "summarize",
    hold: true,
    hold_ttl_seconds: 120,
    metadata: { job: 42 },
  });
  assert.deepEqual([t.settles[0].account_id, t.settles[0].user_id, t.settles[0].request_id], [
    team,
    member,
    "job:42",
  ]);
  await assert.rejects(
    withCredits(
      t.client,
      { model: "gpt-4o", ...t.storage },
      () => Promise.resolve({ result: "", usage: USAGE }),
    ),
    TypeError,
  );
});

Deno.test("workKey is the same for equal work in any key order, and differs for other work", async () => {
  const a = await workKey({ prompt: "p", options: { temperature: 0, top_p: 1 } });
  const b = await workKey({ options: { top_p: 1, temperature: 0 }, prompt: "p" });
  assert.equal(a, b);
  assert.match(a, /^work:[0-9a-f]{64}$/);
  assert.notEqual(a, await workKey({ prompt: "q", options: { temperature: 0, top_p: 1 } }));
  assert.notEqual(await workKey(["a", "b"]), await workKey(["b", "a"]));
});
