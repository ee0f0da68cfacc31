/**
 * Contacts: the people marketing may write to, with per-channel consent (one row per contact
 * and channel: granted or withdrawn, with its source and time) and the suppression list.
 *
 * Here: field checks shared by the API and the CSV import, the streaming CSV import (batches
 * of ~1,000 rows, one multi-row upsert each, progress recorded per batch), consent changes and
 * the customer → contact sync.
 *
 * A withdrawal the person made themselves (the unsubscribe link, the preferences page) is never
 * overturned by an import or the customer sync; only the person, or staff on purpose (PUT
 * /contacts/{id}/consent), can grant it again.
 */
import type { Knex } from 'knex';
import { CsvError, parse } from 'csv-parse';
import { z } from 'zod';

export const CONSENT_CHANNELS = ['email', 'whatsapp'] as const;
export type ConsentChannel = (typeof CONSENT_CHANNELS)[number];
export type ConsentStatus = 'granted' | 'withdrawn';

/** Sources of withdrawals the person made themselves. */
export const SELF_SERVICE_SOURCES = ['unsubscribe link', 'preferences page'] as const;
const SELF_SERVICE_SQL = `('unsubscribe link', 'preferences page')`;

/** A withdrawal only the person may reverse (and only by confirming from their own inbox). */
export function isSelfServiceWithdrawal(consent: { status: string; source: string }): boolean {
  return consent.status === 'withdrawn' && (SELF_SERVICE_SOURCES as readonly string[]).includes(consent.source);
}

// ---------------------------------------------------------------------------------------------
// Field checks: each returns why a value is refused, or null. Shared by the API and the import.

const emailSchema = z.email().max(254);
// The database's own check (contacts_email); zod's is stricter, this one is the last word.
const DB_EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

export function emailProblem(email: string): string | null {
  if (!email) return 'email is required';
  if (email.length > 254) return 'email is longer than 254 characters';
  if (!emailSchema.safeParse(email).success || !DB_EMAIL.test(email)) return `email "${email}" is not a valid address`;
  return null;
}

const regionNames = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
// Codes CLDR names that are not assigned ISO 3166-1 countries: groupings, reserved and withdrawn codes.
const NOT_COUNTRIES = new Set(['ZZ', 'EU', 'EZ', 'UN', 'QO', 'XA', 'XB', 'IC', 'EA', 'CP', 'DG', 'TA', 'AC', 'CQ', 'SU', 'YU', 'AN', 'BU', 'CS', 'DD', 'FX', 'NT', 'TP', 'ZR']);

export function countryProblem(country: string): string | null {
  if (!/^[A-Z]{2}$/.test(country) || NOT_COUNTRIES.has(country) || regionNames.of(country) === undefined) {
    return `country must be an ISO 3166-1 alpha-2 code such as ES or US, got "${country}"`;
  }
  return null;
}

const timezones = new Map<string, string | null>();

/** The canonical IANA name of a time zone (aliases resolve), or null when Intl does not know it. */
export function canonicalTimezone(name: string): string | null {
  if (timezones.has(name)) return timezones.get(name)!;
  let canonical: string | null = null;
  if (/^[A-Za-z0-9_+\-/]{1,64}$/.test(name)) {
    try {
      canonical = new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
    } catch {
      canonical = null;
    }
  }
  if (timezones.size < 5000) timezones.set(name, canonical);
  return canonical;
}

export function birthdayProblem(date: string): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const parsed = match ? new Date(`${date}T00:00:00Z`) : null;
  if (!match || !parsed || Number.isNaN(+parsed) || parsed.toISOString().slice(0, 10) !== date) {
    return `birthday must be a date as YYYY-MM-DD, got "${date}"`;
  }
  if (+match[1] < 1900 || parsed > new Date()) return `birthday ${date} is not a plausible birth date`;
  return null;
}

const CONSENT_WORDS: Record<string, boolean> = { yes: true, y: true, true: true, '1': true, no: false, n: false, false: false, '0': false };

