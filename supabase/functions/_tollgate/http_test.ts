import assert from "node:assert/strict";
import { HttpError } from "./errors.ts";
import { readBody, readJson, tooDeep } from "./http.ts";

const post = (body: BodyInit) => new Request("http://x/f", { method: "POST", body });

async function refusal(body: BodyInit): Promise<HttpError> {
  try {
    await readJson(post(body));
  } catch (error) {
    assert.ok(error instanceof HttpError);
    return error;
  }
  throw new Error("readJson accepted the body");
}

Deno.test("readJson refuses bytes that are not UTF-8 instead of reading them as U+FFFD", async () => {
  const bytes = new Uint8Array([...new TextEncoder().encode('{"idempotency_key": "k'), 0xff, 0x22, 0x7d]);
  const error = await refusal(bytes);
  assert.equal(error.status, 400);
  assert.equal(error.message, "Invalid request body: is not valid UTF-8");
});

Deno.test("readJson refuses a body nested 20,000 deep before parsing it, naming the top-level field", async () => {
  const body = `{"idempotency_key": "k", "metadata": ${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
  const error = await refusal(body);
  assert.equal(error.status, 400);
  assert.equal(error.code, "invalid_request");
  assert.equal(error.message, "Invalid request body: metadata: must not nest deeper than 32 levels");
  assert.deepEqual(error.details?.issues, [{
    path: ["metadata"],
    message: "must not nest deeper than 32 levels",
  }]);
  assert.match(
    (await refusal("[".repeat(20_000) + "]".repeat(20_000))).message,
    /^Invalid request body: must not/,
  );
});

Deno.test("tooDeep counts brackets outside strings only, and 33 levels is a body whose metadata nests 32", () => {
  const body = (depth: number) =>
    new TextEncoder().encode(`{"k": "[[[{{{\\"", "metadata": ${"[".repeat(depth)}${"]".repeat(depth)}}`);
  assert.equal(tooDeep(body(32), 33), null);
  assert.deepEqual(tooDeep(body(33), 33), ["metadata"]);
  assert.deepEqual(tooDeep(new TextEncoder().encode('{"\\u006d": [[1]]}'), 2), ["m"]);
});

Deno.test("readJson still reads an empty body as {} and answers bad JSON with 400", async () => {
  assert.deepEqual(await readJson(post("")), {});
  assert.equal((await refusal("{broken")).message, "Request body is not valid JSON");
});

Deno.test("readBody holds every body to the limit: declared, understated, or streamed without a length", async () => {
  const status = (p: Promise<unknown>) =>
    p.then(() => 200, (e) => (e instanceof HttpError ? e.status : Promise.reject(e)));
  const bytes = (n: number) => new TextEncoder().encode("x".repeat(n));
  const post = (body: BodyInit, headers: Record<string, string> = {}) =>
    new Request("http://x/", { method: "POST", body, headers });
  assert.deepEqual(await readBody(post(bytes(10)), 10), bytes(10));
  assert.equal(await status(readBody(post(bytes(11)), 10)), 413, "declared over the limit");
  // A Request built in-process keeps whatever Content-Length it is given, unlike a body off the wire.
  assert.equal(await status(readBody(post(bytes(11), { "content-length": "5" }), 10)), 413, "understated");
  const stream = (chunks: number[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const n of chunks) c.enqueue(bytes(n));
        c.close();
      },
    });
  assert.deepEqual(await readBody(post(stream([4, 6])), 10), bytes(10));
  assert.equal(await status(readBody(post(stream([6, 5])), 10)), 413, "chunked past the limit");
});
