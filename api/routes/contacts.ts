/**
 * Contacts: the CSV import (streamed: the body is never held whole; bodyReader leaves text/csv
 * unread), its progress, the list, one contact and consent changes. Marketers and admins.
 */
import type Koa from 'koa';
import type { Knex } from 'knex';
import { z } from 'zod';
import {
  contactFields, getImport, importContacts, ImportRefused, IMPORT_COLUMNS, isSelfServiceWithdrawal, recordConsent,
  type ConsentChannel,
} from '../../models/contacts';
import { auditActor, recordAudit } from '../../models/audit';
import { decodeCursor, page } from '../http/cursor';
import { notFound, Problem } from '../http/problem';
import { route } from '../http/routes';
import { cursor, idParams, language, limit, listOf, uuid } from '../schemas';

const MARKETING = ['marketer', 'admin'] as const;

/** The largest CSV accepted in one request (about 400,000 typical rows). */
export const MAX_IMPORT_BYTES = 50 * 1024 * 1024;

const REFUSED_STATUS: Record<ImportRefused['code'], number> = {
  missing_email_column: 400, empty_file: 400, duplicate_columns: 400, invalid_csv: 400, too_large: 413, import_exists: 409,
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Row = Record<string, any>;
const iso = (v: Date | string | null) => (v ? new Date(v).toISOString() : null);

const consentOf = (status: string | null, source: string | null, at: Date | null) => (status ? { status, source, recordedAt: iso(at) } : null);

function contactItem(c: Row) {
  return {
    object: 'contact' as const, id: c.id, email: c.email, firstName: c.first_name, lastName: c.last_name, language: c.language,
    country: c.country, timezone: c.timezone, birthday: c.birthday, source: c.source, tags: c.tags, customerId: c.customer_id,
    partnerId: c.partner_id, attributes: c.attributes,
    consent: {
      email: consentOf(c.email_status, c.email_source, c.email_recorded_at),
      whatsapp: consentOf(c.whatsapp_status, c.whatsapp_source, c.whatsapp_recorded_at),
    },
    suppression: c.suppression_reason ? { reason: c.suppression_reason, at: iso(c.suppressed_at) } : null,
    createdAt: iso(c.created_at), updatedAt: iso(c.updated_at),
  };
}

/**
 * The contacts `base` selects (from `contacts as c`), with their consent per channel and
 * suppression. The joins run on the selected page only, not on every matching contact.
 */
function withConsent(ctx: Koa.Context, base: Knex.QueryBuilder) {
  return ctx.knex.from(base.select('c.*', ctx.knex.raw('c.created_at::text as created_at_exact')).as('c'))
    .leftJoin('contact_consents as ce', (j) => j.on('ce.contact_id', 'c.id').andOnVal('ce.channel', 'email'))
    .leftJoin('contact_consents as cw', (j) => j.on('cw.contact_id', 'c.id').andOnVal('cw.channel', 'whatsapp'))
    .leftJoin('suppressions as s', (j) => j.on(ctx.knex.raw('s.email = lower(c.email)')))
    .select('c.*', 'ce.status as email_status', 'ce.source as email_source', 'ce.recorded_at as email_recorded_at',
      'cw.status as whatsapp_status', 'cw.source as whatsapp_source', 'cw.recorded_at as whatsapp_recorded_at',
      's.reason as suppression_reason', 's.created_at as suppressed_at');
}

async function contactById(ctx: Koa.Context, id: string) {
  const [row] = await withConsent(ctx, ctx.knex('contacts as c').where('c.id', id));
  if (!row) throw notFound('contact', id);
  return contactItem(row);
}

const consentStatus = z.enum(['granted', 'withdrawn']);
const consentSource = z.string().trim().min(1).max(255).describe('Where the decision was given: "web form", "event stand Madrid 2026-05", ...');

const at = z.string().describe('ISO 8601 date-time');
const consentSchema = z.object({ status: consentStatus, source: z.string().nullable(), recordedAt: at.nullable() })
  .nullable().describe('The latest decision on this channel; null: never asked');

const contactSchema = z.object({
  object: z.literal('contact'), id: uuid, email: z.string(), firstName: z.string().nullable(), lastName: z.string().nullable(), language,
  country: z.string().nullable().describe('ISO 3166-1 alpha-2'), timezone: z.string().nullable().describe('IANA time zone'),
  birthday: z.string().nullable().describe('YYYY-MM-DD'), source: z.enum(['customer', 'lead', 'partner', 'import', 'api']), tags: z.array(z.string()),
  customerId: uuid.nullable(), partnerId: uuid.nullable(), attributes: z.record(z.string(), z.unknown()),
  consent: z.object({ email: consentSchema, whatsapp: consentSchema }),
  suppression: z.object({ reason: z.enum(['bounce', 'complaint', 'unsubscribe', 'manual']), at: at.nullable() }).nullable()
    .describe('Why marketing email is never sent to this address, whatever the consent'),
  createdAt: at, updatedAt: at,
});

const importSchema = z.object({
  object: z.literal('contact_import'), id: uuid, status: z.enum(['running', 'completed', 'failed']),
  rowsRead: z.int(), created: z.int(), updated: z.int(), failed: z.int(),
  errors: z.array(z.object({ row: z.int().describe('Line in the file (the header is line 1)'), email: z.string().nullable(), errors: z.array(z.string()) }))
    .describe('The first 1,000 failed rows; failed counts them all'),
  errorsTruncated: z.boolean(), startedAt: at.nullable(), finishedAt: at.nullable(),
});

export const contactRoutes = [
  route({
    method: 'POST', path: '/api/v1/contacts/import', operationId: 'importContacts', tag: 'Marketing', auth: MARKETING,
    summary: 'Import contacts from a CSV file (Content-Type: text/csv), streamed in batches of 1,000 rows',
    description: `Send the file itself as the body with "Content-Type: text/csv" (at most ${MAX_IMPORT_BYTES / 1024 / 1024} MB; UTF-8; delimiter "," or ";" as the header uses). `
      + `The header row names the columns: ${IMPORT_COLUMNS.join(', ')} (email required; others optional and unknown ones ignored). `
      + 'tags are separated by ";" or "|"; consent_email / consent_whatsapp are yes/no, true/false or 1/0 (empty leaves consent as it is); consent_source defaults to "import:<id>". '
      + 'Contacts are matched by email (case-insensitive): new ones are created, known ones updated (empty cells keep what is stored, tags are added). '
      + 'Rows that fail their checks are skipped and reported with their line number. Progress is at GET /api/v1/contacts/imports/{id} while the upload runs: choose the id yourself with ?importId=<uuid> to poll it.',
    query: z.object({ importId: uuid.optional().describe('A new UUID naming this import, so its progress can be polled during the upload') }),
    responses: {
      201: { description: 'The import summary: rows read, created, updated, failed, and the first 1,000 failed rows with why', schema: importSchema.extend({ ms: z.int() }) },
      400: { description: 'No header with an email column, an empty file, or a column named twice (nothing written); or a quote never closed (the import stops at that line, status failed)' },
      409: { description: 'An import with that importId exists' },
      413: { description: 'The file is larger than the limit' },
      415: { description: 'The body is not text/csv (nothing written)' },
    },
    handler: async (ctx, { query, principal }) => {
      if (!ctx.is('text/csv')) {
        throw new Problem(415, 'unsupported_media_type', 'Send the CSV file as the request body with "Content-Type: text/csv".', { param: 'Content-Type' });
      }
      const tooLarge = () => new Problem(413, 'body_too_large', `The file is larger than ${MAX_IMPORT_BYTES} bytes (${MAX_IMPORT_BYTES / 1024 / 1024} MB); split it into smaller files.`, {
        headers: { Connection: 'close' }, // do not read the rest of an upload we refuse
      });
      if (Number(ctx.get('content-length') || 0) > MAX_IMPORT_BYTES) throw tooLarge();
      const started = performance.now();
      try {
        const summary = await importContacts(ctx.knex, ctx.req, { importId: query.importId, userId: principal!.userId, maxBytes: MAX_IMPORT_BYTES });
        await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'contact_import.completed', entityType: 'contact_import', entityId: summary.id, data: { status: summary.status, rowsRead: summary.rowsRead, created: summary.created, updated: summary.updated, failed: summary.failed } });
        return {
          status: 201, headers: { Location: `/api/v1/contacts/imports/${summary.id}` },
          body: { ...summary, ms: Math.round(performance.now() - started) },
        };
      } catch (err) {
        if (err instanceof ImportRefused) {
          if (err.code === 'too_large') throw tooLarge();
          throw new Problem(REFUSED_STATUS[err.code], err.code, err.message, { param: err.code === 'import_exists' ? 'importId' : 'body' });
        }
        if (ctx.req.destroyed || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
          throw new Problem(400, 'upload_interrupted', 'The upload ended before the whole file arrived; rows read until then were imported (see the import\'s progress).');
        }
        throw err;
      }
    },
  }),
  route({
    method: 'GET', path: '/api/v1/contacts/imports/{id}', operationId: 'getContactImport', tag: 'Marketing', auth: MARKETING,
    summary: 'An import\'s progress (updated after every batch of 1,000 rows) or result',
    params: idParams,
    responses: { 200: { description: 'The import: status running, completed or failed, with counts and the first failed rows', schema: importSchema }, 404: { description: 'No such import' } },
    handler: async (ctx, { params }) => {
      const found = await getImport(ctx.knex, params.id);
      if (!found) throw notFound('contact import', params.id);
      return { body: found };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/contacts', operationId: 'listContacts', tag: 'Marketing', auth: MARKETING,
    summary: 'Contacts, newest first, with their consent per channel and suppression',
    query: z.object({
      email: z.string().trim().min(1).max(254).optional().describe('Exact address, any case'),
      tag: z.string().trim().min(1).max(64).optional(),
      source: z.enum(['customer', 'lead', 'partner', 'import', 'api']).optional(),
      language: language.optional(),
      limit,
      cursor,
    }),
    responses: { 200: { description: 'A page of contacts', schema: listOf(contactSchema) } },
    handler: async (ctx, { query }) => {
      const order = [{ column: 'c.created_at', order: 'desc' }, { column: 'c.id', order: 'desc' }];
      const q = ctx.knex('contacts as c').orderBy(order).limit(query.limit + 1);
      if (query.email) q.whereRaw('lower(c.email) = lower(?)', [query.email]);
      if (query.tag) q.whereRaw('c.tags @> array[?]::text[]', [query.tag]);
      if (query.source) q.where('c.source', query.source);
      if (query.language) q.where('c.language', query.language);
      if (query.cursor) {
        const [at, id] = decodeCursor(query.cursor, ['timestamp', 'uuid']);
        if (typeof at !== 'string' || !uuid.safeParse(id).success) throw new Problem(400, 'invalid_cursor', 'The cursor is not one this API returned.', { param: 'cursor' });
        q.whereRaw('(c.created_at, c.id) < (?::timestamptz, ?::uuid)', [at, id as string]);
      }
      const rows: Row[] = await withConsent(ctx, q).orderBy(order);
      // The keyset needs created_at to the microsecond (an import's batch shares one), which a JS Date drops.
      return { body: page(rows, query.limit, contactItem, (r) => [r.created_at_exact, r.id]) };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/contacts', operationId: 'createContact', tag: 'Marketing', auth: MARKETING,
    summary: 'Add one contact, with the consent they gave',
    idempotent: true,
    body: z.object({
      email: contactFields.email,
      firstName: z.string().trim().min(1).max(100).optional(),
      lastName: z.string().trim().min(1).max(100).optional(),
      language: language.default('en'),
      country: contactFields.country.optional(),
      timezone: contactFields.timezone.optional(),
      birthday: contactFields.birthday.optional(),
      tags: z.array(contactFields.tag).max(50).default([]),
      source: z.enum(['lead', 'api']).default('api').describe('lead: from a form or an enquiry; api: anything else'),
      consent: z.object({ email: consentStatus.optional(), whatsapp: consentStatus.optional(), source: consentSource }).strict().optional(),
    }).strict(),
    responses: { 201: { description: 'The contact', schema: contactSchema }, 409: { description: 'A contact with this email exists (its id is in contactId)' } },
    handler: async (ctx, { body }) => {
      const id = await ctx.knex.transaction(async (trx) => {
        const inserted = await trx.raw(
          `insert into contacts (email, first_name, last_name, language, country, timezone, birthday, tags, source)
           values (?, ?, ?, ?, ?, ?, ?, ?::text[], ?) on conflict (lower(email)) do nothing returning id`,
          [body.email, body.firstName ?? null, body.lastName ?? null, body.language, body.country ?? null, body.timezone ?? null, body.birthday ?? null,
            [...new Set(body.tags)], body.source],
        );
        if (!inserted.rows.length) {
          const existing = await trx('contacts').whereRaw('lower(email) = lower(?)', [body.email]).first('id');
          throw new Problem(409, 'contact_exists', `A contact with the email ${body.email} exists already.`, { param: 'email', contactId: existing?.id });
        }
        const contactId: string = inserted.rows[0].id;
        for (const channel of ['email', 'whatsapp'] as ConsentChannel[]) {
          const status = body.consent?.[channel];
          if (status) await recordConsent(trx, { contactId, channel, status, source: body.consent!.source });
        }
        await recordAudit(trx, { ...auditActor(ctx), action: 'contact.create', entityType: 'contact', entityId: contactId, data: { source: body.source, consent: body.consent ?? null } });
        return contactId;
      });
      return { status: 201, body: await contactById(ctx, id), headers: { Location: `/api/v1/contacts/${id}` } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/contacts/{id}', operationId: 'getContact', tag: 'Marketing', auth: MARKETING,
    summary: 'One contact with its consent per channel and suppression',
    params: idParams,
    responses: { 200: { description: 'The contact', schema: contactSchema }, 404: { description: 'No such contact' } },
    handler: async (ctx, { params }) => ({ body: await contactById(ctx, params.id) }),
  }),
  route({
    method: 'GET', path: '/api/v1/contacts/{id}/consent-history', operationId: 'getContactConsentHistory', tag: 'Marketing', auth: MARKETING,
    summary: 'Every consent decision of one contact, oldest first (append-only: nothing in it is ever changed or removed)',
    params: idParams,
    responses: {
      200: {
        description: 'The decisions: channel, status, source, when it was given and when it was written',
        schema: listOf(z.object({
          object: z.literal('consent_decision'), channel: z.enum(['email', 'whatsapp']), status: consentStatus, source: z.string().nullable(),
          recordedAt: at.describe('When the person gave it'), writtenAt: at.describe('When it was written here'),
        })),
      },
      404: { description: 'No such contact' } },
    handler: async (ctx, { params }) => {
      if (!(await ctx.knex('contacts').where({ id: params.id }).first('id'))) throw notFound('contact', params.id);
      const rows = await ctx.knex('contact_consent_history').where({ contact_id: params.id }).orderBy('id').limit(1000);
      return {
        body: {
          object: 'list', hasMore: rows.length === 1000, nextCursor: null,
          data: rows.map((r) => ({ object: 'consent_decision', channel: r.channel, status: r.status, source: r.source, recordedAt: iso(r.recorded_at), writtenAt: iso(r.written_at) })),
        },
      };
    },
  }),
  route({
    method: 'PUT', path: '/api/v1/contacts/{id}/consent', operationId: 'setContactConsent', tag: 'Marketing', auth: MARKETING,
    summary: 'Record a consent decision for one channel (granted or withdrawn), with where it was given',
    description: 'Granting does not lift a suppression: a bounce, a complaint or the person\'s own unsubscribe still stops marketing email (see suppression in the answer). '
      + 'A withdrawal the person made themselves (unsubscribe link, preferences page) cannot be granted again by staff: the answer is 409 self_withdrawal; only the person can, through the confirmation email their preferences page sends. '
      + 'Every decision is kept in the contact\'s consent history (GET /api/v1/contacts/{id}/consent-history) and the audit log.',
    params: idParams,
    idempotent: true,
    body: z.object({ channel: z.enum(['email', 'whatsapp']), status: consentStatus, source: consentSource }).strict(),
    responses: { 200: { description: 'The contact with its consent', schema: contactSchema }, 404: { description: 'No such contact' }, 409: { description: 'The person withdrew this consent themselves' } },
    handler: async (ctx, { params, body }) => {
      await ctx.knex.transaction(async (trx) => {
        const contact = await trx('contacts').where({ id: params.id }).forUpdate().first('id');
        if (!contact) throw notFound('contact', params.id);
        const current = await trx('contact_consents').where({ contact_id: contact.id, channel: body.channel }).first('status', 'source', 'recorded_at');
        if (body.status === 'granted' && current && isSelfServiceWithdrawal(current)) {
          throw new Problem(409, 'self_withdrawal', `This person withdrew their ${body.channel} consent themselves (${current.source}, ${iso(current.recorded_at)}); staff cannot grant it again. They can subscribe again from the preferences page of any email, which asks them to confirm by email.`, { param: 'status' });
        }
        const changed = await recordConsent(trx, { contactId: contact.id, channel: body.channel, status: body.status, source: body.source });
        if (changed) await recordAudit(trx, { ...auditActor(ctx), action: 'contact.consent_set', entityType: 'contact', entityId: contact.id, data: { channel: body.channel, status: body.status, source: body.source, before: current ? { status: current.status, source: current.source } : null } });
      });
      return { body: await contactById(ctx, params.id) };
    },
  }),
];
