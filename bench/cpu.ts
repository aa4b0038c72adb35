/**
 * CPU time per request, by process: what a request costs each party on a shared machine, which throughput alone
 * cannot tell apart (the load generator, the gateway, the function and PostgreSQL all take turns on the same
 * cores, so a slow figure does not say who spent the time). Linux only: read from /proc, in clock ticks (10 ms).
 */
import postgres from "postgres";

/** CPU milliseconds a run took per request in each party. */
export interface CpuPerRequest {
  /** The function's own process (its Deno.serve, auth, postgres.js). */
  function_ms: number;
  /** This process: the load generator and the gateway stand-in (on hosted, the platform's). */
  bench_ms: number;
  /** Every PostgreSQL process of the cluster (backends, WAL writer, checkpointer...), and pgbouncer if any. */
  postgres_ms: number;
}

const TICK_MS = 10;

/** utime + stime of a process (all its threads), in ms; undefined once it is gone. */
function cpuOf(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** The pids whose command line starts with `name` (pgbouncer: no catalogue lists it). */
function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim() === name) pids.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return pids;
}

/**
 * Measures `run` (which reports how many requests it answered): the CPU each party spent during it, per request.
 * `pgUrl` is the cluster itself (not a pooler), whose processes pg_stat_activity lists; `pooler` counts every
 * pgbouncer process on the machine (the bench starts one).
 */
export async function cpuPerRequest<T>(
  opts: { pgUrl: string; functionPid: number; pooler: boolean },
  run: () => Promise<T & { requests: number }>,
): Promise<T & { cpu: CpuPerRequest }> {
  const sql = postgres(opts.pgUrl, { max: 1, onnotice: () => {} });
  try {
    const serverPids = async () => [
      ...(await sql<{ pid: number }[]>`select pid from pg_stat_activity`).map((r) => r.pid),
      ...(opts.pooler ? pidsNamed("pgbouncer") : []),
    ];
    const before = new Map((await serverPids()).map((pid) => [pid, cpuOf(pid) ?? 0]));
    const self = [cpuOf(Deno.pid) ?? 0, cpuOf(opts.functionPid) ?? 0];
    const result = await run();
    const selfAfter = [cpuOf(Deno.pid) ?? 0, cpuOf(opts.functionPid) ?? 0];
    // Backends that ended during the run are lost (the pools keep theirs open); new ones count from zero.
    let server = 0;
    for (const pid of await serverPids()) server += (cpuOf(pid) ?? 0) - (before.get(pid) ?? 0);
    const per = (ms: number) => result.requests > 0 ? ms / result.requests : NaN;
    return {
      ...result,
      cpu: {
        function_ms: per(selfAfter[1] - self[1]),
        bench_ms: per(selfAfter[0] - self[0]),
        postgres_ms: per(server),
      },
    };
  } finally {
    await sql.end();
  }
}
