/** How a call is retried after a network error or a 503. 4xx answers are never retried. */
export interface RetryOptions {
  /** Retries after the first attempt (default 3, so at most 4 attempts). */
  retries: number;
  /** Backoff before the first retry in ms (default 200); it doubles per retry, with full jitter. */
  baseDelayMs: number;
  /** Cap of one backoff in ms (default 5,000). */
  maxDelayMs: number;
  /** The longest `Retry-After` honoured, in ms (default 30,000); a longer one surfaces the error instead. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  retries: 3,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxRetryAfterMs: 30_000,
};

/**
 * The wait before retry number `retry` (0-based): full jitter over an exponential ceiling, but never less than
 * the server's `Retry-After`. Undefined means do not retry (Retry-After beyond `maxRetryAfterMs`).
 */
export function backoffDelay(
  retry: number,
  retryAfterSeconds: number | undefined,
  opts: RetryOptions,
  random: () => number = Math.random,
): number | undefined {
  const ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** retry);
  const jitter = Math.floor(random() * ceiling);
  if (retryAfterSeconds === undefined) return jitter;
  const floor = retryAfterSeconds * 1000;
  if (floor > opts.maxRetryAfterMs) return undefined;
  return Math.max(floor, jitter);
}

/** setTimeout as a promise that an abort signal cuts short with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