/** true (granted), false (withdrawn), undefined (empty: leave as is), or a string saying why not. */
export function parseConsentWord(value: string): boolean | undefined | string {
  if (value === '') return undefined;
  const word = CONSENT_WORDS[value.toLowerCase()];
  return word === undefined ? `must be yes/no, true/false or 1/0, got "${value}"` : word;
}

/** Tags from one cell, separated by ";" or "|". */
export function splitTags(value: string): string[] {
  return [...new Set(value.split(/[;|]/).map((t) => t.trim()).filter(Boolean))];
}

/** zod pieces for the JSON API, with the same rules as the import. */
export const contactFields = {
  email: z.string().trim().refine((v) => emailProblem(v) === null, { error: 'must be an email address (at most 254 characters)' }),
  country: z.string().trim().toUpperCase().refine((v) => countryProblem(v) === null, { error: 'must be an ISO 3166-1 alpha-2 country code' }),
  timezone: z.string().trim().refine((v) => canonicalTimezone(v) !== null, { error: 'must be an IANA time zone such as Europe/Madrid' })
    .transform((v) => canonicalTimezone(v)!),
  birthday: z.string().refine((v) => birthdayProblem(v) === null, { error: 'must be a real date as YYYY-MM-DD' }),
  tag: z.string().trim().min(1).max(64),
};

// ---------------------------------------------------------------------------------------------
// Consent and suppression

/**
 * Records a consent decision (upsert on contact + channel). `keepSelfServiceWithdrawal`: leave a
 * withdrawal the person made themselves alone (imports, syncs). Returns whether the row changed.
 */
export async function recordConsent(
  knex: Knex,
  input: { contactId: string; channel: ConsentChannel; status: ConsentStatus; source: string; keepSelfServiceWithdrawal?: boolean },
): Promise<boolean> {
  const guard = input.keepSelfServiceWithdrawal ? ` and not (cc.status = 'withdrawn' and cc.source in ${SELF_SERVICE_SQL})` : '';
  const result = await knex.raw(
    `insert into contact_consents as cc (contact_id, channel, status, source, recorded_at) values (?, ?, ?, ?, now())
     on conflict (contact_id, channel) do update set status = excluded.status, source = excluded.source, recorded_at = excluded.recorded_at
     where (cc.status, cc.source) is distinct from (excluded.status, excluded.source)${guard}`,
    [input.contactId, input.channel, input.status, input.source],
  );
  return (result.rowCount ?? 0) > 0;
}

/** Adds an address to the suppression list; an existing entry (e.g. a bounce) keeps its reason. */
export async function suppress(knex: Knex, email: string, reason: 'bounce' | 'complaint' | 'unsubscribe' | 'manual', source: string): Promise<void> {
  await knex.raw(`insert into suppressions (email, reason, source) values (lower(?), ?, ?) on conflict (email) do nothing`, [email, reason, source]);
}

/** Lifts a suppression the person placed themselves (never a bounce or a complaint). */
export async function liftUnsubscribe(knex: Knex, email: string): Promise<void> {
  await knex('suppressions').where({ email: email.toLowerCase(), reason: 'unsubscribe' }).delete();
}

// ---------------------------------------------------------------------------------------------
// CSV import

export const IMPORT_COLUMNS = [
  'email', 'first_name', 'last_name', 'language', 'country', 'timezone', 'birthday', 'tags', 'consent_email', 'consent_whatsapp', 'consent_source',
] as const;
type ImportColumn = (typeof IMPORT_COLUMNS)[number];

export interface ImportRowError {
  /** The line in the file (the header is line 1); the row number a spreadsheet shows. */
  row: number;
  email: string | null;
  errors: string[];
}

export interface ImportSummary {
  object: 'contact_import';
  id: string;
  status: 'running' | 'completed' | 'failed';
  rowsRead: number;
  created: number;
  updated: number;
  failed: number;
  /** The first 1,000 failed rows; `failed` counts them all. */
  errors: ImportRowError[];
  errorsTruncated: boolean;
  startedAt: string | null;
  finishedAt: string | null;
}

