import assert from "node:assert/strict";
import { LogUsageResponse } from "../../supabase/functions/_tollgate/contract.ts";
import { ANON_KEY, BAD_TOKENS, call, db, newUser, SERVICE_KEY } from "./_helpers.ts";

const sql = db();

const call1 = {
  request_id: "req-1",
  model: "gpt-4o",
  provider: "openai",
  feature: "e2e-chat",
  input_tokens: 1000,
  output_tokens: 500,
  latency_ms: 812,
  prompt: "What is a credit?",
  response: "A unit of account.",
  metadata: { conversation: "c-1" },
};

async function balanceOf(userId: string): Promise<number> {
  const [row] = await sql`select balance from tollgate.accounts where id = ${userId}`;
  return Number(row.balance);
}

async function usageRows(userId: string, requestId: string) {
  return await sql`select * from tollgate.ai_usage where user_id = ${userId} and request_id = ${requestId}`;
}

async function tokenCounters(userId: string, feature: string) {
  const rows = await sql`select period::text, input_tokens::int, output_tokens::int, cost_usd::text
                           from tollgate.usage_counters where account_id = ${userId} and feature = ${feature}
                          order by period`;
  return rows.map((r) => ({ ...r }));
}

Deno.test("log-ai-usage answers 201 with the priced call, and a replay answers 200 without recording twice", async () => {
  const user = await newUser(sql);
  const first = await call("log-ai-usage", call1, { token: user.token });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  const answer = LogUsageResponse.parse(first.body);
  assert.deepEqual({ ...answer, usage_id: undefined }, {
    usage_id: undefined,
    cost_usd: "0.0075",
    credits_charged: 0,
    balance: await balanceOf(user.id),
    hold_released: 0,
    unpriced: false,
    replayed: false,
  });
  const counters = await tokenCounters(user.id, "e2e-chat");
  assert.deepEqual(counters.map((c) => [c.period, c.input_tokens, c.output_tokens]), [
    ["day", 1000, 500],
    ["month", 1000, 500],
  ]);

  const replay = await call("log-ai-usage", call1, { token: user.token });
  assert.equal(replay.status, 200, JSON.stringify(replay.body));
  assert.deepEqual(replay.body, { ...answer, replayed: true });
  assert.equal((await usageRows(user.id, "req-1")).length, 1, "one row for the request");
  assert.deepEqual(await tokenCounters(user.id, "e2e-chat"), counters, "the counters moved once");
});

Deno.test("log-ai-usage keeps the prompt and response as sha256 and length, with the cost frozen on the row", async () => {
  const user = await newUser(sql);
  const res = await call("log-ai-usage", call1, { token: user.token });
  assert.equal(res.status, 201);
  const [row] = await usageRows(user.id, "req-1");
  const sha = async (s: string) =>
    Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s))))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(row.id, res.body.usage_id);
  assert.equal(row.prompt_sha256, await sha(call1.prompt));
  assert.equal(row.prompt_length, call1.prompt.length);
  assert.equal(row.response_sha256, await sha(call1.response));
  assert.equal(row.prompt, null);
  assert.equal(row.response, null);
  assert.equal(row.cost_usd, "0.0075000000");
  assert.equal(row.latency_ms, 812);
  assert.deepEqual(row.metadata, { conversation: "c-1" });
});

Deno.test("log-ai-usage answers 409 for the same request_id with a different body", async () => {
  const user = await newUser(sql);
  await call("log-ai-usage", call1, { token: user.token });
  const res = await call("log-ai-usage", { ...call1, output_tokens: 501 }, { token: user.token });
  assert.equal(res.status, 409);
  const error = res.body.error as { code: string; details: Record<string, string> };
  assert.equal(error.code, "idempotency_conflict");
  assert.deepEqual(error.details, { request_id: "req-1" });
  assert.equal((await usageRows(user.id, "req-1")).length, 1);
});

Deno.test("log-ai-usage records a model without a price at cost 0 with unpriced true", async () => {
  const user = await newUser(sql);
  const before = await balanceOf(user.id);
  const res = await call("log-ai-usage", {
    request_id: "u1",
    model: "our-finetune-v3",
    input_tokens: 5000,
    output_tokens: 5000,
    charge_credits: true,
  }, { token: user.token });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.cost_usd, "0");
  assert.equal(res.body.unpriced, true);
  assert.equal(res.body.credits_charged, 0);
  assert.equal(await balanceOf(user.id), before);
});

