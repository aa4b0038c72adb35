/**
 * Bad input never gets a 5xx: a table of bad bodies (U+0000 in every string field and in metadata keys and values,
 * lone surrogates, nesting 33 and 20,000 deep, huge numbers, wrong types, bytes that are not UTF-8) sent to every
 * function through the gateway, each answered 400 with the contract's error shape, naming the field; and signed
 * Stripe events whose payload PostgreSQL cannot store as sent, each answered 200 and stored (and applied).
 */
import assert from "node:assert/strict";
import { ErrorBody } from "../../supabase/functions/_tollgate/contract.ts";
import { BASE_URL, db, newUser, SERVICE_KEY } from "./_helpers.ts";
import { freshIds, signature, stripeEvent } from "../fixtures/stripe/fixtures.ts";

const sql = db();
const SECRET = Deno.env.get("STRIPE_WEBHOOK_SECRET") ?? "whsec_tollgate_local_only";

/** A bad body: raw bytes or text, or a value sent as JSON; `field` is the top-level field the answer must name. */
interface Case {
  name: string;
  body: unknown;
  field?: string;
}

const NUL = "a\u0000b";
const HIGH = "a\ud800b";
const LOW = "a\udc00b";
const nest = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let i = 1; i < depth; i++) value = { a: value };
  return { a: value };
};
const deepText = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const raw = (text: string) => ({ raw: text });
const notUtf8 = (json: string) => {
  const bytes = new TextEncoder().encode(json);
  const at = bytes.indexOf(0x7e); // "~" marks where the invalid byte goes
  return new Uint8Array([...bytes.subarray(0, at), 0xff, ...bytes.subarray(at + 1)]).buffer;
};

/** The bad strings and metadata every function with those fields gets, around a valid `base` body. */
function badFields(base: Record<string, unknown>, strings: string[]): Case[] {
  const cases: Case[] = [];
  for (const field of strings) {
    for (
      const [what, value] of [["U+0000", NUL], ["a lone high surrogate", HIGH], ["a lone low surrogate", LOW]]
    ) {
      cases.push({ name: `${what} in ${field}`, body: { ...base, [field]: value }, field });
    }
  }
  const metadata: [string, unknown][] = [
    ["U+0000 in a metadata value", { note: NUL }],
    ["U+0000 in a metadata key", { [NUL]: 1 }],
    ["U+0000 in a nested metadata value", { a: [{ b: NUL }] }],
    ["a lone surrogate in a metadata key", { [HIGH]: 1 }],
    ["a lone surrogate in a metadata value", { note: LOW }],
    ["metadata nested 33 deep", nest(33)],
    ["a metadata number too large for JSON (1e400)", raw("1e400")],
    ["metadata that is an array", []],
    ["metadata that is a string", "text"],
    ["metadata that is a number", 7],
  ];
  for (const [name, value] of metadata) {
    const body = isRaw(value)
      ? raw(JSON.stringify({ ...base, metadata: { n: 0 } }).replace('"n":0', `"n":${value.raw}`))
      : { ...base, metadata: value };
    cases.push({ name, body, field: "metadata" });
  }
  const json = JSON.stringify({ ...base, metadata: { n: 0 } });
  cases.push(
    {
      name: "metadata nested 20,000 deep",
      body: raw(json.replace('"n":0', `"n":${deepText(20_000)}`)),
      field: "metadata",
    },
    { name: "a body nested 20,000 deep", body: raw(deepText(20_000)) },
    { name: "a body that is not UTF-8", body: notUtf8(JSON.stringify({ ...base, [strings[0]]: "k~" })) },
    { name: "a body that is not JSON", body: raw("{not json") },
    { name: "a body that is an array", body: [base] },
    { name: "a body that is a string", body: "text" },
    { name: "a body that is null", body: null },
    { name: "an unknown field", body: { ...base, surprise: NUL }, field: "surprise" },
    { name: `${strings[0]} as a number`, body: { ...base, [strings[0]]: 42 }, field: strings[0] },
    { name: `${strings[0]} as null`, body: { ...base, [strings[0]]: null }, field: strings[0] },
    { name: `an empty ${strings[0]}`, body: { ...base, [strings[0]]: "" }, field: strings[0] },
    { name: "user_id that is not a uuid", body: { ...base, user_id: NUL }, field: "user_id" },
  );
  return cases;
}

const isRaw = (v: unknown): v is { raw: string } => typeof v === "object" && v !== null && "raw" in v;

const numbers = (base: Record<string, unknown>, fields: string[]): Case[] =>
  fields.flatMap((field) => [
    {
      name: `${field} of 1e400`,
      body: raw(JSON.stringify({ ...base, [field]: 0 }).replace(`"${field}":0`, `"${field}":1e400`)),
      field,
    },
    {
      name: `${field} of -1e400`,
      body: raw(JSON.stringify({ ...base, [field]: 0 }).replace(`"${field}":0`, `"${field}":-1e400`)),
      field,
    },
    { name: `${field} of 2^63`, body: { ...base, [field]: 2 ** 63 }, field },
    { name: `${field} of 1.5`, body: { ...base, [field]: 1.5 }, field },
    { name: `${field} as a string`, body: { ...base, [field]: "1" }, field },
    { name: `${field} as true`, body: { ...base, [field]: true }, field },
  ]);