/** Why a file is refused as a whole. `missing_email_column`, `empty_file`, `duplicate_columns` come before any row is written. */
export class ImportRefused extends Error {
  constructor(readonly code: 'missing_email_column' | 'empty_file' | 'duplicate_columns' | 'invalid_csv' | 'too_large' | 'import_exists', message: string) {
    super(message);
    this.name = 'ImportRefused';
  }
}

export const MAX_STORED_IMPORT_ERRORS = 1000;

interface ValidRow {
  email: string;
  first_name: string | null;
  last_name: string | null;
  language: 'es' | 'en' | null;
  country: string | null;
  timezone: string | null;
  birthday: string | null;
  tags: string[];
  consent: Partial<Record<ConsentChannel, boolean>>;
  consentSource: string | null;
}

function validateRow(cells: Partial<Record<ImportColumn, string>>): { row?: ValidRow; errors: string[] } {
  const errors: string[] = [];
  const cell = (name: ImportColumn) => (cells[name] ?? '').trim();
  const email = cell('email');
  const emailError = emailProblem(email);
  if (emailError) errors.push(emailError);
  const name = (column: 'first_name' | 'last_name') => {
    const v = cell(column);
    if (v.length > 100) errors.push(`${column} is longer than 100 characters`);
    return v || null;
  };
  const firstName = name('first_name');
  const lastName = name('last_name');
  let language: ValidRow['language'] = null;
  if (cell('language')) {
    const v = cell('language').toLowerCase();
    if (v === 'es' || v === 'en') language = v;
    else errors.push(`language must be "es" or "en", got "${cell('language')}"`);
  }
  let country: string | null = null;
  if (cell('country')) {
    country = cell('country').toUpperCase();
    const problem = countryProblem(country);
    if (problem) errors.push(problem);
  }
  let timezone: string | null = null;
  if (cell('timezone')) {
    timezone = canonicalTimezone(cell('timezone'));
    if (!timezone) errors.push(`timezone must be an IANA time zone such as Europe/Madrid, got "${cell('timezone')}"`);
  }
  let birthday: string | null = null;
  if (cell('birthday')) {
    birthday = cell('birthday');
    const problem = birthdayProblem(birthday);
    if (problem) errors.push(problem);
  }
  const tags = splitTags(cell('tags'));
  if (tags.length > 50) errors.push('at most 50 tags');
  for (const t of tags) if (t.length > 64) errors.push(`tag "${t.slice(0, 20)}..." is longer than 64 characters`);
  const consent: ValidRow['consent'] = {};
  for (const channel of CONSENT_CHANNELS) {
    const parsed = parseConsentWord(cell(`consent_${channel}`));
    if (typeof parsed === 'string') errors.push(`consent_${channel} ${parsed}`);
    else if (parsed !== undefined) consent[channel] = parsed;
  }
  const consentSource = cell('consent_source') || null;
  if (consentSource && consentSource.length > 255) errors.push('consent_source is longer than 255 characters');
  if (errors.length) return { errors };
  return { row: { email, first_name: firstName, last_name: lastName, language, country, timezone, birthday, tags, consent, consentSource }, errors };
}

/** "First Name" → first_name. */
function columnName(header: string): string {
  return header.trim().toLowerCase().replace(/[\s-]+/g, '_');
}

/** The upload's bytes, refused past `maxBytes`. */
async function* limited(source: AsyncIterable<Buffer | string>, maxBytes: number): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of source) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > maxBytes) throw new ImportRefused('too_large', `The file is larger than ${maxBytes} bytes; split it into smaller files.`);
    yield buffer;
  }
}

async function peekHeaderLine(iterator: AsyncIterator<Buffer>): Promise<{ head: Buffer[]; firstLine: string }> {
  const head: Buffer[] = [];
  let bytes = 0;
  for (;;) {
    const joined = Buffer.concat(head);
    const newline = joined.indexOf(0x0a);
    if (newline !== -1 || bytes > 64 * 1024) return { head, firstLine: joined.subarray(0, newline === -1 ? joined.length : newline).toString('utf8') };
    const next = await iterator.next();
    if (next.done) return { head, firstLine: joined.toString('utf8') };
    head.push(next.value);
    bytes += next.value.length;
  }
}

