/**
 * The local stand-in for a hosted Supabase project: a PostgreSQL 15 cluster, the platform stand-in, the
 * migrations, and every Edge Function behind a gateway. Shared by `npm start`, `npm test` and `npm run bench`.
 */
import * as jose from "jose";
import { LOCAL_ANON_KEY, LOCAL_JWT_SECRET, LOCAL_SERVICE_ROLE_KEY } from "./keys.ts";
import { startGateway } from "./gateway.ts";

export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const PG_BIN = "/usr/lib/postgresql/15/bin";
const PG_SHARE = "/usr/share/postgresql/15/extension";

/** Debian packages the stack needs, with a file that proves each is installed. */
const APT_PACKAGES: Record<string, string> = {
  "postgresql-15": `${PG_BIN}/postgres`,
  "postgresql-contrib": `${PG_SHARE}/pgcrypto.control`,
  "postgresql-15-pgtap": `${PG_SHARE}/pgtap.control`,
  "postgresql-15-cron": `${PG_SHARE}/pg_cron.control`,
  "postgresql-15-plpgsql-check": `${PG_SHARE}/plpgsql_check.control`,
  "libtap-parser-sourcehandler-pgtap-perl": "/usr/bin/pg_prove",
};

const isRoot = () => Deno.uid() === 0;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs a command to completion and returns what it printed (stdout only with `stdoutOnly`, for generators whose
 * warnings go to stderr); throws with all of its output when it fails.
 */
