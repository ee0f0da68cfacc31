/** Builds the OpenAPI 3.1 document from the route declarations (zod 4's own JSON Schema output). */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AnyRoute } from './http/routes';

const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status', 'detail', 'code', 'requestId'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'What went wrong, for a person' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'Stable machine-readable reason' },
    param: { type: 'string', description: 'The offending parameter, when there is one' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { location: { enum: ['path', 'query', 'body', 'header'] }, param: { type: 'string' }, message: { type: 'string' } },
      },
    },
    requestId: { type: 'string' },
  },
};

/**
 * Recursive schemas (segment rules) come out of zod with local $defs and "#/$defs/..." refs,
 * which mean nothing inside an OpenAPI document: they are hoisted into components.schemas,
 * named by their content so one definition used by several operations is written once.
 */
const hoisted = new Map<string, Record<string, unknown>>();

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  const defs = out.$defs as Record<string, unknown> | undefined;
  if (!defs) return out;
  delete out.$defs;
  const names = new Map<string, string>();
  for (const [local, def] of Object.entries(defs)) {
    const digest = createHash('sha256').update(JSON.stringify(def)).digest('hex').slice(0, 10);
    names.set(local, `Def_${io}_${digest}`);
  }
  const rewrite = (value: unknown) => JSON.parse(JSON.stringify(value).replace(/"#\/\$defs\/([^"]+)"/g, (_m, local: string) => `"#/components/schemas/${names.get(local) ?? local}"`));
  for (const [local, def] of Object.entries(defs)) hoisted.set(names.get(local)!, rewrite(def));
  return rewrite(out);
}

function parameters(schema: z.ZodObject<z.ZodRawShape> | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return { name, in: where, required: where === 'path' || (json.required ?? []).includes(name), description, schema: rest };
  });
}

export function buildOpenApi(routes: AnyRoute[], serverUrl?: string) {
  hoisted.clear();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const security = r.auth === 'public' ? [] : r.auth === 'optional' ? [{}, { bearer: [] }] : [{ bearer: [] }];
    const responses: Record<string, unknown> = {};
    for (const [status, res] of Object.entries(r.responses)) {
      responses[status] = {
        description: res.description,
        ...(res.contentType
          ? { content: { [res.contentType]: { schema: res.schema ? jsonSchema(res.schema, 'output') : { type: 'string' } } } }
          : res.schema ? { content: { 'application/json': { schema: jsonSchema(res.schema, 'output') } } } : {}),
      };
    }
    const problems = ['400', ...(Array.isArray(r.auth) ? ['401', '403'] : [])];
    for (const status of problems) {
      responses[status] ??= { description: 'Problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
    }
    const headerParams = r.idempotent
      ? [{ name: 'Idempotency-Key', in: 'header', required: false, description: 'Retries with the same key return the first answer', schema: { type: 'string', maxLength: 255 } }]
      : [];
    (paths[r.path] ??= {})[r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      security,
      ...(Array.isArray(r.auth) ? { 'x-roles': r.auth } : {}),
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query'), ...headerParams],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } } : {}),
      responses,
    };
  }
  // Meta's verification handshake is mounted outside the route table (any odd query is a 403, not a 400): described here.
  (paths['/api/v1/webhooks/whatsapp'] ??= {}).get = {
    operationId: 'whatsappWebhookVerification', tags: ['Webhooks'], security: [],
    summary: "Meta's verification handshake for the WhatsApp webhook",
    description: 'hub.mode=subscribe and hub.verify_token equal to WHATSAPP_VERIFY_TOKEN: answers hub.challenge as text/plain; anything else (or no WHATSAPP_VERIFY_TOKEN here) is a 403.',
    parameters: ['hub.mode', 'hub.verify_token', 'hub.challenge'].map((name) => ({ name, in: 'query', required: true, schema: { type: 'string' } })),
    responses: {
      200: { description: 'The challenge, as text/plain', content: { 'text/plain': { schema: { type: 'string' } } } },
      403: { description: 'Not subscribe, a wrong token, or the webhook is not configured', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Spirit Tours Platform API',
      version: '1',
      description: 'Catalog, bookings, payments and operations for a multi-branch tour operator. Errors are application/problem+json (RFC 9457).',
    },
    servers: serverUrl ? [{ url: serverUrl }] : [],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Problem: problemSchema, ...Object.fromEntries([...hoisted].sort(([a], [b]) => a.localeCompare(b))) },
    },
  };
}