/** "," (RFC 4180), or ";" / tab when the header uses them (spreadsheets in Spanish locales export ";"). */
function detectDelimiter(firstLine: string): string {
  const unquoted = firstLine.replace(/"[^"]*"/g, '');
  const count = (d: string) => unquoted.split(d).length - 1;
  const [best] = [',', ';', '\t'].map((d) => [d, count(d)] as const).sort((a, b) => b[1] - a[1]);
  return best[1] > 0 ? best[0] : ',';
}

export interface ImportOptions {
  /** The import's id, when the client chose it (to poll progress while the upload runs). */
  importId?: string;
  userId?: string | null;
  maxBytes: number;
  batchSize?: number;
}

function summaryOf(row: Record<string, any>): ImportSummary { // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    object: 'contact_import', id: row.id, status: row.status, rowsRead: row.rows_read, created: row.created, updated: row.updated, failed: row.failed,
    errors: row.errors, errorsTruncated: row.failed > row.errors.length,
    startedAt: row.started_at ? new Date(row.started_at).toISOString() : null, finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
  };
}

export async function getImport(knex: Knex, id: string): Promise<ImportSummary | null> {
  const row = await knex('contact_imports').where({ id }).first();
  return row ? summaryOf(row) : null;
}

/**
 * Imports contacts from a CSV byte stream, never holding more than one batch: each batch is one
 * transaction (a multi-row upsert of contacts, one of consents, the progress row). Rows that
 * fail their checks are skipped and reported; the rest are created or updated by email
 * (case-insensitive). Empty cells leave what is stored; tags are added to the stored ones.
 */
export async function importContacts(knex: Knex, source: AsyncIterable<Buffer | string>, options: ImportOptions): Promise<ImportSummary> {
  const batchSize = options.batchSize ?? 1000;
  const iterator = limited(source, options.maxBytes)[Symbol.asyncIterator]();
  const { head, firstLine } = await peekHeaderLine(iterator);

  // relax_quotes: a stray quote inside a field (Bo"b) is kept as text. A quote never closed is
  // fatal: csv-parse cannot find the next row again, so the import stops there, saying where.
  const parser = parse({
    delimiter: detectDelimiter(firstLine), bom: true, info: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true,
    max_record_size: 64 * 1024,
  });
  let columns: Array<ImportColumn | null> | undefined;
  let importId: string | undefined;
  const totals = { rows_read: 0, created: 0, updated: 0, failed: 0 };
  const errors: ImportRowError[] = [];
  let errorsDirty = false;
  let batch: Array<{ line: number; row: ValidRow }> = [];
  let batchFailures: ImportRowError[] = [];
  let writing = false; // a batch is being written: after a database error, nothing more is tried
  let lastLine = 0;

  const fail = (e: ImportRowError) => {
    totals.failed++;
    if (errors.length < MAX_STORED_IMPORT_ERRORS) {
      errors.push(e);
      errorsDirty = true;
    }
  };

  const flush = async () => {
    const rows = batch;
    const failures = batchFailures;
    batch = [];
    batchFailures = [];
    totals.rows_read += rows.length + failures.length;
    for (const f of failures) fail(f);
    writing = true;
    await knex.transaction(async (trx) => {
      if (rows.length) {
        const { created } = await upsertBatch(trx, rows.map((r) => r.row), `import:${importId}`);
        totals.created += created;
        totals.updated += rows.length - created;
      }
      await trx('contact_imports').where({ id: importId }).update({ ...totals, ...(errorsDirty ? { errors: JSON.stringify(errors) } : {}) });
      errorsDirty = false;
    });
    writing = false;
  };

  try {
    for await (const { record, info } of recordsOf(parser, head, iterator)) {
      lastLine = info.lines;
      if (!columns) {
        const names = record.map(columnName);
        if (!names.includes('email')) {
          throw new ImportRefused('missing_email_column', `The first row must be a header naming the columns, with an "email" column; it names: ${names.filter(Boolean).slice(0, 12).join(', ') || 'nothing'}.`);
        }
        const twice = names.find((n, i) => n && names.indexOf(n) !== i);
        if (twice) throw new ImportRefused('duplicate_columns', `The header names the column "${twice}" twice.`);
        columns = names.map((n) => ((IMPORT_COLUMNS as readonly string[]).includes(n) ? (n as ImportColumn) : null));
        importId = await createImportRow(knex, options);
        continue;
      }
      const cells: Partial<Record<ImportColumn, string>> = {};
      columns.forEach((name, i) => {
        if (name) cells[name] = record[i] ?? '';
      });
      const { row, errors: rowErrors } = validateRow(cells);
      if (row) batch.push({ line: info.lines, row });
      else batchFailures.push({ row: info.lines, email: (cells.email ?? '').trim() || null, errors: rowErrors });
      if (batch.length + batchFailures.length >= batchSize) await flush();
    }
    if (!columns) throw new ImportRefused('empty_file', 'The file is empty: its first row must be a header with an "email" column.');
    await flush();
    const [done] = await knex('contact_imports').where({ id: importId }).update({ status: 'completed', finished_at: knex.fn.now() }).returning('*');
    return summaryOf(done);
  } catch (err) {
    if (importId) {
      // The file stopped (cut upload, too large, unreadable): the rows read before it still count.
      if (!writing) await flush().catch(() => undefined);
      await knex('contact_imports').where({ id: importId }).update({ ...totals, errors: JSON.stringify(errors), status: 'failed', finished_at: knex.fn.now() })
        .catch(() => undefined);
    }
    if (err instanceof CsvError) {
      throw new ImportRefused('invalid_csv', `The file is not valid CSV after line ${lastLine} (${err.message})${importId ? '; the rows before it were imported. Fix the file and import it again: known contacts are updated, not duplicated' : ''}.`);
    }
    throw err;
  }
}

