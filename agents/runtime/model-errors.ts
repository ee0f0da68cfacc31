/**
 * A failed model call, as the `agent.model` activity's retry policy needs it
 * (workflows/agent-run.ts): auth and bad requests are not retried; rate limits and server
 * errors are, a rate limit after the provider's Retry-After when it gives one.
 */
import { ApplicationFailure } from '@temporalio/activity';

export const MODEL_ERROR_TYPES = {
  auth: 'ModelAuthFailed',
  badRequest: 'ModelBadRequest',
  rateLimited: 'ModelRateLimited',
  unavailable: 'ModelUnavailable',
} as const;

/** Longest wait we take from a Retry-After (the activity's schedule-to-close bounds the whole). */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

function header(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const found = Object.entries(headers as Record<string, unknown>).find(([k]) => k.toLowerCase() === name);
  return typeof found?.[1] === 'string' ? found[1] : undefined;
}

/** Retry-After in ms: `retry-after-ms`, seconds, or an HTTP date. */
export function retryAfterMs(headers: unknown, now = Date.now()): number | undefined {
  const ms = Number(header(headers, 'retry-after-ms'));
  if (header(headers, 'retry-after-ms') && Number.isFinite(ms) && ms >= 0) return Math.min(ms, MAX_RETRY_AFTER_MS);
  const raw = header(headers, 'retry-after');
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

function statusOf(err: Record<string, unknown>): number | undefined {
  const status = err.status ?? (err.response as Record<string, unknown> | undefined)?.status;
  return typeof status === 'number' ? status : undefined;
}

export function classifyModelError(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = (err && typeof err === 'object' ? err : {}) as Record<string, unknown>;
  const message = `the model answered: ${err instanceof Error ? err.message : String(err)}`.slice(0, 1000);
  const status = statusOf(e);
  if (status === 401 || status === 403) return ApplicationFailure.nonRetryable(message, MODEL_ERROR_TYPES.auth);
  if (status === 400 || status === 404 || status === 413 || status === 422) return ApplicationFailure.nonRetryable(message, MODEL_ERROR_TYPES.badRequest);
  if (status === 429) {
    const wait = retryAfterMs(e.headers ?? (e.response as Record<string, unknown> | undefined)?.headers);
    return ApplicationFailure.create({ message, type: MODEL_ERROR_TYPES.rateLimited, nonRetryable: false, ...(wait !== undefined ? { nextRetryDelay: Math.max(wait, 1) } : {}) });
  }
  // 5xx, 408, timeouts and connection failures: the provider may answer later.
  return ApplicationFailure.create({ message, type: MODEL_ERROR_TYPES.unavailable, nonRetryable: false });
}
