import assert from "node:assert/strict";
import * as jose from "jose";
import { actingFor, type AuthConfig, type Caller, createAuthenticator } from "./auth.ts";
import { HttpError } from "./errors.ts";

const USER = "6f1d7c0e-5b9a-4d8e-9f3a-2c1b0a9e8d7c";
const TEAM = "7a2e8d1f-6c0b-4e9f-8a4b-3d2c1b0a9f8e";
const SECRET = "sb_secret_unit-test-secret-key-000000";
const PUBLISHABLE = "sb_publishable_unit-test-publishable-key";
const JWT_SECRET = "a-legacy-jwt-secret-of-at-least-32-characters";
const encoder = new TextEncoder();

const signing = await jose.generateKeyPair("ES256", { extractable: true });
const stranger = await jose.generateKeyPair("ES256");
const KID = "unit-test-key";
const publicJwk = { ...(await jose.exportJWK(signing.publicKey)), kid: KID, alg: "ES256", use: "sig" };

/** HS256 legacy keys, as hosted prints them: signed with the project's JWT secret, no sub. */
const legacyKey = (role: string) =>
  new jose.SignJWT({ role }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setExpirationTime("10y")
    .sign(encoder.encode(JWT_SECRET));
const ANON_KEY = await legacyKey("anon");
const SERVICE_ROLE_KEY = await legacyKey("service_role");

function config(overrides: Partial<AuthConfig> = {}): AuthConfig {
  return {
    supabaseUrl: "https://ref.supabase.test",
    jwks: { keys: [publicJwk] },
    publishableKeys: { default: PUBLISHABLE },
    secretKeys: { default: "sb_secret_another-key", ci: SECRET },
    anonKey: ANON_KEY,
    serviceRoleKey: SERVICE_ROLE_KEY,
    jwtSecret: null,
    ...overrides,
  };
}

type Claims = jose.JWTPayload & { role?: string };
const userClaims = (extra: Claims = {}): Claims => ({ sub: USER, role: "authenticated", ...extra });

/** A token like GoTrue's; `exp: null` leaves the claim out. */
function esToken(claims: Claims = userClaims(), opts: { key?: CryptoKey; exp?: number | null } = {}) {
  const jwt = new jose.SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: KID, typ: "JWT" })
    .setIssuedAt();
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 3600);
  return jwt.sign(opts.key ?? signing.privateKey);
}

function hsToken(claims: Claims = userClaims(), opts: { secret?: string; exp?: number | null } = {}) {
  const jwt = new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt();
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 3600);
  return jwt.sign(encoder.encode(opts.secret ?? JWT_SECRET));
}

function request(headers: Record<string, string>): Request {
  return new Request("http://x/fn", { method: "POST", headers });
}
const bearer = (token: string, extra: Record<string, string> = {}) =>
  request({ Authorization: `Bearer ${token}`, ...extra });

/** A fake Auth server: answers `respond(token)` and counts the calls. */
function authServer(respond: (token: string, init?: RequestInit) => Response | Promise<Response>) {
  const calls: { url: string; headers: Headers }[] = [];
  const fetch = ((input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    calls.push({ url: String(input), headers });
    return Promise.resolve(respond(headers.get("authorization")!.slice(7), init));
  }) as typeof globalThis.fetch;
  return { calls, fetch };
}
const userAnswer = (id = USER) => Response.json({ id, aud: "authenticated", role: "authenticated" });

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
}

Deno.test("a signing-key (ES256) user token verifies against SUPABASE_JWKS without the network", async () => {
  const server = authServer(() => userAnswer());
  const caller = await createAuthenticator(config(), server)(bearer(await esToken()));
  assert.equal(caller.kind, "user");
  assert.equal((caller as Extract<Caller, { kind: "user" }>).userId, USER);
  assert.equal(server.calls.length, 0);
});

Deno.test("bad user tokens are 401: another key, no exp, expired, sub not a uuid, alg none, garbage", async () => {
  const authenticate = createAuthenticator(config(), authServer(() => userAnswer()));
  const none = `${jose.base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }))}.${
    jose.base64url.encode(JSON.stringify({ ...userClaims(), exp: 4102444800 }))
  }.`;
  const cases: [string, string][] = [
    ["signed by a key outside the JWKS", await esToken(userClaims(), { key: stranger.privateKey })],
    ["without exp", await esToken(userClaims(), { exp: null })],
    ["expired", await esToken(userClaims(), { exp: Math.floor(Date.now() / 1000) - 5 })],
    ["with a sub that is not a uuid", await esToken(userClaims({ sub: "not-a-uuid" }))],
    ["alg none", none],
    ["not a JWT", "not-a-jwt"],
  ];
  for (const [name, token] of cases) assert.equal(await status(authenticate(bearer(token))), 401, name);
});