const CONSUME = { idempotency_key: "bad-input", amount: 0, feature: "e2e-bad-input" };
const USAGE = { request_id: "bad-input", model: "gpt-4o", input_tokens: 1, output_tokens: 1 };

const CHECKOUT = {
  pack_id: "e2e-bad-input",
  success_url: "http://localhost:3000/ok",
  cancel_url: "http://localhost:3000/no",
};
const PORTAL = { return_url: "http://localhost:3000/billing" };
/** Bad bodies of a function whose body names no more than whom it is for: every field is refused somehow. */
const UNKNOWN_FIELDS: Case[] = [
  { name: "a field with U+0000", body: { note: NUL }, field: "note" },
  { name: "a key with U+0000", body: { [NUL]: 1 } },
  { name: "a lone surrogate", body: { note: HIGH }, field: "note" },
  { name: "nested 33 deep", body: nest(33) },
  { name: "nested 20,000 deep", body: raw(deepText(20_000)) },
  { name: "a body that is not UTF-8", body: notUtf8('{"note": "~"}') },
  { name: "a body that is an array", body: [] },
  { name: "a number of 1e400", body: raw('{"n": 1e400}'), field: "n" },
];

const TABLE: Record<string, { token: "user" | "service"; cases: Case[] }> = {
  "create-checkout-session": {
    token: "user",
    cases: [
      ...badFields(CHECKOUT, ["pack_id", "success_url", "cancel_url", "price_id", "idempotency_key"]),
      {
        name: "a success_url that is not a URL",
        body: { ...CHECKOUT, success_url: "not a url" },
        field: "success_url",
      },
      {
        name: "a file: redirect",
        body: { ...CHECKOUT, cancel_url: "file:///etc/passwd" },
        field: "cancel_url",
      },
      {
        name: "a plan_id as a number",
        body: { ...CHECKOUT, pack_id: undefined, plan_id: 7 },
        field: "plan_id",
      },
      { name: "account_id that is not a uuid", body: { ...CHECKOUT, account_id: NUL }, field: "account_id" },
    ],
  },
  "create-portal-session": {
    token: "user",
    cases: [
      ...badFields(PORTAL, ["return_url"]),
      {
        name: "a return_url that is not http(s)",
        body: { return_url: "javascript:alert(1)" },
        field: "return_url",
      },
    ],
  },
  "consume-credit": {
    token: "user",
    cases: [
      ...badFields(CONSUME, ["idempotency_key", "feature"]),
      ...numbers(CONSUME, ["amount", "hold_ttl_seconds"]),
      { name: "hold as a string", body: { ...CONSUME, hold: "yes" }, field: "hold" },
    ],
  },
  "log-ai-usage": {
    token: "user",
    cases: [
      ...badFields(USAGE, ["request_id", "model", "provider", "feature", "error_code", "prompt", "response"]),
      ...numbers(USAGE, [
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "latency_ms",
      ]),
      { name: "hold_id that is not a uuid", body: { ...USAGE, hold_id: "h1" }, field: "hold_id" },
      { name: "status outside its values", body: { ...USAGE, status: NUL }, field: "status" },
      {
        name: "charge_credits as a string",
        body: { ...USAGE, charge_credits: "yes" },
        field: "charge_credits",
      },
    ],
  },
  "reset-monthly-quotas": { token: "service", cases: UNKNOWN_FIELDS },
  "deliver-billing-events": { token: "service", cases: UNKNOWN_FIELDS },
  "billing-status": {
    token: "user",
    cases: [...UNKNOWN_FIELDS, ...badFields({}, ["account_id", "user_id"])],
  },
};

