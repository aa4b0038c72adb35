/**
 * `serve_function.ts <path to the function's index.ts> <port>`: one function as the edge runtime runs it. Its index.ts calls
 * `Deno.serve(handler)` with no address (hosted decides where it listens); here that handler listens on
 * 127.0.0.1:<port>. Standing in for the runtime this way needs no DENO_SERVE_ADDRESS, which Deno 2.1 lacks, and
 * leaves the deployed code free of it.
 */
const [index, port] = Deno.args;
if (!index || !/^\d+$/.test(port ?? "")) {
  throw new Error("Usage: serve_function.ts <path to index.ts> <port>");
}

const serve = Deno.serve;
Object.defineProperty(Deno, "serve", {
  value: (handler: unknown) => {
    if (typeof handler !== "function") throw new Error(`${index} must call Deno.serve(handler)`);
    return serve({ hostname: "127.0.0.1", port: Number(port), onListen() {} }, handler as Deno.ServeHandler);
  },
});
await import(new URL(index, `file://${Deno.cwd()}/`).href);
