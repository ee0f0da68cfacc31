/**
 * Routes are declared once, as data: method, path, roles, zod schemas for path, query and body,
 * and responses. The same declaration validates requests, enforces roles and generates the
 * OpenAPI 3.1 document, so the docs can never drift from what the server accepts.
 */
import type Koa from 'koa';
import Router from '@koa/router';
import { z } from 'zod';
import type { Role } from '../../models';
import { requirePrincipal, type Principal } from '../auth';
import { withIdempotency } from './idempotency';
import { FieldError, Problem, problemOf } from './problem';
import { enforceRateLimit, type RateLimitRule } from './rate-limit';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type AnyObject = z.ZodObject<z.ZodRawShape>;

export interface ResponseDef {
  description: string;
  /** The JSON body's shape: the OpenAPI document (and the console's types) say it, and tests check answers against it. */
  schema?: z.ZodType;
  /** The media type of an answer that is not JSON (text/event-stream, whose events the schema types; text/csv for an export; HTML): for the OpenAPI document. */
  contentType?: string;
}

export interface HandlerResult {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Not the final answer (e.g. 202 "processing": the workflow is still at it). An Idempotency-Key
   * is then kept as "outcome unknown", so the client's retry asks again instead of replaying this.
   */
  provisional?: boolean;
}

export interface RouteDef<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  method: Method;
  /** OpenAPI template, e.g. /api/v1/tours/{id} */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** 'public': anyone; 'optional': a token adds context (e.g. partner rates); a role list: only those roles. */
  auth: 'public' | 'optional' | readonly Role[];
  params?: P;
  query?: Q;
  body?: B;
  /** Mutations that accept an Idempotency-Key header. */
  idempotent?: boolean;
  /** Limits counted (in PostgreSQL, shared by every instance) after validation, before the handler; past one: 429 + Retry-After. */
  rateLimit?: Array<RateLimitRule<{ body: z.output<B>; principal: Principal | undefined }>>;
  responses: Record<number, ResponseDef>;
  handler: (
    ctx: Koa.Context,
    input: { params: z.output<P>; query: z.output<Q>; body: z.output<B>; principal: Principal | undefined },
  ) => Promise<HandlerResult>;
}

// Erases the generic parameters for storage in a list.
export type AnyRoute = RouteDef<AnyObject, AnyObject, z.ZodType>;

export function route<P extends AnyObject = AnyObject, Q extends AnyObject = AnyObject, B extends z.ZodType = z.ZodUndefined>(
  def: RouteDef<P, Q, B>,
): AnyRoute {
  return def as unknown as AnyRoute;
}

function fieldErrors(location: FieldError['location'], error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    location,
    param: issue.path.length ? issue.path.join('.') : location,
    message: issue.message,
  }));
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, location: FieldError['location'], errors: FieldError[]) {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  errors.push(...fieldErrors(location, result.error));
  return undefined;
}

function describe(errors: FieldError[]): string {
  const first = errors.slice(0, 3).map((e) => `${e.location} parameter "${e.param}": ${e.message}`);
  return `${errors.length === 1 ? 'One parameter is' : `${errors.length} parameters are`} invalid. ${first.join('; ')}${errors.length > 3 ? '; ...' : ''}`;
}

function toKoaPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

/** Tests turn it on (test/support/env.ts): every answer a test sees must match its declaration. */
const checkResponses = () => process.env.API_CHECK_RESPONSES === '1';

/**
 * A 2xx answer must be declared, and a declared JSON schema must parse the body as the client
 * receives it (after JSON, so dates are strings; an idempotent replay's recorded body is checked
 * the same way). A mismatch is a 500 naming the operation, so the test that met it fails loudly.
 */
function checkResponse(ctx: Koa.Context, def: AnyRoute, result: HandlerResult): void {
  const status = result.status ?? 200;
  if (status < 200 || status >= 300) return;
  const declared = def.responses[status];
  const mismatch = (detail: string, issues: unknown) => {
    ctx.state.log?.error({ operationId: def.operationId, status, issues }, 'response does not match its declared schema');
    return new Problem(500, 'response_schema_mismatch', `${def.operationId} answered ${status}: ${detail}`, { operationId: def.operationId });
  };
  if (!declared) throw mismatch(`status ${status} is not declared (declared: ${Object.keys(def.responses).join(', ')}).`, []);
  if (!declared.schema || declared.contentType) return;
  const body = result.body === undefined ? undefined : JSON.parse(JSON.stringify(result.body));
  const parsed = declared.schema.safeParse(body);
  if (parsed.success) return;
  const issues = parsed.error.issues;
  const first = issues.slice(0, 3).map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`).join('; ');
  throw mismatch(`the body does not match its declared schema (${issues.length} issue${issues.length === 1 ? '' : 's'}): ${first}${issues.length > 3 ? '; ...' : ''}`, issues);
}

export function mountRoutes(router: Router, routes: AnyRoute[]): void {
  for (const def of routes) {
    const handle: Koa.Middleware = async (ctx) => {
      ctx.state.route = def.path;
      const principal = def.auth === 'public' || def.auth === 'optional' ? ctx.state.principal : requirePrincipal(ctx, def.auth);
      const errors: FieldError[] = [];
      const params = parse(def.params, ctx.params, 'path', errors);
      const query = parse(def.query, ctx.query, 'query', errors);
      // A misspelt filter must not silently answer with everything: unknown query parameters are refused.
      const known = def.query instanceof z.ZodObject ? Object.keys(def.query.shape) : [];
      for (const name of Object.keys(ctx.query).filter((k) => !known.includes(k))) {
        errors.push({ location: 'query', param: name, message: known.length ? `Unknown query parameter (this route takes: ${known.join(', ')})` : 'Unknown query parameter (this route takes none)' });
      }
      let body: unknown;
      if (def.body) {
        if (ctx.request.rawBody?.length && ctx.request.body === undefined) {
          throw new Problem(415, 'unsupported_media_type', 'Send the request body as JSON with "Content-Type: application/json".');
        }
        if (ctx.request.body === undefined && !def.body.safeParse(undefined).success) {
          errors.push({ location: 'body', param: 'body', message: 'A JSON request body is required' });
        } else {
          body = parse(def.body, ctx.request.body, 'body', errors);
        }
      }
      if (errors.length) {
        // A resource that cannot exist (malformed id) is a 404 only when nothing else is wrong.
        throw new Problem(400, 'validation_failed', describe(errors), { param: errors[0].param, errors });
      }
      for (const rule of def.rateLimit ?? []) await enforceRateLimit(ctx, rule, { body, principal });
      // A refusal from below (services, models) becomes its problem here, before idempotency records the answer.
      const run = async () => {
        try {
          return await def.handler(ctx, { params, query, body, principal } as never);
        } catch (err) {
          throw problemOf(err);
        }
      };
      const result = def.idempotent ? await withIdempotency(ctx, principal, run) : await run();
      if (checkResponses()) checkResponse(ctx, def, result);
      ctx.status = result.status ?? 200;
      for (const [name, value] of Object.entries(result.headers ?? {})) ctx.set(name, value);
      if (result.body !== undefined) ctx.body = result.body;
    };
    router.register(toKoaPath(def.path), [def.method], handle);
  }
}
