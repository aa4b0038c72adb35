import assert from "node:assert/strict";
import type { Acting, Caller } from "../_tollgate/auth.ts";
import { HttpError } from "../_tollgate/errors.ts";
import type { ConsumeRequest, ConsumeResponse } from "../_tollgate/contract.ts";
import { createHandler } from "./handler.ts";

const USER = "6f1d7c0e-5b9a-4d8e-9f3a-2c1b0a9e8d7c";
const OTHER = "0b8e3f9a-1c2d-4e5f-8a9b-7c6d5e4f3a2b";
const TEAM = "7a2e8d1f-6c0b-4e9f-8a4b-3d2c1b0a9f8e";

function fakeDeps(caller: Caller | HttpError) {
  const calls: { userId?: string; accountId?: string; input: ConsumeRequest }[] = [];
  const deps = {
    authenticate: () => caller instanceof HttpError ? Promise.reject(caller) : Promise.resolve(caller),
    consume: (_c: Caller, acting: Acting, input: ConsumeRequest): Promise<ConsumeResponse> => {
      calls.push({ ...acting, input });
      return Promise.resolve({
        transaction_id: null,
        consumed: input.amount,
        balance: 9,
        held: 0,
        quota: [],
        replayed: false,
      });
    },
  };
  return { handler: createHandler(deps), calls };
}

const post = (body: unknown) =>
  new Request("http://x/consume-credit", {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const user: Caller = { kind: "user", userId: USER, claims: { sub: USER, role: "authenticated" } };

Deno.test("consume-credit fills the contract's defaults and acts for the token's user", async () => {
  const { handler, calls } = fakeDeps(user);
  const res = await handler(post({ idempotency_key: "k" }));
  assert.equal(res.status, 200);
  assert.deepEqual(calls, [{
    userId: USER,
    accountId: undefined,
    input: { idempotency_key: "k", amount: 1, feature: "default", hold: false, hold_ttl_seconds: 600 },
  }]);
});

Deno.test("consume-credit lets the service key act for the named user", async () => {
  const { handler, calls } = fakeDeps({ kind: "service" });
  const res = await handler(post({ idempotency_key: "k", user_id: OTHER }));
  assert.equal(res.status, 200);
  assert.equal(calls[0].userId, OTHER);
});

Deno.test("consume-credit passes the account a user token names; the database decides membership", async () => {
  const { handler, calls } = fakeDeps(user);
  const res = await handler(post({ idempotency_key: "k", account_id: TEAM.toUpperCase() }));
  assert.equal(res.status, 200);
  assert.deepEqual([calls[0].userId, calls[0].accountId], [USER, TEAM]);
});

Deno.test("consume-credit lets the service key name an account and no member, or neither only with a 400", async () => {
  const { handler, calls } = fakeDeps({ kind: "service" });
  assert.equal((await handler(post({ idempotency_key: "k", account_id: TEAM }))).status, 200);
  assert.deepEqual([calls[0].userId, calls[0].accountId], [undefined, TEAM]);
  assert.equal((await handler(post({ idempotency_key: "k" }))).status, 400);
  assert.equal(calls.length, 1);
});

Deno.test("consume-credit refuses a user token naming another user without calling the database", async () => {
  const { handler, calls } = fakeDeps(user);
  const res = await handler(post({ idempotency_key: "k", user_id: OTHER }));
  assert.equal(res.status, 403);
  assert.equal(calls.length, 0);
});

Deno.test("consume-credit answers 401 when authentication fails, before reading the body", async () => {
  const { handler, calls } = fakeDeps(new HttpError(401, "unauthorized", "Missing authorization header"));
  const res = await handler(post("{broken"));
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, "unauthorized");
  assert.equal(calls.length, 0);
});

Deno.test("consume-credit lists every schema violation in details.issues", async () => {
  const { handler } = fakeDeps(user);
  const res = await handler(post({ amount: -1, feature: "" }));
  assert.equal(res.status, 400);
  const { error } = await res.json();
  const paths = error.details.issues.map((i: { path: string[] }) => i.path.join("."));
  assert.deepEqual(paths.sort(), ["amount", "feature", "idempotency_key"]);
});

Deno.test("consume-credit maps an unexpected failure to a generic 500 that leaks nothing", async () => {
  const handler = createHandler({
    authenticate: () => Promise.resolve(user),
    consume: () => Promise.reject(new Error("password=hunter2 connection string")),
  });
  const original = console.error;
  console.error = () => {};
  try {
    const res = await handler(post({ idempotency_key: "k" }));
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /hunter2/);
  } finally {
    console.error = original;
  }
});
