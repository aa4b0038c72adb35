#!/usr/bin/env node
// The `tollgate` command: runs src/main.ts with the Deno binary of the `deno` npm package.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const deno = require.resolve("deno/bin.cjs");
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
// install and uninstall only read and write files; stripe-import reads its settings and talks to Stripe and the
// database, and writes no file.
const allow = process.argv[2] === "stripe-import"
  ? ["--allow-read", "--allow-env", "--allow-net"]
  : ["--allow-read", "--allow-write"];
const result = spawnSync(
  process.execPath,
  [deno, "run", "--quiet", ...allow, main, ...process.argv.slice(2)],
  { stdio: "inherit", env: { ...process.env, DENO_NO_PACKAGE_JSON: "1" } },
);
if (result.error) throw result.error;
process.exit(result.status ?? 1);
