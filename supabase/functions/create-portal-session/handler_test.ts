import assert from "node:assert/strict";
import type { Caller } from "../_tollgate/auth.ts";
import { HttpError } from "../_tollgate/errors.ts";
import { createHandler } from "./handler.ts";
import { openPortal } from "./portal.ts";

const USER = "5b0c6e2a-1d3f-4c8b-9a7e-2f1d0c9b8a7e";
const TEAM = "7c0c6e2a-1d3f-4c8b-9a7e-2f1d0c9b8a7e";
const post = (body: unknown) =>
  new Request("http://localhost/create-portal-session", { method: "POST", body: JSON.stringify(body) });
const asUser = (): Promise<Caller> => Promise.resolve({ kind: "user", userId: USER, claims: {} });

Deno.test("create-portal-session refuses a return_url outside TOLLGATE_ALLOWED_REDIRECTS before any call", async () => {
  const handler = createHandler({
    authenticate: asUser,
    allowedRedirects: new Set(["https://app.example.com"]),
    portal: () => Promise.reject(new Error("not called")),
  });
  const res = await handler(post({ return_url: "https://evil.example.com/billing" }));
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.details.issues[0].path[0], "return_url");
});

Deno.test("create-portal-session opens the portal of the account's customer for the acting user", async () => {
  const seen: unknown[] = [];
  const handler = createHandler({
    authenticate: asUser,
    allowedRedirects: new Set(["https://app.example.com"]),
    portal: (acting, input) =>
      openPortal(
        {
          customer: (a) => {
            seen.push(a);
            return Promise.resolve("cus_team");
          },
          createSession: (customer, returnUrl) => {
            seen.push([customer, returnUrl]);
            return Promise.resolve({ url: "https://billing.stripe.com/p/session/x" });
          },
        },
        acting,
        input,
      ),
  });
  const res = await handler(post({ return_url: "https://app.example.com/billing", account_id: TEAM }));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { url: "https://billing.stripe.com/p/session/x" });
  assert.deepEqual(seen, [{ userId: USER, accountId: TEAM }, [
    "cus_team",
    "https://app.example.com/billing",
  ]]);
});

Deno.test("create-portal-session answers the database's 404 when the account has no customer", async () => {
  const handler = createHandler({
    authenticate: asUser,
    allowedRedirects: new Set(["https://app.example.com"]),
    portal: () =>
      Promise.reject(new HttpError(404, "not_found", "Cannot open the billing portal: no customer")),
  });
  const res = await handler(post({ return_url: "https://app.example.com/billing" }));
  assert.equal(res.status, 404);
});
