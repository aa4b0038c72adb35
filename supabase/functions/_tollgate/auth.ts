import * as jose from "jose";
import { HttpError } from "./errors.ts";

/** Who is calling: a signed-in user acting for themselves, or a service credential acting for anyone. */
export type Caller = { kind: "user"; userId: string; claims: jose.JWTPayload } | { kind: "service" };

export type TokenVerifier = (token: string) => Promise<jose.JWTPayload>;

const unauthorized = (message: string, cause?: unknown) =>
  new HttpError(401, "unauthorized", message, { cause });

/**
 * Verifies a Supabase JWT: HS256 with the project's JWT secret, or ES256/RS256 with a key from the project's
 * JWKS. Anything else (alg none, unknown alg, bad signature, expired) is rejected.
 */
export function createTokenVerifier(opts: {
  jwtSecret: string | null;
  jwks?: jose.JSONWebKeySet;
  jwksUrl?: URL;
}): TokenVerifier {
  const secret = opts.jwtSecret ? new TextEncoder().encode(opts.jwtSecret) : null;
  const keySet = opts.jwks
    ? jose.createLocalJWKSet(opts.jwks)
    : opts.jwksUrl
    ? jose.createRemoteJWKSet(opts.jwksUrl, { timeoutDuration: 2000, cooldownDuration: 30_000 })
    : null;
  return async (token) => {
    let alg: string | undefined;
    try {
      alg = jose.decodeProtectedHeader(token).alg;
    } catch (cause) {
      throw unauthorized("Invalid JWT: the token is malformed", cause);
    }
    try {
      if (alg === "HS256" && secret) {
        return (await jose.jwtVerify(token, secret, { algorithms: ["HS256"] })).payload;
      }
      if ((alg === "ES256" || alg === "RS256") && keySet) {
        return (await jose.jwtVerify(token, keySet, { algorithms: ["ES256", "RS256"] })).payload;
      }
    } catch (cause) {
      if (cause instanceof jose.errors.JWTExpired) {
        throw unauthorized("Invalid JWT: the token has expired", cause);
      }
      throw unauthorized("Invalid JWT: the signature or claims could not be verified", cause);
    }
    throw unauthorized(`Invalid JWT: algorithm ${alg ?? "(none)"} is not accepted`);
  };
}

/** Compares two strings in time that depends only on their lengths. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

export type Authenticator = (req: Request) => Promise<Caller>;

/**
 * Resolves the caller from `Authorization: Bearer <token>`. Missing or invalid credentials are 401; valid
 * credentials of a role that may never call (anon, or anything that is not a user or the service) are 403.
 */
export function createAuthenticator(opts: { verify: TokenVerifier; serviceRoleKey: string }): Authenticator {
  return async (req) => {
    const header = req.headers.get("authorization");
    if (!header) throw unauthorized("Missing authorization header: send Authorization: Bearer <token>");
    const token = header.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    if (!token) throw unauthorized("Malformed authorization header: expected Bearer <token>");
    if (timingSafeEqual(token, opts.serviceRoleKey)) return { kind: "service" };
    const claims = await opts.verify(token);
    if (claims.role === "service_role") return { kind: "service" };
    if (claims.role === "authenticated" && typeof claims.sub === "string" && claims.sub !== "") {
      return { kind: "user", userId: claims.sub, claims };
    }
    throw new HttpError(
      403,
      "forbidden",
      `Role ${String(claims.role ?? "(none)")} may not call this function`,
    );
  };
}

/**
 * The user a request acts for: a user token acts for its own subject (naming anyone else is 403); the service
 * key must name the user.
 */
export function actingUser(caller: Caller, requestedUserId: string | undefined): string {
  if (caller.kind === "service") {
    if (!requestedUserId) {
      throw new HttpError(
        400,
        "invalid_request",
        "Missing user_id: the service key must name the user it acts for",
        {
          details: { issues: [{ path: ["user_id"], message: "Required with the service key" }] },
        },
      );
    }
    return requestedUserId;
  }
  if (requestedUserId !== undefined && requestedUserId !== caller.userId) {
    throw new HttpError(403, "forbidden", "A user token may act only for its own user");
  }
  return caller.userId;
}

/** Builds the authenticator the deployed functions use, from the platform config. */
export function platformAuthenticator(config: {
  supabaseUrl: string;
  jwtSecret: string | null;
  serviceRoleKey: string;
}): Authenticator {
  const verify = createTokenVerifier({
    jwtSecret: config.jwtSecret,
    jwksUrl: new URL("/auth/v1/.well-known/jwks.json", config.supabaseUrl),
  });
  return createAuthenticator({ verify, serviceRoleKey: config.serviceRoleKey });
}
