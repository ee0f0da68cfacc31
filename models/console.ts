/**
 * The operator console's reads (today, calendar, manifest) and its one write of its own (a
 * passenger's check-in). Each read is a handful of set-based queries, never one per row, so a
 * month of 1,000 departures or a 60-seat manifest answers in milliseconds. Money comes from the
 * ledger rows (payments captured − refunds counted), as domain/ledger.ts defines it; seats from
 * the departure's guarded counters. Who may see what is decided by the caller (api/routes/console.ts)
 * and passed in as a branch filter.
 */
import type { Knex } from 'knex';
import { CAPTURED_PAYMENT_STATUSES, COUNTED_REFUND_STATUSES } from '../domain/ledger';
import { parseBookingRules } from '../domain/booking-rules';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Row = Record<string, any>;

/** Whose departures and bookings a read covers: every branch (admin) or one (null branch: none). */
export type BranchFilter = { all: true } | { branchId: string | null };

const CAPTURED = CAPTURED_PAYMENT_STATUSES.map((s) => `'${s}'`).join(', ');
const COUNTED = COUNTED_REFUND_STATUSES.map((s) => `'${s}'`).join(', ');

/**
 * Net paid per booking (captured − counted refunds), for the given bookings, in two grouped
 * queries: the ledger of domain/ledger.ts (a refund never counts for more than its payment holds).
 */
export async function netPaidByBooking(knex: Knex, bookingIds: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!bookingIds.length) return out;
  const { rows } = await knex.raw(
    `select p.booking_id, sum(p.amount_minor - least(p.amount_minor, coalesce(r.refunded, 0)))::bigint as net
       from payments p
       left join (select payment_id, sum(amount_minor) as refunded from refunds where booking_id = any(?) and status in (${COUNTED}) group by payment_id) r on r.payment_id = p.id
      where p.booking_id = any(?) and p.status in (${CAPTURED})
      group by p.booking_id`,
    [bookingIds, bookingIds],
  );
  for (const r of rows) out.set(r.booking_id, Number(r.net));
  return out;
}

/** What is left to pay of a booking row (partners pay the net price). */
export function dueOf(b: Row, netPaid: number): number {
  const payable = Number(b.partner_id ? b.net_minor : b.total_minor);
  return Math.max(0, payable - netPaid);
}

/** The day the balance of a deposit booking is due: its stored date, else its branch's rule. */
export async function balanceDueDates(knex: Knex, rows: Row[]): Promise<Map<string, string | null>> {
  const branches = [...new Set(rows.map((r) => r.branch_id as string))];
  const rules = new Map<string, number>();
  if (branches.length) {
    for (const r of await knex('booking_rules').whereIn('branch_id', branches).select('branch_id', 'rules')) {
      rules.set(r.branch_id, parseBookingRules(r.rules).rules.balanceDueDaysBefore);
    }
  }
  const DEFAULT_DAYS = parseBookingRules(undefined).rules.balanceDueDaysBefore;
  const out = new Map<string, string | null>();
  for (const r of rows) {
    if (r.balance_due_on) out.set(r.id, typeof r.balance_due_on === 'string' ? r.balance_due_on.slice(0, 10) : new Date(r.balance_due_on).toISOString().slice(0, 10));
    else if (r.payment_plan === 'deposit') out.set(r.id, new Date(+new Date(r.starts_at) - (rules.get(r.branch_id) ?? DEFAULT_DAYS) * 86_400_000).toISOString().slice(0, 10));
    else out.set(r.id, null);
  }
  return out;
}

function branchWhere(q: Knex.QueryBuilder, column: string, f: BranchFilter): Knex.QueryBuilder {
  if ('all' in f) return q;
  return f.branchId ? q.where(column, f.branchId) : q.whereRaw('false');
}

/** Departures with their tour's title (in `language`, else English, else its code) and branch. */
function departuresQuery(knex: Knex, language: string) {
  return knex('departures as d')
    .join('tours as t', 't.id', 'd.tour_id')
    .join('branches as br', 'br.id', 't.branch_id')
    .leftJoin('tour_translations as tl', (j) => j.on('tl.tour_id', 't.id').andOnVal('tl.language', language))
    .leftJoin('tour_translations as te', (j) => j.on('te.tour_id', 't.id').andOnVal('te.language', 'en'))
    .select('d.id', 'd.starts_at', 'd.timezone', 'd.capacity', 'd.seats_held', 'd.seats_sold', 'd.status', 'd.guide_name', 'd.vehicle',
      't.id as tour_id', 't.code as tour_code', 't.duration_minutes', 't.currency', 'br.code as branch_code', 'br.id as branch_id', 'br.timezone as branch_timezone',
      knex.raw('coalesce(tl.title, te.title, t.code) as tour_title'));
}

