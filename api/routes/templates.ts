/**
 * Email templates: create (checked: MJML compiles strictly, variables are well-formed, marketing
 * templates show the unsubscribe link), list, show, preview with a contact's fields, and a test
 * send through the configured email provider. Marketers and admins.
 */
import crypto from 'node:crypto';
import type Koa from 'koa';
import { z } from 'zod';
import { config } from '../../platform/config';
import { auditActor, recordAudit } from '../../models/audit';
import { emailLinkSecret } from '../../platform/secrets';
import { createEmailProvider } from '../../integrations/email';
import type { SendStatus } from '../../integrations/email/types';
import { signUnsubscribeToken, unsubscribeUrl } from '../../integrations/email/links';
import {
  checkTemplate, contactVariables, renderTemplate, sampleContact, TEST_SEND_UNSUBSCRIBE_SUBJECT, variablesIn,
  type EmailTemplateRow, type TemplateProblem,
} from '../../models/templates';
import { decodeCursor, page } from '../http/cursor';
import { notFound, Problem } from '../http/problem';
import { testSendRateLimits } from '../http/rate-limit';
import { route } from '../http/routes';
import { cursor, idParams, language, limit, listOf, timestamp as at, uuid } from '../schemas';

const MARKETING = ['marketer', 'admin'] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Row = Record<string, any>;
const iso = (v: Date | string | null) => (v ? new Date(v).toISOString() : null);

function templateSummary(t: Row) {
  return {
    object: 'email_template' as const, id: t.id, name: t.name, kind: t.kind, key: t.key, language: t.language, subject: t.subject,
    createdAt: iso(t.created_at), updatedAt: iso(t.updated_at),
  };
}

function templateDetail(t: Row) {
  return { ...templateSummary(t), mjml: t.mjml, text: t.text, variables: variablesIn(t.subject, t.mjml, t.text) };
}

const SEND_STATUSES = ['accepted', 'rejected', 'retry', 'unknown'] as const satisfies readonly SendStatus[];
const templateSummarySchema = z.object({
  object: z.literal('email_template'), id: uuid, name: z.string(), kind: z.enum(['marketing', 'transactional']),
  key: z.string().nullable().describe('Transactional templates only, e.g. booking_confirmation'), language, subject: z.string(), createdAt: at, updatedAt: at,
});
const templateDetailSchema = templateSummarySchema.extend({
  mjml: z.string(), text: z.string(), variables: z.array(z.string()).describe('The {{variables}} it uses'),
}).meta({ id: 'EmailTemplate' });

export async function templateById(ctx: Koa.Context, id: string): Promise<EmailTemplateRow> {
  const row = await ctx.knex('email_templates').where({ id }).first();
  if (!row) throw notFound('template', id);
  return row;
}

export function refusal(problem: TemplateProblem): Problem {
  switch (problem.code) {
    case 'invalid_mjml':
      return new Problem(400, 'invalid_mjml', problem.message, {
        param: 'mjml', mjmlErrors: problem.mjmlErrors,
        errors: problem.mjmlErrors.map((e) => ({ location: 'body' as const, param: 'mjml', message: e.line ? `line ${e.line}: ${e.message}` : e.message })),
      });
    case 'invalid_variable':
      return new Problem(400, 'invalid_variable', problem.message, {
        param: problem.variableErrors[0].part, variableErrors: problem.variableErrors,
        errors: problem.variableErrors.map((e) => ({ location: 'body' as const, param: e.part, message: `line ${e.line}: ${e.message}` })),
      });
    case 'unsubscribe_link_missing':
      return new Problem(400, 'unsubscribe_link_missing', problem.message, {
        param: problem.parts[0], errors: problem.parts.map((part) => ({ location: 'body' as const, param: part, message: 'must contain {{unsubscribe_url}}' })),
      });
  }
}

const variablesSchema = z.record(z.string().max(100), z.unknown()).describe('Values for {{variables}}, e.g. {"tour_name": "Harbor Lights Cruise"}; dotted names may be nested objects');

/** The variables for a preview or a test: the chosen contact's fields (or a sample's), then the given ones. */
export async function previewVariables(ctx: Koa.Context, template: EmailTemplateRow, input: { contactId?: string; variables?: Record<string, unknown>; email?: string }) {
  let contact: Row | undefined;
  if (input.contactId) {
    contact = await ctx.knex('contacts').where({ id: input.contactId }).first();
    if (!contact) throw new Problem(404, 'resource_missing', `No contact with id "${input.contactId}".`, { param: 'contactId' });
  } else if (input.email) {
    contact = await ctx.knex('contacts').whereRaw('lower(email) = lower(?)', [input.email]).first();
  }
  const fields = contact ? contactVariables(contact as Parameters<typeof contactVariables>[0]) : sampleContact(template.language);
  return { contact, variables: { ...fields, ...(input.variables ?? {}) } };
}

