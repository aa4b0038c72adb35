/**
 * `npm start`: the local stand-in for a hosted project, in the foreground until Ctrl-C.
 * PostgreSQL on 127.0.0.1:54322 (data in .tollgate/db, reused), the platform stand-in, the migrations, the seed,
 * and every function behind the gateway on http://127.0.0.1:54321. With SUPABASE_DB_URL set, no database starts.
 */
import { LOCAL_ANON_KEY, LOCAL_JWT_SECRET, LOCAL_SERVICE_ROLE_KEY } from "./lib/keys.ts";
import {
  applyPlatformStandIn,
  ensureSystemPackages,
  migrate,
  type Postgres,
  psql,
  psqlFile,
  ROOT,
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

try {
  let dbUrl = Deno.env.get("SUPABASE_DB_URL");
  if (!dbUrl) {
    await ensureSystemPackages();
    pg = await startPostgres(`${STATE_DIR}/db`, DB_PORT);
    dbUrl = pg.url;
  }
  await applyPlatformStandIn(dbUrl);
  const migrated = await migrate(dbUrl);
  for (const line of migrated.split("\n")) if (line.startsWith("Applying migration")) console.log(line);
  // The seed is idempotent, so a second start keeps the data and changes nothing.
  await psqlFile(dbUrl, `${ROOT}/supabase/seed.sql`);

  const fns = await serveFunctions({
    dbUrl,
    gatewayPort: GATEWAY_PORT,
    keyDir: STATE_DIR,
    log: (name, line) => console.log(`[${name}] ${line}`),
  });
  stopFunctions = fns.stop;
  const version = await psql(dbUrl, "show server_version");
  console.log(`
Tollgate is running (PostgreSQL ${version}).

  Functions     ${fns.url}/functions/v1/{${Object.keys(fns.ports).join(",")}}
  JWKS          ${fns.url}/auth/v1/.well-known/jwks.json
  Database      ${dbUrl}
  JWT secret    ${LOCAL_JWT_SECRET}
  anon key      ${LOCAL_ANON_KEY}
  service key   ${LOCAL_SERVICE_ROLE_KEY}

  A user token: npm run token -- <user-uuid> [email]
Press Ctrl-C to stop.`);
  await new Promise(() => {});
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await shutdown(1);
}
