/** Shared by the client and example end-to-end tests: supabase-js clients for the stack. */
import { createClient } from "@supabase/supabase-js";
import { createTollgateClient, type TollgateClientOptions } from "../../packages/client/src/mod.ts";
import { ANON_KEY, BASE_URL, SERVICE_KEY } from "./_helpers.ts";

/** Every request the client sends, for counting attempts and checking the keys they carried. */
export interface Recorder {
  bodies: Record<string, unknown>[];
  fetch: typeof fetch;
}

/** A fetch that records each JSON body and then forwards to `next` (the real fetch by default). */
export function recorder(next: typeof fetch = fetch): Recorder {
  const bodies: Record<string, unknown>[] = [];
  const recording: typeof fetch = (input, init) => {
    bodies.push(JSON.parse(String(init?.body ?? "null")));
    return next(input, init);
  };
  return { bodies, fetch: recording };
}

/** A Tollgate client acting with a user's access token, as a browser app with a session would. */
export function clientForUser(
  token: string,
  opts: TollgateClientOptions & { fetch?: typeof fetch; url?: string } = {},
) {
  const supabase = createClient(opts.url ?? BASE_URL, ANON_KEY, {
    accessToken: () => Promise.resolve(token),
    global: opts.fetch ? { fetch: opts.fetch } : {},
  });
  return createTollgateClient(supabase, { retry: { baseDelayMs: 20 }, ...opts });
}

/** A Tollgate client holding the service-role key, as an app's server would. */
export function clientForService(opts: TollgateClientOptions = {}) {
  const supabase = createClient(BASE_URL, SERVICE_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  return createTollgateClient(supabase, opts);
}
