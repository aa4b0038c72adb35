import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { createTollgateClient, type TollgateClientOptions, TollgateError } from "./mod.ts";

const USER_ID = "6f1d7c0e-5b9a-4d8e-9f3a-2c1b0a9e8d7c";
const CONSUMED = { transaction_id: null, consumed: 1, balance: 41, held: 0, quota: [], replayed: false };

type Step = Response | Error;
interface Sent {
  url: string;
  headers: Headers;
  body: Record<string, unknown>;
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
const refusal = (status: number, code: string, details?: Record<string, unknown>, headers = {}) =>
  json({ error: { code, message: `refused: ${code}`, details } }, status, headers);

/** A real supabase-js client over a scripted fetch; sleeps are recorded, not waited. */
function harness(steps: Step[], options: TollgateClientOptions = {}, key = "anon-key") {
  const sent: Sent[] = [];
  const fetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    sent.push({
      url: String(input),
      headers: new Headers(init?.headers),
      body: JSON.parse(String(init?.body ?? "null")),
    });
    const step = steps.shift();
    if (step === undefined) throw new Error("the test scripted fewer answers than the client asked for");
    return step instanceof Error ? Promise.reject(step) : Promise.resolve(step);
  };
  const supabase = createClient("http://tollgate.test", key, {
    accessToken: () => Promise.resolve("user-jwt"),
    global: { fetch },
  });
  const sleeps: number[] = [];
  const client = createTollgateClient(supabase, {
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
    ...options,
  });
  return { client, sent, sleeps };
}

async function refusedWith(promise: Promise<unknown>): Promise<TollgateError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TollgateError, `expected a TollgateError, got ${error}`);
    return error;
  }
  assert.fail("the call should have been refused");
}

Deno.test("consumeCredit posts to consume-credit with the session token and a generated idempotency key", async () => {
  const { client, sent } = harness([json(CONSUMED)]);
  const result = await client.consumeCredit({ amount: 1, feature: "chat" });
  assert.deepEqual(result, CONSUMED);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].url, "http://tollgate.test/functions/v1/consume-credit");
  assert.equal(sent[0].headers.get("authorization"), "Bearer user-jwt");
  assert.match(String(sent[0].body.idempotency_key), /^[0-9a-f-]{36}$/);
  assert.deepEqual({ ...sent[0].body, idempotency_key: "k" }, {
    idempotency_key: "k",
    amount: 1,
    feature: "chat",
  });
});

Deno.test("consumeCredit keeps the caller's idempotency key", async () => {
  const { client, sent } = harness([json(CONSUMED)]);
  await client.consumeCredit({ idempotency_key: "job-42" });
  assert.equal(sent[0].body.idempotency_key, "job-42");
});

Deno.test("a 503 is retried after its Retry-After with the same idempotency key", async () => {
  const { client, sent, sleeps } = harness([
    refusal(503, "unavailable", undefined, { "Retry-After": "1" }),
    json({ ...CONSUMED, replayed: true }),
  ]);
  const result = await client.consumeCredit({ amount: 1 });
  assert.equal(result.replayed, true);
  assert.equal(sent.length, 2);
  assert.equal(sent[1].body.idempotency_key, sent[0].body.idempotency_key);
  assert.deepEqual(sleeps, [1000]);
});

Deno.test("network errors are retried with exponential jittered backoff and the same key", async () => {
  const { client, sent, sleeps } = harness([
    new TypeError("fetch failed"),
    new TypeError("fetch failed"),
    json(CONSUMED),
  ]);
  await client.consumeCredit({});
  assert.equal(sent.length, 3);
  assert.equal(new Set(sent.map((s) => s.body.idempotency_key)).size, 1);
  assert.deepEqual(sleeps, [100, 200]);
});

Deno.test("retries stop after the budget and surface the last error with its Retry-After and key", async () => {
  const busy = () => refusal(503, "unavailable", undefined, { "Retry-After": "1" });
  const { client, sent } = harness([busy(), busy(), busy()], { retry: { retries: 2 } });
  const error = await refusedWith(client.consumeCredit({ idempotency_key: "k1" }));
  assert.equal(sent.length, 3);
  assert.equal(error.code, "unavailable");
  assert.equal(error.status, 503);
  assert.equal(error.retryAfter, 1);
  assert.equal(error.key, "k1");
});