export function departureView(d: Row) {
  const held = Number(d.seats_held);
  const sold = Number(d.seats_sold);
  return {
    id: d.id as string, startsAt: new Date(d.starts_at).toISOString(), timezone: d.timezone as string, status: d.status as string,
    tour: { id: d.tour_id as string, code: d.tour_code as string, title: d.tour_title as string, durationMinutes: Number(d.duration_minutes) },
    branch: d.branch_code as string, capacity: Number(d.capacity), held, sold, available: Number(d.capacity) - held - sold,
    loadPercent: Math.round(((held + sold) * 1000) / Number(d.capacity)) / 10,
  };
}

/** The dashboard: departures of today and tomorrow (each branch's own calendar day), holds about to expire, balances due, approvals waiting, revenue by day. */
export async function todayBoard(knex: Knex, f: BranchFilter, options: { language: string; now?: Date; approvalsVisible: (q: Knex.QueryBuilder) => Knex.QueryBuilder }) {
  const now = options.now ?? new Date();
  const departures = branchWhere(departuresQuery(knex, options.language), 't.branch_id', f)
    // the index range first (a day either side covers every time zone), then each branch's own days
    .where('d.starts_at', '>=', new Date(+now - 86_400_000)).where('d.starts_at', '<', new Date(+now + 3 * 86_400_000))
    .whereRaw(`(d.starts_at at time zone br.timezone)::date between (?::timestamptz at time zone br.timezone)::date and (?::timestamptz at time zone br.timezone)::date + 1`, [now, now])
    .select(knex.raw(`((d.starts_at at time zone br.timezone)::date - (?::timestamptz at time zone br.timezone)::date) as day_offset`, [now]))
    .orderBy([{ column: 'd.starts_at' }, { column: 'd.id' }]);

  const holds = branchWhere(knex('bookings as b'), 'b.branch_id', f)
    .join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
    .leftJoin('tour_translations as te', (j) => j.on('te.tour_id', 't.id').andOnVal('te.language', 'en'))
    .where('b.status', 'held').where('b.hold_expires_at', '>', now).where('b.hold_expires_at', '<=', new Date(+now + 2 * 3_600_000))
    .orderBy('b.hold_expires_at').limit(50)
    .select('b.id', 'b.reference', 'b.contact', 'b.pax_count', 'b.hold_expires_at', 'b.total_minor', 'b.currency', 'd.id as departure_id', 'd.starts_at', 'd.timezone as departure_timezone', knex.raw('coalesce(te.title, t.code) as tour_title'));

  // What is left to pay, from the ledger, for every open booking of a departure still ahead: the
  // ledger is summed per booking in one narrow grouped pass, so none is missed behind paid ones.
  const paidSums = knex.raw(`(select p.booking_id, sum(p.amount_minor - least(p.amount_minor, coalesce(r.refunded, 0)))::bigint as net
      from payments p
      left join (select payment_id, sum(amount_minor) as refunded from refunds where status in (${COUNTED}) group by payment_id) r on r.payment_id = p.id
     where p.status in (${CAPTURED}) and p.booking_id in (select id from bookings where status in ('awaiting_payment', 'confirmed'))
     group by p.booking_id) as paid`);
  const dueRows = branchWhere(knex('bookings as b'), 'b.branch_id', f)
    .join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
    .leftJoin('tour_translations as te', (j) => j.on('te.tour_id', 't.id').andOnVal('te.language', 'en'))
    .leftJoin(paidSums, 'paid.booking_id', 'b.id')
    .whereIn('b.status', ['awaiting_payment', 'confirmed']).where('d.starts_at', '>', now)
    .whereRaw('(case when b.partner_id is null then b.total_minor else b.net_minor end) > coalesce(paid.net, 0)')
    .orderBy([{ column: 'd.starts_at' }, { column: 'b.id' }]).limit(50)
    .select('b.id', 'b.reference', 'b.status', 'b.contact', 'b.branch_id', 'b.partner_id', 'b.total_minor', 'b.net_minor', 'b.currency', 'b.payment_plan', 'b.balance_due_on',
      'd.id as departure_id', 'd.starts_at', 'd.timezone as departure_timezone', knex.raw('coalesce(te.title, t.code) as tour_title'), knex.raw('coalesce(paid.net, 0) as net_paid'));

  const approvals = options.approvalsVisible(knex('approvals')).where('status', 'pending');
  const approvalCount = approvals.clone().count<{ n: string }[]>('* as n');
  const firstApprovals = approvals.clone().orderBy([{ column: 'requested_at' }, { column: 'id' }]).limit(5)
    .select('id', 'kind', 'reason', 'amount_minor', 'currency', 'booking_id', 'requested_at', 'expires_at');

  const since = new Date(+now - 30 * 86_400_000);
  const revenueSql = (table: 'payments' | 'refunds', statuses: string, extra = '') => branchWhere(
    knex(`${table} as x`).join('bookings as b', 'b.id', 'x.booking_id').join('branches as br', 'br.id', 'b.branch_id'),
    'b.branch_id', f,
  ).whereRaw(`x.status in (${statuses})${extra}`).where('x.created_at', '>=', since)
    .groupBy('br.code', knex.raw('1'), 'x.currency')
    .select(knex.raw(`((x.created_at at time zone br.timezone)::date)::text as day`), 'br.code as branch', 'x.currency', knex.raw('sum(x.amount_minor)::bigint as amount'));

  const [deps, holdRows, due, [{ n }], first, captured, refunded] = await Promise.all([
    departures, holds, dueRows, approvalCount, firstApprovals,
    revenueSql('payments', CAPTURED), revenueSql('refunds', COUNTED),
  ]);

  const owing = due.map((r: Row) => ({ row: r, due: dueOf(r, Number(r.net_paid)) }));
  const dueDates = await balanceDueDates(knex, owing.map((x: { row: Row }) => x.row));

  const revenue = new Map<string, { branch: string; day: string; currency: string; captured: number; refunded: number }>();
  const add = (rows: Row[], field: 'captured' | 'refunded') => {
    for (const r of rows) {
      const key = `${r.branch}|${r.day}|${r.currency}`;
      const entry = revenue.get(key) ?? { branch: r.branch, day: r.day, currency: r.currency, captured: 0, refunded: 0 };
      entry[field] += Number(r.amount);
      revenue.set(key, entry);
    }
  };
  add(captured, 'captured');
  add(refunded, 'refunded');

  return {
    departures: deps.map((d: Row) => ({ ...departureView(d), day: Number(d.day_offset) === 0 ? 'today' as const : 'tomorrow' as const })),
    expiringHolds: holdRows.map((h: Row) => ({
      bookingId: h.id, reference: h.reference, contactName: h.contact?.name ?? null, paxCount: h.pax_count, holdExpiresAt: new Date(h.hold_expires_at).toISOString(),
      total: Number(h.total_minor), currency: h.currency, departureId: h.departure_id, departureStartsAt: new Date(h.starts_at).toISOString(), departureTimeZone: h.departure_timezone as string, tourTitle: h.tour_title,
    })),
    balancesDue: owing.map(({ row, due: amount }: { row: Row; due: number }) => ({
      bookingId: row.id, reference: row.reference, status: row.status, contactName: row.contact?.name ?? null, amountDue: amount, currency: row.currency,
      dueOn: dueDates.get(row.id) ?? null, departureId: row.departure_id, departureStartsAt: new Date(row.starts_at).toISOString(), departureTimeZone: row.departure_timezone as string, tourTitle: row.tour_title,
    })),
    approvals: {
      pending: Number(n),
      first: first.map((a: Row) => ({
        id: a.id, kind: a.kind, reason: a.reason, amount: a.amount_minor === null ? null : Number(a.amount_minor), currency: a.currency ?? null,
        bookingId: a.booking_id ?? null, requestedAt: new Date(a.requested_at).toISOString(), expiresAt: a.expires_at ? new Date(a.expires_at).toISOString() : null,
      })),
    },
    revenue: [...revenue.values()].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.branch < b.branch ? -1 : a.branch > b.branch ? 1 : a.currency < b.currency ? -1 : 1))
      .map((r) => ({ ...r, net: r.captured - r.refunded })),
  };
}

