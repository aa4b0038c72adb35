import { CORS_HEADERS, errorResponse, HttpError } from "./errors.ts";

export const MAX_JSON_BODY = 64 * 1024;
export const MAX_WEBHOOK_BODY = 1024 * 1024;

/** A JSON response with CORS headers. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...CORS_HEADERS, "Content-Type": "application/json", ...headers },
  });
}

/**
 * Wraps a POST endpoint: answers preflight and other methods, and turns every thrown error into the contract's
 * error body. Unknown errors are logged with their cause and answered as a generic 500.
 */
export function endpoint(handle: (req: Request) => Promise<Response>): (req: Request) => Promise<Response> {
  return async (req) => {
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS_HEADERS });
    if (req.method !== "POST") {
      return errorResponse(
        new HttpError(405, "method_not_allowed", `Method ${req.method} is not allowed: use POST`, {
          headers: { Allow: "POST, OPTIONS" },
        }),
      );
    }
    try {
      return await handle(req);
    } catch (error) {
      if (error instanceof HttpError) {
        if (error.status >= 500) console.error(`${error.code}: ${error.message}`, error.cause);
        return errorResponse(error);
      }
      console.error("Unhandled error", error);
      return errorResponse(new HttpError(500, "internal", "Internal error"));
    }
  };
}

/** Reads the raw body, refusing more than `maxBytes` without buffering it all. */
export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new HttpError(413, "payload_too_large", `Request body is too large: the limit is ${maxBytes} bytes`);
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw tooLarge();
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    body.set(c, offset);
    offset += c.byteLength;
  }
  return body;
}

/** Reads and parses a JSON body of at most 64 KiB; an empty body reads as `{}`. */
export async function readJson(req: Request): Promise<unknown> {
  const text = new TextDecoder().decode(await readBody(req, MAX_JSON_BODY));
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new HttpError(400, "invalid_request", "Request body is not valid JSON", {
      cause,
      details: { issues: [{ path: [], message: (cause as Error).message }] },
    });
  }
}
