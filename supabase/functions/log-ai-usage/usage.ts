import type postgres from "postgres";
import type { Acting, Caller } from "../_tollgate/auth.ts";
import type {
  LogUsageBatchRequest,
  LogUsageBatchResponse,
  LogUsageRequest,
  LogUsageResponse,
} from "../_tollgate/contract.ts";
import { fromDatabaseError } from "../_tollgate/errors.ts";
import { queryAs, type Sql } from "../_tollgate/db.ts";

/** Calls tollgate.log_ai_usage in one transaction as the caller; the database prices, records and charges. */
export function logUsageWith(sql: Sql) {
  return async (caller: Caller, acting: Acting, input: LogUsageRequest): Promise<LogUsageResponse> => {
    const [row] = await queryAs<{ result: LogUsageResponse }[]>(sql, caller, (tx) => {
      const metadata = input.metadata === undefined ? null : tx.json(input.metadata as postgres.JSONValue);
      return tx`
        select tollgate.log_ai_usage(
          p_request_id => ${input.request_id}, p_model => ${input.model},
          p_input_tokens => ${input.input_tokens}, p_output_tokens => ${input.output_tokens},
          p_provider => ${input.provider ?? null}, p_feature => ${input.feature},
          p_cached_input_tokens => ${input.cached_input_tokens}, p_latency_ms => ${input.latency_ms ?? null},
          p_status => ${input.status}, p_error_code => ${input.error_code ?? null},
          p_charge_credits => ${input.charge_credits}, p_prompt => ${input.prompt ?? null},
          p_response => ${input.response ?? null}, p_metadata => ${metadata}, p_user_id => ${
        acting.userId ?? null
      },
          p_account_id => ${acting.accountId ?? null},
          p_cache_write_tokens => ${input.cache_write_tokens}, p_hold_id => ${input.hold_id ?? null}
        ) as result`;
    }, acting.userId);
    return row.result;
  };
}

/** What the batch function answers for an event that failed on its own. */
interface SqlEventError {
  error: { sqlstate: string; message: string; detail: string | null };
}

/**
 * Calls tollgate.log_ai_usage_batch in one transaction as the caller; each event's error is mapped as the same
 * error of a single call would be (fromDatabaseError), so an event answers exactly what it would alone.
 */
export function logUsageBatchWith(sql: Sql) {
  return async (caller: Caller, input: LogUsageBatchRequest): Promise<LogUsageBatchResponse> => {
    const [row] = await queryAs<{ results: (LogUsageResponse | SqlEventError)[] }[]>(
      sql,
      caller,
      (tx) =>
        tx`select tollgate.log_ai_usage_batch(${tx.json(input.events as postgres.JSONValue)}) as results`,
    );
    return { results: row.results.map(eventAnswer) };
  };
}

function eventAnswer(answer: LogUsageResponse | SqlEventError) {
  if (!("error" in answer)) return answer;
  const { sqlstate, message, detail } = answer.error;
  const error = fromDatabaseError({ code: sqlstate, message, detail: detail ?? undefined });
  return {
    error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
    status: error.status,
  };
}