/** Departures whose start falls on the days from..to (inclusive) of their branch's calendar. */
export async function calendar(knex: Knex, f: BranchFilter, q: { from: string; to: string; tourId?: string; branchCode?: string; language: string }) {
  const query = branchWhere(departuresQuery(knex, q.language), 't.branch_id', f)
    // the index range first (a day either side covers every time zone), then each branch's own days
    .where('d.starts_at', '>=', new Date(+new Date(`${q.from}T00:00:00Z`) - 86_400_000))
    .where('d.starts_at', '<', new Date(+new Date(`${q.to}T00:00:00Z`) + 2 * 86_400_000))
    .whereRaw('(d.starts_at at time zone br.timezone)::date between ?::date and ?::date', [q.from, q.to])
    .select(knex.raw(`to_char(d.starts_at at time zone br.timezone, 'YYYY-MM-DD') as local_day`), knex.raw(`to_char(d.starts_at at time zone br.timezone, 'HH24:MI') as local_time`))
    .orderBy([{ column: 'd.starts_at' }, { column: 'd.id' }]);
  if (q.tourId) query.where('d.tour_id', q.tourId);
  if (q.branchCode) query.where('br.code', q.branchCode.toUpperCase());
  const rows: Row[] = await query;
  const days = new Map<string, Array<ReturnType<typeof departureView> & { startTime: string }>>();
  for (const r of rows) {
    const list = days.get(r.local_day) ?? [];
    list.push({ ...departureView(r), startTime: r.local_time });
    days.set(r.local_day, list);
  }
  return [...days.entries()].map(([date, departures]) => ({
    date, departures,
    totals: departures.reduce((s, d) => ({ capacity: s.capacity + d.capacity, held: s.held + d.held, sold: s.sold + d.sold }), { capacity: 0, held: 0, sold: 0 }),
  }));
}