type ParsedRecord = { record: string[]; info: { lines: number } };

/**
 * Feeds the bytes to the parser and yields its records, at most `highWater` waiting at a time
 * (the bytes wait meanwhile, so a slow database slows the upload instead of filling memory).
 * Every record parsed before an error is yielded before the error is thrown, which for-await on
 * the parser itself would not do. Leaving the loop stops the feeding; what the client still
 * sends is discarded by the HTTP server.
 */
async function* recordsOf(parser: ReturnType<typeof parse>, head: Buffer[], chunks: AsyncIterator<Buffer>, highWater = 2000): AsyncGenerator<ParsedRecord> {
  let queue: ParsedRecord[] = [];
  let readAt = 0;
  let ended = false;
  let failure: unknown;
  let stopped = false;
  let wakeReader: (() => void) | undefined;
  let wakeFeeder: (() => void) | undefined;
  const wake = () => {
    wakeReader?.();
    wakeReader = undefined;
  };
  const finish = (err?: unknown) => {
    if (err !== undefined && failure === undefined) failure = err;
    ended = true;
    wake();
  };
  parser.on('data', (r: ParsedRecord) => {
    queue.push(r);
    wake();
  });
  parser.on('end', () => finish());
  parser.on('error', (err) => finish(err));
  void (async () => {
    const write = async (chunk: Buffer) => {
      while (!stopped && queue.length - readAt >= highWater) await new Promise<void>((resolve) => { wakeFeeder = resolve; });
      if (!stopped) parser.write(chunk);
    };
    try {
      for (const chunk of head) await write(chunk);
      for (let next = await chunks.next(); !next.done && !stopped; next = await chunks.next()) await write(next.value);
      if (!stopped) parser.end();
    } catch (err) {
      finish(err); // the upload was cut or grew too large
    } finally {
      await chunks.return?.(undefined);
    }
  })();
  try {
    for (;;) {
      if (readAt < queue.length) {
        const record = queue[readAt++];
        if (readAt >= 1024) {
          queue = queue.slice(readAt);
          readAt = 0;
        }
        if (queue.length - readAt < highWater / 2) {
          wakeFeeder?.();
          wakeFeeder = undefined;
        }
        yield record;
        continue;
      }
      if (ended) {
        if (failure !== undefined) throw failure;
        return;
      }
      await new Promise<void>((resolve) => { wakeReader = resolve; });
    }
  } finally {
    stopped = true;
    wakeFeeder?.();
    parser.destroy();
  }
}

