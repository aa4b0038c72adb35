// Runs the built package (dist/) in Node and prints what happened as JSON, for packages/client/node_test.ts and
// tests/e2e/client_node_test.ts.
// Node 20 has no global WebSocket, which supabase-js' realtime client insists on: run it with
// --experimental-websocket (Node 22+ needs nothing).
//   node node_smoke.mjs fake                          a scripted fetch: one 503, then success, then a 402
//   node node_smoke.mjs live <url> <anon key> <token> the real functions behind <url>/functions/v1
import { createClient } from "@supabase/supabase-js";
// Resolved at run time: dist/ exists only after the build, so a fresh clone's `deno check` must not follow it.
const { createTollgateClient, TollgateError } = await import(
  new URL("../dist/index.js", import.meta.url).href
);

const [mode, url, anonKey, token] = process.argv.slice(2);

function scriptedFetch(sent) {
  const answers = [
    [503, { error: { code: "unavailable", message: "Database is unavailable: retry shortly" } }, {
      "Retry-After": "0",
    }],
    [200, { transaction_id: null, consumed: 1, balance: 2, held: 0, quota: [], replayed: false }, {}],
    [
      402,
      { error: { code: "insufficient_credits", message: "No", details: { balance: 2, required: 9 } } },
      {},
    ],
  ];
  return (_input, init) => {
    sent.push(JSON.parse(init.body));
    const [status, body, headers] = answers.shift();
    return Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { "Content-Type": "application/json", ...headers },
      }),
    );
  };
}

const sent = [];
const supabase = mode === "fake"
  ? createClient("http://tollgate.test", "anon", {
    accessToken: () => Promise.resolve("user-jwt"),
    global: { fetch: scriptedFetch(sent) },
  })
  : createClient(url, anonKey, { accessToken: () => Promise.resolve(token) });
const tollgate = createTollgateClient(supabase, { retry: { baseDelayMs: 10 } });

const report = { node: process.version };
const key = `node-${Date.now()}`;
report.first = await tollgate.consumeCredit({ idempotency_key: key, feature: "node-smoke" });
if (mode === "live") {
  report.again = await tollgate.consumeCredit({ idempotency_key: key, feature: "node-smoke" });
}
try {
  await tollgate.consumeCredit({ amount: 1_000_000, feature: "node-smoke" });
} catch (error) {
  report.refused = error instanceof TollgateError
    ? { code: error.code, status: error.status, details: error.details }
    : String(error);
}
report.sentKeys = sent.map((body) => body.idempotency_key);
console.log(JSON.stringify(report));
