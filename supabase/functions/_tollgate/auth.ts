/**
 * Authentication as a hosted function sees it (DESIGN "HTTP contract"): every function checks its callers itself
 * (`verify_jwt = false`). `@supabase/server` verifies what it understands, the signing-key (JWKS) user tokens and
 * the `sb_publishable_…` / `sb_secret_…` keys; the rest is what it refuses by design and hosted projects still
 * send: legacy HS256 user tokens (confirmed by the Auth server as `auth.getClaims()` does, or verified with
 * TOLLGATE_JWT_SECRET), the legacy anon and service-role JWTs, secret keys sent as the bearer.
 */
import * as jose from "jose";
import { verifyCredentials } from "@supabase/server/core";
import { HttpError } from "./errors.ts";

/** Who is calling: a signed-in user acting for themselves, or a service credential acting for anyone. */
export type Caller = { kind: "user"; userId: string; claims: jose.JWTPayload } | { kind: "service" };

export type Authenticator = (req: Request) => Promise<Caller>;

/** The platform's keys, as env.ts reads them from the hosted default secrets. */
export interface AuthConfig {
  supabaseUrl: string;
  jwks: jose.JSONWebKeySet;
  publishableKeys: Record<string, string>;
  secretKeys: Record<string, string>;
  anonKey: string | null;
  serviceRoleKey: string | null;
  /** TOLLGATE_JWT_SECRET: the legacy JWT secret, when the deployer sets it, verifies HS256 tokens locally. */
  jwtSecret: string | null;
}

/** What the Auth server check needs from the outside world; tests pass fakes. */
export interface AuthDeps {
  fetch?: typeof fetch;
  now?: () => number;
}

/** Any uuid PostgreSQL accepts, in either case. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Verified user tokens kept at most, each until it expires (about 1 KB each). */
const MAX_KEPT_TOKENS = 10_000;
const AUTH_SERVER_TIMEOUT_MS = 5_000;

const unauthorized = (message: string, cause?: unknown) =>
  new HttpError(401, "unauthorized", message, { cause });
const unavailable = (message: string, cause?: unknown) =>
  new HttpError(503, "unavailable", message, { cause, headers: { "Retry-After": "1" } });

/**
 * Resolves the caller. The bearer decides when there is one (a signed-in user's supabase-js sends the publishable
 * key as `apikey` beside their token); without one, the `apikey` header. A secret or service-role key is the
 * service; the publishable or anon key is 403 everywhere; a user token must verify, carry `exp`, and name a uuid
 * `sub` with role `authenticated`. Missing, malformed, forged, `alg: none` or expired credentials are 401; an
 * Auth server that cannot answer is 503.
 */
export function createAuthenticator(config: AuthConfig, deps: AuthDeps = {}): Authenticator {
  const keyKind = createKeyMatcher(config);
  const verify = createUserTokenVerifier(config, deps);
  return async (req) => {
    const bearer = bearerToken(req.headers.get("authorization"));
    const apikey = req.headers.get("apikey") || null;
    const credential = bearer ?? apikey;
    if (credential === null) {
      throw unauthorized("Missing credentials: send Authorization: Bearer <token> (or an apikey header)");
    }
    const kind = await keyKind(credential);
    if (kind === "secret") return { kind: "service" };
    if (kind === "publishable") {
      throw new HttpError(
        403,
        "forbidden",
        "Forbidden: the publishable (anon) key may not call this function; send a user's access token or a secret key",
      );
    }
    if (bearer === null || credential.startsWith("sb_")) {
      throw unauthorized("Invalid API key: it is not a key of this project");
    }
    return callerFrom(await verify(credential));
  };
}

/** `Authorization: Bearer <token>` → the token; no header → null; anything else → 401. */
function bearerToken(header: string | null): string | null {
  if (header === null) return null;
  const token = header.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  if (!token) throw unauthorized("Malformed authorization header: expected Bearer <token>");
  return token;
}

