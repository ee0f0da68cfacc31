/**
 * The operations the operator console's screens need beyond the resource APIs: the Today
 * dashboard, the departures calendar and closing a departure, a departure's manifest (JSON and
 * CSV) with passengers' check-ins, the cancellation quote, and the marketers' lists (campaigns,
 * segments, automations) and template edits. Who sees what: admins everything; operators and
 * accountants their branch (accountants read, never steer); marketers the marketing lists.
 */
import type Koa from 'koa';
import { z } from 'zod';
import type { Principal } from '../auth';
import { auditActor, recordAudit } from '../../models/audit';
import {
  calendar, CHECKIN_STATES, CheckinRefused, departureView as viewOfDeparture, manifest, manifestCsv, setCheckin, todayBoard, visibleDeparture, type BranchFilter,
} from '../../models/console';
import { campaignCounts } from '../../models/campaigns';
import { checkTemplate, variablesIn } from '../../models/templates';
import { loadBookingRules } from '../../models/holds';
import { bookingLedger } from '../../models/ledger';
import { refundFor } from '../../domain/booking-rules';
import { isTerminalStatus } from '../../domain/bookings';
import { decodeCursor, page } from '../http/cursor';
import { notFound, Problem } from '../http/problem';
import { route } from '../http/routes';
import { cursor, idParams, language, limit, listOf, uuid } from '../schemas';
import { visibleBooking } from './bookings';
import { refusal as templateRefusal } from './templates';

const READERS = ['admin', 'operator', 'accountant'] as const;
const STEERERS = ['admin', 'operator'] as const;
const MARKETING = ['marketer', 'admin'] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Row = Record<string, any>;
const iso = (v: Date | string | null | undefined) => (v ? new Date(v).toISOString() : null);

/** The branches a staff member's reads cover; a branch code narrows an admin's (another branch's code is refused for the rest). */
async function branchFilter(ctx: Koa.Context, p: Principal, code?: string): Promise<BranchFilter> {
  if (!code) return p.role === 'admin' ? { all: true } : { branchId: p.branchId };
  const branch = await ctx.knex('branches').where('code', code.toUpperCase()).first('id');
  if (!branch) throw new Problem(400, 'validation_failed', `No branch with code "${code}".`, { param: 'branch' });
  if (p.role !== 'admin' && branch.id !== p.branchId) throw new Problem(403, 'forbidden', `You see only your own branch's departures, not ${code.toUpperCase()}'s.`);
  return { branchId: branch.id };
}

const langOf = (ctx: Koa.Context, lang?: string) => lang ?? ((ctx.acceptsLanguages('en', 'es') || 'en') as string);

const departureView = z.object({
  id: uuid, startsAt: z.string(), timezone: z.string(), status: z.enum(['scheduled', 'guaranteed', 'closed', 'cancelled', 'departed', 'completed']),
  tour: z.object({ id: uuid, code: z.string(), title: z.string(), durationMinutes: z.int() }),
  branch: z.string(), capacity: z.int(), held: z.int().describe('Seats in active holds'), sold: z.int(), available: z.int(),
  loadPercent: z.number().describe('(held + sold) / capacity, in percent with one decimal'),
});

export const todaySchema = z.object({
  object: z.literal('console_today'),
  generatedAt: z.string(),
  departures: z.array(departureView.extend({ day: z.enum(['today', 'tomorrow']).describe('In the branch\'s own time zone') })),
  expiringHolds: z.array(z.object({
    bookingId: uuid, reference: z.string(), contactName: z.string().nullable(), paxCount: z.int(), holdExpiresAt: z.string(),
    total: z.int(), currency: z.string(), departureId: uuid, departureStartsAt: z.string(), departureTimeZone: z.string().describe('IANA time zone of the departure: its local time is the one to show'), tourTitle: z.string(),
  })).describe('Holds that expire within the next 2 hours, soonest first'),
  balancesDue: z.array(z.object({
    bookingId: uuid, reference: z.string(), status: z.string(), contactName: z.string().nullable(), amountDue: z.int().describe('From the ledger: payable − (captured − refunded)'),
    currency: z.string(), dueOn: z.string().nullable(), departureId: uuid, departureStartsAt: z.string(), departureTimeZone: z.string().describe('IANA time zone of the departure: its local time is the one to show'), tourTitle: z.string(),
  })).describe('Bookings of departures still ahead with something left to pay, by departure date (at most 50)'),
  approvals: z.object({
    pending: z.int(),
    first: z.array(z.object({
      id: uuid, kind: z.string(), reason: z.string(), amount: z.int().nullable(), currency: z.string().nullable(), bookingId: uuid.nullable(), requestedAt: z.string(), expiresAt: z.string().nullable(),
    })).describe('The five waiting longest'),
  }),
  revenue: z.array(z.object({
    branch: z.string(), day: z.string().describe('YYYY-MM-DD in the branch\'s time zone'), currency: z.string(),
    captured: z.int(), refunded: z.int(), net: z.int().describe('captured − refunded'),
  })).describe('The last 30 days from the ledger (payments captured, refunds pending or made), by branch, day and currency'),
});

