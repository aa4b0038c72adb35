/**
 * The writes of the fake Stripe API that Checkout and the customer portal need: customers, checkout sessions and
 * billing portal sessions created as the SDK sends them (form-encoded), idempotency keys honoured as Stripe does
 * (the same key and parameters answer the first object again, other parameters a 400 idempotency_error), and a
 * test route that completes a session the way Stripe would: by delivering its signed webhook events.
 */
import Stripe from "stripe";
import type { StripeObject } from "./fake_stripe.ts";

/** The fake's object store: collection (`customers`, `checkout/sessions`) -> id -> object. */
export type Store = Map<string, Map<string, StripeObject>>;

/** How a test completes a session: where the events go and how the customer paid. */
export interface CompleteOptions {
  webhook_url: string;
  webhook_secret: string;
  /** Payment-mode sessions: `paid` (default) or `unpaid` (a delayed method; no credits until it succeeds). */
  payment_status?: "paid" | "unpaid";
}

/** What a completion or a trial's end delivered: each event and the webhook's answer to it. */
export interface Delivered {
  events: { id: string; type: string; status: number }[];
}

const rand = () => crypto.randomUUID().replaceAll("-", "").slice(0, 24);
const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Parses the SDK's form encoding (`line_items[0][price]=p&metadata[k]=v`) into nested objects and arrays, as
 * Stripe reads it.
 */
export function parseForm(body: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.replace(/\]/g, "").split("[");
    let node: Record<string, unknown> = root;
    path.forEach((part, i) => {
      if (i === path.length - 1) {
        node[part] = value;
        return;
      }
      node[part] ??= /^\d+$/.test(path[i + 1]) ? [] : {};
      node = node[part] as Record<string, unknown>;
    });
  }
  return root;
}

function stripeError(status: number, type: string, message: string, extra: Record<string, unknown> = {}) {
  return Response.json({ error: { type, message, ...extra } }, { status });
}

const invalid = (message: string, param?: string, code?: string) =>
  stripeError(400, "invalid_request_error", message, { ...(param && { param }), ...(code && { code }) });