/** Whether a credential is one of the project's secret or publishable keys, new format or legacy JWT. */
function createKeyMatcher(config: AuthConfig): (value: string) => Promise<"secret" | "publishable" | null> {
  const env = {
    url: config.supabaseUrl,
    jwks: config.jwks,
    publishableKeys: config.publishableKeys,
    secretKeys: config.secretKeys,
  };
  const isKey = async (mode: "secret:*" | "publishable:*", value: string) =>
    (await verifyCredentials({ token: null, apikey: value }, { auth: mode, env })).data !== null;
  return async (value) => {
    if (value.startsWith("sb_")) {
      if (await isKey("secret:*", value)) return "secret";
      if (await isKey("publishable:*", value)) return "publishable";
      return null;
    }
    if (config.serviceRoleKey !== null && timingSafeEqual(value, config.serviceRoleKey)) return "secret";
    if (config.anonKey !== null && timingSafeEqual(value, config.anonKey)) return "publishable";
    return null;
  };
}

/**
 * Verifies a JWT and returns its claims: ES256/RS256 against SUPABASE_JWKS (no network), HS256 with
 * TOLLGATE_JWT_SECRET when set, else by the Auth server. A token without `exp` is refused, whatever signs it.
 * A token that verified is kept until it expires (see `keptUntilExpiry`): a signed-in user sends the same token
 * for up to an hour, and an ES256 signature costs Deno about 0.5 ms of CPU to check, more than the rest of a
 * consume's work in the function.
 */
function createUserTokenVerifier(
  config: AuthConfig,
  deps: AuthDeps,
): (token: string) => Promise<jose.JWTPayload> {
  const now = deps.now ?? Date.now;
  const secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : null;
  const confirm = createAuthServerCheck(config, deps);
  const env = { url: config.supabaseUrl, jwks: config.jwks, publishableKeys: {}, secretKeys: {} };
  const kept = keptUntilExpiry<jose.JWTPayload>(MAX_KEPT_TOKENS, now);

  async function verify(
    token: string,
    alg: string | undefined,
    claims: jose.JWTPayload,
  ): Promise<jose.JWTPayload> {
    if (alg === "HS256") {
      if (secret === null) {
        await confirm(token, claims.sub);
        return claims;
      }
      try {
        return (await jose.jwtVerify(token, secret, { algorithms: ["HS256"] })).payload;
      } catch (cause) {
        throw unauthorized("Invalid JWT: the signature does not match the project's JWT secret", cause);
      }
    }
    if (alg === "ES256" || alg === "RS256") {
      const { data, error } = await verifyCredentials({ token, apikey: null }, { auth: "user", env });
      if (error) {
        throw unauthorized("Invalid JWT: the signature does not match the project's signing keys", error);
      }
      return data.jwtClaims as jose.JWTPayload;
    }
    throw unauthorized(`Invalid JWT: algorithm ${alg ?? "(none)"} is not accepted`);
  }

  return (token) => {
    let alg: string | undefined;
    let claims: jose.JWTPayload;
    try {
      alg = jose.decodeProtectedHeader(token).alg;
      claims = jose.decodeJwt(token);
    } catch (cause) {
      return Promise.reject(unauthorized("Invalid JWT: the token is malformed", cause));
    }
    if (typeof claims.exp !== "number") {
      return Promise.reject(unauthorized("Invalid JWT: the token has no exp claim"));
    }
    if (claims.exp * 1000 <= now()) return Promise.reject(unauthorized("Invalid JWT: the token has expired"));
    return kept(token, claims.exp * 1000, () => verify(token, alg, claims));
  };
}

/**
 * Remembers what `compute` answered for a token (a JWT, compared whole, signature included) until `until`, its
 * expiry: concurrent calls with one token share one computation; a failure is not kept, so a refused or
 * unconfirmed token is checked again next time. At most `max` tokens are kept: beyond, the least recently used
 * goes (an expired one is replaced when its token comes back; one dropped early is only checked again).
 */
function keptUntilExpiry<T>(
  max: number,
  now: () => number,
): (token: string, until: number, compute: () => Promise<T>) => Promise<T> {
  const kept = new Map<string, { until: number; answer: Promise<T> }>();
  return (token, until, compute) => {
    const entry = kept.get(token);
    kept.delete(token); // set again below: the Map's order is then least recently used first
    if (entry !== undefined && entry.until > now()) {
      kept.set(token, entry);
      return entry.answer;
    }
    const fresh = { until, answer: compute() };
    fresh.answer.catch(() => {
      if (kept.get(token) === fresh) kept.delete(token);
    });
    kept.set(token, fresh);
    if (kept.size > max) kept.delete(kept.keys().next().value!);
    return fresh.answer;
  };
}

