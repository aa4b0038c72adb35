import assert from "node:assert/strict";
import { ANON_KEY, BAD_TOKENS, call, db, esToken, newUser, SERVICE_KEY, topUp } from "./_helpers.ts";

const sql = db();
const FEATURE = "e2e-unlimited"; // no plan_limits row: only credits gate it

async function balanceOf(userId: string): Promise<number> {
  const [row] = await sql`select balance from tollgate.accounts where id = ${userId}`;
  return Number(row.balance);
}

Deno.test("consume-credit answers 200 and the balance drops", async () => {
  const user = await newUser(sql);
  const before = await balanceOf(user.id);
  const res = await call("consume-credit", { idempotency_key: "a", amount: 2, feature: FEATURE }, {
    token: user.token,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.consumed, 2);
  assert.equal(res.body.balance, before - 2);
  assert.equal(res.body.replayed, false);
  assert.deepEqual(res.body.quota, []);
  assert.equal(await balanceOf(user.id), before - 2);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
});

Deno.test("consume-credit replays the same key and body without a second debit", async () => {
  const user = await newUser(sql);
  const body = { idempotency_key: "replay", amount: 1, feature: FEATURE, metadata: { job: 7 } };
  const first = await call("consume-credit", body, { token: user.token });
  const second = await call("consume-credit", body, { token: user.token });
  assert.equal(first.status, 200);
  assert.equal(second.status, 200);
  assert.equal(second.body.transaction_id, first.body.transaction_id);
  assert.equal(second.body.replayed, true);
  assert.equal(await balanceOf(user.id), first.body.balance as number);
});

Deno.test("consume-credit answers 409 for the same key with a different body", async () => {
  const user = await newUser(sql);
  await call("consume-credit", { idempotency_key: "k", amount: 1, feature: FEATURE }, { token: user.token });
  const res = await call("consume-credit", { idempotency_key: "k", amount: 2, feature: FEATURE }, {
    token: user.token,
  });
  assert.equal(res.status, 409);
  assert.equal((res.body.error as { code: string }).code, "idempotency_conflict");
});

Deno.test("consume-credit answers 402 with details, binds nothing, and a retry after a top-up succeeds", async () => {
  const user = await newUser(sql);
  const balance = await balanceOf(user.id);
  const body = { idempotency_key: "big", amount: balance + 5, feature: FEATURE };
  const refused = await call("consume-credit", body, { token: user.token });
  assert.equal(refused.status, 402);
  const error = refused.body.error as { code: string; details: Record<string, number> };
  assert.equal(error.code, "insufficient_credits");
  assert.deepEqual(error.details, { balance, required: balance + 5 });
  assert.equal(await balanceOf(user.id), balance);
  await topUp(sql, user.id, 10);
  const retried = await call("consume-credit", body, { token: user.token });
  assert.equal(retried.status, 200);
  assert.equal(retried.body.balance, balance + 10 - (balance + 5));
});

Deno.test("consume-credit lets the service key act for a named user, and an ES256 (JWKS) token act for itself", async () => {
  const user = await newUser(sql);
  const before = await balanceOf(user.id);
  const asService = await call("consume-credit", {
    idempotency_key: "svc",
    feature: FEATURE,
    user_id: user.id,
  }, {
    token: SERVICE_KEY,
  });
  assert.equal(asService.status, 200, JSON.stringify(asService.body));
  const asEs = await call("consume-credit", { idempotency_key: "es", feature: FEATURE }, {
    token: await esToken({ sub: user.id }),
  });
  assert.equal(asEs.status, 200, JSON.stringify(asEs.body));
  assert.equal(await balanceOf(user.id), before - 2);
});

Deno.test("consume-credit answers 400 when the service key names no user", async () => {
  const res = await call("consume-credit", { idempotency_key: "x" }, { token: SERVICE_KEY });
  assert.equal(res.status, 400);
});

for (const [name, make] of BAD_TOKENS) {
  Deno.test(`consume-credit answers 401 for a ${name} token`, async () => {
    const res = await call("consume-credit", { idempotency_key: "t" }, { token: await make() });
    assert.equal(res.status, 401);
    assert.equal((res.body.error as { code: string }).code, "unauthorized");
  });
}

Deno.test("consume-credit answers 403 for the anon key", async () => {
  const res = await call("consume-credit", { idempotency_key: "t" }, { token: ANON_KEY });
  assert.equal(res.status, 403);
});

Deno.test("consume-credit answers 403 when a user token names another user's user_id", async () => {
  const alice = await newUser(sql);
  const bob = await newUser(sql);
  const before = await balanceOf(bob.id);
  const res = await call("consume-credit", { idempotency_key: "t", feature: FEATURE, user_id: bob.id }, {
    token: alice.token,
  });
  assert.equal(res.status, 403);
  assert.equal(await balanceOf(bob.id), before);
});

const badBodies: [string, string][] = [
  ["malformed JSON", "{not json"],
  ["a missing idempotency key", JSON.stringify({ amount: 1 })],
  ["a negative amount", JSON.stringify({ idempotency_key: "a", amount: -1 })],
  ["an amount over 1,000,000", JSON.stringify({ idempotency_key: "a", amount: 1_000_001 })],
  ["a fractional amount", JSON.stringify({ idempotency_key: "a", amount: 1.5 })],
  ["an oversized key", JSON.stringify({ idempotency_key: "k".repeat(256) })],
  ["an unknown field", JSON.stringify({ idempotency_key: "a", amout: 1 })],
  ["a user_id that is not a uuid", JSON.stringify({ idempotency_key: "a", user_id: "nope" })],
];
for (const [name, body] of badBodies) {
  Deno.test(`consume-credit answers 400 for ${name}`, async () => {
    const user = await newUser(sql);
    const res = await call("consume-credit", body, { token: user.token });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    const error = res.body.error as { code: string; details?: { issues: unknown[] } };
    assert.equal(error.code, "invalid_request");
    assert.ok(Array.isArray(error.details?.issues) && error.details.issues.length > 0);
  });
}

Deno.test("consume-credit answers 405 for GET and 204 with CORS headers for a preflight", async () => {
  const get = await call("consume-credit", null, { method: "GET", token: SERVICE_KEY });
  assert.equal(get.status, 405);
  assert.equal((get.body.error as { code: string }).code, "method_not_allowed");
  const preflight = await call("consume-credit", null, { method: "OPTIONS" });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/);
});