async function createImportRow(knex: Knex, options: ImportOptions): Promise<string> {
  const inserted = await knex('contact_imports')
    .insert({ ...(options.importId ? { id: options.importId } : {}), created_by_user_id: options.userId ?? null })
    .onConflict('id').ignore().returning('id');
  if (!inserted.length) throw new ImportRefused('import_exists', `An import with id ${options.importId} already exists; choose a new id.`);
  return inserted[0].id;
}

/**
 * One batch: one upsert of contacts (two when some rows name a language and others do not), one of consents. Rows with the same address (any case)
 * are merged first, the later cell winning, because one upsert cannot touch a row twice.
 * Returns how many contacts were created (the rest were updated).
 */
async function upsertBatch(trx: Knex.Transaction, rows: ValidRow[], defaultSource: string): Promise<{ created: number }> {
  const merged = new Map<string, ValidRow>();
  for (const r of rows) {
    const key = r.email.toLowerCase();
    const prior = merged.get(key);
    merged.set(key, prior ? {
      email: prior.email,
      first_name: r.first_name ?? prior.first_name, last_name: r.last_name ?? prior.last_name, language: r.language ?? prior.language,
      country: r.country ?? prior.country, timezone: r.timezone ?? prior.timezone, birthday: r.birthday ?? prior.birthday,
      tags: [...new Set([...prior.tags, ...r.tags])], consent: { ...prior.consent, ...r.consent }, consentSource: r.consentSource ?? prior.consentSource,
    } : r);
  }
  // language is NOT NULL, so an empty cell cannot ride through the upsert as null: rows that name
  // a language and rows that do not go in two upserts (one when the file is uniform, as usual),
  // the second leaving the stored language alone.
  const upserted: Array<{ id: string; key: string; inserted: boolean }> = [];
  for (const setLanguage of [true, false]) {
    const values = [...merged.values()].filter((r) => (r.language !== null) === setLanguage).map((r) => ({
      email: r.email, first_name: r.first_name, last_name: r.last_name, language: r.language ?? 'en',
      country: r.country, timezone: r.timezone, birthday: r.birthday, tags: r.tags,
    }));
    if (!values.length) continue;
    const result = await trx.raw(
      `insert into contacts as c (email, first_name, last_name, language, country, timezone, birthday, tags, source)
       select v.email, v.first_name, v.last_name, v.language, v.country, v.timezone, v.birthday, v.tags, 'import'
         from jsonb_to_recordset(?::jsonb) as v(email text, first_name text, last_name text, language text, country text, timezone text, birthday date, tags text[])
       on conflict (lower(email)) do update set
         first_name = coalesce(excluded.first_name, c.first_name),
         last_name = coalesce(excluded.last_name, c.last_name),${setLanguage ? '\n         language = excluded.language,' : ''}
         country = coalesce(excluded.country, c.country),
         timezone = coalesce(excluded.timezone, c.timezone),
         birthday = coalesce(excluded.birthday, c.birthday),
         tags = case when excluded.tags = '{}' then c.tags else array(select distinct t from unnest(c.tags || excluded.tags) as t order by t) end,
         updated_at = now()
       returning c.id, lower(c.email) as key, (xmax = 0) as inserted`,
      [JSON.stringify(values)],
    );
    upserted.push(...result.rows);
  }
  const idByKey = new Map<string, string>();
  let created = 0;
  for (const r of upserted) {
    idByKey.set(r.key, r.id);
    if (r.inserted) created++;
  }
  const consents: Array<{ contact_id: string; channel: ConsentChannel; status: ConsentStatus; source: string }> = [];
  for (const [key, r] of merged) {
    for (const channel of CONSENT_CHANNELS) {
      const given = r.consent[channel];
      if (given === undefined) continue;
      consents.push({ contact_id: idByKey.get(key)!, channel, status: given ? 'granted' : 'withdrawn', source: r.consentSource ?? defaultSource });
    }
  }
  if (consents.length) {
    // A decision already recorded keeps its original source and time; only a change is recorded.
    await trx.raw(
      `insert into contact_consents as cc (contact_id, channel, status, source, recorded_at)
       select v.contact_id, v.channel, v.status, v.source, now()
         from jsonb_to_recordset(?::jsonb) as v(contact_id uuid, channel text, status text, source text)
       on conflict (contact_id, channel) do update set status = excluded.status, source = excluded.source, recorded_at = excluded.recorded_at
       where cc.status <> excluded.status and not (cc.status = 'withdrawn' and cc.source in ${SELF_SERVICE_SQL})`,
      [JSON.stringify(consents)],
    );
  }
  // Duplicates merged into one contact count as updates of it, as if the rows had been applied one by one.
  return { created };
}

