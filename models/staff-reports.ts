/**
 * The figures staff ask for from their phone (WhatsApp staff commands): who a staff number is
 * (`staff_phones` → users), the branches their role lets them see (the API's scopes: admins all,
 * operators and accountants their branch, other roles none), and per branch: sales, bookings,
 * partner commissions and the alerts inbox — read from the same rows the API reads.
 *
 * Sales come from the ledger, as domain/ledger.ts defines money held: payments taken
 * (CAPTURED_PAYMENT_STATUSES) minus refunds counted (COUNTED_REFUND_STATUSES), each on the day it
 * was recorded, per currency, for the bookings of the branch. Bookings: those made in the period,
 * and how many of them are sold now (SOLD_STATUSES). Commissions: the partner commission of the
 * sold bookings made in the period. Alerts: CyberSentinel's security inbox (admins only, as
 * GET /api/v1/security/alerts) and the pending approvals the person may decide (as
 * GET /api/v1/approvals).
 */
import type { Knex } from 'knex';
import { CAPTURED_PAYMENT_STATUSES, COUNTED_REFUND_STATUSES } from '../domain/ledger';
import { SOLD_STATUSES } from '../domain/bookings';

export interface StaffMember {
  userId: string;
  name: string;
  role: string;
  branchId: string | null;
  active: boolean;
}

export interface BranchRow {
  id: string;
  code: string;
  name: string;
  timezone: string;
  currency: string;
}

/** Roles that see the figures; the others (customer, partner, marketer) are refused. */
export const STAFF_REPORT_ROLES = ['admin', 'operator', 'accountant'] as const;

/** Whether a phone is on the staff allowlist. */
export async function isStaffPhone(knex: Knex, phone: string): Promise<boolean> {
  return !!(await knex('staff_phones').where({ phone }).first('phone'));
}

/** The user behind an allowlisted phone. */
export async function staffByPhone(knex: Knex, phone: string): Promise<StaffMember | undefined> {
  const row = await knex('staff_phones as s').join('users as u', 'u.id', 's.user_id').where('s.phone', phone)
    .first('u.id', 'u.name', 'u.role', 'u.branch_id', 'u.active');
  return row ? { userId: row.id, name: row.name, role: row.role, branchId: row.branch_id, active: row.active } : undefined;
}

export type BranchScope =
  | { ok: true; branches: BranchRow[] }
  | { ok: false; why: 'no_access' | 'no_branch' | 'other_branch' | 'unknown_branch'; own?: string; asked?: string };

/** The branches a staff member may see, narrowed to `code` when asked (another branch than their own is refused). */
export async function branchesInScope(knex: Knex, member: StaffMember, code: string | null): Promise<BranchScope> {
  if (!member.active || !(STAFF_REPORT_ROLES as readonly string[]).includes(member.role)) return { ok: false, why: 'no_access' };
  const cols = ['id', 'code', 'name', 'timezone', 'currency'];
  if (member.role === 'admin') {
    if (!code) return { ok: true, branches: await knex('branches').orderBy('code').select(cols) };
    const one = await knex('branches').whereRaw('upper(code) = ?', [code.toUpperCase()]).first(cols);
    return one ? { ok: true, branches: [one] } : { ok: false, why: 'unknown_branch', asked: code };
  }
  // Operators and accountants: their branch only (without one, none — never all).
  if (!member.branchId) return { ok: false, why: 'no_branch' };
  const own: BranchRow = await knex('branches').where({ id: member.branchId }).first(cols);
  if (code && own.code.toUpperCase() !== code.toUpperCase()) return { ok: false, why: 'other_branch', own: own.code, asked: code };
  return { ok: true, branches: [own] };
}

export interface Range { from: Date; to: Date }

export interface MoneyLine { currency: string; capturedMinor: number; refundedMinor: number; netMinor: number; payments: number; refunds: number }