Deno.test("consume-credit answers 413 for a body over 64 KiB", async () => {
  const user = await newUser(sql);
  const res = await call(
    "consume-credit",
    { idempotency_key: "big", metadata: { blob: "x".repeat(70_000) } },
    {
      token: user.token,
    },
  );
  assert.equal(res.status, 413);
  assert.equal((res.body.error as { code: string }).code, "payload_too_large");
});

Deno.test("200 parallel consumes of 1 credit against a balance of 50: exactly 50 succeed", async () => {
  const user = await newUser(sql);
  // Spend the signup grant first so the balance is exactly 50.
  const start = await balanceOf(user.id);
  if (start > 0) {
    await call("consume-credit", { idempotency_key: "drain", amount: start, feature: FEATURE }, {
      token: user.token,
    });
  }
  await topUp(sql, user.id, 50);
  const results = await Promise.all(
    Array.from(
      { length: 200 },
      (_, i) =>
        call("consume-credit", { idempotency_key: `p-${i}`, amount: 1, feature: FEATURE }, {
          token: user.token,
        }),
    ),
  );
  const count = (s: number) => results.filter((r) => r.status === s).length;
  assert.equal(count(200), 50);
  assert.equal(count(402), 150);
  assert.equal(await balanceOf(user.id), 0);
  const problems = await sql`select * from tollgate.check_ledger(${user.id}::uuid)`;
  assert.equal(problems.length, 0, JSON.stringify(problems));
});

Deno.test("200 concurrent consumes by two users each debit the caller's own account (no cross-talk)", async () => {
  const users = [await newUser(sql), await newUser(sql)];
  for (const u of users) await topUp(sql, u.id, 500);
  const before = await Promise.all(users.map((u) => balanceOf(u.id)));
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => {
    const u = users[i % 2];
    return call("consume-credit", { idempotency_key: `${u.id}-${i}`, feature: FEATURE }, { token: u.token });
  }));
  assert.deepEqual(
    results.map((r) => r.status),
    Array(200).fill(200),
    JSON.stringify(results.find((r) => r.status !== 200)?.body),
  );
  assert.equal(new Set(results.map((r) => r.body.transaction_id)).size, 200);
  for (const [n, u] of users.entries()) {
    assert.equal(await balanceOf(u.id), before[n] - 100, "each user paid exactly their own 100 calls");
    const [rows] = await sql`select count(*) filter (where idempotency_key like ${`${u.id}-%`})::int as own,
                                    count(*) filter (where idempotency_key not like ${`${u.id}-%`})::int as foreign
                               from tollgate.credit_ledger where account_id = ${u.id} and reason = 'consume'`;
    assert.deepEqual({ ...rows }, { own: 100, foreign: 0 }, "this account holds its own 100 requests only");
  }
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
