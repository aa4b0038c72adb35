/**
 * Stand-in for the hosted API gateway: `/functions/v1/<name>` goes to that function's own server, after the JWT
 * check config.toml asks for (`verify_jwt`); `/auth/v1/user` and `/auth/v1/.well-known/jwks.json` answer as
 * Supabase Auth does for the tokens this stack issues (HS256 with the local secret, ES256 with its JWKS key).
 */
import * as jose from "jose";
import postgres from "postgres";
import { errorResponse, HttpError } from "../../supabase/functions/_tollgate/errors.ts";

export interface GatewayOptions {
  port: number;
  upstreams: Record<string, number>;
  verifyJwt: Record<string, boolean>;
  jwtSecret: string;
  jwks: jose.JSONWebKeySet;
  /** The project's API keys: the Auth endpoints want one as `apikey`, as hosted's gateway does. */
  apiKeys: string[];
  /** The database whose auth.users the Auth endpoint reads. */
  dbUrl: string;
}

export interface Gateway {
  shutdown(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Verifies a JWT as the platform does: HS256 with the JWT secret or ES256/RS256 from the JWKS, `exp` required. */
function jwtVerifier(secret: string, jwks: jose.JSONWebKeySet): (token: string) => Promise<jose.JWTPayload> {
  const key = new TextEncoder().encode(secret);
  const keySet = jose.createLocalJWKSet(jwks);
  return async (token) => {
    const { alg } = jose.decodeProtectedHeader(token);
    const verified = alg === "HS256"
      ? await jose.jwtVerify(token, key, { algorithms: ["HS256"], requiredClaims: ["exp"] })
      : await jose.jwtVerify(token, keySet, { algorithms: ["ES256", "RS256"], requiredClaims: ["exp"] });
    return verified.payload;
  };
}

const bearerOf = (req: Request) => req.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];

export function startGateway(opts: GatewayOptions): Gateway {
  const verify = jwtVerifier(opts.jwtSecret, opts.jwks);
  const sql = postgres(opts.dbUrl, { max: 2, prepare: false, onnotice: () => {} });

  /** GET /auth/v1/user: the token's user (GoTrue's shape), 401 for a bad token or an unknown user. */
  async function authUser(req: Request): Promise<Response> {
    const refuse = (error_code: string, msg: string) =>
      Response.json({ code: 401, error_code, msg }, { status: 401 });
    const apikey = req.headers.get("apikey");
    if (!apikey || !opts.apiKeys.includes(apikey)) {
      return Response.json({ message: "No API key found in request" }, { status: 401 });
    }
    const token = bearerOf(req);
    if (!token) return refuse("no_authorization", "This endpoint requires a Bearer token");
    let claims: jose.JWTPayload;
    try {
      claims = await verify(token);
    } catch (e) {
      return refuse("bad_jwt", `invalid JWT: ${(e as Error).message}`);
    }
    if (typeof claims.sub !== "string" || !UUID.test(claims.sub)) {
      return refuse("bad_jwt", "invalid claim: missing sub claim");
    }
    const [user] = await sql`
      select id, aud, role, email, raw_app_meta_data as app_metadata, raw_user_meta_data as user_metadata,
             created_at, updated_at
        from auth.users where id = ${claims.sub}::uuid`;
    if (!user) return refuse("user_not_found", "User from sub claim in JWT does not exist");
    return Response.json(user);
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: opts.port, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/auth/v1/.well-known/jwks.json") return Response.json(opts.jwks);
    if (url.pathname === "/auth/v1/user" && req.method === "GET") return await authUser(req);
    const m = url.pathname.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
    const upstream = m ? opts.upstreams[m[1]] : undefined;
    if (!m || upstream === undefined) {
      return errorResponse(new HttpError(404, "not_found", "Function not found"));
    }
    if (req.method !== "OPTIONS" && opts.verifyJwt[m[1]] !== false) {
      const token = bearerOf(req);
      try {
        if (!token) throw new HttpError(401, "unauthorized", "Missing authorization header");
        await verify(token);
      } catch (e) {
        return errorResponse(
          e instanceof HttpError ? e : new HttpError(401, "unauthorized", "Invalid JWT", { cause: e }),
        );
      }
    }
    const target = `http://127.0.0.1:${upstream}${url.pathname}${url.search}`;
    try {
      // The body is read whole before it is passed on, as the hosted gateway does: streamed, a function that
      // answers early (413 from Content-Length) could reset the upload and turn its answer into a 503 here.
      const body = req.body ? await req.arrayBuffer() : undefined;
      return await fetch(target, { method: req.method, headers: req.headers, body, redirect: "manual" });
    } catch (e) {
      return errorResponse(new HttpError(503, "unavailable", "Function is not reachable", { cause: e }));
    }
  });
  return {
    async shutdown() {
      await server.shutdown();
      await sql.end({ timeout: 1 });
    },
  };
}