export async function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; stdin?: string; stdoutOnly?: boolean } = {},
): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd ?? ROOT,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const text = stdout + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${text}`);
  return opts.stdoutOnly ? stdout : text;
}

/** Installs the Debian packages that are missing (as root), or stops with a message naming them. */
export async function ensureSystemPackages(): Promise<void> {
  const missing = Object.entries(APT_PACKAGES).filter(([, file]) => !exists(file)).map(([pkg]) => pkg);
  if (missing.length === 0) return;
  if (!isRoot()) {
    throw new Error(
      `Missing Debian packages: ${missing.join(" ")}\nInstall them with: sudo apt-get install -y ${
        missing.join(" ")
      }`,
    );
  }
  console.log(`Installing ${missing.join(", ")} with apt-get...`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update", "-qq"], { env });
  await run("apt-get", ["install", "-y", "-qq", ...missing], { env });
}

/** Runs a PostgreSQL server binary as the `postgres` OS user when we are root (initdb refuses root). */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  return isRoot()
    ? ["runuser", ["-u", "postgres", "--", `${PG_BIN}/${bin}`, ...args]]
    : [`${PG_BIN}/${bin}`, args];
}

export interface Postgres {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Creates the cluster once (reused afterwards), then starts it in the background on `port`. */
export async function startPostgres(
  dataDir: string,
  port: number,
  opts: { fast?: boolean } = {},
): Promise<Postgres> {
  const fresh = !exists(`${dataDir}/PG_VERSION`);
  if (fresh) {
    Deno.mkdirSync(dataDir, { recursive: true });
    if (isRoot()) await run("chown", ["-R", "postgres:postgres", dataDir]);
    const [cmd, args] = asPostgres("initdb", [
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--locale=C.UTF-8",
    ]);
    await run(cmd, args);
  }
  const settings = [
    "listen_addresses='127.0.0.1'",
    `port=${port}`,
    `unix_socket_directories='${dataDir}'`,
    "shared_preload_libraries='pg_cron'",
    "cron.database_name='postgres'",
    "max_connections=300",
    "timezone='UTC'",
    // A throwaway test cluster does not need to survive a power cut.
    ...(opts.fast ? ["fsync=off", "synchronous_commit=off", "full_page_writes=off"] : []),
  ];
  const [cmd, args] = asPostgres("pg_ctl", [
    "-D",
    dataDir,
    "-l",
    `${dataDir}/server.log`,
    "-w",
    "-t",
    "60",
    "-o",
    settings.map((s) => `-c ${s}`).join(" "),
    "start",
  ]);
  await run(cmd, args);
  const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    async stop() {
      const [c, a] = asPostgres("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "stop"]);
      await run(c, a).catch(() => {});
    },
  };
}

/**
 * Takes a cluster started by startPostgres away as a crash would (immediate mode: every backend quits at once;
 * the restart recovers). Tests use it mid-request: in fast mode the session holding a lock could exit first and
 * let the request waiting on it commit before its own backend is told to stop. Restart it with startPostgres and
 * the same port and options.
 */
export async function stopPostgres(dataDir: string): Promise<void> {
  const [cmd, args] = asPostgres("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"]);
  await run(cmd, args);
}

/** Runs a SQL file with psql, stopping at the first error. */
export function psqlFile(dbUrl: string, file: string): Promise<string> {
  return run("psql", [dbUrl, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", file]);
}

/** Runs SQL text with psql and returns its unaligned, tuples-only output. */
export async function psql(dbUrl: string, sql: string): Promise<string> {
  return (await run("psql", [dbUrl, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])).trim();
}

/** Applies what hosted Supabase already has: roles, auth schema, default privileges. */
export function applyPlatformStandIn(dbUrl: string): Promise<string> {
  return psqlFile(dbUrl, `${ROOT}/scripts/local/platform_stand_in.sql`);
}

/**
 * Applies pending migrations through the Supabase CLI, exactly as on a hosted project: this repository's, or
 * the project in `root`.
 */
export function migrate(dbUrl: string, root = ROOT): Promise<string> {
  return run(`${ROOT}/node_modules/.bin/supabase`, [
    "migration",
    "up",
    "--db-url",
    dbUrl,
    "--include-all",
    "--yes",
  ], { cwd: root });
}

export function functionNames(): string[] {
  return [...Deno.readDirSync(`${ROOT}/supabase/functions`)]
    .filter((e) =>
      e.isDirectory && !e.name.startsWith("_") && exists(`${ROOT}/supabase/functions/${e.name}/index.ts`)
    )
    .map((e) => e.name)
    .sort();
}

/** Reads `[functions.<name>] verify_jwt = false` lines from config.toml (default true, as hosted). */
export function verifyJwtByFunction(): Record<string, boolean> {
  const toml = Deno.readTextFileSync(`${ROOT}/supabase/config.toml`);
  const result: Record<string, boolean> = {};
  let current: string | null = null;
  for (const line of toml.split("\n")) {
    const section = line.match(/^\s*\[functions\.([A-Za-z0-9_-]+)\]/);
    if (section) current = section[1];
    else if (/^\s*\[/.test(line)) current = null;
    const flag = line.match(/^\s*verify_jwt\s*=\s*(true|false)/);
    if (current && flag) result[current] = flag[1] === "true";
  }
  return result;
}

/** A free TCP port on loopback. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Waits until something listens on `port` on loopback. */
export async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what} did not listen on port ${port} within ${timeoutMs} ms`);
}

/** An ES256 key pair standing in for the project's JWT signing keys (JWKS), created once per folder. */
export async function ensureSigningKey(dir: string): Promise<{ privateJwk: jose.JWK; publicJwk: jose.JWK }> {
  const file = `${dir}/signing_key.json`;
  if (exists(file)) return JSON.parse(Deno.readTextFileSync(file));
  const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
  const kid = crypto.randomUUID();
  const privateJwk = { ...(await jose.exportJWK(privateKey)), kid, alg: "ES256" };
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(file, JSON.stringify({ privateJwk, publicJwk }, null, 2), { mode: 0o600 });
  return { privateJwk, publicJwk };
}