Deno.test("a user token's sub in upper case is the same user", async () => {
  const caller = await createAuthenticator(config())(
    bearer(await esToken(userClaims({ sub: USER.toUpperCase() }))),
  );
  assert.deepEqual([caller.kind, (caller as Extract<Caller, { kind: "user" }>).userId], ["user", USER]);
  assert.equal(actingFor(caller, { user_id: USER.toUpperCase() }).userId, USER);
  assert.throws(() => actingFor(caller, { user_id: "0b8e3f9a-1c2d-4e5f-8a9b-7c6d5e4f3a2b" }), /own user/);
});

Deno.test("a verified token of another role is 403, and of service_role is the service", async () => {
  const authenticate = createAuthenticator(config());
  assert.equal(await status(authenticate(bearer(await esToken(userClaims({ role: "anon" }))))), 403);
  const service = await createAuthenticator(config({ jwtSecret: JWT_SECRET }))(
    bearer(await hsToken({ role: "service_role" })),
  );
  assert.deepEqual(service, { kind: "service" });
});

Deno.test("secret keys are the service as the bearer or as apikey; the publishable and anon keys are 403", async () => {
  const authenticate = createAuthenticator(config());
  for (const req of [bearer(SECRET), request({ apikey: SECRET }), bearer(SERVICE_ROLE_KEY)]) {
    assert.deepEqual(await authenticate(req), { kind: "service" });
  }
  for (const req of [bearer(PUBLISHABLE), request({ apikey: PUBLISHABLE }), bearer(ANON_KEY)]) {
    assert.equal(await status(authenticate(req)), 403);
  }
  for (
    const req of [
      bearer("sb_secret_forged-key"),
      request({ apikey: "sb_secret_forged-key" }),
      request({ apikey: "anything" }),
      request({}),
      request({ Authorization: "Basic dXNlcjpwYXNz" }),
    ]
  ) {
    assert.equal(await status(authenticate(req)), 401);
  }
});

Deno.test("the bearer decides: a user token beside the publishable or a secret apikey acts as the user", async () => {
  const authenticate = createAuthenticator(config());
  const token = await esToken();
  for (const apikey of [PUBLISHABLE, SECRET]) {
    assert.equal((await authenticate(bearer(token, { apikey }))).kind, "user");
  }
});

Deno.test("HS256 tokens verify locally with TOLLGATE_JWT_SECRET, and a forged one is 401", async () => {
  const server = authServer(() => userAnswer());
  const authenticate = createAuthenticator(config({ jwtSecret: JWT_SECRET }), server);
  assert.equal((await authenticate(bearer(await hsToken()))).kind, "user");
  assert.equal(
    await status(authenticate(bearer(await hsToken(userClaims(), { secret: "x".repeat(40) })))),
    401,
  );
  assert.equal(server.calls.length, 0);
});

Deno.test("without the secret, HS256 tokens are confirmed by GET /auth/v1/user with the publishable apikey", async () => {
  const server = authServer(() => userAnswer());
  const authenticate = createAuthenticator(config(), server);
  assert.equal((await authenticate(bearer(await hsToken()))).kind, "user");
  assert.equal(server.calls.length, 1);
  assert.equal(server.calls[0].url, "https://ref.supabase.test/auth/v1/user");
  assert.equal(server.calls[0].headers.get("apikey"), PUBLISHABLE);
});

Deno.test("a confirmation is kept for the token's remaining life, shared by concurrent calls, then gone", async () => {
  let now = Date.now();
  const server = authServer(() => userAnswer());
  const authenticate = createAuthenticator(config(), { fetch: server.fetch, now: () => now });
  const token = await hsToken(userClaims(), { exp: Math.floor(now / 1000) + 60 });
  await Promise.all([1, 2, 3].map(() => authenticate(bearer(token))));
  await authenticate(bearer(token));
  assert.equal(server.calls.length, 1);
  now += 61_000;
  assert.equal(await status(authenticate(bearer(token))), 401);
  assert.equal(server.calls.length, 1);
  const other = await hsToken(userClaims(), { exp: Math.floor(now / 1000) + 60 });
  await authenticate(bearer(other));
  assert.equal(server.calls.length, 2);
});

Deno.test("a refusal by the Auth server is 401 and is not kept", async () => {
  const server = authServer(() => Response.json({ code: 403, error_code: "bad_jwt" }, { status: 403 }));
  const authenticate = createAuthenticator(config(), server);
  const token = await hsToken();
  assert.equal(await status(authenticate(bearer(token))), 401);
  assert.equal(await status(authenticate(bearer(token))), 401);
  assert.equal(server.calls.length, 2);
});

