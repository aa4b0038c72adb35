#!/usr/bin/env node
// The `tollgate` command: runs src/main.ts with the Deno binary of the `deno` npm package.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const deno = require.resolve("deno/bin.cjs");
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const result = spawnSync(
  process.execPath,
  [deno, "run", "--quiet", "--allow-read", "--allow-write", main, ...process.argv.slice(2)],
  { stdio: "inherit", env: { ...process.env, DENO_NO_PACKAGE_JSON: "1" } },
);
if (result.error) throw result.error;
process.exit(result.status ?? 1);
