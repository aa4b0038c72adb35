/**
 * `npm start`: the local stand-in for a hosted project, in the foreground until Ctrl-C stops everything it
 * started. PostgreSQL on 127.0.0.1:54322 (data reused across starts; see localDataDir for where), the platform
 * stand-in, the migrations, the seed, and every function behind the gateway on http://127.0.0.1:54321. With
 * SUPABASE_DB_URL set, that database is used and none is started. One progress line per step, with its time.
 */
import {
  LOCAL_ANON_KEY,
  LOCAL_JWT_SECRET,
  LOCAL_PUBLISHABLE_KEY,
  LOCAL_SECRET_KEY,
  LOCAL_SERVICE_ROLE_KEY,
} from "./lib/keys.ts";
import {
  applyPlatformStandIn,
  ensureSigningKey,
  ensureSystemPackages,
  functionNames,
  localDataDir,
  migrate,
  type Postgres,
  psql,
  psqlFile,
  ROOT,
  run,
  serveFunctions,
  startPostgres,
} from "./lib/stack.ts";

const DB_PORT = 54322;
const GATEWAY_PORT = 54321;
const STATE_DIR = `${ROOT}/.tollgate`;

let pg: Postgres | null = null;
let stopFunctions: (() => Promise<void>) | null = null;
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log("\nStopping...");
    await stopFunctions?.();
    await pg?.stop();
  }
  Deno.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => shutdown(0));

/** Runs one step and prints one line for it: what it did and how long it took. */
async function step<T>(what: string, work: () => Promise<T>, detail?: (result: T) => string): Promise<T> {
  const started = performance.now();
  const result = await work();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`  ${`${what}${detail ? `: ${detail(result)}` : ""}`.padEnd(76)} ${seconds.padStart(5)} s`);
  return result;
}

/** The ports this stack needs, checked before anything starts, so a busy one leaves nothing behind. */
function busyPort(ports: number[]): number | null {
  for (const port of ports) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse) return port;
      throw error;
    }
  }
  return null;
}

try {
  const givenDbUrl = Deno.env.get("SUPABASE_DB_URL");
  const busy = busyPort(givenDbUrl ? [GATEWAY_PORT] : [GATEWAY_PORT, DB_PORT]);
  if (busy !== null) {
    console.error(
      `Port ${busy} is already in use, so nothing was started. Is another \`npm start\` running? Stop it, or ` +
        `whatever listens there (\`ss -ltnp 'sport = :${busy}'\` names it), then run npm start again.`,
    );
    Deno.exit(1);
  }
  console.log("Starting Tollgate's local stack");
  await step("system packages", ensureSystemPackages);
  let dbUrl = givenDbUrl ?? "";
  let adminUrl = dbUrl;
  let dataDir = "";
  if (!givenDbUrl) {
    dataDir = await localDataDir();
    pg = await step(
      `PostgreSQL on 127.0.0.1:${DB_PORT}`,
      () => startPostgres(dataDir, DB_PORT),
      () => dataDir,
    );
    dbUrl = pg.url;
    adminUrl = pg.adminUrl;
  }
  await step("platform stand-in (roles, auth, extensions)", () => applyPlatformStandIn(adminUrl));
  await step(
    "migrations",
    () => migrate(dbUrl),
    (out) => `${out.split("\n").filter((l) => l.startsWith("Applying migration")).length} applied`,
  );
  // The seed is idempotent, so a second start keeps the data and changes nothing.
  await step("seed", () => psqlFile(dbUrl, `${ROOT}/supabase/seed.sql`));
  await step("function dependencies", async () => {
    for (const name of functionNames()) {
      const config = `supabase/functions/${name}/deno.json`;
      await run(Deno.execPath(), [
        "cache",
        "--quiet",
        "--config",
        config,
        `supabase/functions/${name}/index.ts`,
      ], {
        env: { DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1" },
      });
    }
  });
  const { privateJwk } = await ensureSigningKey(STATE_DIR);
  const fns = await step(
    "functions and gateway",
    () =>
      serveFunctions({
        dbUrl,
        gatewayPort: GATEWAY_PORT,
        keyDir: STATE_DIR,
        log: (name, line) => console.log(`[${name}] ${line}`),
      }),
    (f) => Object.keys(f.ports).join(", "),
  );
  stopFunctions = fns.stop;
  const version = await psql(dbUrl, "show server_version");
  console.log(`
Tollgate is running (PostgreSQL ${version}).

  Functions        ${fns.url}/functions/v1/{${Object.keys(fns.ports).join(",")}}
  Auth             ${fns.url}/auth/v1/user, ${fns.url}/auth/v1/.well-known/jwks.json (kid ${privateJwk.kid})
  Database         ${dbUrl}${dataDir ? `\n  Data             ${dataDir}` : ""}
  Publishable key  ${LOCAL_PUBLISHABLE_KEY}
  Secret key       ${LOCAL_SECRET_KEY}
  anon key         ${LOCAL_ANON_KEY}
  service_role key ${LOCAL_SERVICE_ROLE_KEY}
  JWT secret       ${LOCAL_JWT_SECRET} (legacy HS256)

  A user token (ES256): npm run -s token -- <user-uuid> [email]
Press Ctrl-C to stop.`);
  await new Promise(() => {});
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await shutdown(1);
}