export const templateRoutes = [
  route({
    method: 'POST', path: '/api/v1/templates', operationId: 'createTemplate', tag: 'Marketing', auth: MARKETING,
    summary: 'Create an email template (MJML + text), checked before it is stored',
    description: 'The MJML must compile with strict validation; {{variables}} must be {{name}} with a lower-case name ([a-z_][a-z0-9_.]*); '
      + 'a marketing template must contain {{unsubscribe_url}} in both the MJML and the text. Transactional templates have a key (e.g. booking_confirmation), unique per language.',
    idempotent: true,
    body: z.object({
      name: z.string().trim().min(1).max(120),
      kind: z.enum(['marketing', 'transactional']),
      key: z.string().regex(/^[a-z][a-z0-9_]{1,47}$/, 'must be lower-case letters, digits and "_" (e.g. booking_confirmation)').optional(),
      language,
      subject: z.string().trim().min(1).max(255),
      mjml: z.string().min(1).max(500_000),
      text: z.string().min(1).max(200_000),
    }).strict(),
    responses: {
      201: { description: 'The template, with the variables it uses', schema: templateDetailSchema },
      400: { description: 'MJML errors (line + message), malformed variables, a missing unsubscribe link, or a key on the wrong kind' },
      409: { description: 'A transactional template with this key and language exists' },
    },
    handler: async (ctx, { body }) => {
      if (body.kind === 'transactional' && !body.key) throw new Problem(400, 'validation_failed', 'A transactional template needs a key (e.g. booking_confirmation).', { param: 'key' });
      if (body.kind === 'marketing' && body.key) throw new Problem(400, 'validation_failed', 'Only transactional templates have a key.', { param: 'key' });
      const { problem } = await checkTemplate(body);
      if (problem) throw refusal(problem);
      const inserted = await ctx.knex.raw(
        `insert into email_templates (name, kind, key, language, subject, mjml, text) values (?, ?, ?, ?, ?, ?, ?)
         on conflict (key, language) where key is not null do nothing returning *`,
        [body.name, body.kind, body.key ?? null, body.language, body.subject, body.mjml, body.text],
      );
      if (!inserted.rows.length) {
        throw new Problem(409, 'template_exists', `A transactional template "${body.key}" in ${body.language} exists already.`, { param: 'key' });
      }
      const row = inserted.rows[0];
      return { status: 201, body: templateDetail(row), headers: { Location: `/api/v1/templates/${row.id}` } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/templates', operationId: 'listTemplates', tag: 'Marketing', auth: MARKETING,
    summary: 'Email templates, newest first',
    query: z.object({
      kind: z.enum(['marketing', 'transactional']).optional(),
      language: language.optional(),
      key: z.string().max(48).optional(),
      limit,
      cursor,
    }),
    responses: { 200: { description: 'A page of templates (without their MJML and text)', schema: listOf(templateSummarySchema) } },
    handler: async (ctx, { query }) => {
      const q = ctx.knex('email_templates').select('*', ctx.knex.raw('created_at::text as created_at_exact'))
        .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(query.limit + 1);
      if (query.kind) q.where('kind', query.kind);
      if (query.language) q.where('language', query.language);
      if (query.key) q.where('key', query.key);
      if (query.cursor) {
        const [at, id] = decodeCursor(query.cursor, ['timestamp', 'uuid']);
        if (typeof at !== 'string' || !uuid.safeParse(id).success) throw new Problem(400, 'invalid_cursor', 'The cursor is not one this API returned.', { param: 'cursor' });
        q.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [at, id as string]);
      }
      const rows: Row[] = await q;
      // Seeded templates share one created_at to the microsecond, which a JS Date would round away.
      return { body: page(rows, query.limit, templateSummary, (r) => [r.created_at_exact, r.id]) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/templates/{id}', operationId: 'getTemplate', tag: 'Marketing', auth: MARKETING,
    summary: 'One template with its MJML, text and the variables it uses',
    params: idParams,
    responses: { 200: { description: 'The template', schema: templateDetailSchema }, 404: { description: 'No such template' } },
    handler: async (ctx, { params }) => ({ body: templateDetail(await templateById(ctx, params.id)) }),
  }),
  route({
    method: 'POST', path: '/api/v1/templates/{id}/preview', operationId: 'previewTemplate', tag: 'Marketing', auth: MARKETING,
    summary: 'Render a template with a contact\'s fields (or a sample contact\'s) and the given variables',
    description: 'Variables the template uses but nobody gave are rendered empty and listed in missingVariables. {{unsubscribe_url}} stays as it is: the provider fills it per recipient.',
    params: idParams,
    body: z.object({ contactId: uuid.optional(), variables: variablesSchema.optional() }).strict(),
    responses: {
      200: {
        description: '{ subject, html, text, missingVariables }',
        schema: z.object({
          object: z.literal('template_preview'), templateId: uuid, subject: z.string(), html: z.string(), text: z.string(),
          missingVariables: z.array(z.string()).describe('Used by the template, given by nobody: rendered empty'),
        }),
      },
      404: { description: 'No such template or contact' } },
    handler: async (ctx, { params, body }) => {
      const template = await templateById(ctx, params.id);
      const { variables } = await previewVariables(ctx, template, body);
      const rendered = await renderTemplate(template, variables);
      return { body: { object: 'template_preview', templateId: template.id, ...rendered } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/templates/{id}/test-send', operationId: 'testSendTemplate', tag: 'Marketing', auth: MARKETING,
    summary: 'Send one copy of a template to an address, through the configured email provider',
    description: 'Rendered as in a preview (the contact with that address, else a sample contact), with the subject prefixed "[Test]". '
      + 'Marketing templates carry an unsubscribe link: the contact\'s own when the address is a contact, else a test link that changes nothing. '
      + 'With no provider configured the message lands in the development outbox and is not sent.',
    params: idParams,
    idempotent: true,
    body: z.object({ to: z.email({ error: 'must be an email address' }).max(254), variables: variablesSchema.optional() }).strict(),
    rateLimit: testSendRateLimits,
    responses: {
      200: {
        description: 'The provider\'s answer: accepted, rejected or retry',
        schema: z.object({
          object: z.literal('test_send'), templateId: uuid, provider: z.string(), to: z.string(), sendId: z.string(),
          status: z.enum(SEND_STATUSES), providerMessageId: z.string().nullable(), error: z.string().nullable().describe('Why it was rejected, in the provider\'s words'),
          missingVariables: z.array(z.string()),
        }),
      },
      404: { description: 'No such template' }, 429: { description: 'Too many test sends (RATE_LIMIT_TEST_SENDS_PER_HOUR)' }, 502: { description: 'The provider could not be reached' } },
    handler: async (ctx, { params, body }) => {
      const template = await templateById(ctx, params.id);
      const { contact, variables } = await previewVariables(ctx, template, { email: body.to, variables: body.variables });
      const rendered = await renderTemplate(template, variables);
      const linkSecret = emailLinkSecret();
      const sendId = `test-${crypto.randomUUID()}`;
      const provider = createEmailProvider({ env: process.env, dataDir: config.dataDir, publicUrl: config.publicUrl, linkSecret });
      let result;
      try {
        [result] = await provider.send([{
          sendId, kind: template.kind, to: { email: body.to }, from: config.email.from,
          subject: `[Test] ${rendered.subject}`, html: rendered.html, text: rendered.text,
          categories: ['test-send', `template-${template.id}`],
          ...(template.kind === 'marketing' ? { unsubscribeUrl: unsubscribeUrl(config.publicUrl, signUnsubscribeToken(contact?.id ?? TEST_SEND_UNSUBSCRIBE_SUBJECT, linkSecret)) } : {}),
        }]);
      } catch (err) {
        ctx.state.log.warn({ err: (err as Error).message, templateId: template.id }, 'test send failed');
        throw new Problem(502, 'provider_unavailable', `The email provider (${provider.name}) did not take the message; try again later. The request id identifies the error in our logs.`);
      } finally {
        await provider.close();
      }
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'template.test_send', entityType: 'template', entityId: template.id, data: { to: body.to, status: result.status, sendId: result.sendId } });
      return {
        body: {
          object: 'test_send', templateId: template.id, provider: provider.name, to: body.to, sendId: result.sendId, status: result.status,
          providerMessageId: result.providerMessageId ?? null, error: result.error ?? null, missingVariables: rendered.missingVariables,
        },
      };
    },
  }),
];
