import assert from "node:assert/strict";
import type { Caller } from "../_tollgate/auth.ts";
import { HttpError } from "../_tollgate/errors.ts";
import { createHandler } from "./handler.ts";

const USER = "6f1d7c0e-5b9a-4d8e-9f3a-2c1b0a9e8d7c";
const TOTALS = { configured: true, delivered: 3, failed: 1 };

function fakeDeps(caller: Caller | HttpError) {
  let calls = 0;
  const handler = createHandler({
    authenticate: () => caller instanceof HttpError ? Promise.reject(caller) : Promise.resolve(caller),
    deliver: () => {
      calls++;
      return Promise.resolve(TOTALS);
    },
  });
  return { handler, calls: () => calls };
}

const post = (body: unknown) =>
  new Request("http://x/deliver-billing-events", {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const user: Caller = { kind: "user", userId: USER, claims: { sub: USER, role: "authenticated" } };

Deno.test("deliver-billing-events delivers once for the service key and answers the totals", async () => {
  const { handler, calls } = fakeDeps({ kind: "service" });
  const res = await handler(post({}));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), TOTALS);
  assert.equal(calls(), 1);
});

Deno.test("deliver-billing-events refuses a user token with 403 without delivering", async () => {
  const { handler, calls } = fakeDeps(user);
  const res = await handler(post({}));
  assert.equal(res.status, 403);
  assert.equal((await res.json()).error.code, "forbidden");
  assert.equal(calls(), 0);
});

Deno.test("deliver-billing-events answers 401 when authentication fails, before reading the body", async () => {
  const { handler, calls } = fakeDeps(new HttpError(401, "unauthorized", "Missing authorization header"));
  assert.equal((await handler(post("{broken"))).status, 401);
  assert.equal(calls(), 0);
});

Deno.test("deliver-billing-events rejects unknown body fields and bodies that are not JSON with 400", async () => {
  const { handler, calls } = fakeDeps({ kind: "service" });
  assert.equal((await handler(post({ limit: 5 }))).status, 400);
  assert.equal((await handler(post("{broken"))).status, 400);
  assert.equal(calls(), 0);
});