// ---------------------------------------------------------------------------------------------
// Customers → contacts

/**
 * Upserts a contact for every customer with an email (source 'customer', linked by
 * customer_id); for a contact already linked to the customer (or not linked), the customer
 * record's name, language and country win. Consent follows the customer record's flags with
 * source 'customer record', but only where the customer record is the source of the current
 * decision (or none is recorded): a decision from an import, a form or the person themselves is
 * not overwritten by a flag that may just be the default false. Idempotent; a second run
 * changes nothing.
 */
export async function syncCustomerContacts(knex: Knex): Promise<{ created: number; updated: number; consentsChanged: number }> {
  const upserted = await knex.raw(
    `with src as (
       select distinct on (lower(btrim(cu.email))) cu.id, btrim(cu.email) as email, left(cu.first_name, 100) as first_name, left(cu.last_name, 100) as last_name,
              cu.language, cu.country
         from customers cu
        where cu.email is not null and length(btrim(cu.email)) <= 254 and btrim(cu.email) ~ '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$'
          -- a customer already linked to a contact under another address keeps that link
          and not exists (select 1 from contacts o where o.customer_id = cu.id and lower(o.email) <> lower(btrim(cu.email)))
        order by lower(btrim(cu.email)), (cu.partner_id is null) desc, cu.created_at, cu.id
     )
     insert into contacts as c (email, first_name, last_name, language, country, customer_id, source)
     select email, first_name, last_name, language, country, id, 'customer' from src
     on conflict (lower(email)) do update set
       customer_id = coalesce(c.customer_id, excluded.customer_id),
       first_name = case when c.customer_id is null or c.customer_id = excluded.customer_id then excluded.first_name else c.first_name end,
       last_name = case when c.customer_id is null or c.customer_id = excluded.customer_id then excluded.last_name else c.last_name end,
       language = case when c.customer_id is null or c.customer_id = excluded.customer_id then excluded.language else c.language end,
       country = case when c.customer_id is null or c.customer_id = excluded.customer_id then coalesce(excluded.country, c.country) else c.country end,
       updated_at = now()
     where c.customer_id is null
        or (c.customer_id = excluded.customer_id
            and (c.first_name, c.last_name, c.language, c.country) is distinct from (excluded.first_name, excluded.last_name, excluded.language, coalesce(excluded.country, c.country)))
     returning (xmax = 0) as inserted`,
  );
  const rows = upserted.rows as Array<{ inserted: boolean }>;
  const created = rows.filter((r) => r.inserted).length;
  const consents = await knex.raw(
    `insert into contact_consents as cc (contact_id, channel, status, source, recorded_at)
     select c.id, ch.channel, case when ch.granted then 'granted' else 'withdrawn' end, 'customer record', now()
       from contacts c
       join customers cu on cu.id = c.customer_id
       cross join lateral (values ('email', cu.consent_email_marketing), ('whatsapp', cu.consent_whatsapp)) as ch(channel, granted)
       left join contact_consents x on x.contact_id = c.id and x.channel = ch.channel
      where (x.contact_id is null and ch.granted)
         or (x.source = 'customer record' and x.status <> case when ch.granted then 'granted' else 'withdrawn' end)
     on conflict (contact_id, channel) do update set status = excluded.status, source = excluded.source, recorded_at = excluded.recorded_at
     where cc.source = 'customer record'`,
  );
  return { created, updated: rows.length - created, consentsChanged: consents.rowCount ?? 0 };
}
