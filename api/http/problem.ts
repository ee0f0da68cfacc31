/**
 * Errors as RFC 9457 problem details. Code throws a Problem where it finds the trouble; the
 * error middleware is the one place that renders it. Shape (Stripe-like extensions):
 *   { type, title, status, detail, code, param?, errors?: [{ location, param, message }], requestId }
 * Code outside the API refuses with a `Refused` (domain/refusals.ts), which knows nothing of
 * HTTP; `problemOf` below is the one place a refusal's kind becomes a status.
 */
import { Refused, type RefusalKind } from '../../domain/refusals';

export interface FieldError {
  location: 'path' | 'query' | 'body' | 'header';
  param: string;
  message: string;
}

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly extra: { param?: string; errors?: FieldError[]; headers?: Record<string, string>; [key: string]: unknown } = {},
  ) {
    super(detail);
    this.name = 'Problem';
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Content',
  429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable',
};

export function problemBody(problem: Problem, requestId: string, instance: string) {
  const { headers: _headers, ...extra } = problem.extra;
  return {
    type: `https://docs.spirit-tours.dev/problems/${problem.code}`,
    title: TITLES[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.detail,
    instance,
    code: problem.code,
    ...extra,
    requestId,
  };
}

export const notFound = (what: string, id: string) => new Problem(404, 'resource_missing', `No ${what} with id "${id}".`, { param: 'id' });

/** The HTTP status of each kind of refusal. */
export const REFUSAL_STATUS: Record<RefusalKind, number> = { invalid: 400, forbidden: 403, not_found: 404, conflict: 409, unprocessable: 422, unavailable: 503 };

/** A refusal thrown outside the API as the problem it answers; any other error unchanged. */
export function problemOf(err: unknown): unknown {
  if (err instanceof Refused) return new Problem(REFUSAL_STATUS[err.kind], err.code, err.message, { ...err.details });
  return err;
}