/** Payments taken minus refunds counted in the range, per currency, for a branch's bookings. */
export async function salesOf(knex: Knex, branchId: string, range: Range): Promise<MoneyLine[]> {
  const [payments, refunds] = await Promise.all([
    knex('payments as p').join('bookings as b', 'b.id', 'p.booking_id').where('b.branch_id', branchId)
      .whereIn('p.status', CAPTURED_PAYMENT_STATUSES).where('p.created_at', '>=', range.from).where('p.created_at', '<', range.to)
      .groupBy('p.currency').select('p.currency', knex.raw('sum(p.amount_minor)::bigint as minor'), knex.raw('count(*)::int as n')),
    knex('refunds as r').join('bookings as b', 'b.id', 'r.booking_id').where('b.branch_id', branchId)
      .whereIn('r.status', COUNTED_REFUND_STATUSES).where('r.created_at', '>=', range.from).where('r.created_at', '<', range.to)
      .groupBy('r.currency').select('r.currency', knex.raw('sum(r.amount_minor)::bigint as minor'), knex.raw('count(*)::int as n')),
  ]);
  const lines = new Map<string, MoneyLine>();
  const line = (currency: string) => lines.get(currency) ?? lines.set(currency, { currency, capturedMinor: 0, refundedMinor: 0, netMinor: 0, payments: 0, refunds: 0 }).get(currency)!;
  for (const p of payments) Object.assign(line(p.currency), { capturedMinor: Number(p.minor), payments: Number(p.n) });
  for (const r of refunds) Object.assign(line(r.currency), { refundedMinor: Number(r.minor), refunds: Number(r.n) });
  for (const l of lines.values()) l.netMinor = l.capturedMinor - l.refundedMinor;
  return [...lines.values()].sort((a, b) => a.currency.localeCompare(b.currency));
}

export interface BookingCounts { made: number; sold: number; cancelled: number; pax: number; soldValue: Array<{ currency: string; minor: number }> }

/** Bookings made in the range for a branch: how many, how many are sold now, their value. */
export async function bookingsOf(knex: Knex, branchId: string, range: Range): Promise<BookingCounts> {
  const rows = await knex('bookings').where({ branch_id: branchId }).where('created_at', '>=', range.from).where('created_at', '<', range.to)
    .groupBy('status', 'currency').select('status', 'currency', knex.raw('count(*)::int as n'), knex.raw('sum(pax_count)::int as pax'), knex.raw('sum(case when partner_id is null then total_minor else net_minor end)::bigint as minor'));
  const sold = new Set<string>(SOLD_STATUSES);
  const value = new Map<string, number>();
  const counts: BookingCounts = { made: 0, sold: 0, cancelled: 0, pax: 0, soldValue: [] };
  for (const r of rows) {
    counts.made += Number(r.n);
    if (sold.has(r.status)) {
      counts.sold += Number(r.n);
      counts.pax += Number(r.pax);
      value.set(r.currency, (value.get(r.currency) ?? 0) + Number(r.minor));
    }
    if (r.status === 'cancelled') counts.cancelled += Number(r.n);
  }
  counts.soldValue = [...value.entries()].sort().map(([currency, minor]) => ({ currency, minor }));
  return counts;
}

/** Partner commissions of the branch's sold bookings made in the range, per currency. */
export async function commissionsOf(knex: Knex, branchId: string, range: Range): Promise<Array<{ currency: string; minor: number; bookings: number }>> {
  const rows = await knex('bookings').where({ branch_id: branchId }).whereIn('status', SOLD_STATUSES).where('commission_minor', '>', 0)
    .where('created_at', '>=', range.from).where('created_at', '<', range.to)
    .groupBy('currency').orderBy('currency').select('currency', knex.raw('sum(commission_minor)::bigint as minor'), knex.raw('count(*)::int as n'));
  return rows.map((r) => ({ currency: r.currency, minor: Number(r.minor), bookings: Number(r.n) }));
}

export interface AlertSummary {
  /** Admins only; null for others. */
  security: { lastWeek: number; latest: Array<{ severity: string; summary: string; createdAt: Date }> } | null;
  pendingApprovals: number;
}

/** The alerts inbox of a staff member: security alerts (admins) and the approvals waiting for them. */
export async function alertsFor(knex: Knex, member: StaffMember, now: Date): Promise<AlertSummary> {
  const approvals = knex('approvals').where({ status: 'pending' });
  if (member.role !== 'admin') {
    // As the approvals inbox: the branch's, and for operators agents' actions of no branch.
    approvals.where((w) => {
      w.where('branch_id', member.branchId);
      if (member.role === 'operator') w.orWhere((n) => n.whereNull('branch_id').where('kind', 'agent_action'));
    });
  }
  const [{ n: pending }] = await approvals.count<{ n: string }[]>('* as n');
  if (member.role !== 'admin') return { security: null, pendingApprovals: Number(pending) };
  const since = new Date(now.getTime() - 7 * 86_400_000);
  const [{ n: lastWeek }] = await knex('security_alerts').where('created_at', '>=', since).count<{ n: string }[]>('* as n');
  const latest = await knex('security_alerts').where('created_at', '>=', since).orderBy('created_at', 'desc').limit(3).select('severity', 'summary', 'created_at');
  return {
    security: { lastWeek: Number(lastWeek), latest: latest.map((r) => ({ severity: r.severity, summary: r.summary, createdAt: new Date(r.created_at) })) },
    pendingApprovals: Number(pending),
  };
}
