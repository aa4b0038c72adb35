/**
 * The credential matrix of the HTTP contract, end to end, with the functions holding only the hosted default
 * secrets (no JWT secret): every credential a hosted project can send, and a forged and an expired variant of
 * each, against every function that authenticates. The webhook takes none of them: only Stripe's signature.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { freePort, waitForPort } from "../../scripts/lib/stack.ts";
import {
  ANON_KEY,
  call,
  db,
  esToken,
  FUNCTION_ENV,
  hsToken,
  newUser,
  PUBLISHABLE_KEY,
  SECRET_KEY,
  SERVICE_KEY,
  spawnAsDeployed,
  topUp,
} from "./_helpers.ts";

const FEATURE = "e2e-unlimited";
const stranger = await jose.generateKeyPair("ES256");
const FORGED_SECRET = "another-secret-that-is-at-least-32-chars!!";
const now = () => Math.floor(Date.now() / 1000);

/** A JWT like the legacy anon / service_role keys (no sub), signed with `secret`, expiring at `exp`. */
function legacyKey(role: string, opts: { secret?: string; exp?: number } = {}): Promise<string> {
  return new jose.SignJWT({ role, iss: "supabase-demo" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setExpirationTime(opts.exp ?? now() + 3600)
    .sign(new TextEncoder().encode(opts.secret ?? "super-secret-jwt-token-with-at-least-32-characters-long"));
}

/** How the function should treat the caller: as the user, as the service, or refuse with 401 / 403. */
type Kind = "user" | "service" | 401 | 403;
interface Credential {
  name: string;
  kind: Kind;
  headers(userId: string): Promise<Record<string, string>>;
}
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

const CREDENTIALS: Credential[] = [
  {
    name: "an ES256 user token (JWKS)",
    kind: "user",
    headers: async (id) => bearer(await esToken({ sub: id })),
  },
  {
    name: "an HS256 user token (confirmed by the Auth endpoint)",
    kind: "user",
    headers: async (id) => bearer(await hsToken({ sub: id })),
  },
  {
    name: "a user token beside the publishable apikey (supabase-js with a session)",
    kind: "user",
    headers: async (id) => ({ ...bearer(await esToken({ sub: id })), apikey: PUBLISHABLE_KEY }),
  },
  {
    name: "the legacy service-role JWT",
    kind: "service",
    headers: () => Promise.resolve(bearer(SERVICE_KEY)),
  },
  {
    name: "the sb_secret_ key as the bearer",
    kind: "service",
    headers: () => Promise.resolve(bearer(SECRET_KEY)),
  },
  {
    name: "the sb_secret_ key as apikey",
    kind: "service",
    headers: () => Promise.resolve({ apikey: SECRET_KEY }),
  },
  {
    name: "the publishable key as the bearer",
    kind: 403,
    headers: () => Promise.resolve(bearer(PUBLISHABLE_KEY)),
  },
  {
    name: "the publishable key as apikey",
    kind: 403,
    headers: () => Promise.resolve({ apikey: PUBLISHABLE_KEY }),
  },
  { name: "the legacy anon key", kind: 403, headers: () => Promise.resolve(bearer(ANON_KEY)) },
  {
    name: "a forged ES256 user token (a key outside the JWKS)",
    kind: 401,
    headers: async (id) => bearer(await esToken({ sub: id }, { key: stranger.privateKey })),
  },
  {
    name: "an expired ES256 user token",
    kind: 401,
    headers: async (id) => bearer(await esToken({ sub: id }, { expiresIn: -60 })),
  },
  {
    name: "a forged HS256 user token (another secret)",
    kind: 401,
    headers: async (id) => bearer(await hsToken({ sub: id }, { secret: FORGED_SECRET })),
  },
  {
    name: "an expired HS256 user token",
    kind: 401,
    headers: async (id) => bearer(await hsToken({ sub: id }, { expiresIn: -60 })),
  },
  {
    name: "an HS256 user token of a user the Auth server does not know",
    kind: 401,
    headers: async () => bearer(await hsToken({ sub: crypto.randomUUID() })),
  },
  {
    name: "a forged service-role JWT (another secret)",
    kind: 401,
    headers: async () => bearer(await legacyKey("service_role", { secret: FORGED_SECRET })),
  },
  {
    name: "an expired service-role JWT",
    kind: 401,
    headers: async () => bearer(await legacyKey("service_role", { exp: now() - 60 })),
  },
  {
    name: "a forged sb_secret_ key as the bearer",
    kind: 401,
    headers: () => Promise.resolve(bearer(`${SECRET_KEY.slice(0, -4)}XXXX`)),
  },
  {
    name: "a forged sb_secret_ key as apikey",
    kind: 401,
    headers: () => Promise.resolve({ apikey: `${SECRET_KEY.slice(0, -4)}XXXX` }),
  },
  {
    name: "a forged publishable key",
    kind: 401,
    headers: () => Promise.resolve({ apikey: `${PUBLISHABLE_KEY.slice(0, -4)}XXXX` }),
  },
  {
    name: "a forged anon key (another secret)",
    kind: 401,
    headers: async () => bearer(await legacyKey("anon", { secret: FORGED_SECRET })),
  },
  {
    name: "an expired anon key",
    kind: 401,
    headers: async () => bearer(await legacyKey("anon", { exp: now() - 60 })),
  },
];

/** Each authenticating function: a valid body for the caller, and what the user and the service get. */
const FUNCTIONS: Record<
  string,
  { body(service: boolean, userId: string): unknown; user: number; service: number }
> = {
  "consume-credit": {
    body: (service, userId) => ({
      idempotency_key: crypto.randomUUID(),
      feature: FEATURE,
      ...(service ? { user_id: userId } : {}),
    }),
    user: 200,
    service: 200,
  },
  "log-ai-usage": {
    body: (service, userId) => ({
      request_id: crypto.randomUUID(),
      model: "e2e-unpriced-model",
      input_tokens: 1,
      output_tokens: 1,
      ...(service ? { user_id: userId } : {}),
    }),
    user: 201,
    service: 201,
  },
  "reset-monthly-quotas": { body: () => ({}), user: 403, service: 200 },
  "deliver-billing-events": { body: () => ({}), user: 403, service: 200 },
  "billing-status": {
    body: (service, userId) => (service ? { user_id: userId } : {}),
    user: 200,
    service: 200,
  },
};

const sql = db();
const user = await newUser(sql);
await topUp(sql, user.id, 1_000);
await sql.end();

for (const [fn, spec] of Object.entries(FUNCTIONS)) {
  for (const credential of CREDENTIALS) {
    const expected = credential.kind === "user"
      ? spec.user
      : credential.kind === "service"
      ? spec.service
      : credential.kind;
    Deno.test(`${fn} answers ${expected} to ${credential.name}`, async () => {
      const res = await call(fn, spec.body(credential.kind === "service", user.id), {
        headers: await credential.headers(user.id),
      });
      assert.equal(res.status, expected, JSON.stringify(res.body));
      const code = { 401: "unauthorized", 403: "forbidden" }[expected as 401 | 403];
      if (code) assert.equal((res.body.error as { code: string }).code, code);
    });
  }
}

Deno.test("stripe-webhook answers 400 invalid_signature to every credential without Stripe's signature", async () => {
  for (const credential of CREDENTIALS) {
    const res = await call("stripe-webhook", { id: "evt_x", type: "invoice.paid" }, {
      headers: await credential.headers(user.id),
    });
    assert.equal(res.status, 400, credential.name);
    assert.equal((res.body.error as { code: string }).code, "invalid_signature", credential.name);
  }
});

Deno.test("with the Auth server unreachable, HS256 tokens get 503 and ES256 tokens still work", async () => {
  const dead = freePort(); // nothing listens there
  for (const [fn, spec] of Object.entries(FUNCTIONS)) {
    const port = freePort();
    const child = spawnAsDeployed(fn, { SUPABASE_URL: `http://127.0.0.1:${dead}` }, port);
    try {
      await waitForPort(port, 30_000, fn);
      const send = async (token: string) => {
        const res = await fetch(`http://127.0.0.1:${port}/functions/v1/${fn}`, {
          method: "POST",
          headers: { ...bearer(token), "Content-Type": "application/json" },
          body: JSON.stringify(spec.body(false, user.id)),
        });
        return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
      };
      const hs = await send(await hsToken({ sub: user.id }));
      assert.deepEqual([hs.status, hs.body.error.code, hs.retryAfter], [503, "unavailable", "1"], fn);
      assert.equal((await send(await esToken({ sub: user.id }))).status, spec.user, fn);
    } finally {
      child.kill("SIGTERM");
      await child.status;
    }
  }
});

Deno.test("the functions hold the hosted default secrets and no JWT secret", () => {
  for (
    const name of ["SUPABASE_JWKS", "SUPABASE_PUBLISHABLE_KEYS", "SUPABASE_SECRET_KEYS", "SUPABASE_DB_URL"]
  ) {
    assert.ok(FUNCTION_ENV[name], name);
  }
  assert.equal(FUNCTION_ENV.SUPABASE_JWT_SECRET, undefined);
  assert.equal(FUNCTION_ENV.TOLLGATE_JWT_SECRET, undefined);
});