/**
 * Legacy HS256 tokens without the secret: `GET <SUPABASE_URL>/auth/v1/user` with the token, as
 * `supabase.auth.getClaims()` does; resolves when the Auth server confirms the token as user `sub`. The Auth
 * server not answering is 503, never 401. The caller keeps a confirmation for the token's remaining life.
 */
function createAuthServerCheck(
  config: Pick<AuthConfig, "supabaseUrl" | "publishableKeys" | "anonKey">,
  deps: AuthDeps = {},
): (token: string, sub: unknown) => Promise<void> {
  const fetcher = deps.fetch ?? fetch;
  const url = `${config.supabaseUrl.replace(/\/+$/, "")}/auth/v1/user`;
  const apikey = config.publishableKeys.default ?? Object.values(config.publishableKeys)[0] ?? config.anonKey;

  return async (token, sub) => {
    let res: Response;
    let user: { id?: unknown } | null;
    try {
      res = await fetcher(url, {
        headers: { Authorization: `Bearer ${token}`, ...(apikey ? { apikey } : {}) },
        signal: AbortSignal.timeout(AUTH_SERVER_TIMEOUT_MS),
      });
      user = await res.json().catch(() => null);
    } catch (cause) {
      throw unavailable("Cannot confirm the token: the Auth server is unreachable, retry shortly", cause);
    }
    if (res.status >= 500 || res.status === 429) {
      throw unavailable(`Cannot confirm the token: the Auth server answered ${res.status}, retry shortly`);
    }
    if (!res.ok) throw unauthorized("Invalid JWT: the Auth server did not accept the token");
    if (
      typeof user?.id !== "string" || typeof sub !== "string" || user.id.toLowerCase() !== sub.toLowerCase()
    ) {
      throw unauthorized("Invalid JWT: the Auth server knows the token under another user");
    }
  };
}

/** The caller a verified token stands for: role `service_role` is the service, `authenticated` a user. */
function callerFrom(claims: jose.JWTPayload): Caller {
  if (claims.role === "service_role") return { kind: "service" };
  if (claims.role !== "authenticated") {
    throw new HttpError(
      403,
      "forbidden",
      `Role ${String(claims.role ?? "(none)")} may not call this function`,
    );
  }
  if (typeof claims.sub !== "string" || !UUID.test(claims.sub)) {
    throw unauthorized("Invalid JWT: its sub claim is not a user id (a uuid)");
  }
  return { kind: "user", userId: claims.sub.toLowerCase(), claims };
}

/** Compares two strings in time that depends only on their lengths. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Who a request acts for: the account (absent: the acting user's personal account) and the acting member. */
export interface Acting {
  /** The member acting: a user token's own user, or the one a service credential names (absent: none named). */
  userId?: string;
  accountId?: string;
}

/**
 * Who a request acts for, as far as the credentials tell: a user token acts as its own subject (naming another
 * `user_id` is 403; uuids compare case-insensitively, as PostgreSQL compares them), in the account it names; a
 * service credential must name a user or an account. Whether the user is a member of the account is the
 * database's answer (tollgate._acting_member), in the same call.
 */
export function actingFor(caller: Caller, requested: { user_id?: string; account_id?: string }): Acting {
  const accountId = requested.account_id?.toLowerCase();
  if (caller.kind === "service") {
    if (!requested.user_id && !accountId) {
      throw new HttpError(
        400,
        "invalid_request",
        "Missing user_id: a service credential must name the user or the account it acts for",
        {
          details: {
            issues: [{ path: ["user_id"], message: "Required with a service credential (or account_id)" }],
          },
        },
      );
    }
    return { userId: requested.user_id?.toLowerCase(), accountId };
  }
  if (requested.user_id !== undefined && requested.user_id.toLowerCase() !== caller.userId) {
    throw new HttpError(403, "forbidden", "A user token may act only for its own user");
  }
  return { userId: caller.userId, accountId };
}
