import assert from "node:assert/strict";
import {
  accountFor,
  type CustomerOutcome,
  exitCode,
  type ImportDeps,
  type Mapping,
  runImport,
  type StripeCustomer,
  summaryLines,
} from "./stripe_import.ts";
import { stripeImport } from "./stripe_import_main.ts";

const A = "0a000000-0000-4000-8000-00000000000a";
const B = "0b000000-0000-4000-8000-00000000000b";
const KEYS: Mapping = { metadataKeys: ["account_id", "supabase_user_id"], map: null };

Deno.test("accountFor reads the metadata keys and the map, and never guesses", () => {
  const map = new Map([["cus_m", [A]], ["cus_both", [B]], ["cus_two", [A, B]], ["cus_same", [A]]]);
  const mapping = { ...KEYS, map };
  const cases: [StripeCustomer, ReturnType<typeof accountFor>][] = [
    [{ id: "cus_a", metadata: { account_id: A } }, { accountId: A, via: ["metadata.account_id"] }],
    [{ id: "cus_u", metadata: { supabase_user_id: ` ${B} ` } }, {
      accountId: B,
      via: ["metadata.supabase_user_id"],
    }],
    [{ id: "cus_m", metadata: {} }, { accountId: A, via: ["--map"] }],
    [{ id: "cus_same", metadata: { account_id: A.toUpperCase() } }, {
      accountId: A,
      via: ["metadata.account_id", "--map"],
    }],
    [{ id: "cus_none", metadata: { plan: "pro" } }, { accountId: null, via: [] }],
    [{ id: "cus_null", metadata: null }, { accountId: null, via: [] }],
    [{ id: "cus_both", metadata: { account_id: A } }, {
      unmapped: `metadata.account_id names ${A}, --map names ${B}: not guessed`,
    }],
    [{ id: "cus_two" }, { unmapped: `--map names ${A}, --map names ${B}: not guessed` }],
    [{ id: "cus_keys", metadata: { account_id: A, supabase_user_id: B } }, {
      unmapped: `metadata.account_id names ${A}, metadata.supabase_user_id names ${B}: not guessed`,
    }],
    [{ id: "cus_bad", metadata: { account_id: "user-42" } }, {
      unmapped: 'metadata.account_id is "user-42", not an account id',
    }],
  ];
  for (const [customer, expected] of cases) {
    assert.deepEqual(accountFor(customer, mapping), expected, customer.id);
  }
  assert.deepEqual(
    accountFor({ id: "cus_a", metadata: { account_id: A } }, { metadataKeys: ["uid"], map: null }),
    {
      accountId: null,
      via: [],
    },
    "only the keys asked for are read",
  );
});

/** Fake Stripe and database: the database answers per customer from `answers`, in turn. */
function fakes(customers: StripeCustomer[], answers: Record<string, Partial<CustomerOutcome>[]>) {
  const calls: { customerId: string; accountId: string | null; current: unknown[] }[] = [];
  const retrieved: string[] = [];
  const lines: string[] = [];
  const deps: ImportDeps = {
    async *customers() {
      yield* customers;
    },
    subscriptions: (id) =>
      Promise.resolve({ listedAt: new Date("2027-03-10T12:00:00Z"), subscriptions: [{ id: `sub_${id}` }] }),
    retrieveSubscription: (id) => {
      retrieved.push(id);
      return Promise.resolve({ id, current: true });
    },
    importCustomer: (call, current) => {
      calls.push({ customerId: call.customerId, accountId: call.accountId, current: [...current] });
      const turn = calls.filter((c) => c.customerId === call.customerId).length - 1;
      return Promise.resolve(
        { customer_id: call.customerId, ...answers[call.customerId][turn] } as CustomerOutcome,
      );
    },
    out: (line) => lines.push(line),
  };
  return { deps, calls, retrieved, lines };
}

