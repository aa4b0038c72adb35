import { MAX_JSON_DEPTH } from "./contract.ts";
import { CORS_HEADERS, errorResponse, HttpError } from "./errors.ts";

export const MAX_JSON_BODY = 64 * 1024;
export const MAX_WEBHOOK_BODY = 1024 * 1024;
/** A log-ai-usage batch (`events`) may be this large; a single event keeps MAX_JSON_BODY. */
export const MAX_USAGE_BATCH_BODY = 1024 * 1024;

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

/**
 * Reads the raw body, refusing more than `maxBytes` without buffering it all. A body whose Content-Length is
 * within the limit is read in one go (the HTTP server holds a body to its declared length, so it cannot grow
 * past it: about a tenth of the function's CPU per consume saved over reading the stream in JavaScript);
 * a chunked one is counted as it streams.
 */
export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => payloadTooLarge(maxBytes);
  const length = req.headers.get("content-length");
  const declared = Number(length ?? "0");
  if (declared > maxBytes) throw tooLarge();
  if (!req.body) return new Uint8Array();
  if (length !== null && /^\d+$/.test(length)) {
    const body = new Uint8Array(await req.arrayBuffer());
    if (body.byteLength > maxBytes) throw tooLarge();
    return body;
  }
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

/** 413 naming the limit. */
export function payloadTooLarge(maxBytes: number): HttpError {
  return new HttpError(413, "payload_too_large", `Request body is too large: the limit is ${maxBytes} bytes`);
}

/**
 * Where raw JSON nests deeper than `maxDepth` (`{}` is 1), before anything parses it: the path of the top-level
 * field it happens under (empty when the body itself is not an object), or null. Works on bytes: in UTF-8, no
 * byte of a multi-byte character is a bracket, a quote or a backslash.
 */
export function tooDeep(body: Uint8Array, maxDepth: number): string[] | null {
  let depth = 0;
  let key: string[] = [];
  let stringStart = -1;
  let lastString = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (stringStart >= 0) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) {
        if (depth === 1) lastString = new TextDecoder().decode(body.subarray(stringStart, i + 1));
        stringStart = -1;
      }
    } else if (c === 0x22) stringStart = i;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return key;
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x3a && depth === 1) {
      try {
        key = [JSON.parse(lastString)];
      } catch {
        key = [];
      }
    }
  }
  return null;
}

/** Reads and parses a JSON body of at most 64 KiB (see parseJson). */
export async function readJson(req: Request): Promise<unknown> {
  return parseJson(await readBody(req, MAX_JSON_BODY));
}

/**
 * Parses a JSON body; an empty body reads as `{}`. Bytes that are not UTF-8 are refused (decoding them as U+FFFD
 * would make different bodies equal), and so is nesting deeper than `maxDepth` inside a top-level field (the
 * contract's MAX_JSON_DEPTH unless a body wraps its values in more levels), before parsing.
 */
export function parseJson(body: Uint8Array, maxDepth = MAX_JSON_DEPTH): unknown {
  const invalid = (message: string, path: string[] = [], cause?: unknown) => {
    const where = path.length > 0 ? `${path.join(".")}: ` : "";
    return new HttpError(400, "invalid_request", `Invalid request body: ${where}${message}`, {
      cause,
      details: { issues: [{ path, message }] },
    });
  };
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch (cause) {
    throw invalid("is not valid UTF-8", [], cause);
  }
  if (text.trim() === "") return {};
  const deep = tooDeep(body, maxDepth + 1);
  if (deep) throw invalid(`must not nest deeper than ${maxDepth} levels`, deep);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new HttpError(400, "invalid_request", "Request body is not valid JSON", {
      cause,
      details: { issues: [{ path: [], message: (cause as Error).message }] },
    });
  }
}