/** A departure the filter lets the caller see, with its tour and branch; undefined otherwise. */
export async function visibleDeparture(knex: Knex, f: BranchFilter, id: string, language = 'en'): Promise<Row | undefined> {
  return branchWhere(departuresQuery(knex, language), 't.branch_id', f).where('d.id', id)
    .select('d.closed_at', 'd.status_before_closed', 't.branch_id as tour_branch_id').first();
}

/** Bookings a manifest lists: every one still travelling or that travelled (not cancelled, expired or failed). */
export const MANIFEST_STATUSES = ['held', 'awaiting_payment', 'confirmed', 'paid_in_full', 'in_progress', 'completed', 'no_show'] as const;
export const CHECKIN_STATES = ['pending', 'checked_in', 'no_show'] as const;
export type CheckinState = (typeof CHECKIN_STATES)[number];

export async function manifest(knex: Knex, departure: Row) {
  const bookings: Row[] = await knex('bookings').where({ departure_id: departure.id }).whereIn('status', MANIFEST_STATUSES)
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .select('id', 'reference', 'status', 'contact', 'pax_count', 'partner_id', 'customer_id', 'total_minor', 'net_minor', 'currency', 'payment_plan', 'balance_due_on', 'branch_id', 'language');
  const ids = bookings.map((b) => b.id);
  const [passengers, checkins, paid] = await Promise.all([
    ids.length ? knex('passengers').whereIn('booking_id', ids).orderBy([{ column: 'booking_id' }, { column: 'last_name' }, { column: 'first_name' }, { column: 'id' }]) : [],
    knex('departure_checkins').where({ departure_id: departure.id }).select('passenger_id', 'state', 'updated_at', 'updated_by_user_id'),
    netPaidByBooking(knex, ids),
  ]);
  const checkinOf = new Map<string, Row>(checkins.map((c: Row) => [c.passenger_id, c]));
  const byBooking = new Map<string, Row[]>();
  for (const p of passengers as Row[]) byBooking.set(p.booking_id, [...(byBooking.get(p.booking_id) ?? []), p]);
  const dueDates = await balanceDueDates(knex, bookings.map((b) => ({ ...b, starts_at: departure.starts_at })));
  const totals: Record<string, number> = { adult: 0, child: 0, infant: 0 };
  const checked = { pending: 0, checked_in: 0, no_show: 0 };
  const rows = bookings.map((b) => {
    const list = (byBooking.get(b.id) ?? []).map((p) => {
      const c = checkinOf.get(p.id);
      const state = (c?.state ?? 'pending') as CheckinState;
      totals[p.pax_type] = (totals[p.pax_type] ?? 0) + 1;
      checked[state]++;
      return {
        id: p.id as string, type: p.pax_type as string, firstName: p.first_name as string, lastName: p.last_name as string,
        birthDate: p.birth_date ? (typeof p.birth_date === 'string' ? p.birth_date : new Date(p.birth_date).toISOString().slice(0, 10)) : null,
        checkIn: { state, at: c ? new Date(c.updated_at).toISOString() : null, byUserId: c?.updated_by_user_id ?? null },
      };
    });
    return {
      bookingId: b.id as string, reference: b.reference as string, status: b.status as string,
      contact: { name: (b.contact?.name ?? null) as string | null, email: (b.contact?.email ?? null) as string | null, phone: (b.contact?.phone ?? null) as string | null },
      language: b.language as string, paxCount: Number(b.pax_count), currency: b.currency as string,
      amountDue: dueOf(b, paid.get(b.id) ?? 0), balanceDueOn: dueDates.get(b.id) ?? null, passengers: list,
    };
  });
  return { bookings: rows, totals: { byPaxType: totals, passengers: passengers.length, bookings: rows.length, checkIns: checked } };
}

