/**
 * Stand-in for the hosted Edge Functions gateway: `/functions/v1/<name>` goes to that function's own server,
 * after the JWT check config.toml asks for; `/auth/v1/.well-known/jwks.json` serves the local signing key.
 */
import type { JSONWebKeySet } from "jose";
import { createTokenVerifier } from "../../supabase/functions/_tollgate/auth.ts";
import { errorResponse, HttpError } from "../../supabase/functions/_tollgate/errors.ts";

export interface GatewayOptions {
  port: number;
  upstreams: Record<string, number>;
  verifyJwt: Record<string, boolean>;
  jwtSecret: string;
  jwks: JSONWebKeySet;
}

export function startGateway(opts: GatewayOptions): Deno.HttpServer {
  const verify = createTokenVerifier({ jwtSecret: opts.jwtSecret, jwks: opts.jwks });
  return Deno.serve({ hostname: "127.0.0.1", port: opts.port, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/auth/v1/.well-known/jwks.json") return Response.json(opts.jwks);
    const m = url.pathname.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
    const upstream = m ? opts.upstreams[m[1]] : undefined;
    if (!m || upstream === undefined) {
      return errorResponse(new HttpError(404, "not_found", "Function not found"));
    }
    if (req.method !== "OPTIONS" && opts.verifyJwt[m[1]] !== false) {
      const auth = req.headers.get("authorization") ?? "";
      const token = auth.match(/^Bearer\s+(\S+)$/i)?.[1];
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
      return await fetch(target, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        redirect: "manual",
      });
    } catch (e) {
      return errorResponse(new HttpError(503, "unavailable", "Function is not reachable", { cause: e }));
    }
  });
}
