/**
 * The `tollgate` command: `install <path-to-app> [--prefix <p>]` and `uninstall <path-to-app>` (every check runs
 * before anything is written; a refusal writes nothing and exits 1 with its reasons), and `stripe-import`
 * (stripe_import_main.ts).
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { type App, applyPlan, type Plan, readApp } from "./app.ts";
import { planInstall } from "./install.ts";
import { readPayload } from "./payload.ts";
import { STRIPE_IMPORT_USAGE, stripeImport } from "./stripe_import_main.ts";
import { planUninstall, UNINSTALL_SQL } from "./uninstall.ts";
import pkg from "../package.json" with { type: "json" };

/** Tollgate's own supabase/ folder: the repository this package lives in. */
const SOURCE = new URL("../../../supabase", import.meta.url).pathname;

const USAGE = `Usage:
  tollgate install <path-to-app> [--prefix <p>]   add Tollgate to the app whose supabase/ folder is in <path-to-app>
  tollgate uninstall <path-to-app>                write the migration that removes Tollgate, and remove its files
${STRIPE_IMPORT_USAGE}`;

export interface Io {
  out(line: string): void;
  err(line: string): void;
  now: Date;
  /** Tollgate's supabase/ folder to install from. */
  source: string;
}

const SYMBOL = { add: "+", update: "~", delete: "-" } as const;

function printChanges(io: Io, plan: Plan): void {
  for (const c of plan.changes) io.out(`  ${SYMBOL[c.action]} supabase/${c.path}`);
}

function refuse(io: Io, command: string, reasons: string[]): number {
  io.err(`tollgate ${command}: refused, nothing written:`);
  for (const r of reasons) io.err(`  - ${r}`);
  return 1;
}

function nextSteps(io: Io, app: string): void {
  io.out(`
Next steps, from ${app}:
  1. Expose the schema: config.toml now lists "tollgate" in [api] schemas; on the hosted project add it under
     Project Settings -> Data API -> Exposed schemas.
  2. supabase db push                      (applies Tollgate's migrations after yours)
  3. supabase secrets set STRIPE_SECRET_KEY=sk_... STRIPE_WEBHOOK_SECRET=whsec_...
  4. supabase functions deploy             (deploys Tollgate's functions with your own)
Commit supabase/tollgate.json: it records what Tollgate wrote, so an upgrade or uninstall touches nothing else.`);
}

/** Runs the command line `args`; returns the exit code. */
export function main(args: string[], io: Io): number {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { prefix: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, path, ...extra] = parsed.positionals;
  const prefix = parsed.values.prefix;
  if (parsed.values.help) {
    io.out(USAGE);
    return 0;
  }
  if (
    !["install", "uninstall"].includes(command) || !path || extra.length > 0 ||
    (prefix !== undefined && command !== "install")
  ) {
    io.err(USAGE);
    return 2;
  }
  const root = resolve(path);
  const app = readApp(root);
  if (typeof app === "string") return refuse(io, command, [app]);
  return command === "install" ? install(io, root, app, prefix) : uninstall(io, root, app);
}

function install(io: Io, root: string, app: App, prefix: string | undefined): number {
  let payload;
  try {
    payload = readPayload(io.source);
  } catch (error) {
    return refuse(io, "install", [`Cannot read Tollgate from ${io.source}: ${(error as Error).message}`]);
  }
  const plan = planInstall(app, payload, { prefix, version: pkg.version, now: io.now });
  if (plan.refusals.length > 0) return refuse(io, "install", plan.refusals);
  if (plan.changes.length === 0) {
    io.out(`Tollgate ${pkg.version} is already installed in ${root}: nothing to change.`);
    return 0;
  }
  applyPlan(app.supabase, plan.changes);
  io.out(`Installed Tollgate ${pkg.version} into ${root}:`);
  printChanges(io, plan);
  nextSteps(io, root);
  return 0;
}

function uninstall(io: Io, root: string, app: App): number {
  const plan = planUninstall(app, Deno.readTextFileSync(UNINSTALL_SQL), io.now);
  if (!plan) {
    io.out(`Tollgate is not installed in ${root}: nothing to do.`);
    return 0;
  }
  if (plan.refusals.length > 0) return refuse(io, "uninstall", plan.refusals);
  applyPlan(app.supabase, plan.changes);
  io.out(`Removed Tollgate's files from ${root} (its migrations stay in the history):`);
  printChanges(io, plan);
  io.out(`
Next: supabase db push (applies the uninstall migration), then delete the deployed functions with
supabase functions delete <name> and take "tollgate" out of the hosted project's exposed schemas.`);
  return 0;
}

if (import.meta.main) {
  const out = (line: string) => console.log(line);
  const err = (line: string) => console.error(line);
  Deno.exit(
    Deno.args[0] === "stripe-import"
      ? await stripeImport(Deno.args.slice(1), { out, err, env: (name) => Deno.env.get(name) })
      : main(Deno.args, { out, err, now: new Date(), source: SOURCE }),
  );
}