/** The fake's POST routes and its completion routes, over the fake's store. */
export function createCheckoutFake(store: Store) {
  const idempotent = new Map<string, { request: string; status: number; body: unknown }>();
  const get = (collection: string, id: string) => store.get(collection)?.get(id);
  const put = (collection: string, o: StripeObject) => {
    if (!store.has(collection)) store.set(collection, new Map());
    store.get(collection)!.set(o.id, o);
    return o;
  };

  const createCustomer = (params: Record<string, unknown>) => Response.json(newCustomer(params));
  function newCustomer(params: Record<string, unknown>): StripeObject {
    return put("customers", {
      id: `cus_${rand()}`,
      object: "customer",
      created: nowSeconds(),
      email: params.email ?? null,
      name: params.name ?? null,
      metadata: params.metadata ?? {},
      livemode: false,
    });
  }

  function createSession(params: Record<string, unknown>): Response {
    const mode = params.mode;
    if (mode !== "payment" && mode !== "subscription") {
      return invalid("Invalid mode: must be one of payment, setup, or subscription", "mode");
    }
    if (typeof params.success_url !== "string") {
      return invalid("Missing required param: success_url.", "success_url");
    }
    const items = (params.line_items ?? []) as { price?: string; quantity?: string }[];
    if (items.length === 0) return invalid("Missing required param: line_items.", "line_items");
    let amount = 0;
    let currency = "usd";
    for (const [i, item] of items.entries()) {
      const price = item.price ? get("prices", item.price) : undefined;
      if (!price) {
        return invalid(`No such price: '${item.price}'`, `line_items[${i}][price]`, "resource_missing");
      }
      if (price.active === false) {
        return invalid(
          "The price specified is inactive. This field only accepts active prices.",
          `line_items[${i}][price]`,
        );
      }
      if ((mode === "subscription") !== Boolean(price.recurring)) {
        return invalid(
          mode === "subscription"
            ? "You must provide at least one recurring price in `subscription` mode when using prices."
            : "You specified `payment` mode but passed a recurring price.",
          `line_items[${i}][price]`,
        );
      }
      amount += Number(price.unit_amount ?? 0) * Number(item.quantity ?? 1);
      currency = String(price.currency ?? currency);
    }
    const customer = params.customer as string | undefined;
    if (customer && !get("customers", customer)) {
      return invalid(`No such customer: '${customer}'`, "customer", "resource_missing");
    }
    const id = `cs_test_${rand()}`;
    const created = nowSeconds();
    return Response.json(put("checkout/sessions", {
      id,
      object: "checkout.session",
      created,
      expires_at: created + 86400,
      url: `https://checkout.stripe.com/c/pay/${id}`,
      mode,
      status: "open",
      payment_status: "unpaid",
      customer: customer ?? null,
      client_reference_id: params.client_reference_id ?? null,
      metadata: params.metadata ?? {},
      success_url: params.success_url,
      cancel_url: params.cancel_url ?? null,
      amount_total: amount,
      amount_subtotal: amount,
      currency,
      payment_intent: null,
      subscription: null,
      livemode: false,
      // Kept for the completion, as Stripe keeps them (line items are retrieved with expand, not sent).
      _line_items: items,
      _subscription_data: params.subscription_data ?? null,
    }));
  }

  function createPortalSession(params: Record<string, unknown>): Response {
    const customer = params.customer as string | undefined;
    if (!customer) return invalid("Missing required param: customer.", "customer");
    if (!get("customers", customer)) {
      return invalid(`No such customer: '${customer}'`, "customer", "resource_missing");
    }
    const id = `bps_${rand()}`;
    return Response.json(put("billing_portal/sessions", {
      id,
      object: "billing_portal.session",
      created: nowSeconds(),
      customer,
      return_url: params.return_url ?? null,
      url: `https://billing.stripe.com/p/session/test_${id}`,
      livemode: false,
    }));
  }

  const routes: Record<string, (params: Record<string, unknown>) => Response> = {
    "/v1/customers": createCustomer,
    "/v1/checkout/sessions": createSession,
    "/v1/billing_portal/sessions": createPortalSession,
  };

  /** Answers a POST, or null when the route is not one of these. */
  async function post(path: string, body: string, idempotencyKey: string | null): Promise<Response | null> {
    const route = routes[path];
    if (!route) return null;
    const params = parseForm(body);
    if (idempotencyKey === null) return route(params);
    const request = `${path} ${JSON.stringify(params)}`;
    const seen = idempotent.get(idempotencyKey);
    if (seen) {
      if (seen.request !== request) {
        return stripeError(
          400,
          "idempotency_error",
          "Keys for idempotent requests can only be used with the same parameters they were first used with. " +
            "Try using a key other than '" + idempotencyKey +
            "' if you meant to execute a different request.",
        );
      }
      return Response.json(seen.body, { status: seen.status, headers: { "Idempotent-Replayed": "true" } });
    }
    const res = route(params);
    idempotent.set(idempotencyKey, { request, status: res.status, body: await res.clone().json() });
    return res;
  }

  async function deliver(opts: CompleteOptions, events: Stripe.Event[]): Promise<Delivered> {
    const delivered: Delivered = { events: [] };
    for (const event of events) {
      const payload = JSON.stringify(event);
      const header = await Stripe.webhooks.generateTestHeaderStringAsync({
        payload,
        secret: opts.webhook_secret,
        cryptoProvider: Stripe.createSubtleCryptoProvider(),
      });
      const res = await fetch(opts.webhook_url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Stripe-Signature": header },
        body: payload,
      });
      await res.body?.cancel();
      delivered.events.push({ id: event.id, type: event.type, status: res.status });
    }
    return delivered;
  }

  const event = (type: string, object: unknown, created = nowSeconds()) =>
    ({
      id: `evt_${rand()}`,
      object: "event",
      api_version: "2026-10-28.endive",
      created,
      type,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: structuredClone(object) },
    }) as unknown as Stripe.Event;

  /** The visible session, without what the fake keeps for itself. */
  const visible = (o: StripeObject) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => !k.startsWith("_"))) as StripeObject;

  function invoice(sub: StripeObject, amount: number, created: number): StripeObject {
    const id = `in_${rand()}`;
    return put("invoices", {
      id,
      object: "invoice",
      created,
      customer: sub.customer,
      status: "paid",
      amount_due: amount,
      amount_paid: amount,
      currency: sub.currency ?? "usd",
      parent: { type: "subscription_details", subscription_details: { subscription: sub.id } },
      payments: {
        object: "list",
        data: [{ payment: { type: "payment_intent", payment_intent: `pi_${rand()}` } }],
      },
      livemode: false,
    });
  }

  /** Completes an open session as Stripe would, delivering the events it would send, in the order it sends them. */
  function complete(id: string, opts: CompleteOptions): Promise<Delivered> | Response {
    const session = get("checkout/sessions", id);
    if (!session) return Response.json({ error: `No session ${id}` }, { status: 404 });
    if (session.status !== "open") {
      return Response.json({ error: `Session ${id} is ${session.status}` }, { status: 409 });
    }
    const created = nowSeconds();
    const items = session._line_items as { price: string; quantity?: string }[];
    // A session created without a customer makes one, as Checkout does.
    session.customer ??= newCustomer({}).id;
    if (session.mode === "payment") {
      Object.assign(session, {
        status: "complete",
        payment_status: opts.payment_status ?? "paid",
        payment_intent: `pi_${rand()}`,
      });
      return deliver(opts, [event("checkout.session.completed", visible(session), created)]);
    }
    const price = get("prices", items[0].price)!;
    const trialDays = Number(
      (session._subscription_data as { trial_period_days?: string } | null)
        ?.trial_period_days ?? 0,
    );
    const trialEnd = trialDays > 0 ? created + trialDays * 86400 : null;
    const periodEnd = trialEnd ??
      created + ((price.recurring as { interval: string }).interval === "year" ? 365 : 30) * 86400;
    const sub = put("subscriptions", {
      id: `sub_${rand()}`,
      object: "subscription",
      created,
      customer: session.customer,
      status: trialEnd ? "trialing" : "active",
      billing_cycle_anchor: trialEnd ?? created,
      start_date: created,
      trial_start: trialEnd ? created : null,
      trial_end: trialEnd,
      cancel_at_period_end: false,
      currency: price.currency,
      metadata: (session._subscription_data as { metadata?: unknown } | null)?.metadata ?? {},
      items: {
        object: "list",
        data: [{
          id: `si_${rand()}`,
          object: "subscription_item",
          quantity: Number(items[0].quantity ?? 1),
          current_period_start: created,
          current_period_end: periodEnd,
          price: visible(price),
        }],
      },
      livemode: false,
    });
    Object.assign(session, { status: "complete", payment_status: trialEnd ? "no_payment_required" : "paid" });
    session.subscription = sub.id;
    const paid = invoice(sub, trialEnd ? 0 : Number(session.amount_total ?? 0), created);
    return deliver(opts, [
      event("customer.subscription.created", sub, created),
      event("checkout.session.completed", visible(session), created),
      event("invoice.paid", paid, created),
    ]);
  }

  /** Ends a subscription's trial now, as Stripe would at trial_end: the subscription turns active and is billed. */
  function endTrial(id: string, opts: CompleteOptions): Promise<Delivered> | Response {
    const sub = get("subscriptions", id);
    if (!sub || sub.status !== "trialing") {
      return Response.json({ error: `No trialing subscription ${id}` }, { status: 409 });
    }
    // A second later than its creation at least, so the update orders after the created event.
    const at = Math.max(nowSeconds(), Number(sub.created) + 1);
    const item = (sub.items as { data: Record<string, unknown>[] }).data[0];
    const price = item.price as { unit_amount?: number; recurring?: { interval: string } };
    Object.assign(sub, { status: "active", trial_end: at, billing_cycle_anchor: at });
    Object.assign(item, {
      current_period_start: at,
      current_period_end: at + (price.recurring?.interval === "year" ? 365 : 30) * 86400,
    });
    const paid = invoice(sub, Number(price.unit_amount ?? 0) * Number(item.quantity ?? 1), at);
    return deliver(opts, [event("customer.subscription.updated", sub, at), event("invoice.paid", paid, at)]);
  }

  /** The test routes: POST /_fake/checkout/sessions/<id>/complete and /_fake/subscriptions/<id>/end_trial. */
  async function control(req: Request, path: string): Promise<Response | null> {
    const m = path.match(/^\/_fake\/(checkout\/sessions|subscriptions)\/([^/]+)\/(complete|end_trial)$/);
    if (!m || req.method !== "POST") return null;
    const opts = await req.json() as CompleteOptions;
    const answer = m[3] === "complete" ? complete(m[2], opts) : endTrial(m[2], opts);
    return answer instanceof Response ? answer : Response.json(await answer);
  }

  return { post, control };
}
