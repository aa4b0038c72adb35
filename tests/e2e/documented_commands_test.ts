/**
 * Every shell command README.md and docs/*.md print is run exactly as printed. Each fenced `sh` block is one of:
 *
 * - run here (no marker): after `npm start` (itself a block) serves, each block runs in a fresh `bash -e -o
 *   pipefail` from the repository root, and must succeed; a `# {…}` comment under a command is the JSON it must
 *   print (`"..."`, `"…"` and `[...]` match anything);
 * - marked `<!-- commands: run by .ci/run -->` on the line before: each command is a line of `.ci/run`;
 * - marked `<!-- commands: not run by npm test (<why>) -->`: skipped, with the reason in the source.
 *
 * The blocks run in a copy of the repository (tracked and new files, node_modules linked) inside a network
 * namespace of their own, so `npm start` there serves the printed ports 54321 and 54322 without touching the
 * machine's (a running `npm start`, a parallel `npm test`), and is stopped with Ctrl-C (SIGINT) at the end.
 */
import assert from "node:assert/strict";
import { ROOT } from "../../scripts/lib/stack.ts";

interface Block {
  where: string;
  lines: string[];
  marker: string | null;
}

const FENCE = /^```\s*([A-Za-z0-9_-]*)/;
const MARKER = /^<!--\s*commands:\s*(.*?)\s*-->$/;
const CI_RUN = "run by .ci/run";
const NOT_RUN = /^not run by npm test \((.+)\)$/;
/** Fences a shell block could hide behind: they must say `sh`, so this test sees them. */
const OTHER_SHELLS = new Set(["bash", "shell", "console", "zsh", "shell-session"]);

function docs(): string[] {
  const dir = [...Deno.readDirSync(`${ROOT}/docs`)].filter((e) => e.name.endsWith(".md")).map((e) =>
    `docs/${e.name}`
  );
  return ["README.md", ...dir.sort()];
}

/** Every `sh` block of the docs, with the marker on the line before it; throws on a shell block not marked `sh`. */
function blocks(): Block[] {
  const found: Block[] = [];
  for (const file of docs()) {
    const lines = Deno.readTextFileSync(`${ROOT}/${file}`).split("\n");
    for (let i = 0; i < lines.length; i++) {
      const fence = lines[i].match(FENCE);
      if (!fence) continue;
      const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
      if (OTHER_SHELLS.has(fence[1])) throw new Error(`${file}:${i + 1}: fence shell blocks as sh`);
      if (fence[1] === "sh") {
        found.push({
          where: `${file}:${i + 1}`,
          lines: lines.slice(i + 1, end),
          marker: lines[i - 1]?.match(MARKER)?.[1] ?? null,
        });
      }
      i = end;
    }
  }
  return found;
}

/** The commands of a block: its lines without comments, continuation lines joined. */
function commands(block: Block): string[] {
  return block.lines.join("\n").replace(/\\\n/g, " ").split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

const isStart = (block: Block) => commands(block).length === 1 && /^npm start(\s|$)/.test(commands(block)[0]);

Deno.test("every sh block in the README and docs is run here, run by .ci/run, or marked not run with a reason", () => {
  const ciRun = new Set(Deno.readTextFileSync(`${ROOT}/.ci/run`).split("\n").map((l) => l.trim()));
  const problems: string[] = [];
  for (const block of blocks()) {
    if (block.marker === null) continue;
    if (block.marker === CI_RUN) {
      for (const command of commands(block)) {
        const bare = command.replace(/\s+#.*$/, "");
        if (!ciRun.has(bare)) problems.push(`${block.where}: .ci/run has no line "${bare}"`);
      }
    } else if (!NOT_RUN.test(block.marker)) {
      problems.push(
        `${block.where}: unknown marker "${block.marker}": use "${CI_RUN}" or "not run by npm test (why)"`,
      );
    }
  }
  assert.deepEqual(problems, []);
  assert.equal(
    blocks().filter((b) => b.marker === null && isStart(b)).length,
    1,
    "one runnable `npm start` block",
  );
  const ignored = new Deno.Command("git", {
    args: ["check-ignore", "-q", "packages/client/tollgate-client-0.1.0.tgz"],
    cwd: ROOT,
  }).outputSync();
  assert.ok(ignored.success, "the tarball `npm pack` writes (docs/recipes.md) is git-ignored");
});

/** A printed answer: `"..."` (and `"…"`, `[...]`) match anything, everything else must be equal. */
function matches(template: unknown, value: unknown): boolean {
  if (template === "..." || template === "…") return true;
  if (Array.isArray(template)) {
    return Array.isArray(value) && template.length === value.length &&
      template.every((t, i) => matches(t, value[i]));
  }
  if (template !== null && typeof template === "object") {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
    const keys = Object.keys(template);
    return keys.length === Object.keys(value).length &&
      keys.every((k) => k in value && matches((template as never)[k], (value as never)[k]));
  }
  return template === value;
}

/** The answers a block prints, as `# [status ]{…}` comments: status and JSON template each. */
function printedAnswers(block: Block): { status?: string; json: unknown }[] {
  return block.lines.map((l) => l.match(/^# (\d{3} )?(\{.*\})\s*$/)).filter((m) => m !== null).map((m) => ({
    status: m![1]?.trim(),
    json: JSON.parse(m![2].replaceAll("[...]", '"..."').replaceAll("…", "...")),
  }));
}

