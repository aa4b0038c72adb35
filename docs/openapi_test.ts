/** docs/openapi.json is generated (npm run openapi), fresh, a valid OpenAPI 3.1 document, and complete. */
import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { buildDocument, OUTPUT } from "../scripts/openapi.ts";
import { ERROR_STATUS } from "../supabase/functions/_tollgate/contract.ts";

const committed = JSON.parse(Deno.readTextFileSync(OUTPUT));
const FUNCTIONS = [
  "billing-status",
  "consume-credit",
  "deliver-billing-events",
  "log-ai-usage",
  "reset-monthly-quotas",
  "stripe-webhook",
];

Deno.test("docs/openapi.json matches the zod schemas it is generated from (run npm run openapi)", () => {
  assert.deepEqual(committed, buildDocument(), "docs/openapi.json is stale: run npm run openapi");
});

Deno.test("docs/openapi.json validates as an OpenAPI 3.1 document", async () => {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(committed));
  assert.equal(validator.version, "3.1");
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
});

Deno.test("every function has a POST and a CORS preflight, and every contract error code is documented with its status", () => {
  assert.deepEqual(Object.keys(committed.paths).sort(), FUNCTIONS.map((f) => `/${f}`));
  const text = JSON.stringify(committed);
  for (const path of Object.values(committed.paths) as Record<string, Record<string, unknown>>[]) {
    assert.ok(path.post && path.options, "each path documents post and options");
    assert.ok((path.options.responses as Record<string, unknown>)["204"]);
  }
  const documented = new Map<string, Set<string>>();
  const walk = (responses: Record<string, { content?: unknown }>) => {
    for (const [status, response] of Object.entries(responses)) {
      for (
        const m of JSON.stringify(response.content ?? {}).matchAll(/"(?:enum|const)":(\[[^\]]*\]|"[a-z_]+")/g)
      ) {
        for (const code of [JSON.parse(m[1])].flat()) {
          documented.set(code, (documented.get(code) ?? new Set()).add(status));
        }
      }
    }
  };
  for (const path of Object.values(committed.paths) as { post: { responses: Record<string, never> } }[]) {
    walk(path.post.responses);
  }
  walk({ "405": committed.components.responses.MethodNotAllowed });
  for (const [code, status] of Object.entries(ERROR_STATUS)) {
    assert.deepEqual(
      [...(documented.get(code) ?? [])],
      [String(status)],
      `${code} is documented as ${status}`,
    );
  }
  assert.match(text, /Retry-After/);
});

Deno.test("429 and 503 answers carry Retry-After, and the webhook is authenticated by Stripe-Signature alone", () => {
  for (const fn of FUNCTIONS) {
    const responses = committed.paths[`/${fn}`].post.responses;
    for (const status of ["429", "503"]) {
      if (responses[status]) {
        assert.ok(responses[status].headers["Retry-After"], `${fn} ${status} Retry-After`);
      }
    }
  }
  const webhook = committed.paths["/stripe-webhook"].post;
  assert.deepEqual(webhook.security, [{ stripeSignature: [] }]);
  assert.equal(committed.components.securitySchemes.stripeSignature.name, "Stripe-Signature");
  assert.deepEqual(committed.paths["/reset-monthly-quotas"].post.security, [{ serviceKey: [] }, {
    secretApiKey: [],
  }]);
  assert.equal(committed.components.securitySchemes.secretApiKey.name, "apikey");
});