Deno.test("a network failure that outlasts the retries is a network_error with status 0", async () => {
  const down = () => new TypeError("connection refused");
  const { client, sent } = harness([down(), down()], { retry: { retries: 1 } });
  const error = await refusedWith(client.consumeCredit({}));
  assert.equal(sent.length, 2);
  assert.equal(error.code, "network_error");
  assert.equal(error.status, 0);
  assert.match(error.message, /connection refused/);
});

Deno.test("a 503 whose Retry-After is longer than the client waits is surfaced at once", async () => {
  const { client, sent } = harness([refusal(503, "unavailable", undefined, { "Retry-After": "120" })]);
  const error = await refusedWith(client.consumeCredit({}));
  assert.equal(sent.length, 1);
  assert.equal(error.retryAfter, 120);
});

const noRetry: [number, string, Record<string, unknown> | undefined, Record<string, string>][] = [
  [400, "invalid_request", { issues: [{ path: ["amount"], message: "Too small" }] }, {}],
  [401, "unauthorized", undefined, {}],
  [402, "insufficient_credits", { balance: 3, required: 5 }, {}],
  [403, "forbidden", undefined, {}],
  [409, "idempotency_conflict", undefined, {}],
  [429, "quota_exceeded", { feature: "default", period: "day", limit: 2, used: 2 }, {
    "Retry-After": "3600",
  }],
  [500, "internal", undefined, {}],
];
for (const [status, code, details, headers] of noRetry) {
  Deno.test(`a ${status} ${code} is thrown once as a TollgateError carrying the contract's fields`, async () => {
    const { client, sent, sleeps } = harness([refusal(status, code, details, headers)]);
    const error = await refusedWith(client.consumeCredit({ idempotency_key: "once" }));
    assert.equal(sent.length, 1);
    assert.deepEqual(sleeps, []);
    assert.equal(error.status, status);
    assert.equal(error.code, code);
    assert.equal(error.message, `refused: ${code}`);
    assert.deepEqual(error.details, details ?? {});
    assert.equal(
      error.retryAfter,
      headers["Retry-After"] === undefined ? undefined : Number(headers["Retry-After"]),
    );
    assert.equal(error.key, "once");
  });
}

Deno.test("an error page that is not the contract's body keeps a code from its status", async () => {
  const page = new Response("<html>Bad gateway</html>", {
    status: 502,
    headers: { "Content-Type": "text/html" },
  });
  const { client } = harness([page]);
  const error = await refusedWith(client.consumeCredit({}));
  assert.equal(error.status, 502);
  assert.equal(error.code, "internal");
});

Deno.test("a 2xx body that breaks the contract is an invalid_response, not a silent success", async () => {
  const { client } = harness([json({ consumed: "one" })]);
  const error = await refusedWith(client.consumeCredit({}));
  assert.equal(error.code, "invalid_response");
  assert.ok(Array.isArray(error.details.issues));
});

Deno.test("logAiUsage generates a request_id and accepts the 201 answer", async () => {
  const logged = {
    usage_id: crypto.randomUUID(),
    cost_usd: "0.0012",
    credits_charged: 2,
    balance: 39,
    hold_released: 0,
    unpriced: false,
    replayed: false,
  };
  const { client, sent } = harness([json(logged, 201)]);
  const result = await client.logAiUsage({ model: "gpt-4o-mini", input_tokens: 10, output_tokens: 5 });
  assert.deepEqual(result, logged);
  assert.equal(sent[0].url, "http://tollgate.test/functions/v1/log-ai-usage");
  assert.match(String(sent[0].body.request_id), /^[0-9a-f-]{36}$/);
});