function answersOf(stdout: string): { status?: string; json: unknown }[] {
  const answers = [];
  for (const line of stdout.split("\n")) {
    const m = line.match(/^(\d{3} )?(\{.*\})\s*$/);
    if (!m) continue;
    try {
      answers.push({ status: m[1]?.trim(), json: JSON.parse(m[2]) });
    } catch { /* not JSON: not an answer */ }
  }
  return answers;
}

const NS = `tollgate-docs-${crypto.randomUUID().slice(0, 8)}`;

/** Runs a command inside the namespace, with only PATH and HOME from here (no test stack variables). */
function inNamespace(cmd: string[], cwd: string, opts: { detached?: boolean } = {}) {
  const args = ["netns", "exec", NS, ...cmd];
  return new Deno.Command(opts.detached ? "setsid" : "ip", {
    args: opts.detached ? ["ip", ...args] : args,
    cwd,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** A copy of the repository as a clone would have it (tracked and new files, nothing ignored), node_modules linked. */
function copyOfRepository(): string {
  const dir = Deno.makeTempDirSync({ prefix: "tollgate-docs-" });
  Deno.chmodSync(dir, 0o755); // initdb runs as postgres, which must reach the cluster folder
  const listed = new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
  }).outputSync();
  for (const path of new TextDecoder().decode(listed.stdout).split("\0").filter(Boolean)) {
    try {
      Deno.mkdirSync(`${dir}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
      Deno.copyFileSync(`${ROOT}/${path}`, `${dir}/${path}`);
    } catch { /* deleted in the worktree */ }
  }
  Deno.symlinkSync(`${ROOT}/node_modules`, `${dir}/node_modules`);
  return dir;
}

Deno.test({
  name: "every runnable sh block of the README and docs works exactly as printed, against npm start",
  ignore: Deno.build.os !== "linux",
  async fn() {
    assert.equal(
      Deno.uid(),
      0,
      "running the documented commands needs root, for a network namespace of their own",
    );
    const runnable = blocks().filter((b) => b.marker === null);
    const start = runnable.find(isStart)!;
    const repo = copyOfRepository();
    await new Deno.Command("ip", { args: ["netns", "add", NS] }).output();
    let server: Deno.ChildProcess | null = null;
    const log: string[] = [];
    try {
      await inNamespace(["ip", "link", "set", "lo", "up"], repo).output();
      server = inNamespace(["bash", "-c", commands(start)[0]], repo, { detached: true }).spawn();
      for (const stream of [server.stdout, server.stderr]) {
        stream.pipeThrough(new TextDecoderStream()).pipeTo(
          new WritableStream({ write: (t) => void log.push(t) }),
        );
      }
      const probe = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "OPTIONS"];
      let up = false;
      for (let i = 0; i < 240 && !up; i++) {
        const out = await inNamespace([...probe, "http://127.0.0.1:54321/functions/v1/consume-credit"], repo)
          .output();
        up = new TextDecoder().decode(out.stdout) === "204";
        if (!up) await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(up, `${start.where}: npm start did not serve within 2 minutes:\n${log.join("")}`);

      const problems: string[] = [];
      for (const block of runnable.filter((b) => b !== start)) {
        const script = block.lines.join("\n");
        const out = await inNamespace(["timeout", "120", "bash", "-e", "-o", "pipefail", "-c", script], repo)
          .output();
        const stdout = new TextDecoder().decode(out.stdout);
        const output = `${stdout}${new TextDecoder().decode(out.stderr)}`;
        if (!out.success) {
          problems.push(`${block.where} exited ${out.code}:\n${output}`);
          continue;
        }
        const printed = printedAnswers(block);
        const got = answersOf(stdout);
        const same = printed.length === got.length &&
          printed.every((p, i) => p.status === got[i].status && matches(p.json, got[i].json));
        if (!same) {
          problems.push(`${block.where} printed\n${output}\nwhere the docs show\n${JSON.stringify(printed)}`);
        }
      }
      assert.deepEqual(problems, []);
    } finally {
      if (server) {
        // Ctrl-C, as in a terminal: SIGINT to the whole process group.
        await new Deno.Command("kill", { args: ["-INT", "--", `-${server.pid}`] }).output();
        const stopped = await Promise.race([
          server.status,
          new Promise((r) => setTimeout(() => r(null), 30_000)),
        ]);
        const left = new TextDecoder().decode(
          (await new Deno.Command("ip", { args: ["netns", "pids", NS] }).output()).stdout,
        )
          .split("\n").filter(Boolean);
        for (const pid of left) await new Deno.Command("kill", { args: ["-KILL", pid] }).output();
        if (stopped === null) await server.status;
        assert.ok(stopped !== null, `npm start did not stop within 30 s of Ctrl-C:\n${log.join("")}`);
        assert.deepEqual(left, [], "Ctrl-C left no process of npm start behind");
      }
      await new Deno.Command("ip", { args: ["netns", "delete", NS] }).output();
      Deno.removeSync(repo, { recursive: true });
    }
  },
});
