import { type CompleteOptions, createCheckoutFake, type Delivered } from "./fake_stripe_checkout.ts";

/**
 * An in-memory Stripe API on a local port, for tests: the official SDK talks to it through `STRIPE_API_BASE`, so
 * nothing ever reaches the network. It serves what Tollgate calls (retrieve and list of any object type it holds,
 * a price's product expanded; the creates of Checkout and the portal, fake_stripe_checkout.ts), records every
 * request, and can be told to fail. Tests in another process drive it over its `/_fake/*` routes
 * with FakeStripeControl; the harness that started it can use the same methods in-process.
 */

/** A Stripe object as the API returns it: at least its id and its type (`subscription`, `checkout.session`). */
export interface StripeObject {
  id: string;
  object: string;
  created?: number;
  [field: string]: unknown;
}

/** One request the fake answered (or failed on purpose). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: string;
  /** The API key from `Authorization: Bearer`, or null. */
  apiKey: string | null;
  status: number;
}

/** Answers `times` requests whose method and path match with `status` and a Stripe error body. */
export interface FailureRule {
  method?: string;
  /** A path prefix, e.g. `/v1/subscriptions/sub_123` or `/v1/subscriptions`. */
  path: string;
  status: number;
  times?: number;
  message?: string;
}

/** The API a test uses to arrange and inspect the fake, in-process or over HTTP (FakeStripeControl). */
export interface FakeStripeApi {
  /** Stores objects (replacing any with the same type and id): what later requests return. */
  put(...objects: { id: string; object: string }[]): Promise<void>;
  /** The requests answered so far, optionally only those whose path starts with `pathPrefix`. */
  requests(pathPrefix?: string): Promise<RecordedRequest[]>;
  fail(rule: FailureRule): Promise<void>;
  /** Forgets every object, request and failure rule. */
  reset(): Promise<void>;
}

export interface FakeStripe extends FakeStripeApi {
  /** The base to pass as STRIPE_API_BASE, e.g. `http://127.0.0.1:43210`. */
  url: string;
  stop(): Promise<void>;
}

/** The URL path of a type's collection: `subscription` -> `subscriptions`, `checkout.session` -> `checkout/sessions`. */
export function collectionOf(type: string): string {
  return `${type.replaceAll(".", "/")}s`;
}

const LIST_PARAMS = new Set(["limit", "starting_after", "ending_before"]);

function stripeError(status: number, type: string, message: string, extra: Record<string, unknown> = {}) {
  return Response.json({ error: { type, message, ...extra } }, {
    status,
    headers: { "request-id": `req_fake_${crypto.randomUUID().slice(0, 8)}` },
  });
}

/** Lists like Stripe: newest first, `limit` (1–100, default 10) after `starting_after`, string filters. */
function list(objects: StripeObject[], collection: string, query: URLSearchParams): Response {
  let rows = [...objects].sort((a, b) => (b.created ?? 0) - (a.created ?? 0) || (a.id < b.id ? -1 : 1));
  for (const [key, value] of query) {
    if (LIST_PARAMS.has(key) || key.startsWith("expand")) continue;
    // Stripe lists subscriptions that are not canceled unless asked for status=all.
    if (collection === "subscriptions" && key === "status" && value === "all") continue;
    rows = rows.filter((o) => {
      const field = o[key];
      const id = typeof field === "object" && field !== null ? (field as { id?: unknown }).id : field;
      return String(id) === value;
    });
  }
  if (collection === "subscriptions" && !query.has("status")) {
    rows = rows.filter((o) => o.status !== "canceled");
  }
  const after = query.get("starting_after");
  if (after) rows = rows.slice(rows.findIndex((o) => o.id === after) + 1);
  const limit = Math.min(Math.max(Number(query.get("limit") ?? 10) || 10, 1), 100);
  return Response.json({
    object: "list",
    data: rows.slice(0, limit),
    has_more: rows.length > limit,
    url: `/v1/${collection}`,
  });
}