/** POSTs a case's body as it is (bytes, raw text, or JSON) with the given bearer token and extra headers. */
async function send(fn: string, body: unknown, headers: Record<string, string>) {
  const payload = body instanceof ArrayBuffer ? body : isRaw(body) ? body.raw : JSON.stringify(body);
  const res = await fetch(`${BASE_URL}/functions/v1/${fn}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: payload,
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch { /* checked below */ }
  return { status: res.status, text, json };
}

/** What is wrong with an answer to a bad body, or null: it must be 400, `code`, the error shape, naming `field`. */
function wrong(answer: Awaited<ReturnType<typeof send>>, code: string, field?: string): string | null {
  if (answer.status !== 400) return `answered ${answer.status}: ${answer.text.slice(0, 300)}`;
  const shape = ErrorBody.safeParse(answer.json);
  if (!shape.success) return `not the error shape: ${answer.text.slice(0, 300)}`;
  const { error } = shape.data;
  if (error.code !== code) return `code ${error.code}: ${error.message}`;
  if (field) {
    const issues = (error.details?.issues ?? []) as { path: string[] }[];
    if (!issues.some((i) => i.path[0] === field) && !error.message.includes(field)) {
      return `does not name ${field}: ${answer.text.slice(0, 300)}`;
    }
  }
  return null;
}

const total = Object.values(TABLE).reduce((n, t) => n + t.cases.length, 0);

Deno.test(`the bad-input table holds at least 60 bodies (${total}) for every function`, () => {
  assert.ok(total >= 60, `${total} cases`);
});

for (const [fn, { token, cases }] of Object.entries(TABLE)) {
  Deno.test(`${fn} answers each of ${cases.length} bad bodies 400 invalid_request naming the field, never 5xx`, async () => {
    const bearer = token === "service" ? SERVICE_KEY : (await newUser(sql)).token;
    const problems: string[] = [];
    for (const c of cases) {
      const why = wrong(
        await send(fn, c.body, { Authorization: `Bearer ${bearer}` }),
        "invalid_request",
        c.field,
      );
      if (why) problems.push(`${c.name}: ${why}`);
    }
    assert.deepEqual(problems, []);
  });
}

Deno.test("stripe-webhook answers every unsigned bad body 400 invalid_signature, never 5xx", async () => {
  const problems: string[] = [];
  for (const c of TABLE["consume-credit"].cases) {
    const why = wrong(await send("stripe-webhook", c.body, {}), "invalid_signature");
    if (why) problems.push(`${c.name}: ${why}`);
  }
  assert.deepEqual(problems, []);
});

/** Signs and delivers a raw event body as Stripe would. */
async function deliver(body: string) {
  return send("stripe-webhook", raw(body), { "Stripe-Signature": await signature(body, SECRET) });
}

Deno.test("stripe-webhook stores and applies a signed pack purchase whose customer typed U+0000 and lone surrogates", async () => {
  const user = await newUser(sql);
  const event = stripeEvent("checkout.session.completed.payment", freshIds(user.id));
  const session = event.data.object as unknown as Record<string, Record<string, unknown>>;
  session.customer_details.name = `Ada${NUL}`;
  session.customer_details.email = `ada${HIGH}@example.com`;
  session.metadata = { ...session.metadata, [`note${NUL}`]: `gift${LOW}` };
  const [before] = await sql`select balance::int from tollgate.accounts where id = ${user.id}`;
  const answer = await deliver(JSON.stringify(event));
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(answer.json, { received: true });
  const [row] = await sql`select status, payload #>> '{data,object,customer_details,name}' as name,
                                 payload #>> '{data,object,customer_details,email}' as email
                            from tollgate.stripe_events where id = ${event.id}`;
  assert.deepEqual({ ...row }, {
    status: "processed",
    name: "Adaa\\u0000b",
    email: "adaa\\ud800b@example.com",
  });
  const [after] = await sql`select balance::int from tollgate.accounts where id = ${user.id}`;
  const credits = Number((session.metadata as Record<string, string>).credits);
  assert.equal(after.balance, before.balance + credits, "the pack's credits were granted");
});

Deno.test("stripe-webhook stores signed events with unstorable text, huge numbers or odd types in any field", async () => {
  const user = await newUser(sql);
  const base = stripeEvent("invoice.paid", freshIds(user.id));
  const HUGE = "(a number of 1e400)"; // JSON.stringify cannot write one: replaced in the body text
  const variants: [string, (o: Record<string, unknown>) => void][] = [
    ["U+0000 in the customer's name", (o) => o.customer_name = NUL],
    ["a lone surrogate in the description", (o) => o.description = HIGH],
    ["U+0000 in a metadata key and value", (o) => o.metadata = { [NUL]: NUL }],
    ["U+0000 in a custom field's value", (o) => o.custom_fields = [{ name: "PO", value: `PO-1${NUL}` }]],
    ["a number too large for JSON in an unused field", (o) => o.tollgate_unused = HUGE],
    ["an object where Stripe sends a string", (o) => o.footer = { nested: [NUL] }],
  ];
  const problems: string[] = [];
  for (const [name, change] of variants) {
    const event = structuredClone(base);
    event.id = `evt_bad_${crypto.randomUUID().slice(0, 12)}`;
    event.type = "invoice.finalized" as typeof event.type; // stored and ignored: the payload is what is tested
    change(event.data.object as unknown as Record<string, unknown>);
    const answer = await deliver(JSON.stringify(event).replace(`"${HUGE}"`, "1e400"));
    const [row] = await sql`select status from tollgate.stripe_events where id = ${event.id}`;
    if (answer.status !== 200 || row?.status !== "ignored") {
      problems.push(`${name}: answered ${answer.status} ${answer.text.slice(0, 200)}, stored ${row?.status}`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("stripe-webhook answers a signed event nested 20,000 deep 400 invalid_request, never 5xx", async () => {
  const event = stripeEvent("invoice.paid", freshIds((await newUser(sql)).id));
  const body = JSON.stringify(event).replace(
    '"object":"invoice"',
    `"object":"invoice","deep":${deepText(20_000)}`,
  );
  assert.equal(wrong(await deliver(body), "invalid_request"), null);
  assert.equal((await sql`select 1 from tollgate.stripe_events where id = ${event.id}`).length, 0);
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
