/** The published build: it bundles, carries no Deno API, runs in Node 20, and its declarations type-check. */
import assert from "node:assert/strict";
import { build, nodeFlags } from "./build.ts";

const HERE = new URL(".", import.meta.url).pathname;
const built = await build();

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd: HERE, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `${cmd} ${args.join(" ")} failed:\n${text}${new TextDecoder().decode(out.stderr)}`);
  return text;
}

Deno.test("the bundle is one ESM file with zod external and no Deno API", () => {
  const js = Deno.readTextFileSync(built.js);
  assert.match(js, /^import \{ z \} from "zod";$/m);
  assert.doesNotMatch(js, /\bDeno\./);
  assert.doesNotMatch(js, /from "npm:/);
});

Deno.test("the built client runs in Node 20: a 503 is retried with the same key, a 402 is a TollgateError", async () => {
  const report = JSON.parse(await run("node", [...(await nodeFlags()), "test/node_smoke.mjs", "fake"]));
  assert.match(report.node, /^v(2\d|[3-9]\d)\./);
  assert.equal(report.first.balance, 2);
  assert.equal(report.sentKeys.length, 3);
  assert.equal(report.sentKeys[0], report.sentKeys[1]);
  assert.deepEqual(report.refused, {
    code: "insufficient_credits",
    status: 402,
    details: { balance: 2, required: 9 },
  });
});

Deno.test("the published declarations give callers the contract's types and reject wrong ones", async () => {
  const fixture = `${HERE}/dist/types_check.ts`;
  Deno.writeTextFileSync(
    fixture,
    `// @ts-types="./index.d.ts"
import { createTollgateClient, TollgateError, type TollgateErrorCode } from "./index.js";

const client = createTollgateClient({ functions: { invoke: () => Promise.resolve({ data: null, error: null }) } });
export async function typed(): Promise<number> {
  const result = await client.consumeCredit({ amount: 2, feature: "chat" });
  const period: "day" | "month" | undefined = result.quota[0]?.period;
  const usage = await client.logAiUsage({ model: "m", input_tokens: 1, output_tokens: 1, status: "error" });
  // @ts-expect-error amount is an integer, not a string
  await client.consumeCredit({ amount: "2" });
  // @ts-expect-error status is success or error
  await client.logAiUsage({ model: "m", input_tokens: 1, output_tokens: 1, status: "ok" });
  const code: TollgateErrorCode = new TollgateError({ code: "quota_exceeded", status: 429, message: "m" }).code;
  // @ts-expect-error not a contract code
  const wrong: TollgateErrorCode = "teapot";
  return result.balance + usage.credits_charged + String(period).length + code.length + wrong.length;
}
`,
  );
  try {
    await run(Deno.execPath(), ["check", "--quiet", fixture]);
  } finally {
    Deno.removeSync(fixture);
  }
});
