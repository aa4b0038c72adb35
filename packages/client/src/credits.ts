/**
 * withCredits: hold -> work -> settle, keyed by the work itself, so one credit never buys the work twice. The key
 * comes from the work (a hash of what it computes), not from a value the end user chooses: the same work gets the
 * same key, the hold replays, and the stored result is returned without doing the work again.
 */
import type { ConsumeCreditInput, ConsumeCreditResult, LogAiUsageInput, LogAiUsageResult } from "./types.ts";
import { TollgateError } from "./errors.ts";
import type { CallOptions } from "./client.ts";

/** What a model call reports, as log-ai-usage takes it (`input_tokens` are the uncached input). */
export type WorkUsage = Pick<
  LogAiUsageInput,
  | "input_tokens"
  | "output_tokens"
  | "cached_input_tokens"
  | "cache_write_tokens"
  | "latency_ms"
  | "provider"
  | "status"
  | "error_code"
  | "metadata"
>;

/** What the work returns and what is stored for its key: the result, and the usage its settle reports. */
export interface StoredWork<T> {
  result: T;
  usage: WorkUsage;
}

export interface WithCreditsOptions<T> {
  /** The work's identity: hashed into the key (sha256 of its JSON, keys sorted). Or give `key` yourself. */
  work?: unknown;
  /** A key derived from the work on the server (1 to 255 characters); wins over `work`. */
  key?: string;
  /** Credits to hold before the work (default 1); the settle charges the priced usage from them. */
  amount?: number;
  /** The model the work calls: priced at settlement. */
  model: string;
  feature?: string;
  hold_ttl_seconds?: number;
  account_id?: string;
  user_id?: string;
  metadata?: ConsumeCreditInput["metadata"];
  /** The app's own storage: what an earlier call stored for this key, or undefined/null. */
  load: (key: string) => Promise<StoredWork<T> | undefined | null>;
  /** Stores the work's result and usage for this key; called before the settle. */
  save: (key: string, stored: StoredWork<T>) => Promise<void>;
}

export interface WithCreditsResult<T> {
  result: T;
  /** True when the work was done before (its stored result is returned; the work did not run again). */
  replayed: boolean;
  hold: ConsumeCreditResult;
  settle: LogAiUsageResult;
}

/** The calls withCredits makes (a TollgateClient). */
export interface CreditCalls {
  consumeCredit(input: ConsumeCreditInput, call?: CallOptions): Promise<ConsumeCreditResult>;
  logAiUsage(input: LogAiUsageInput, call?: CallOptions): Promise<LogAiUsageResult>;
}

/** JSON with object keys sorted at every level, so equal values hash alike whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** The key of a piece of work: `work:` and the sha256 of its canonical JSON. */
export async function workKey(work: unknown): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical(work)));
  return `work:${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Holds credits for the work, runs it once, stores its result, then settles the hold with its usage (the priced
 * credits charged, the rest released). The same work again replays the hold: the stored result is returned and
 * the settle re-sent (idempotent, so a settle lost to a crash is completed), and `run` is not called. A replayed
 * hold with nothing stored means the first run is still going, failed or died before storing: `in_progress`, and
 * the work is not started twice. A failing `run` settles the hold as an error with no tokens (releasing it all)
 * and rethrows.
 */
export async function withCredits<T>(
  client: CreditCalls,
  options: WithCreditsOptions<T>,
  run: (hold: ConsumeCreditResult) => Promise<StoredWork<T>>,
  call: CallOptions = {},
): Promise<WithCreditsResult<T>> {
  if (options.key === undefined && options.work === undefined) {
    throw new TypeError(
      "withCredits needs the work (or a key derived from it), never a key the end user picks",
    );
  }
  const key = options.key ?? await workKey(options.work);
  const who = {
    ...(options.account_id === undefined ? {} : { account_id: options.account_id }),
    ...(options.user_id === undefined ? {} : { user_id: options.user_id }),
  };
  const feature = options.feature ?? "default";
  const hold = await client.consumeCredit({
    ...who,
    idempotency_key: key,
    amount: options.amount ?? 1,
    feature,
    hold: true,
    ...(options.hold_ttl_seconds === undefined ? {} : { hold_ttl_seconds: options.hold_ttl_seconds }),
    ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
  }, call);
  const settle = (usage: WorkUsage) =>
    client.logAiUsage({
      ...who,
      ...usage,
      request_id: key,
      hold_id: hold.hold_id,
      model: options.model,
      feature,
    }, call);
  if (hold.replayed) {
    const stored = await options.load(key);
    if (stored === undefined || stored === null) {
      throw new TollgateError({
        code: "in_progress",
        status: 409,
        message: `Cannot run the work again: key ${key} is held by a run that has stored no result yet`,
        key,
      });
    }
    return { result: stored.result, replayed: true, hold, settle: await settle(stored.usage) };
  }
  let stored: StoredWork<T>;
  try {
    stored = await run(hold);
  } catch (error) {
    // Nothing stored: the key stays bound (in_progress from now on); a retry is the server's decision, under a key
    // of its own (e.g. the work plus the attempt number it records).
    await settle({ input_tokens: 0, output_tokens: 0, status: "error", error_code: errorName(error) }).catch(
      () => {},
    );
    throw error;
  }
  await options.save(key, stored);
  return { result: stored.result, replayed: false, hold, settle: await settle(stored.usage) };
}

function errorName(error: unknown): string {
  const name = error instanceof Error ? error.name : "error";
  return name.slice(0, 128) || "error";
}