/** Reads KEY=VALUE lines, creating the file from its `.example` when it is missing. */
export function loadFunctionsEnv(): Record<string, string> {
  const file = `${ROOT}/supabase/functions/.env`;
  if (!exists(file)) Deno.copyFileSync(`${file}.example`, file);
  const env: Record<string, string> = {};
  for (const line of Deno.readTextFileSync(file).split("\n")) {
    const m = line.match(/^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/);
    if (m) env[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return env;
}

/** What a function's environment holds on a hosted project, with the local keys and `supabase/functions/.env`. */
export function functionEnv(opts: { dbUrl: string; supabaseUrl: string }): Record<string, string> {
  return {
    ...loadFunctionsEnv(),
    SUPABASE_URL: opts.supabaseUrl,
    SUPABASE_DB_URL: opts.dbUrl,
    SUPABASE_ANON_KEY: LOCAL_ANON_KEY,
    SUPABASE_SERVICE_ROLE_KEY: LOCAL_SERVICE_ROLE_KEY,
    SUPABASE_JWT_SECRET: LOCAL_JWT_SECRET,
  };
}

/**
 * Starts one function as deployed: its own `deno run` of its index.ts, serving on `port` on loopback. `root` is
 * the project it is deployed from (default this repository; the installer's test starts an app's copy).
 */
export function spawnFunction(
  name: string,
  env: Record<string, string>,
  port: number,
  output: "piped" | "null" = "null",
  root = ROOT,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      `supabase/functions/${name}/index.ts`,
    ],
    cwd: root,
    env: { ...env, DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`, DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: output,
    stderr: output,
  }).spawn();
}

export interface Functions {
  url: string;
  env: Record<string, string>;
  ports: Record<string, number>;
  stop(): Promise<void>;
}

/**
 * Serves every function as deployed (its own process and Deno.serve) behind a gateway on `gatewayPort`
 * that checks JWTs per config.toml and passes method, headers and raw body through.
 */
export async function serveFunctions(opts: {
  dbUrl: string;
  gatewayPort: number;
  keyDir: string;
  extraEnv?: Record<string, string>;
  log?: (name: string, line: string) => void;
}): Promise<Functions> {
  const url = `http://127.0.0.1:${opts.gatewayPort}`;
  const { publicJwk } = await ensureSigningKey(opts.keyDir);
  const env = { ...functionEnv({ dbUrl: opts.dbUrl, supabaseUrl: url }), ...opts.extraEnv };
  const children: Deno.ChildProcess[] = [];
  const ports: Record<string, number> = {};
  for (const name of functionNames()) {
    const port = freePort();
    ports[name] = port;
    const child = spawnFunction(name, env, port, "piped");
    pipeLines(child.stdout, (l) => opts.log?.(name, l));
    pipeLines(child.stderr, (l) => opts.log?.(name, l));
    children.push(child);
  }
  const gateway = startGateway({
    port: opts.gatewayPort,
    upstreams: ports,
    verifyJwt: verifyJwtByFunction(),
    jwtSecret: LOCAL_JWT_SECRET,
    jwks: { keys: [publicJwk] },
  });
  const stop = async () => {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.allSettled(children.map((c) => c.status));
    await gateway.shutdown();
  };
  try {
    await Promise.all(
      Object.entries(ports).map(([name, port]) => waitForPort(port, 60_000, `function ${name}`)),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, env, ports, stop };
}

async function pipeLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  if (buf) onLine(buf);
}

/** Creates (or finds) a user in auth.users and returns an HS256 access token for them. */
export async function userToken(
  dbUrl: string,
  userId: string,
  email?: string,
  ttlSeconds = 3600,
): Promise<string> {
  await psql(
    dbUrl,
    `insert into auth.users (id, email) values ('${userId}', ${
      email ? `'${email.replaceAll("'", "''")}'` : "null"
    })
     on conflict (id) do update set email = coalesce(excluded.email, auth.users.email)`,
  );
  return signUserToken(userId, email, ttlSeconds);
}

/** Signs an access token shaped like GoTrue's, with the local JWT secret. */
export function signUserToken(userId: string, email?: string, ttlSeconds = 3600): Promise<string> {
  return new jose.SignJWT({
    role: "authenticated",
    aud: "authenticated",
    email,
    session_id: crypto.randomUUID(),
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuer("http://127.0.0.1:54321/auth/v1")
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(LOCAL_JWT_SECRET));
}