/** Starts the fake on `port` (default: any free port) on loopback. `secretKey`, when given, is the only key accepted. */
export function startFakeStripe(opts: { port?: number; secretKey?: string } = {}): FakeStripe {
  const store = new Map<string, Map<string, StripeObject>>();
  const checkout = createCheckoutFake(store);
  let recorded: RecordedRequest[] = [];
  let failures: (FailureRule & { left: number })[] = [];

  const api: FakeStripeApi = {
    put(...objects) {
      for (const o of objects) {
        if (typeof o?.id !== "string" || typeof o?.object !== "string") {
          throw new Error("A fake Stripe object needs a string id and object type");
        }
        const collection = collectionOf(o.object);
        if (!store.has(collection)) store.set(collection, new Map());
        store.get(collection)!.set(o.id, structuredClone(o) as StripeObject);
      }
      return Promise.resolve();
    },
    requests(pathPrefix) {
      return Promise.resolve(recorded.filter((r) => !pathPrefix || r.path.startsWith(pathPrefix)));
    },
    fail(rule) {
      failures.push({ ...rule, left: rule.times ?? 1 });
      return Promise.resolve();
    },
    reset() {
      store.clear();
      recorded = [];
      failures = [];
      return Promise.resolve();
    },
  };

  async function control(req: Request, path: string): Promise<Response> {
    if (req.method === "POST" && path === "/_fake/objects") {
      const body = await req.json();
      await api.put(...(Array.isArray(body) ? body : [body]));
      return Response.json({ ok: true });
    }
    if (req.method === "GET" && path === "/_fake/requests") {
      return Response.json(await api.requests(new URL(req.url).searchParams.get("path") ?? undefined));
    }
    if (req.method === "POST" && path === "/_fake/failures") {
      await api.fail(await req.json());
      return Response.json({ ok: true });
    }
    if (req.method === "POST" && path === "/_fake/reset") {
      await api.reset();
      return Response.json({ ok: true });
    }
    const answered = await checkout.control(req, path);
    if (answered) return answered;
    return Response.json({ error: `No fake control route ${req.method} ${path}` }, { status: 404 });
  }

  async function answer(req: Request, url: URL, apiKey: string | null, body: string): Promise<Response> {
    if (!apiKey || (opts.secretKey ? apiKey !== opts.secretKey : !/^(sk|rk)_(test|live)_/.test(apiKey))) {
      return stripeError(401, "invalid_request_error", "Invalid API Key provided");
    }
    const failure = failures.find((f) =>
      f.left > 0 && (!f.method || f.method === req.method) && url.pathname.startsWith(f.path)
    );
    if (failure) {
      failure.left--;
      return stripeError(
        failure.status,
        "api_error",
        failure.message ?? "Simulated failure of the fake Stripe API",
      );
    }
    if (req.method === "POST") {
      const created = await checkout.post(url.pathname, body, req.headers.get("idempotency-key"));
      if (created) return created;
    }
    if (req.method !== "GET") {
      return stripeError(
        404,
        "invalid_request_error",
        `Unrecognized request URL (${req.method}: ${url.pathname})`,
      );
    }
    const parts = url.pathname.replace(/^\/v1\//, "").split("/");
    // A retrieve ends with an id (`sub_...`, `cs_...`); anything else names a collection to list.
    const last = parts.at(-1) ?? "";
    const isId = /^[a-z]+_[A-Za-z0-9_]+$/.test(last) && parts.length > 1;
    const collection = (isId ? parts.slice(0, -1) : parts).join("/");
    const objects = store.get(collection);
    if (!isId) return list([...(objects?.values() ?? [])], collection, url.searchParams);
    const found = objects?.get(last);
    if (!found) {
      return stripeError(404, "invalid_request_error", `No such ${collection.replace(/s$/, "")}: '${last}'`, {
        code: "resource_missing",
        param: "id",
      });
    }
    const expand = [...url.searchParams].filter(([k]) => k.startsWith("expand")).map(([, v]) => v);
    if (collection === "prices" && expand.includes("product") && typeof found.product === "string") {
      return Response.json({ ...found, product: store.get("products")?.get(found.product) ?? found.product });
    }
    return Response.json(found);
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: opts.port ?? 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      if (url.pathname.startsWith("/_fake/")) return control(req, url.pathname);
      const body = await req.text();
      const apiKey = req.headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1] ?? null;
      const res = await answer(req, url, apiKey, body);
      recorded.push({
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body,
        apiKey,
        status: res.status,
      });
      return res;
    },
  );
  return {
    ...api,
    url: `http://127.0.0.1:${server.addr.port}`,
    stop: () => server.shutdown(),
  };
}

/** Drives a fake started by another process (the test harness) over its `/_fake/*` routes. */
export class FakeStripeControl implements FakeStripeApi {
  constructor(readonly url: string) {}

  private async send(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? undefined : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) {
      throw new Error(`Fake Stripe ${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    }
    return json;
  }

  async put(...objects: { id: string; object: string }[]): Promise<void> {
    await this.send("POST", "/_fake/objects", objects);
  }

  async requests(pathPrefix?: string): Promise<RecordedRequest[]> {
    const query = pathPrefix ? `?path=${encodeURIComponent(pathPrefix)}` : "";
    return await this.send("GET", `/_fake/requests${query}`) as RecordedRequest[];
  }

  async fail(rule: FailureRule): Promise<void> {
    await this.send("POST", "/_fake/failures", rule);
  }

  async reset(): Promise<void> {
    await this.send("POST", "/_fake/reset");
  }

  /** Completes an open checkout session: the fake delivers the signed events Stripe would to the webhook. */
  async completeSession(id: string, opts: CompleteOptions): Promise<Delivered> {
    return await this.send("POST", `/_fake/checkout/sessions/${id}/complete`, opts) as Delivered;
  }

  /** Ends a subscription's trial now: customer.subscription.updated (active) and invoice.paid. */
  async endTrial(id: string, opts: CompleteOptions): Promise<Delivered> {
    return await this.send("POST", `/_fake/subscriptions/${id}/end_trial`, opts) as Delivered;
  }
}
