import assert from "node:assert/strict";
import type { Acting, Caller } from "../_tollgate/auth.ts";
import { HttpError } from "../_tollgate/errors.ts";
import type { LogUsageBatchRequest, LogUsageRequest, LogUsageResponse } from "../_tollgate/contract.ts";
import { createHandler } from "./handler.ts";

const USER = "6f1d7c0e-5b9a-4d8e-9f3a-2c1b0a9e8d7c";
const OTHER = "0b8e3f9a-1c2d-4e5f-8a9b-7c6d5e4f3a2b";
const TEAM = "7a2e8d1f-6c0b-4e9f-8a4b-3d2c1b0a9f8e";
const USAGE_ID = "3d2c1b0a-9e8d-4c7b-8a6f-5e4d3c2b1a09";

function fakeDeps(caller: Caller | HttpError, answer: Partial<LogUsageResponse> = {}) {
  const calls: { userId?: string; accountId?: string; input: LogUsageRequest }[] = [];
  const batches: { caller: Caller; input: LogUsageBatchRequest }[] = [];
  const handler = createHandler({
    logUsageBatch: (c: Caller, input: LogUsageBatchRequest) => {
      batches.push({ caller: c, input });
      return Promise.resolve({
        results: input.events.map((e, i) =>
          i % 2 === 0
            ? {
              usage_id: USAGE_ID,
              cost_usd: "0",
              credits_charged: 0,
              balance: i,
              hold_released: 0,
              unpriced: false,
              replayed: false,
            }
            : { error: { code: "idempotency_conflict", message: `Conflict: ${e.request_id}` }, status: 409 }
        ),
      });
    },
    authenticate: () => caller instanceof HttpError ? Promise.reject(caller) : Promise.resolve(caller),
    logUsage: (_c: Caller, acting: Acting, input: LogUsageRequest): Promise<LogUsageResponse> => {
      calls.push({ ...acting, input });
      return Promise.resolve({
        usage_id: USAGE_ID,
        cost_usd: "0.0075",
        credits_charged: 0,
        balance: 3,
        hold_released: 0,
        unpriced: false,
        replayed: false,
        ...answer,
      });
    },
  });
  return { handler, calls, batches };
}

const post = (body: unknown) =>
  new Request("http://x/log-ai-usage", {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const user: Caller = { kind: "user", userId: USER, claims: { sub: USER, role: "authenticated" } };
const minimal = { request_id: "req-1", model: "gpt-4o", input_tokens: 1000, output_tokens: 500 };

Deno.test("log-ai-usage answers 201 on a first write, filling the contract's defaults for the token's user", async () => {
  const { handler, calls } = fakeDeps(user);
  const res = await handler(post(minimal));
  assert.equal(res.status, 201);
  assert.equal((await res.json()).usage_id, USAGE_ID);
  assert.deepEqual(calls, [{
    userId: USER,
    accountId: undefined,
    input: {
      ...minimal,
      feature: "default",
      cached_input_tokens: 0,
      cache_write_tokens: 0,
      status: "success",
      charge_credits: false,
    },
  }]);
});

Deno.test("log-ai-usage answers 200 when the database replays the request", async () => {
  const { handler } = fakeDeps(user, { replayed: true });
  const res = await handler(post(minimal));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).replayed, true);
});

Deno.test("log-ai-usage passes every optional field through unchanged", async () => {
  const { handler, calls } = fakeDeps(user);
  const body = {
    ...minimal,
    provider: "openai",
    feature: "chat",
    cached_input_tokens: 200,
    cache_write_tokens: 300,
    latency_ms: 840,
    status: "error",
    error_code: "timeout",
    charge_credits: true,
    prompt: "Hello",
    response: "",
    metadata: { conversation: 7 },
    hold_id: "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c",
  };
  const res = await handler(post(body));
  assert.equal(res.status, 201);
  assert.deepEqual(calls[0].input, body);
});

Deno.test("log-ai-usage lets the service key act for the named user", async () => {
  const { handler, calls } = fakeDeps({ kind: "service" });
  const res = await handler(post({ ...minimal, user_id: OTHER }));
  assert.equal(res.status, 201);
  assert.equal(calls[0].userId, OTHER);
});

Deno.test("log-ai-usage passes the account a user token names, and the service key's account and member", async () => {
  const { handler, calls } = fakeDeps(user);
  assert.equal((await handler(post({ ...minimal, account_id: TEAM }))).status, 201);
  const service = fakeDeps({ kind: "service" });
  assert.equal((await service.handler(post({ ...minimal, account_id: TEAM }))).status, 201);
  assert.deepEqual(
    [calls[0].userId, calls[0].accountId, service.calls[0].userId, service.calls[0].accountId],
    [
      USER,
      TEAM,
      undefined,
      TEAM,
    ],
  );
});

Deno.test("log-ai-usage answers 400 when the service key names no user, without calling the database", async () => {
  const { handler, calls } = fakeDeps({ kind: "service" });
  const res = await handler(post(minimal));
  assert.equal(res.status, 400);
  assert.equal(calls.length, 0);
});

Deno.test("log-ai-usage refuses a user token naming another user with 403", async () => {
  const { handler, calls } = fakeDeps(user);
  const res = await handler(post({ ...minimal, user_id: OTHER }));
  assert.equal(res.status, 403);
  assert.equal((await res.json()).error.code, "forbidden");
  assert.equal(calls.length, 0);
});