Deno.test("a post-paid charge takes the balance below zero, and consume-credit then answers 402", async () => {
  const user = await newUser(sql);
  const start = await balanceOf(user.id);
  // claude-sonnet-4 at 3/15 USD per million: 0.3 + 0.3 = 0.6 USD = 60 credits at the default 100 per USD.
  const res = await call("log-ai-usage", {
    request_id: "big",
    model: "claude-sonnet-4",
    input_tokens: 100_000,
    output_tokens: 20_000,
    charge_credits: true,
  }, { token: user.token });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.credits_charged, 60);
  assert.equal(res.body.balance, start - 60);
  assert.ok((res.body.balance as number) < 0);
  assert.equal(await balanceOf(user.id), start - 60);

  const consume = await call("consume-credit", { idempotency_key: "after", feature: "e2e-unlimited" }, {
    token: user.token,
  });
  assert.equal(consume.status, 402, JSON.stringify(consume.body));
  assert.deepEqual((consume.body.error as { details: unknown }).details, {
    balance: start - 60,
    required: 1,
  });
  const problems = await sql`select * from tollgate.check_ledger(${user.id}::uuid)`;
  assert.equal(problems.length, 0, JSON.stringify(problems));
});

Deno.test("log-ai-usage links the consume that used the same key", async () => {
  const user = await newUser(sql);
  const consume = await call("consume-credit", { idempotency_key: "job-9", feature: "e2e-unlimited" }, {
    token: user.token,
  });
  assert.equal(consume.status, 200);
  const res = await call("log-ai-usage", { ...call1, request_id: "job-9" }, { token: user.token });
  assert.equal(res.status, 201);
  const [row] = await usageRows(user.id, "job-9");
  assert.equal(row.consume_entry_id, consume.body.transaction_id);
});

Deno.test("log-ai-usage lets the service key log for a named user", async () => {
  const user = await newUser(sql);
  const res = await call("log-ai-usage", { ...call1, user_id: user.id }, { token: SERVICE_KEY });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal((await usageRows(user.id, "req-1")).length, 1);
});

Deno.test("log-ai-usage answers 400 when the service key names no user", async () => {
  const res = await call("log-ai-usage", call1, { token: SERVICE_KEY });
  assert.equal(res.status, 400);
});

for (const [name, make] of BAD_TOKENS) {
  Deno.test(`log-ai-usage answers 401 for a ${name} token`, async () => {
    const res = await call("log-ai-usage", call1, { token: await make() });
    assert.equal(res.status, 401);
    assert.equal((res.body.error as { code: string }).code, "unauthorized");
  });
}

Deno.test("log-ai-usage answers 403 for the anon key", async () => {
  const res = await call("log-ai-usage", call1, { token: ANON_KEY });
  assert.equal(res.status, 403);
});

Deno.test("log-ai-usage answers 403 when a user token names another user's user_id, recording nothing", async () => {
  const alice = await newUser(sql);
  const bob = await newUser(sql);
  const res = await call("log-ai-usage", { ...call1, user_id: bob.id }, { token: alice.token });
  assert.equal(res.status, 403);
  assert.equal((await usageRows(bob.id, "req-1")).length, 0);
  assert.equal((await usageRows(alice.id, "req-1")).length, 0);
});

const badBodies: [string, string][] = [
  ["malformed JSON", "{not json"],
  ["a missing request_id", JSON.stringify({ ...call1, request_id: undefined })],
  ["a missing model", JSON.stringify({ ...call1, model: undefined })],
  ["negative tokens", JSON.stringify({ ...call1, input_tokens: -1 })],
  ["fractional tokens", JSON.stringify({ ...call1, output_tokens: 2.5 })],
  ["an unknown status", JSON.stringify({ ...call1, status: "partial" })],
  ["an oversized request_id", JSON.stringify({ ...call1, request_id: "r".repeat(256) })],
  ["a prompt over 60,000 characters", JSON.stringify({ ...call1, prompt: "p".repeat(60_001) })],
  ["an unknown field", JSON.stringify({ ...call1, tokens: 3 })],
  ["a user_id that is not a uuid", JSON.stringify({ ...call1, user_id: "nope" })],
];
for (const [name, body] of badBodies) {
  Deno.test(`log-ai-usage answers 400 for ${name}`, async () => {
    const user = await newUser(sql);
    const res = await call("log-ai-usage", body, { token: user.token });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    const error = res.body.error as { code: string; details?: { issues: unknown[] } };
    assert.equal(error.code, "invalid_request");
    assert.ok(Array.isArray(error.details?.issues) && error.details.issues.length > 0);
  });
}

Deno.test("log-ai-usage answers 405 for GET, 204 for a preflight and 413 for a body over 64 KiB", async () => {
  const get = await call("log-ai-usage", null, { method: "GET", token: SERVICE_KEY });
  assert.equal(get.status, 405);
  const preflight = await call("log-ai-usage", null, { method: "OPTIONS" });
  assert.equal(preflight.status, 204);
  const user = await newUser(sql);
  const big = await call("log-ai-usage", { ...call1, metadata: { blob: "x".repeat(70_000) } }, {
    token: user.token,
  });
  assert.equal(big.status, 413);
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