Deno.test("runImport imports each mapped customer once, lists the unmapped and counts every outcome", async () => {
  const f = fakes([
    { id: "cus_a", metadata: { account_id: A } },
    { id: "cus_linked", metadata: {} },
    { id: "cus_lost", email: "lost@example.com", metadata: {} },
    { id: "cus_bad", email: "bad@example.com", metadata: { account_id: "nope" } },
    { id: "cus_c", metadata: { account_id: B } },
  ], {
    cus_a: [{
      status: "imported",
      account_id: A,
      linked: true,
      pending_applied: 2,
      subscriptions: [{ subscription_id: "sub_1", status: "processed" }, {
        subscription_id: "sub_2",
        status: "failed",
        reason: "Unknown price price_x",
      }],
    }],
    cus_linked: [{
      status: "unchanged",
      account_id: B,
      subscriptions: [{ subscription_id: "sub_3", status: "unchanged" }],
    }],
    cus_lost: [{ status: "unmapped", reason: "from the database" }],
    cus_c: [{ status: "conflict", account_id: A, reason: "Customer cus_c is linked to account A, not B" }],
  });
  const summary = await runImport(f.deps, KEYS);
  assert.deepEqual(f.calls.map((c) => [c.customerId, c.accountId]), [
    ["cus_a", A],
    ["cus_linked", null],
    ["cus_lost", null],
    ["cus_c", B],
  ], "the badly mapped customer is not sent; the others are, with the account named (or none)");
  assert.deepEqual(summary.customers, { imported: 1, unchanged: 1, unmapped: 2, conflict: 1, failed: 0 });
  assert.deepEqual(summary.subscriptions, { processed: 1, unchanged: 1, ignored: 0, failed: 1 });
  assert.equal(summary.pendingApplied, 2);
  assert.equal(exitCode(summary), 1, "a failed subscription and a conflict fail the run");
  assert.deepEqual(f.lines, [
    `  cus_a  imported; account ${A} (metadata.account_id); linked; 1 subscription(s) applied; ` +
    "sub_2 failed (Unknown price price_x); 2 waiting webhook event(s) applied",
    `  cus_linked  unchanged; account ${B} (linked before); 1 subscription(s) unchanged`,
    "  cus_lost  unmapped; no metadata.account_id or metadata.supabase_user_id names an account, and it is not linked to one",
    '  cus_bad  unmapped; metadata.account_id is "nope", not an account id',
    `  cus_c  conflict; account ${A} (metadata.account_id); Customer cus_c is linked to account A, not B`,
  ]);
  const closing = summaryLines(summary, false);
  assert.ok(
    closing.includes(
      "  cus_lost  lost@example.com  no metadata.account_id or metadata.supabase_user_id names an " +
        "account, and it is not linked to one",
    ),
    closing.join("\n"),
  );
  assert.ok(closing.includes('  cus_bad  bad@example.com  metadata.account_id is "nope", not an account id'));
  assert.match(
    closing.at(-1)!,
    /^customers 1 imported, 1 unchanged, 2 unmapped, 1 conflicts, 0 failed; subscriptions 1 applied/,
  );
  assert.match(summaryLines(summary, true).at(-1)!, /^Dry run, nothing kept: would be customers 1 imported/);
});

Deno.test("runImport settles a tie by retrieving the subscription and calling again, as the webhook does", async () => {
  const f = fakes([{ id: "cus_t", metadata: { account_id: A } }], {
    cus_t: [
      { status: "retrieve", subscription_id: "sub_t" },
      {
        status: "imported",
        account_id: A,
        subscriptions: [{ subscription_id: "sub_t", status: "processed" }],
      },
    ],
  });
  const summary = await runImport(f.deps, KEYS);
  assert.deepEqual(f.retrieved, ["sub_t"]);
  assert.deepEqual(f.calls.map((c) => c.current), [[], [{ id: "sub_t", current: true }]]);
  assert.equal(summary.customers.imported, 1);
  assert.equal(exitCode(summary), 0, "unmapped or not, a run that imported what it could exits 0");
});

Deno.test("runImport retrieves as many subscriptions as a customer has before calling it a loop", async () => {
  const ties = Array.from({ length: 8 }, (_, i) => ({ status: "retrieve", subscription_id: `sub_${i}` }));
  const f = fakes([{ id: "cus_many", metadata: { account_id: A } }], {
    cus_many: [...ties, { status: "imported", account_id: A, subscriptions: [] }],
  } as Record<string, Partial<CustomerOutcome>[]>);
  const listed = Array.from({ length: 8 }, (_, i) => ({ id: `sub_${i}` }));
  f.deps.subscriptions = () => Promise.resolve({ listedAt: new Date(), subscriptions: listed });
  assert.equal((await runImport(f.deps, KEYS)).customers.imported, 1);
  assert.equal(f.retrieved.length, 8);

  const endless = fakes([{ id: "cus_loop", metadata: { account_id: A } }], {
    cus_loop: Array(20).fill({ status: "retrieve", subscription_id: "sub_0" }),
  });
  await assert.rejects(runImport(endless.deps, KEYS), /keeps asking/);
  assert.equal(endless.retrieved.length, 6, "one listed subscription: 1 + 5 retrievals at most");
});

Deno.test("stripe-import --help prints its usage and exits 0", async () => {
  const out: string[] = [];
  const code = await stripeImport(["--help"], {
    out: (l) => out.push(l),
    err: () => {},
    env: () => undefined,
  });
  assert.equal(code, 0);
  assert.match(out.join("\n"), /tollgate stripe-import \[--db-url <url>\] \[--map <sql>\]/);
});

Deno.test("stripe-import refuses, exiting 2 before any request, without a Stripe key or a database", async () => {
  const run = async (args: string[], env: Record<string, string>) => {
    const err: string[] = [];
    const code = await stripeImport(args, { out: () => {}, err: (l) => err.push(l), env: (n) => env[n] });
    return { code, err: err.join("\n") };
  };
  const db = { SUPABASE_DB_URL: "postgres://postgres@127.0.0.1:1/postgres" };
  for (
    const [args, env, message] of [
      [[], db, /STRIPE_SECRET_KEY is not set/],
      [[], { ...db, STRIPE_SECRET_KEY: "pk_test_123" }, /not a Stripe secret key/],
      [[], { STRIPE_SECRET_KEY: "sk_test_123" }, /pass --db-url <url> or set SUPABASE_DB_URL/],
      [["--frobnicate"], { ...db, STRIPE_SECRET_KEY: "sk_test_123" }, /Unknown option '--frobnicate'/],
      [["extra"], { ...db, STRIPE_SECRET_KEY: "sk_test_123" }, /Unexpected argument 'extra'/],
    ] as [string[], Record<string, string>, RegExp][]
  ) {
    const r = await run(args, env);
    assert.equal(r.code, 2, `${args} ${JSON.stringify(env)}`);
    assert.match(r.err, message);
    assert.match(r.err, /Usage:\n {2}tollgate stripe-import/);
  }
});
