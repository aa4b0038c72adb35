/**
 * The local stand-in for a hosted Supabase project: a PostgreSQL 15 cluster, the platform stand-in, the
 * migrations, and every Edge Function behind a gateway. Shared by `npm start`, `npm test` and `npm run bench`.
 */
import * as jose from "jose";
import {
  LOCAL_ANON_KEY,
  LOCAL_JWT_SECRET,
  LOCAL_PUBLISHABLE_KEY,
  LOCAL_SECRET_KEY,
  LOCAL_SERVICE_ROLE_KEY,
} from "./keys.ts";
import { startGateway } from "./gateway.ts";

export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
export const PG_BIN = "/usr/lib/postgresql/15/bin";
const PG_SHARE = "/usr/share/postgresql/15/extension";

/** Debian packages the stack needs, with a file that proves each is installed. */
const APT_PACKAGES: Record<string, string> = {
  "postgresql-15": `${PG_BIN}/postgres`,
  "postgresql-contrib": `${PG_SHARE}/pgcrypto.control`,
  "postgresql-15-pgtap": `${PG_SHARE}/pgtap.control`,
  "postgresql-15-cron": `${PG_SHARE}/pg_cron.control`,
  "postgresql-15-plpgsql-check": `${PG_SHARE}/plpgsql_check.control`,
  "libtap-parser-sourcehandler-pgtap-perl": "/usr/bin/pg_prove",
  pgbouncer: "/usr/sbin/pgbouncer",
  "faketime": "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
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

/** The hosted edge runtime's Deno: supabase-edge-runtime 1.7x reports "compatible with Deno v2.1.4". */
export const HOSTED_DENO_VERSION = "2.1.4";

/**
 * The binary of the hosted edge runtime's Deno, fetched from npm once by npx (kept in ~/.npm/_npx) rather than
 * as a devDependency: two `deno` packages in node_modules would race for node_modules/.bin/deno.
 */
export async function hostedDeno(): Promise<string> {
  const out = await run(
    "npx",
    ["-y", "--prefer-offline", `deno@${HOSTED_DENO_VERSION}`, "eval", "console.log(Deno.execPath())"],
    { cwd: "/", stdoutOnly: true, env: HOSTED_DENO_ENV },
  );
  const path = out.trim().split("\n").at(-1) ?? "";
  if (!exists(path)) throw new Error(`npx deno@${HOSTED_DENO_VERSION} printed no binary path:\n${out}`);
  return path;
}

/** Deno 2.1 trusts only its bundled CA roots unless told to use the system's too (proxies, private mirrors). */
export const HOSTED_DENO_ENV = { DENO_TLS_CA_STORE: "mozilla,system" };

/** Installs the Debian packages that are missing (as root), or stops with a message naming them. */
export async function ensureSystemPackages(): Promise<void> {
  const missing = Object.entries(APT_PACKAGES).filter(([, file]) => !exists(file)).map(([pkg]) => pkg);
  if (missing.length === 0) return;
  if (!isRoot()) {
    throw new Error(
      `Missing Debian packages: ${missing.join(" ")}\nInstall them with: sudo apt-get install -y ${
        missing.join(" ")
      } (with --no-upgrade)`,
    );
  }
  console.log(`Installing ${missing.join(", ")} with apt-get...`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update", "-qq"], { env });
  // --no-upgrade: never upgrade an installed PostgreSQL under running clusters.
  await run("apt-get", ["install", "-y", "-qq", "--no-upgrade", ...missing], { env });
}

/**
 * Runs a PostgreSQL binary as the `postgres` OS user when we are root (initdb and pgbouncer refuse root), from "/"
 * since that user may not be able to enter this folder (root's home is mode 700).
 */
function asPostgres(bin: string, args: string[]): [string, string[], { cwd: string }] {
  return isRoot()
    ? ["runuser", ["-u", "postgres", "--", bin.startsWith("/") ? bin : `${PG_BIN}/${bin}`, ...args], {
      cwd: "/",
    }]
    : [bin.startsWith("/") ? bin : `${PG_BIN}/${bin}`, args, { cwd: "/" }];
}

/** The cluster's superuser (as on hosted); `postgres` is not one. */
export const ADMIN_USER = "supabase_admin";

export interface Postgres {
  /** As `postgres`, the role migrations and functions use: not a superuser. */
  url: string;
  /** As the superuser, for the platform stand-in and for tests that arrange state. */
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Where `npm start` keeps its cluster: `.tollgate/db`, or, when the `postgres` OS user cannot reach this folder
 * (a clone in root's mode-700 home), `/var/lib/postgresql/tollgate/<folder id>/db`, so no home is widened.
 */
export async function localDataDir(): Promise<string> {
  const inRepo = `${ROOT}/.tollgate/db`;
  if (!isRoot()) return inRepo;
  const reachable = await new Deno.Command("runuser", {
    args: ["-u", "postgres", "--", "test", "-x", ROOT],
    cwd: "/",
    stdout: "null",
    stderr: "null",
  }).output();
  if (reachable.success) return inRepo;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(ROOT));
  const id = [...new Uint8Array(digest)].slice(0, 6).map((b) => b.toString(16).padStart(2, "0")).join("");
  return `/var/lib/postgresql/tollgate/${id}/db`;
}

/**
 * Creates the cluster once (reused afterwards), then starts it in the background on `port`. With `clockAt`, the
 * server and every backend run under libfaketime, their clock starting at that moment (tests of other dates).
 */
export async function startPostgres(
  dataDir: string,
  port: number,
  opts: { fast?: boolean; clockAt?: Date } = {},
): Promise<Postgres> {
  const env = opts.clockAt
    ? {
      LD_PRELOAD: APT_PACKAGES.faketime,
      FAKETIME: `@${opts.clockAt.toISOString().slice(0, 19).replace("T", " ")}`,
      TZ: "UTC",
      FAKETIME_DONT_FAKE_MONOTONIC: "1",
    }
    : undefined;
  const fresh = !exists(`${dataDir}/PG_VERSION`);
  if (fresh) {
    Deno.mkdirSync(dataDir, { recursive: true });
    if (isRoot()) await run("chown", ["-R", "postgres:postgres", dataDir]);
    const [cmd, args, o] = asPostgres("initdb", [
      "-D",
      dataDir,
      "-U",
      ADMIN_USER,
      "--auth=trust",
      "--encoding=UTF8",
      "--locale=C.UTF-8",
    ]);
    await run(cmd, args, o);
  }
  const settings = [
    "listen_addresses='127.0.0.1'",
    `port=${port}`,
    `unix_socket_directories='${dataDir}'`,
    "shared_preload_libraries='pg_cron'",
    "cron.database_name='postgres'",
    "max_connections=300",
    "timezone='UTC'",
    "wal_level=logical",
    // A throwaway test cluster does not need to survive a power cut.
    ...(opts.fast ? ["fsync=off", "synchronous_commit=off", "full_page_writes=off"] : []),
  ];
  const [cmd, args, o] = asPostgres("pg_ctl", [
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
  await run(cmd, args, { ...o, env });
  const at = (user: string) => `postgresql://${user}:postgres@127.0.0.1:${port}/postgres`;
  // A cluster made before postgres stopped being its superuser: add the superuser (the stand-in demotes postgres).
  await psql(at(ADMIN_USER), "select 1").catch(() =>
    psql(at("postgres"), `create role ${ADMIN_USER} superuser login`)
  );
  return {
    url: at("postgres"),
    adminUrl: at(ADMIN_USER),
    port,
    async stop() {
      const [c, a, o] = asPostgres("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "stop"]);
      await run(c, a, o).catch(() => {});
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
  const [cmd, args, o] = asPostgres("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"]);
  await run(cmd, args, o);
}

export interface Pooler {
  url: string;
  stop(): Promise<void>;
}

/**
 * pgbouncer in transaction mode in front of a cluster, on `port`, as hosted functions reach the database through
 * Supavisor: each transaction may get another server connection. A small server pool (`poolSize`) makes
 * connections change hands between callers all the time.
 */
export async function startPgbouncer(
  pg: Postgres,
  dir: string,
  port: number,
  opts: { poolSize?: number } = {},
): Promise<Pooler> {
  Deno.mkdirSync(dir, { recursive: true });
  const users = [new URL(pg.url).username, new URL(pg.adminUrl).username];
  Deno.writeTextFileSync(`${dir}/userlist.txt`, users.map((u) => `"${u}" ""\n`).join(""));
  Deno.writeTextFileSync(
    `${dir}/pgbouncer.ini`,
    [
      "[databases]",
      `postgres = host=127.0.0.1 port=${pg.port} dbname=postgres`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${dir}/userlist.txt`,
      "pool_mode = transaction",
      `default_pool_size = ${opts.poolSize ?? 4}`,
      "max_client_conn = 2000",
      "ignore_startup_parameters = extra_float_digits,options",
      `logfile = ${dir}/pgbouncer.log`,
      "",
    ].join("\n"),
  );
  if (isRoot()) await run("chown", ["-R", "postgres:postgres", dir]);
  const [cmd, args, o] = asPostgres("/usr/sbin/pgbouncer", ["-q", `${dir}/pgbouncer.ini`]);
  const child = new Deno.Command(cmd, { args, cwd: o.cwd, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  const stderr = new Response(child.stderr).text();
  try {
    await Promise.race([
      waitForPort(port, 10_000, "pgbouncer"),
      child.status.then(async (s) => {
        throw new Error(`pgbouncer exited (${s.code}): ${await stderr}`);
      }),
    ]);
  } catch (error) {
    child.kill("SIGTERM");
    throw error;
  }
  const url = new URL(pg.url);
  url.port = String(port);
  return {
    url: url.href,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
    },
  };
}

/** Runs a SQL file with psql, stopping at the first error. */
export function psqlFile(dbUrl: string, file: string): Promise<string> {
  return run("psql", [dbUrl, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", file]);
}

/** Runs SQL text with psql and returns its unaligned, tuples-only output. */
export async function psql(dbUrl: string, sql: string): Promise<string> {
  return (await run("psql", [dbUrl, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])).trim();
}

/** Applies what hosted Supabase already has (roles, auth schema, extensions, privileges), as the superuser. */
export function applyPlatformStandIn(adminUrl: string): Promise<string> {
  return psqlFile(adminUrl, `${ROOT}/scripts/local/platform_stand_in.sql`);
}

/**
 * Applies pending migrations through the Supabase CLI, exactly as on a hosted project (as `postgres`): this
 * repository's, or the project in `root`. The database is named with `--remote=<url>`, which replaced `--db-url`
 * (gone in Supabase CLI v4).
 */
export function migrate(dbUrl: string, root = ROOT): Promise<string> {
  return run(`${ROOT}/node_modules/.bin/supabase`, [
    "migration",
    "up",
    `--remote=${dbUrl}`,
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

const handedOut = new Set<number>();

/**
 * A free TCP port on loopback, never one this process handed out before: a port is free only until whoever got it
 * listens, and the kernel may offer a just-closed port again, so two functions started together could otherwise
 * get the same one (the second fails to bind and its requests reach the first).
 */
export function freePort(): number {
  for (;;) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
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

/**
 * Reads KEY=VALUE lines, creating the file from its `.example` when it is missing (names the .env lacks take the
 * example's value). Names starting `SUPABASE_`
 * are refused, as `supabase secrets set` refuses them: the platform owns them.
 */
export function loadFunctionsEnv(): Record<string, string> {
  const file = `${ROOT}/supabase/functions/.env`;
  if (!exists(file)) Deno.copyFileSync(`${file}.example`, file);
  const env: Record<string, string> = {};
  // A name added to the example since the .env was made gets its example value (the .env's own win).
  for (const line of [`${file}.example`, file].flatMap((f) => Deno.readTextFileSync(f).split("\n"))) {
    const m = line.match(/^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/);
    if (!m) continue;
    if (m[1].startsWith("SUPABASE_")) {
      throw new Error(
        `supabase/functions/.env sets ${m[1]}: names starting SUPABASE_ cannot be set as secrets on hosted ` +
          "projects (the platform provides them); remove the line",
      );
    }
    env[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return env;
}

/**
 * Exactly the secrets a hosted function gets by default, with the local keys, plus `supabase/functions/.env`
 * (STRIPE_*, TOLLGATE_*). No SUPABASE_JWT_SECRET: hosted functions do not get it.
 */
export function functionEnv(opts: { dbUrl: string; supabaseUrl: string; jwks: jose.JSONWebKeySet }): Record<
  string,
  string
> {
  return {
    ...loadFunctionsEnv(),
    SUPABASE_URL: opts.supabaseUrl,
    SUPABASE_DB_URL: opts.dbUrl,
    SUPABASE_JWKS: JSON.stringify(opts.jwks),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: LOCAL_PUBLISHABLE_KEY }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: LOCAL_SECRET_KEY }),
    SUPABASE_ANON_KEY: LOCAL_ANON_KEY,
    SUPABASE_SERVICE_ROLE_KEY: LOCAL_SERVICE_ROLE_KEY,
  };
}

/** The JWKS the local Auth endpoint publishes: the public half of the stack's signing key. */
export async function localJwks(keyDir: string): Promise<jose.JSONWebKeySet> {
  return { keys: [(await ensureSigningKey(keyDir)).publicJwk] };
}

/**
 * Starts one function as deployed: its own process running its index.ts with its own deno.json, serving on
 * `port` on loopback (scripts/local/serve_function.ts stands in for the edge runtime, so nothing depends on
 * DENO_SERVE_ADDRESS, which Deno 2.1 lacks). `deno` is the binary to run it with (default: this one); `root` is
 * the project it is deployed from (default this repository; the installer's test starts an app's copy).
 */
export function spawnFunction(
  name: string,
  env: Record<string, string>,
  port: number,
  opts: { output?: "piped" | "null"; deno?: string; root?: string } = {},
): Deno.ChildProcess {
  const output = opts.output ?? "null";
  const root = opts.root ?? ROOT;
  return new Deno.Command(opts.deno ?? Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      "--config",
      `${root}/supabase/functions/${name}/deno.json`,
      `${ROOT}/scripts/local/serve_function.ts`,
      `${root}/supabase/functions/${name}/index.ts`,
      String(port),
    ],
    cwd: root,
    env: { ...env, DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: output,
    stderr: output,
  }).spawn();
}

export interface Functions {
  url: string;
  env: Record<string, string>;
  ports: Record<string, number>;
  /** Each function's process id. */
  pids: Record<string, number>;
  stop(): Promise<void>;
}

/**
 * Serves every function as deployed (its own process and Deno.serve) behind a gateway on `gatewayPort` that
 * checks JWTs per config.toml, passes method, headers and raw body through, and answers the Auth endpoints.
 * `dbUrl` is what the functions get as SUPABASE_DB_URL (a pooler, say); `authDbUrl` where auth.users is read
 * (default: the same).
 */
export async function serveFunctions(opts: {
  dbUrl: string;
  authDbUrl?: string;
  gatewayPort: number;
  keyDir: string;
  extraEnv?: Record<string, string>;
  deno?: string;
  log?: (name: string, line: string) => void;
}): Promise<Functions> {
  const url = `http://127.0.0.1:${opts.gatewayPort}`;
  const jwks = await localJwks(opts.keyDir);
  const env = { ...functionEnv({ dbUrl: opts.dbUrl, supabaseUrl: url, jwks }), ...opts.extraEnv };
  const children: Deno.ChildProcess[] = [];
  const ports: Record<string, number> = {};
  const pids: Record<string, number> = {};
  for (const name of functionNames()) {
    const port = freePort();
    ports[name] = port;
    const child = spawnFunction(name, env, port, { output: "piped", deno: opts.deno });
    pipeLines(child.stdout, (l) => opts.log?.(name, l));
    pipeLines(child.stderr, (l) => opts.log?.(name, l));
    children.push(child);
    pids[name] = child.pid;
  }
  const gateway = startGateway({
    port: opts.gatewayPort,
    upstreams: ports,
    verifyJwt: verifyJwtByFunction(),
    jwtSecret: LOCAL_JWT_SECRET,
    jwks,
    apiKeys: [LOCAL_PUBLISHABLE_KEY, LOCAL_SECRET_KEY, LOCAL_ANON_KEY, LOCAL_SERVICE_ROLE_KEY],
    dbUrl: opts.authDbUrl ?? opts.dbUrl,
  });
  const dispatcher = startDispatchTimer(url);
  const stop = async () => {
    clearInterval(dispatcher);
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
  return { url, env, ports, pids, stop };
}

/**
 * What pg_cron does through pg_net on hosted (20261201170810_schedule_deliver_billing_events.sql), which the local
 * stack has no pg_net for: calls deliver-billing-events every minute with the secret key. Without
 * TOLLGATE_WEBHOOK_URL the function claims nothing.
 */
function startDispatchTimer(gatewayUrl: string, everyMs = 60_000): ReturnType<typeof setInterval> {
  return setInterval(() => {
    fetch(`${gatewayUrl}/functions/v1/deliver-billing-events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${LOCAL_SECRET_KEY}`, "Content-Type": "application/json" },
      body: "{}",
    }).then((res) => res.body?.cancel(), () => {});
  }, everyMs);
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

/** Creates (or finds) a user in auth.users, as signing up would. */
export async function ensureUser(dbUrl: string, userId: string, email?: string): Promise<void> {
  await psql(
    dbUrl,
    `insert into auth.users (id, email) values ('${userId}', ${
      email ? `'${email.replaceAll("'", "''")}'` : "null"
    })
     on conflict (id) do update set email = coalesce(excluded.email, auth.users.email)`,
  );
}

/**
 * Creates (or finds) a user and returns an access token for them: ES256 with `signingKey` (the stack's JWKS key,
 * as new projects sign), else HS256 with the legacy local secret (confirmed through the Auth endpoint).
 */
export async function userToken(
  dbUrl: string,
  userId: string,
  email?: string,
  ttlSeconds = 3600,
  signingKey?: jose.JWK,
): Promise<string> {
  await ensureUser(dbUrl, userId, email);
  return signUserToken(userId, email, ttlSeconds, signingKey);
}

/** Signs an access token shaped like GoTrue's: ES256 with `signingKey` (its kid in the header), else HS256. */
export async function signUserToken(
  userId: string,
  email?: string,
  ttlSeconds = 3600,
  signingKey?: jose.JWK,
): Promise<string> {
  const jwt = new jose.SignJWT({
    role: "authenticated",
    aud: "authenticated",
    email,
    session_id: crypto.randomUUID(),
  })
    .setSubject(userId)
    .setIssuer("http://127.0.0.1:54321/auth/v1")
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (!signingKey) {
    return jwt.setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(
      new TextEncoder().encode(LOCAL_JWT_SECRET),
    );
  }
  return jwt.setProtectedHeader({ alg: "ES256", kid: signingKey.kid, typ: "JWT" })
    .sign(await jose.importJWK(signingKey, "ES256"));
}