Deno.test("the Auth server confirming another user is 401", async () => {
  const server = authServer(() => userAnswer("0b8e3f9a-1c2d-4e5f-8a9b-7c6d5e4f3a2b"));
  assert.equal(await status(createAuthenticator(config(), server)(bearer(await hsToken()))), 401);
});

Deno.test("an Auth server that cannot be reached or fails is 503 with Retry-After, and is asked again", async () => {
  let calls = 0;
  const down = (() => {
    calls++;
    return Promise.reject(new TypeError("error sending request: connection refused"));
  }) as typeof fetch;
  const authenticate = createAuthenticator(config(), { fetch: down });
  const token = await hsToken();
  const error = await authenticate(bearer(token)).catch((e) => e);
  assert.ok(error instanceof HttpError);
  assert.deepEqual([error.status, error.code, error.headers?.["Retry-After"]], [503, "unavailable", "1"]);
  assert.equal(await status(authenticate(bearer(token))), 503);
  assert.equal(calls, 2);
  const failing = authServer(() => new Response("upstream error", { status: 502 }));
  assert.equal(await status(createAuthenticator(config(), failing)(bearer(token))), 503);
});

Deno.test("a service credential must name the user or the account it acts for", () => {
  const service: Caller = { kind: "service" };
  assert.throws(() => actingFor(service, {}), /Missing user_id/);
  assert.deepEqual(actingFor(service, { user_id: USER.toUpperCase() }), {
    userId: USER,
    accountId: undefined,
  });
  assert.deepEqual(actingFor(service, { account_id: TEAM.toUpperCase() }), {
    userId: undefined,
    accountId: TEAM,
  });
});

Deno.test("a user token acts as its own user, in the account it names, and never as another user", () => {
  const user: Caller = { kind: "user", userId: USER, claims: { sub: USER } };
  assert.deepEqual(actingFor(user, {}), { userId: USER, accountId: undefined });
  assert.deepEqual(actingFor(user, { user_id: USER.toUpperCase(), account_id: TEAM }), {
    userId: USER,
    accountId: TEAM,
  });
  assert.throws(() => actingFor(user, { user_id: TEAM }), (e: HttpError) => e.status === 403);
});

/** Runs `body` with `crypto.subtle.verify` counted (every signature check jose makes); `checks()` reads it. */
async function countingSignatureChecks(body: (checks: () => number) => Promise<void>): Promise<void> {
  const verify = crypto.subtle.verify;
  let checks = 0;
  crypto.subtle.verify = ((...args: Parameters<typeof verify>) => {
    checks++;
    return verify.apply(crypto.subtle, args);
  }) as typeof verify;
  try {
    await body(() => checks);
  } finally {
    crypto.subtle.verify = verify;
  }
}

Deno.test("a verified ES256 token is checked once for its life; a forged twin, and the token once expired, are 401", async () => {
  let now = Date.now();
  const authenticate = createAuthenticator(config(), { now: () => now });
  await countingSignatureChecks(async (checks) => {
    const token = await esToken(userClaims(), { exp: Math.floor(now / 1000) + 60 });
    await Promise.all([1, 2, 3].map(() => authenticate(bearer(token))));
    assert.equal((await authenticate(bearer(token))).kind, "user");
    assert.equal(checks(), 1);
    // The same header and claims under another signature: compared whole, it is a new token, and fails.
    const [header, payload] = token.split(".");
    const forged = await esToken(userClaims(), {
      key: stranger.privateKey,
      exp: Math.floor(now / 1000) + 60,
    });
    assert.equal(await status(authenticate(bearer(`${header}.${payload}.${forged.split(".")[2]}`))), 401);
    assert.equal(await status(authenticate(bearer(`${header}.${payload}.${forged.split(".")[2]}`))), 401);
    assert.equal(checks(), 3);
    now += 61_000;
    assert.equal(await status(authenticate(bearer(token))), 401);
    assert.equal(checks(), 3);
  });
});

Deno.test("at most 10,000 verified tokens are kept: beyond, the least recently used is checked again", async () => {
  const authenticate = createAuthenticator(config({ jwtSecret: JWT_SECRET }));
  const tokens = await Promise.all(
    Array.from({ length: 10_001 }, (_, i) => hsToken(userClaims({ jti: `t${i}` }))),
  );
  await countingSignatureChecks(async (checks) => {
    const use = async (i: number) => {
      await authenticate(bearer(tokens[i]));
      return checks();
    };
    for (let i = 0; i < 10_000; i++) await use(i);
    assert.equal(checks(), 10_000);
    assert.equal(await use(0), 10_000, "all 10,000 are kept; token 0 is now the most recently used");
    assert.equal(await use(10_000), 10_001, "the 10,001st pushes out token 1, the least recently used");
    assert.equal(await use(0), 10_001, "token 0 is still kept");
    assert.equal(await use(1), 10_002, "token 1 is checked again");
  });
});