Deno.test("log-ai-usage answers 401 when authentication fails, before reading the body", async () => {
  const { handler, calls } = fakeDeps(new HttpError(401, "unauthorized", "Missing authorization header"));
  const res = await handler(post("{broken"));
  assert.equal(res.status, 401);
  assert.equal(calls.length, 0);
});

const badBodies: [string, unknown, string[]][] = [
  ["missing required fields", {}, ["input_tokens", "model", "output_tokens", "request_id"]],
  ["negative and fractional tokens", { ...minimal, input_tokens: -1, output_tokens: 1.5 }, [
    "input_tokens",
    "output_tokens",
  ]],
  ["an unknown status", { ...minimal, status: "maybe" }, ["status"]],
  ["a string for charge_credits", { ...minimal, charge_credits: "yes" }, ["charge_credits"]],
  ["an oversized model name", { ...minimal, model: "m".repeat(129) }, ["model"]],
  ["metadata that is not an object", { ...minimal, metadata: [1, 2] }, ["metadata"]],
  ["an unknown field", { ...minimal, tokens: 5 }, [""]],
];
for (const [name, body, paths] of badBodies) {
  Deno.test(`log-ai-usage answers 400 listing the issues for ${name}`, async () => {
    const { handler, calls } = fakeDeps(user);
    const res = await handler(post(body));
    assert.equal(res.status, 400);
    const { error } = await res.json();
    assert.equal(error.code, "invalid_request");
    assert.deepEqual(error.details.issues.map((i: { path: string[] }) => i.path.join(".")).sort(), paths);
    assert.equal(calls.length, 0);
  });
}

Deno.test("log-ai-usage maps a database conflict to 409 with its details", async () => {
  const handler = createHandler({
    authenticate: () => Promise.resolve(user),
    logUsageBatch: () => Promise.reject(new Error("not a batch")),
    logUsage: () =>
      Promise.reject(
        new HttpError(
          409,
          "idempotency_conflict",
          "Idempotency conflict: request_id req-1 was already logged",
          {
            details: { request_id: "req-1" },
          },
        ),
      ),
  });
  const res = await handler(post(minimal));
  assert.equal(res.status, 409);
  assert.deepEqual((await res.json()).error.details, { request_id: "req-1" });
});

Deno.test("log-ai-usage answers a batch 200 with each event's answer in order, an event's error as its own", async () => {
  const { handler, calls, batches } = fakeDeps(user);
  const events = [minimal, { ...minimal, request_id: "req-2", user_id: OTHER }, {
    ...minimal,
    request_id: "req-3",
  }];
  const res = await handler(post({ events }));
  assert.equal(res.status, 200);
  const { results } = await res.json();
  assert.deepEqual(results.map((r: { balance?: number; status?: number }) => r.balance ?? r.status), [
    0,
    409,
    2,
  ]);
  assert.equal(calls.length, 0, "a batch is one call of its own, not one per event");
  assert.equal(batches.length, 1);
  assert.equal(batches[0].caller, user, "each event acts for itself in the database, as the caller");
  assert.deepEqual(batches[0].input.events[1], {
    ...minimal,
    request_id: "req-2",
    user_id: OTHER,
    feature: "default",
    cached_input_tokens: 0,
    cache_write_tokens: 0,
    status: "success",
    charge_credits: false,
  }, "with the contract's defaults filled in per event");
});

const badBatches: [string, unknown, string[]][] = [
  ["no events", { events: [] }, ["events"]],
  [
    "1,001 events",
    { events: Array.from({ length: 1001 }, (_, i) => ({ ...minimal, request_id: `r${i}` })) },
    [
      "events",
    ],
  ],
  ["one bad event", { events: [minimal, { ...minimal, model: "", input_tokens: -1 }] }, [
    "events.1.input_tokens",
    "events.1.model",
  ]],
  ["events that are not an array", { events: minimal }, ["events"]],
  ["a field beside events", { events: [minimal], user_id: OTHER }, [""]],
];
for (const [name, body, paths] of badBatches) {
  Deno.test(`log-ai-usage answers 400 for a batch with ${name}, without calling the database`, async () => {
    const { handler, calls, batches } = fakeDeps(user);
    const res = await handler(post(body));
    assert.equal(res.status, 400);
    const { error } = await res.json();
    assert.equal(error.code, "invalid_request");
    assert.deepEqual(error.details.issues.map((i: { path: string[] }) => i.path.join(".")).sort(), paths);
    assert.equal(calls.length + batches.length, 0);
  });
}

Deno.test("log-ai-usage takes a batch up to 1 MiB, one event up to 64 KiB, and answers 413 beyond", async () => {
  const { handler } = fakeDeps(user);
  const event = { ...minimal, prompt: "p".repeat(50_000) };
  const batch = (n: number) => ({
    events: Array.from({ length: n }, (_, i) => ({ ...event, request_id: `r${i}` })),
  });
  assert.equal((await handler(post(batch(20)))).status, 200, "a batch of about 1,000,000 bytes");
  const over = await handler(post(batch(21)));
  assert.equal(over.status, 413);
  assert.match((await over.json()).error.message, /1048576 bytes/);
  const single = await handler(post({ ...minimal, prompt: "p".repeat(59_000), response: "r".repeat(7_000) }));
  assert.equal(single.status, 413, "a single event over 64 KiB");
  assert.match((await single.json()).error.message, /65536 bytes/);
});