export const calendarSchema = z.object({
  object: z.literal('console_calendar'), from: z.string(), to: z.string(),
  days: z.array(z.object({
    date: z.string(), totals: z.object({ capacity: z.int(), held: z.int(), sold: z.int() }),
    departures: z.array(departureView.extend({ startTime: z.string().describe('HH:MM in the branch\'s time zone') })),
  })),
});

const checkInView = z.object({ state: z.enum(CHECKIN_STATES), at: z.string().nullable(), byUserId: z.string().nullable() });
export const manifestSchema = z.object({
  object: z.literal('manifest'),
  departure: departureView.extend({ guideName: z.string().nullable(), vehicle: z.string().nullable() }),
  bookings: z.array(z.object({
    bookingId: uuid, reference: z.string(), status: z.string(),
    contact: z.object({ name: z.string().nullable(), email: z.string().nullable(), phone: z.string().nullable() }),
    language: z.string(), paxCount: z.int(), currency: z.string(),
    amountDue: z.int().describe('From the ledger'), balanceDueOn: z.string().nullable(),
    passengers: z.array(z.object({ id: uuid, type: z.string(), firstName: z.string(), lastName: z.string(), birthDate: z.string().nullable(), checkIn: checkInView })),
  })),
  totals: z.object({
    byPaxType: z.record(z.string(), z.int()), passengers: z.int(), bookings: z.int(),
    checkIns: z.object({ pending: z.int(), checked_in: z.int(), no_show: z.int() }),
  }),
});

async function departureFor(ctx: Koa.Context, p: Principal, id: string, lang = 'en') {
  const f = await branchFilter(ctx, p);
  const d = await visibleDeparture(ctx.knex, f, id, lang);
  if (!d) throw notFound('departure', id); // another branch's departure is not there for you
  return d;
}

async function manifestOf(ctx: Koa.Context, p: Principal, id: string, lang?: string) {
  const d = await departureFor(ctx, p, id, langOf(ctx, lang));
  const m = await manifest(ctx.knex, d);
  return { object: 'manifest' as const, departure: { ...viewOfDeparture(d), guideName: d.guide_name ?? null, vehicle: d.vehicle ?? null }, ...m };
}

export const quoteSchema = z.object({
  object: z.literal('cancellation_quote'), bookingId: uuid, bookingStatus: z.string(),
  cancellable: z.boolean(), notCancellableBecause: z.string().nullable(),
  daysBeforeDeparture: z.int(),
  tier: z.object({ minDays: z.int(), percent: z.number() }).nullable().describe('The policy tier that applies now'),
  paid: z.int().describe('Net paid, from the ledger (captured − refunded)'),
  refund: z.object({ amount: z.int(), currency: z.string(), percent: z.number() }),
  needsApproval: z.boolean(), approvalReason: z.string().nullable(),
  quotedAt: z.string(),
});

