import assert from "node:assert/strict";
import type { Acting, Caller } from "../_tollgate/auth.ts";
import type { BillingStatusResponse } from "../_tollgate/contract.ts";
import { HttpError } from "../_tollgate/errors.ts";
import { createHandler } from "./handler.ts";

const USER = "6f1d7c0e-5b9a-4d8e-9f3a-2c1b0a9e8d7c";
const OTHER = "0b8e3f9a-1c2d-4e5f-8a9b-7c6d5e4f3a2b";
const TEAM = "7a2e8d1f-6c0b-4e9f-8a4b-3d2c1b0a9f8e";

const STATUS: BillingStatusResponse = {
  account_id: USER,
  kind: "personal",
  plan: { id: "free", features: {} },
  balance: 3,
  held: 0,
  overdraft: 0,
  period: { start: "2030-02-01T10:00:00+00:00", end: "2030-03-01T10:00:00+00:00" },
  quota: [],
  member_cap: null,
  next_expiry: null,
};

function fakeDeps(caller: Caller | HttpError) {
  const calls: Acting[] = [];
  const handler = createHandler({
    authenticate: () => caller instanceof HttpError ? Promise.reject(caller) : Promise.resolve(caller),
    status: (_c: Caller, acting: Acting) => {
      calls.push(acting);
      return Promise.resolve(STATUS);
    },
  });
  return { handler, calls };
}

const post = (body: unknown) =>
  new Request("http://x/billing-status", {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const user: Caller = { kind: "user", userId: USER, claims: { sub: USER, role: "authenticated" } };

Deno.test("billing-status answers the database's status for the token's user, with an empty body too", async () => {
  const { handler, calls } = fakeDeps(user);
  const res = await handler(new Request("http://x/billing-status", { method: "POST" }));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), STATUS);
  assert.deepEqual(calls, [{ userId: USER, accountId: undefined }]);
});

Deno.test("billing-status passes the account a user token names; the database decides membership", async () => {
  const { handler, calls } = fakeDeps(user);
  assert.equal((await handler(post({ account_id: TEAM }))).status, 200);
  assert.deepEqual(calls, [{ userId: USER, accountId: TEAM }]);
});

Deno.test("billing-status refuses a user token naming another user, and the service key naming nobody", async () => {
  const asUser = fakeDeps(user);
  assert.equal((await asUser.handler(post({ user_id: OTHER }))).status, 403);
  const asService = fakeDeps({ kind: "service" });
  assert.equal((await asService.handler(post({}))).status, 400);
  assert.equal((await asService.handler(post({ user_id: OTHER }))).status, 200);
  assert.deepEqual([asUser.calls.length, asService.calls], [0, [{ userId: OTHER, accountId: undefined }]]);
});

Deno.test("billing-status refuses unknown fields and answers 401 before reading the body", async () => {
  const { handler, calls } = fakeDeps(user);
  const res = await handler(post({ feature: "x" }));
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.code, "invalid_request");
  const denied = fakeDeps(new HttpError(401, "unauthorized", "Missing authorization header"));
  assert.equal((await denied.handler(post("{broken"))).status, 401);
  assert.equal(calls.length + denied.calls.length, 0);
});
