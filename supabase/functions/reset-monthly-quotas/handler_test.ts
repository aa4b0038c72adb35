import assert from "node:assert/strict";
import type { Caller } from "../_tollgate/auth.ts";
import { HttpError } from "../_tollgate/errors.ts";
import { createHandler } from "./handler.ts";

const USER = "6f1d7c0e-5b9a-4d8e-9f3a-2c1b0a9e8d7c";
const TOTALS = { accounts_rolled: 2, credits_granted: 6, credits_expired: 5 };

function fakeDeps(caller: Caller | HttpError) {
  let calls = 0;
  const handler = createHandler({
    authenticate: () => caller instanceof HttpError ? Promise.reject(caller) : Promise.resolve(caller),
    reset: () => {
      calls++;
      return Promise.resolve(TOTALS);
    },
  });
  return { handler, calls: () => calls };
}

const post = (body: unknown) =>
  new Request("http://x/reset-monthly-quotas", {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const user: Caller = { kind: "user", userId: USER, claims: { sub: USER, role: "authenticated" } };

Deno.test("reset-monthly-quotas runs the reset once for the service key and answers its totals", async () => {
  const { handler, calls } = fakeDeps({ kind: "service" });
  const res = await handler(post({}));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), TOTALS);
  assert.equal(calls(), 1);
});

Deno.test("reset-monthly-quotas refuses a user token with 403 without touching the database", async () => {
  const { handler, calls } = fakeDeps(user);
  const res = await handler(post({}));
  assert.equal(res.status, 403);
  assert.equal((await res.json()).error.code, "forbidden");
  assert.equal(calls(), 0);
});

Deno.test("reset-monthly-quotas answers 401 when authentication fails, before reading the body", async () => {
  const { handler, calls } = fakeDeps(new HttpError(401, "unauthorized", "Missing authorization header"));
  const res = await handler(post("{broken"));
  assert.equal(res.status, 401);
  assert.equal(calls(), 0);
});

Deno.test("reset-monthly-quotas rejects unknown body fields, so callers cannot pick the time", async () => {
  const { handler, calls } = fakeDeps({ kind: "service" });
  const res = await handler(post({ now: "2030-01-01T00:00:00Z" }));
  assert.equal(res.status, 400);
  assert.equal(calls(), 0);
});

Deno.test("reset-monthly-quotas rejects a body that is not JSON with 400", async () => {
  const { handler, calls } = fakeDeps({ kind: "service" });
  const res = await handler(post("{broken"));
  assert.equal(res.status, 400);
  assert.equal(calls(), 0);
});

Deno.test("reset-monthly-quotas answers 405 to GET", async () => {
  const { handler } = fakeDeps({ kind: "service" });
  const res = await handler(new Request("http://x/reset-monthly-quotas", { method: "GET" }));
  assert.equal(res.status, 405);
});