// --- marketing lists ---------------------------------------------------------------------------
export const campaignListItem = z.object({
  object: z.literal('campaign'), id: uuid, name: z.string(), status: z.enum(['draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled']), segmentId: uuid,
  variants: z.array(z.object({ name: z.string(), templateId: z.string() }).loose()), abTest: z.boolean(),
  scheduledAt: z.string().nullable(), startedAt: z.string().nullable(), finishedAt: z.string().nullable(), createdAt: z.string(),
  counts: z.object({ audience: z.int(), sent: z.int(), failed: z.int(), suppressed: z.int(), unknown: z.int(), remaining: z.int() }),
});
export const segmentListItem = z.object({ object: z.literal('segment'), id: uuid, name: z.string(), rules: z.unknown(), createdAt: z.string(), updatedAt: z.string() });
export const automationListItem = z.object({
  object: z.literal('automation'), id: uuid, name: z.string(), trigger: z.string(), status: z.enum(['active', 'paused', 'archived']), steps: z.array(z.unknown()),
  enrollments: z.object({ running: z.int(), completed: z.int(), exited: z.int() }), createdAt: z.string(),
});
export const templateDetail = z.object({
  object: z.literal('email_template'), id: uuid, name: z.string(), kind: z.enum(['marketing', 'transactional']), key: z.string().nullable(), language,
  subject: z.string(), mjml: z.string(), text: z.string(), variables: z.array(z.string()), createdAt: z.string(), updatedAt: z.string(),
});

/** Keyset page over (created_at, id) newest first; the cursor keeps microseconds (created_at::text). */
function newestFirst(q: import('knex').Knex.QueryBuilder, limitN: number, cursorValue: string | undefined) {
  q.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limitN + 1);
  if (cursorValue) {
    const [at, id] = decodeCursor(cursorValue, ['timestamp', 'uuid']);
    q.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [at as string, id as string]);
  }
  return q;
}