/** A cell that a spreadsheet would run as a formula is kept as text (OWASP: CSV injection). */
export function csvCell(value: unknown): string {
  let s = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n;]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

export function manifestCsv(m: Awaited<ReturnType<typeof manifest>>): string {
  const header = ['reference', 'booking_status', 'last_name', 'first_name', 'pax_type', 'birth_date', 'check_in', 'contact_name', 'contact_email', 'contact_phone', 'amount_due', 'currency'];
  const lines = [header.join(',')];
  for (const b of m.bookings) {
    for (const p of b.passengers) {
      lines.push([b.reference, b.status, p.lastName, p.firstName, p.type, p.birthDate, p.checkIn.state, b.contact.name, b.contact.email, b.contact.phone, (b.amountDue / 100).toFixed(2), b.currency].map(csvCell).join(','));
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

export class CheckinRefused extends Error {
  constructor(readonly status: 404 | 409, readonly code: string, message: string) {
    super(message);
  }
}

const EVENT_OF: Record<CheckinState, string> = { checked_in: 'checked_in', no_show: 'no_show', pending: 'check_in_cleared' };

/**
 * A passenger's check-in state, stored and put on the booking's timeline in one transaction.
 * Setting the state it already has changes nothing (no second timeline line); each change bumps
 * the row's revision, which keys the timeline line, so a replay can never write it twice.
 */
export async function setCheckin(knex: Knex, input: { departureId: string; bookingId: string; passengerId: string; state: CheckinState; userId: string }) {
  return knex.transaction(async (trx) => {
    const booking = await trx('bookings').where({ id: input.bookingId }).forShare().first('id', 'departure_id', 'status', 'reference');
    if (!booking || booking.departure_id !== input.departureId) throw new CheckinRefused(404, 'resource_missing', `No booking with id "${input.bookingId}" on this departure.`);
    if (!(MANIFEST_STATUSES as readonly string[]).includes(booking.status)) throw new CheckinRefused(409, 'booking_closed', `Booking ${booking.reference} is ${booking.status}; its passengers are not on the manifest.`);
    const passenger = await trx('passengers').where({ id: input.passengerId, booking_id: input.bookingId }).first('id', 'first_name', 'last_name', 'pax_type');
    if (!passenger) throw new CheckinRefused(404, 'resource_missing', `No passenger with id "${input.passengerId}" on booking ${booking.reference}.`);
    const current = await trx('departure_checkins').where({ departure_id: input.departureId, passenger_id: input.passengerId }).forUpdate().first();
    if ((current?.state ?? 'pending') === input.state) {
      return { changed: false, state: input.state, at: current ? new Date(current.updated_at).toISOString() : null, byUserId: current?.updated_by_user_id ?? null };
    }
    const revision = (current?.revision ?? 0) + 1;
    const [row] = await trx.raw(
      `insert into departure_checkins (departure_id, passenger_id, booking_id, state, revision, updated_by_user_id, updated_at)
       values (?, ?, ?, ?, ?, ?, now())
       on conflict (departure_id, passenger_id) do update set state = excluded.state, revision = excluded.revision,
         updated_by_user_id = excluded.updated_by_user_id, updated_at = excluded.updated_at
       returning *`,
      [input.departureId, input.passengerId, input.bookingId, input.state, revision, input.userId],
    ).then((r: { rows: Row[] }) => r.rows);
    await trx('booking_events').insert({
      booking_id: input.bookingId, type: EVENT_OF[input.state], actor: `user:${input.userId}`,
      data: JSON.stringify({ departureId: input.departureId, passengerId: passenger.id, passenger: `${passenger.first_name} ${passenger.last_name}`, paxType: passenger.pax_type, previous: current?.state ?? 'pending' }),
      dedupe_key: `checkin/${input.departureId}/${input.passengerId}/${revision}`,
    }).onConflict(['booking_id', 'dedupe_key']).ignore();
    return { changed: true, state: input.state, at: new Date(row.updated_at).toISOString(), byUserId: input.userId };
  });
}
