/**
 * Builds the publishable package into `dist/`: one ESM file for browsers and Node 20 (zod left external, as a
 * peer dependency) and its declarations. `npm run build:client` from the repository root.
 */
const HERE = new URL(".", import.meta.url).pathname;
const CONTRACT = new URL("../../supabase/functions/_tollgate/contract.ts", import.meta.url).pathname;
const DENO = Deno.execPath();

async function bundle(entry: string, out: string, declaration: boolean): Promise<void> {
  const args = ["bundle", "--quiet", "--external", "zod", "--format", "esm", "--platform", "browser"];
  if (declaration) args.push("--declaration");
  const { success, stderr } = await new Deno.Command(DENO, {
    args: [...args, "-o", out, entry],
    cwd: HERE,
    env: { DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`deno bundle ${entry} failed:\n${new TextDecoder().decode(stderr)}`);
}

/** Names `src/mod.ts` exports, values and types: every other `export` in the concatenated .d.ts is dropped. */
function publicNames(): Set<string> {
  const mod = Deno.readTextFileSync(`${HERE}/src/mod.ts`);
  const names = new Set<string>();
  for (const block of mod.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const name of block[1].split(",")) if (name.trim()) names.add(name.trim());
  }
  return names;
}

/**
 * One self-contained declaration file that needs only zod: `deno bundle --declaration` concatenates the
 * client's modules but leaves the contract's as an import of its source, so the contract's declarations are
 * inlined in its place; then only the names `src/mod.ts` exports stay exported.
 */
function publicDeclarations(client: string, contract: string, names: Set<string>): string {
  const ZOD = /^import (?:type )?\{ z \} from "zod";\n/m;
  const CONTRACT_IMPORT =
    /^import type \{[^}]*\} from "[./]*supabase\/functions\/_tollgate\/contract\.ts";\n/m;
  if (!ZOD.test(client) || !ZOD.test(contract) || !CONTRACT_IMPORT.test(client)) {
    throw new Error("deno bundle's declaration output changed shape: update publicDeclarations in build.ts");
  }
  const merged = `import type { z } from "zod";\n${contract.replace(ZOD, "")}\n${
    client.replace(ZOD, "").replace(CONTRACT_IMPORT, "")
  }`;
  return merged.replaceAll(
    /^export (declare (?:function|const|class)|interface|type) (\w+)/gm,
    (line, kind: string, name: string) => names.has(name) ? line : `${kind} ${name}`,
  );
}

/** Builds into `outDir` (default `dist/`) and returns the paths written. */
export async function build(outDir = `${HERE}/dist`): Promise<{ js: string; dts: string }> {
  Deno.mkdirSync(outDir, { recursive: true });
  const scratch = Deno.makeTempDirSync({ prefix: "tollgate-client-" });
  try {
    await bundle("src/mod.ts", `${outDir}/index.js`, false);
    await bundle("src/mod.ts", `${scratch}/index.js`, true);
    await bundle(CONTRACT, `${scratch}/contract.js`, true);
    const dts = publicDeclarations(
      Deno.readTextFileSync(`${scratch}/index.d.ts`),
      Deno.readTextFileSync(`${scratch}/contract.d.ts`),
      publicNames(),
    );
    Deno.writeTextFileSync(`${outDir}/index.d.ts`, dts);
  } finally {
    Deno.removeSync(scratch, { recursive: true });
  }
  return { js: `${outDir}/index.js`, dts: `${outDir}/index.d.ts` };
}

/**
 * Flags for running the build in Node: Node 20 has no global WebSocket, which supabase-js' realtime client
 * requires at construction, so it needs --experimental-websocket; Node 22 and later need nothing.
 */
export async function nodeFlags(): Promise<string[]> {
  const out = await new Deno.Command("node", { args: ["--version"], stdout: "piped" }).output();
  const major = Number(/^v(\d+)/.exec(new TextDecoder().decode(out.stdout))?.[1]);
  return major < 22 ? ["--experimental-websocket", "--no-warnings"] : [];
}

if (import.meta.main) {
  const { js } = await build();
  console.log(`built ${js} (${Deno.statSync(js).size} bytes) and its declarations`);
}