export const consoleRoutes = [
  route({
    method: 'GET', path: '/api/v1/console/today', operationId: 'consoleToday', tag: 'Console', auth: READERS,
    summary: 'The Today dashboard: departures of today and tomorrow with their load, holds about to expire, balances due, approvals waiting, revenue by branch over 30 days',
    description: 'Operators and accountants see their branch; admins every branch, or one with `branch`.',
    query: z.object({ branch: z.string().min(2).max(16).optional().describe('Branch code, e.g. MAD'), lang: language.optional() }),
    responses: { 200: { description: 'The dashboard', schema: todaySchema }, 403: { description: 'Another branch than your own' } },
    handler: async (ctx, { query, principal }) => {
      const p = principal!;
      const f = await branchFilter(ctx, p, query.branch);
      const board = await todayBoard(ctx.knex, f, {
        language: langOf(ctx, query.lang),
        approvalsVisible: (q) => ('all' in f ? q : q.where((w) => {
          w.where('branch_id', f.branchId);
          if (p.role === 'operator') w.orWhere((n) => n.whereNull('branch_id').where('kind', 'agent_action'));
        })),
      });
      return { body: { object: 'console_today' as const, generatedAt: new Date().toISOString(), ...board } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/console/calendar', operationId: 'consoleCalendar', tag: 'Console', auth: READERS,
    summary: 'Departures per day (the branch\'s calendar days from..to, inclusive) with capacity, held, sold and status',
    query: z.object({
      from: z.iso.date(), to: z.iso.date(),
      tourId: uuid.optional(), branch: z.string().min(2).max(16).optional(), lang: language.optional(),
    }).refine((q) => q.from <= q.to, { message: '"to" must not be before "from"', path: ['to'] })
      .refine((q) => (Date.parse(q.to) - Date.parse(q.from)) / 86_400_000 <= 62, { message: 'at most 62 days at a time', path: ['to'] }),
    responses: { 200: { description: 'Days with departures (days without any are left out)', schema: calendarSchema }, 403: { description: 'Another branch than your own' } },
    handler: async (ctx, { query, principal }) => {
      const f = await branchFilter(ctx, principal!, query.branch);
      const days = await calendar(ctx.knex, f, { from: query.from, to: query.to, tourId: query.tourId, language: langOf(ctx, query.lang) });
      return { body: { object: 'console_calendar' as const, from: query.from, to: query.to, days } };
    },
  }),
  route({
    method: 'PATCH', path: '/api/v1/departures/{id}', operationId: 'updateDeparture', tag: 'Console', auth: STEERERS,
    summary: 'Close a departure to new bookings, or open it again',
    description: 'A closed departure takes no new holds (409 departure_closed) and leaves the public catalog; its bookings stay as they are. Opening restores the status it had (scheduled or guaranteed). Operators: departures of their branch.',
    params: idParams,
    idempotent: true,
    body: z.object({ status: z.enum(['closed', 'open']) }).strict(),
    responses: {
      200: { description: 'The departure', schema: departureView.extend({ closedAt: z.string().nullable() }) },
      404: { description: 'No such departure (or another branch\'s)' },
      409: { description: 'The departure is cancelled, departed or completed' },
    },
    handler: async (ctx, { params, body, principal }) => {
      const d = await departureFor(ctx, principal!, params.id);
      if (!['scheduled', 'guaranteed', 'closed'].includes(d.status)) {
        throw new Problem(409, 'departure_not_open', `This departure is ${d.status}; only scheduled, guaranteed or closed departures can be closed or opened.`);
      }
      const updated = await ctx.knex.transaction(async (trx) => {
        const q = trx('departures').where({ id: d.id });
        const [row] = body.status === 'closed'
          ? await q.whereIn('status', ['scheduled', 'guaranteed']).update({ status_before_closed: trx.ref('status'), status: 'closed', closed_at: trx.fn.now(), closed_by_user_id: principal!.userId, updated_at: trx.fn.now() }).returning('id')
          : await q.where('status', 'closed').update({ status: trx.raw(`coalesce(status_before_closed, 'scheduled')`), status_before_closed: null, closed_at: null, closed_by_user_id: null, updated_at: trx.fn.now() }).returning('id');
        if (row) await recordAudit(trx, { ...auditActor(ctx), action: body.status === 'closed' ? 'departure.closed' : 'departure.opened', entityType: 'departure', entityId: d.id, data: { from: d.status } });
        return row;
      });
      const after = await visibleDeparture(ctx.knex, { all: true }, d.id);
      void updated; // already in that state: the answer is the same
      return { body: { ...viewOfDeparture(after!), closedAt: iso(after!.closed_at) } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/departures/{id}/manifest', operationId: 'getManifest', tag: 'Console', auth: READERS,
    summary: 'A departure\'s manifest: each booking travelling (held or confirmed onwards) with contact, passengers by type, check-in and balance due',
    params: idParams,
    query: z.object({ lang: language.optional() }),
    responses: { 200: { description: 'The manifest', schema: manifestSchema }, 404: { description: 'No such departure (or another branch\'s)' } },
    handler: async (ctx, { params, query, principal }) => ({ body: await manifestOf(ctx, principal!, params.id, query.lang) }),
  }),
  route({
    method: 'GET', path: '/api/v1/departures/{id}/manifest.csv', operationId: 'getManifestCsv', tag: 'Console', auth: READERS,
    summary: 'The manifest as CSV: a header row, then one row per passenger',
    description: 'Cells a spreadsheet would run as a formula (starting with = + - @ or a tab) are prefixed with an apostrophe.',
    params: idParams,
    responses: { 200: { description: 'One row per passenger, after a header row', schema: z.string(), contentType: 'text/csv' }, 404: { description: 'No such departure (or another branch\'s)' } },
    handler: async (ctx, { params, principal }) => {
      const m = await manifestOf(ctx, principal!, params.id);
      const day = m.departure.startsAt.slice(0, 10);
      return {
        body: manifestCsv(m),
        headers: { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="manifest-${m.departure.tour.code}-${day}.csv"`, 'Cache-Control': 'no-store' },
      };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/departures/{id}/check-ins', operationId: 'checkInPassenger', tag: 'Console', auth: STEERERS,
    summary: 'Check a passenger in, mark a no-show, or clear it (pending); stored and put on the booking\'s timeline',
    description: 'Setting the state a passenger already has changes nothing. Accountants read manifests but do not check in (403).',
    params: idParams,
    idempotent: true,
    body: z.object({ bookingId: uuid, passengerId: uuid.describe('The passenger\'s id from the manifest'), state: z.enum(CHECKIN_STATES) }).strict(),
    responses: {
      200: { description: 'The passenger\'s check-in', schema: z.object({ object: z.literal('check_in'), departureId: uuid, bookingId: uuid, passengerId: uuid, changed: z.boolean() }).extend(checkInView.shape) },
      404: { description: 'No such departure, booking on it, or passenger of the booking' },
      409: { description: 'The booking is cancelled, expired or failed' },
    },
    handler: async (ctx, { params, body, principal }) => {
      const d = await departureFor(ctx, principal!, params.id);
      try {
        const r = await setCheckin(ctx.knex, { departureId: d.id, bookingId: body.bookingId, passengerId: body.passengerId, state: body.state, userId: principal!.userId });
        return { body: { object: 'check_in' as const, departureId: d.id, bookingId: body.bookingId, passengerId: body.passengerId, ...r } };
      } catch (err) {
        if (err instanceof CheckinRefused) throw new Problem(err.status, err.code, err.message);
        throw err;
      }
    },
  }),
  route({
    method: 'GET', path: '/api/v1/bookings/{id}/cancellation-quote', operationId: 'quoteCancellation', tag: 'Bookings', auth: ['customer', 'operator', 'partner', 'accountant', 'admin'],
    summary: 'What cancelling now would refund: the policy tier, the amount from the ledger, and whether a manager must approve it',
    description: 'Computed with the same rules and the same function the cancellation uses (domain/booking-rules.ts refundFor over the ledger), so a cancel right after refunds this.',
    params: idParams,
    responses: { 200: { description: 'The quote', schema: quoteSchema }, 404: { description: 'No such booking (or not yours)' } },
    handler: async (ctx, { params, principal }) => {
      const b = await visibleBooking(ctx, principal!, params.id);
      const d = await ctx.knex('departures').where({ id: b.departure_id }).first('starts_at');
      const now = new Date();
      const [rules, ledger, pendingApproval] = await Promise.all([
        loadBookingRules(ctx.knex, b.branch_id), bookingLedger(ctx.knex, b.id),
        ctx.knex('approvals').where({ booking_id: b.id, status: 'pending', kind: 'refund' }).first('id'),
      ]);
      const departureAt = new Date(d.starts_at);
      const refund = refundFor(rules, ledger.netPaidMinor, b.currency, departureAt, now);
      const tier = rules.refundTiers.find((t) => refund.daysBefore >= t.minDays) ?? null;
      const why = isTerminalStatus(b.status) ? `The booking is ${b.status}.`
        : departureAt <= now ? 'The trip has started.'
          : pendingApproval ? 'A cancellation is already waiting for a manager\'s approval.' : null;
      return {
        body: {
          object: 'cancellation_quote' as const, bookingId: b.id, bookingStatus: b.status, cancellable: why === null, notCancellableBecause: why,
          daysBeforeDeparture: refund.daysBefore, tier: tier ? { minDays: tier.minDays, percent: tier.refundBp / 100 } : null,
          paid: ledger.netPaidMinor, refund: { amount: refund.refundMinor, currency: b.currency, percent: refund.refundBp / 100 },
          needsApproval: refund.needsApproval, approvalReason: refund.approvalReason, quotedAt: now.toISOString(),
        },
      };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/campaigns', operationId: 'listCampaigns', tag: 'Marketing', auth: MARKETING,
    summary: 'Campaigns, newest first, with their status and recipient counts',
    query: z.object({ status: z.enum(['draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled']).optional(), limit, cursor }),
    responses: { 200: { description: 'A page of campaigns', schema: listOf(campaignListItem) } },
    handler: async (ctx, { query }) => {
      const q = newestFirst(ctx.knex('campaigns').select('*', ctx.knex.raw('created_at::text as created_at_exact')), query.limit, query.cursor);
      if (query.status) q.where('status', query.status);
      const rows: Row[] = await q;
      const counts = new Map(await Promise.all(rows.slice(0, query.limit).map(async (c) => [c.id, await campaignCounts(ctx.knex, c.id)] as const)));
      return {
        body: page(rows, query.limit, (c) => ({
          object: 'campaign' as const, id: c.id, name: c.name, status: c.status, segmentId: c.segment_id, variants: c.variants, abTest: !!c.ab_test,
          scheduledAt: iso(c.scheduled_at), startedAt: iso(c.started_at), finishedAt: iso(c.finished_at), createdAt: iso(c.created_at)!, counts: counts.get(c.id)!,
        }), (c) => [c.created_at_exact, c.id]),
      };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/segments', operationId: 'listSegments', tag: 'Marketing', auth: MARKETING,
    summary: 'Segments, newest first (their live counts: GET /api/v1/segments/{id}/count)',
    query: z.object({ limit, cursor }),
    responses: { 200: { description: 'A page of segments', schema: listOf(segmentListItem) } },
    handler: async (ctx, { query }) => {
      const rows: Row[] = await newestFirst(ctx.knex('segments').select('*', ctx.knex.raw('created_at::text as created_at_exact')), query.limit, query.cursor);
      return { body: page(rows, query.limit, (s) => ({ object: 'segment' as const, id: s.id, name: s.name, rules: s.rules, createdAt: iso(s.created_at)!, updatedAt: iso(s.updated_at)! }), (s) => [s.created_at_exact, s.id]) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/automations', operationId: 'listAutomations', tag: 'Marketing', auth: MARKETING,
    summary: 'Automations, newest first, with their enrollments by status',
    query: z.object({ status: z.enum(['active', 'paused', 'archived']).optional(), limit, cursor }),
    responses: { 200: { description: 'A page of automations', schema: listOf(automationListItem) } },
    handler: async (ctx, { query }) => {
      const q = newestFirst(ctx.knex('automations').select('*', ctx.knex.raw('created_at::text as created_at_exact')), query.limit, query.cursor);
      if (query.status) q.where('status', query.status);
      const rows: Row[] = await q;
      const ids = rows.map((r) => r.id);
      const stats: Row[] = ids.length ? await ctx.knex('automation_enrollments').whereIn('automation_id', ids).groupBy('automation_id', 'status').select('automation_id', 'status', ctx.knex.raw('count(*)::int as n')) : [];
      const of = (id: string, status: string) => stats.find((s) => s.automation_id === id && s.status === status)?.n ?? 0;
      return {
        body: page(rows, query.limit, (a) => ({
          object: 'automation' as const, id: a.id, name: a.name, trigger: a.trigger, status: a.status, steps: a.steps,
          enrollments: { running: of(a.id, 'running'), completed: of(a.id, 'completed'), exited: of(a.id, 'exited') }, createdAt: iso(a.created_at)!,
        }), (a) => [a.created_at_exact, a.id]),
      };
    },
  }),
  route({
    method: 'PUT', path: '/api/v1/templates/{id}', operationId: 'updateTemplate', tag: 'Marketing', auth: MARKETING,
    summary: 'Edit a template\'s name, subject, MJML and text (checked as on create); its kind, key and language stay',
    description: 'Each language is its own template (same key for transactional ones). Campaigns and automations already sending keep what they compiled; later sends use the new version.',
    params: idParams,
    idempotent: true,
    body: z.object({
      name: z.string().trim().min(1).max(120).optional(),
      subject: z.string().trim().min(1).max(255),
      mjml: z.string().min(1).max(500_000),
      text: z.string().min(1).max(200_000),
    }).strict(),
    responses: {
      200: { description: 'The template as stored', schema: templateDetail },
      400: { description: 'MJML errors (line + message), malformed variables, or a missing unsubscribe link' },
      404: { description: 'No such template' },
    },
    handler: async (ctx, { params, body }) => {
      const t = await ctx.knex('email_templates').where({ id: params.id }).first();
      if (!t) throw notFound('template', params.id);
      const { problem } = await checkTemplate({ kind: t.kind, subject: body.subject, mjml: body.mjml, text: body.text } as Parameters<typeof checkTemplate>[0]);
      if (problem) throw templateRefusal(problem);
      const [row] = await ctx.knex('email_templates').where({ id: t.id })
        .update({ name: body.name ?? t.name, subject: body.subject, mjml: body.mjml, text: body.text, updated_at: ctx.knex.fn.now() }).returning('*');
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'template.updated', entityType: 'email_template', entityId: t.id, data: { subject: body.subject } });
      return {
        body: {
          object: 'email_template' as const, id: row.id, name: row.name, kind: row.kind, key: row.key, language: row.language, subject: row.subject, mjml: row.mjml, text: row.text,
          variables: variablesIn(row.subject, row.mjml, row.text), createdAt: iso(row.created_at)!, updatedAt: iso(row.updated_at)!,
        },
      };
    },
  }),
];