Deno.test("getStatus posts to billing-status for the client's account and returns the status", async () => {
  const TEAM = "7a2e8d1f-6c0b-4e9f-8a4b-3d2c1b0a9f8e";
  const status = {
    account_id: TEAM,
    kind: "team",
    plan: { id: "pro", features: { export: true } },
    balance: 40,
    held: 2,
    overdraft: 0,
    period: { start: "2030-02-01T10:00:00+00:00", end: "2030-03-01T10:00:00+00:00" },
    quota: [],
    member_cap: { cap: 10, period: "day", used: 3, remaining: 7, resets_at: "2030-02-11T00:00:00+00:00" },
    next_expiry: null,
  };
  const { client, sent } = harness([json(status), json({ ...status, balance: "many" })], { accountId: TEAM });
  assert.deepEqual(await client.getStatus(), status);
  assert.equal(sent[0].url, "http://tollgate.test/functions/v1/billing-status");
  assert.deepEqual(sent[0].body, { account_id: TEAM });
  assert.equal((await refusedWith(client.getStatus())).code, "invalid_response");
});

Deno.test("resetMonthlyQuotas posts an empty body and returns the totals", async () => {
  const totals = { accounts_rolled: 2, credits_granted: 6, credits_expired: 5 };
  const { client, sent } = harness([json(totals)]);
  assert.deepEqual(await client.resetMonthlyQuotas(), totals);
  assert.deepEqual(sent[0].body, {});
});

Deno.test("an abort during the backoff rejects with the signal's reason and sends nothing more", async () => {
  const controller = new AbortController();
  const { client, sent } = harness([new TypeError("fetch failed"), json(CONSUMED)], {
    sleep: (_ms, signal) => {
      controller.abort(new Error("navigated away"));
      return Promise.reject(signal?.reason);
    },
  });
  await assert.rejects(client.consumeCredit({}, { signal: controller.signal }), /navigated away/);
  assert.equal(sent.length, 1);
});

Deno.test("the headers option sends an sb_secret_ key as Bearer, which supabase-js alone never does", async () => {
  const sent: Headers[] = [];
  const fetch = (_input: RequestInfo | URL, init?: RequestInit) => {
    sent.push(new Headers(init?.headers));
    return Promise.resolve(json(CONSUMED));
  };
  const secret = "sb_secret_example";
  const supabase = createClient("http://tollgate.test", secret, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { fetch },
  });
  await createTollgateClient(supabase).consumeCredit({ user_id: USER_ID });
  await createTollgateClient(supabase, { headers: { Authorization: `Bearer ${secret}` } })
    .consumeCredit({ user_id: USER_ID });
  assert.equal(sent[0].get("authorization"), null);
  assert.equal(sent[1].get("authorization"), `Bearer ${secret}`);
});

Deno.test("accountId acts for that account on every consume and usage call, unless the call names its own", async () => {
  const TEAM = "7a2e8d1f-6c0b-4e9f-8a4b-3d2c1b0a9f8e";
  const OTHER = "0b8e3f9a-1c2d-4e5f-8a9b-7c6d5e4f3a2b";
  const usage = {
    usage_id: USER_ID,
    cost_usd: "0",
    credits_charged: 0,
    balance: 1,
    hold_released: 0,
    unpriced: false,
    replayed: false,
  };
  const { client, sent } = harness([json(CONSUMED), json(CONSUMED), json(usage, 201)], { accountId: TEAM });
  await client.consumeCredit({ idempotency_key: "k1" });
  await client.consumeCredit({ idempotency_key: "k2", account_id: OTHER });
  await client.logAiUsage({ model: "gpt-4o", input_tokens: 1, output_tokens: 1 });
  assert.deepEqual(sent.map((s) => s.body.account_id), [TEAM, OTHER, TEAM]);
});

Deno.test("a member over their cap is a TollgateError member_cap_exceeded with its details and retryAfter", async () => {
  const details = { cap: 10, used: 10, period: "day", resets_at: "2027-01-02T00:00:00Z" };
  const { client } = harness([refusal(429, "member_cap_exceeded", details, { "Retry-After": "30" })]);
  const error = await refusedWith(client.consumeCredit({ idempotency_key: "k" }));
  assert.deepEqual([error.code, error.status, error.retryAfter, error.details], [
    "member_cap_exceeded",
    429,
    30,
    details,
  ]);
});
