/**
 * Placing a hold: one transaction that takes the seats with a guarded UPDATE (the database
 * refuses to oversell: the WHERE clause and the departures_never_oversold CHECK), consumes the
 * promo code, prices the booking and writes it with its passengers, items and first timeline
 * event. Either all of it is written or none of it.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { parseBookingRules, paymentPlan, type BookingRules } from '../domain/booking-rules';
import { overpaid } from '../domain/ledger';
import { bookingLedger } from './ledger';
import { priceBooking, PricingError, type PriceBreakdown, type PricingRule } from '../domain/pricing';
import { CHANGEABLE_STATUSES, OPEN_STATUSES, type PaxType } from '../domain/bookings';
import type { HoldRefusalCode } from '../domain/refusals';

export interface HoldRequest {
  departureId: string;
  passengers: Array<{ type: PaxType; firstName: string; lastName: string; birthDate?: string }>;
  contact: { name: string; email: string; phone?: string };
  promoCode?: string;
  language: 'es' | 'en';
  customerId: string | null;
  partnerId: string | null;
  onAccount: boolean;
  createdByUserId: string | null;
  /** Overrides the branch's hold time (a waitlist offer holds for a day). */
  holdMinutes?: number;
}

/** One of domain/refusals.ts HOLD_REFUSALS, with the facts its message needs. */
export type HoldRefusal = { code: HoldRefusalCode } & (
  | { code: 'departure_not_found' }
  | { code: 'departure_closed'; status: string }
  | { code: 'departure_started' }
  | { code: 'too_many_passengers'; maxPax: number }
  | { code: 'too_few_passengers'; minPax: number }
  | { code: 'sold_out' }
  | { code: 'not_enough_seats'; seatsAvailable: number }
  | { code: 'promo_code_invalid' }
  | { code: 'pax_type_not_offered'; message: string }
  | { code: 'passenger_age_mismatch'; message: string }
  | { code: 'adult_required' }
  | { code: 'credit_limit_exceeded'; availableMinor: number }
  | { code: 'partner_suspended' });

export class HoldRefused extends Error {
  constructor(readonly refusal: HoldRefusal) {
    super(refusal.code);
  }
}

export interface PlacedHold {
  bookingId: string;
  reference: string;
  holdExpiresAt: Date;
  breakdown: PriceBreakdown;
  plan: ReturnType<typeof paymentPlan> | { plan: 'on_account'; depositMinor: 0; balanceDueAt: null };
  /** The rows written, as the database returned them (the API answers from these, no read back). */
  rows: { booking: Record<string, any>; passengers: Record<string, any>[]; items: Record<string, any>[]; events: Record<string, any>[] };
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export function newReference(): string {
  const bytes = crypto.randomBytes(8);
  let out = 'ST-';
  for (let i = 0; i < 8; i++) out += ALPHABET[bytes[i] % ALPHABET.length];
  return out;
}

export async function loadBookingRules(knex: Knex, branchId: string): Promise<BookingRules> {
  const row = await knex('booking_rules').where({ branch_id: branchId }).first('rules');
  return parseBookingRules(row?.rules).rules;
}

/** Whole years of age on a date. */
function ageOn(birthDate: string, on: Date): number {
  const b = new Date(`${birthDate}T00:00:00Z`);
  let age = on.getUTCFullYear() - b.getUTCFullYear();
  if (on.getUTCMonth() < b.getUTCMonth() || (on.getUTCMonth() === b.getUTCMonth() && on.getUTCDate() < b.getUTCDate())) age--;
  return age;
}

/**
 * Every party travels with an adult, and a passenger whose birth date is given must fit the age
 * band of the pax type they are priced as (on the day of departure). Null when all is well.
 */
export async function passengerProblem(trx: Knex, tourId: string, passengers: HoldRequest['passengers'], departureAt: Date): Promise<HoldRefusal | null> {
  if (!passengers.some((p) => p.type === 'adult')) return { code: 'adult_required' };
  const bands = await trx('tour_prices').where({ tour_id: tourId }).select('pax_type', 'min_age', 'max_age');
  for (const [i, p] of passengers.entries()) {
    if (!p.birthDate) continue;
    const band = bands.find((x) => x.pax_type === p.type);
    if (!band) continue; // priced (or refused) by priceBooking
    const age = ageOn(p.birthDate, departureAt);
    if (age < 0 || (band.min_age !== null && age < band.min_age) || (band.max_age !== null && age > band.max_age)) {
      const range = band.max_age === null ? `${band.min_age ?? 0} or older` : `${band.min_age ?? 0} to ${band.max_age}`;
      return { code: 'passenger_age_mismatch', message: `Passenger ${i + 1} (${p.firstName} ${p.lastName}) will be ${age} on the day of departure; ${p.type} fares are for ages ${range}.` };
    }
  }
  return null;
}

/** The departure's price adjustment in effect now (the latest approved one), if any. */
export async function currentPriceAdjustment(knex: Knex, departureId: string, now: Date): Promise<{ id: string; adjustmentBp: number } | null> {
  const row = await knex('departure_price_adjustments').where({ departure_id: departureId }).where('effective_from', '<=', now)
    .orderBy([{ column: 'effective_from', order: 'desc' }, { column: 'created_at', order: 'desc' }]).first('id', 'adjustment_bp');
  return row ? { id: row.id, adjustmentBp: row.adjustment_bp } : null;
}

/** Prices (with the departure's overrides), its price adjustment and the pricing rules that may apply to it. */
async function pricingInputs(trx: Knex, departure: { id: string; tour_id: string; branch_id: string; price_overrides: Record<string, number> | null }, now: Date) {
  const priceRows = await trx('tour_prices').where({ tour_id: departure.tour_id });
  const prices: Partial<Record<PaxType, number>> = {};
  for (const p of priceRows) prices[p.pax_type as PaxType] = p.amount_minor;
  Object.assign(prices, departure.price_overrides ?? {});
  const ruleRows = await trx('pricing_rules').where('active', true)
    .where((q) => q.whereNull('tour_id').orWhere('tour_id', departure.tour_id))
    .where((q) => q.whereNull('branch_id').orWhere('branch_id', departure.branch_id));
  const rules: PricingRule[] = ruleRows.map((r) => ({
    id: r.id, kind: r.kind, adjustmentBp: r.adjustment_bp, validFrom: r.valid_from, validTo: r.valid_to,
    minDaysBefore: r.min_days_before, maxDaysBefore: r.max_days_before, minPax: r.min_pax,
  }));
  return { prices, rules, departureAdjustment: await currentPriceAdjustment(trx, departure.id, now) };
}

export async function placeHold(knex: Knex, req: HoldRequest, now = new Date()): Promise<PlacedHold> {
  const pax = req.passengers.length;
  return knex.transaction(async (trx) => {
    const departure = await trx('departures as d').join('tours as t', 't.id', 'd.tour_id').where('d.id', req.departureId)
      .first('d.id', 'd.starts_at', 'd.status', 'd.price_overrides', 't.id as tour_id', 't.branch_id', 't.min_pax', 't.max_pax', 't.currency', 't.status as tour_status', 't.code');
    if (!departure || departure.tour_status === 'draft') throw new HoldRefused({ code: 'departure_not_found' });
    if (!['scheduled', 'guaranteed'].includes(departure.status) || departure.tour_status !== 'active') {
      throw new HoldRefused({ code: 'departure_closed', status: departure.status });
    }
    if (new Date(departure.starts_at) <= now) throw new HoldRefused({ code: 'departure_started' });
    if (pax > departure.max_pax) throw new HoldRefused({ code: 'too_many_passengers', maxPax: departure.max_pax });
    if (pax < departure.min_pax) throw new HoldRefused({ code: 'too_few_passengers', minPax: departure.min_pax });
    const passengerRefusal = await passengerProblem(trx, departure.tour_id, req.passengers, new Date(departure.starts_at));
    if (passengerRefusal) throw new HoldRefused(passengerRefusal);

    let promo = null;
    if (req.promoCode) {
      promo = await trx('promo_codes')
        .whereRaw('upper(code) = upper(?)', [req.promoCode]).where('active', true)
        .where((q) => q.whereNull('valid_from').orWhere('valid_from', '<=', now))
        .where((q) => q.whereNull('valid_to').orWhere('valid_to', '>', now))
        .where((q) => q.whereNull('max_uses').orWhereRaw('used_count < max_uses'))
        .where((q) => q.whereNull('currency').orWhere('currency', departure.currency))
        .increment('used_count', 1)
        .returning(['code', 'percent_off_bp', 'amount_off_minor']);
      if (promo.length === 0) throw new HoldRefused({ code: 'promo_code_invalid' });
      promo = { code: promo[0].code, percentOffBp: promo[0].percent_off_bp, amountOffMinor: promo[0].amount_off_minor };
    }

    let commissionBp = 0;
    let partner: { commission_bp: number; credit_limit_minor: number; status: string } | undefined;
    if (req.partnerId) {
      partner = await trx('partners').where({ id: req.partnerId }).forUpdate().first('commission_bp', 'credit_limit_minor', 'status');
      if (!partner || partner.status !== 'active') throw new HoldRefused({ code: 'partner_suspended' });
      commissionBp = partner.commission_bp;
    }

    const { prices, rules, departureAdjustment } = await pricingInputs(trx, departure, now);
    const departureAt = new Date(departure.starts_at);
    let breakdown: PriceBreakdown;
    try {
      breakdown = priceBooking({
        currency: departure.currency, prices, passengers: req.passengers.map((p) => p.type), rules, promo,
        partnerCommissionBp: commissionBp, departureAt, now, departureAdjustment,
      });
    } catch (err) {
      if (err instanceof PricingError) throw new HoldRefused({ code: 'pax_type_not_offered', message: err.message });
      throw err;
    }

    if (req.onAccount && partner) {
      // On-account bookings consume the partner's credit line until they are settled.
      const used = await trx('bookings').where({ partner_id: req.partnerId, payment_plan: 'on_account' })
        .whereIn('status', OPEN_STATUSES)
        .sum<{ sum: number | null }[]>('net_minor as sum');
      const available = partner.credit_limit_minor - Number(used[0].sum ?? 0);
      if (breakdown.netMinor > available) throw new HoldRefused({ code: 'credit_limit_exceeded', availableMinor: Math.max(0, available) });
    }

    const rules2 = await loadBookingRules(trx, departure.branch_id);
    const plan = req.onAccount
      ? { plan: 'on_account' as const, depositMinor: 0 as const, balanceDueAt: null }
      : paymentPlan(rules2, req.partnerId ? breakdown.netMinor : breakdown.totalMinor, departureAt, now);
    // The seats, last, so the departure row stays locked only for the inserts that follow.
    // Atomic: any number of concurrent holds can never oversell.
    const taken = await trx('departures')
      .where({ id: req.departureId })
      .whereIn('status', ['scheduled', 'guaranteed'])
      .whereRaw('capacity - seats_held - seats_sold >= ?', [pax])
      .update({ seats_held: trx.raw('seats_held + ?', [pax]), updated_at: trx.fn.now() })
      .returning(['capacity', 'seats_held', 'seats_sold']);
    if (taken.length === 0) {
      const now2 = await trx('departures').where({ id: req.departureId }).first('capacity', 'seats_held', 'seats_sold');
      const available = now2.capacity - now2.seats_held - now2.seats_sold;
      throw new HoldRefused(available <= 0 ? { code: 'sold_out' } : { code: 'not_enough_seats', seatsAvailable: available });
    }

    const holdExpiresAt = new Date(+now + (req.holdMinutes ?? rules2.holdMinutes) * 60_000);
    const reference = newReference();
    const [booking] = await trx('bookings').insert({
      reference, departure_id: req.departureId, branch_id: departure.branch_id, customer_id: req.customerId, partner_id: req.partnerId,
      created_by_user_id: req.createdByUserId, status: 'held', pax_count: pax, currency: departure.currency,
      total_minor: breakdown.totalMinor, net_minor: breakdown.netMinor, commission_minor: breakdown.commissionMinor,
      deposit_minor: plan.depositMinor, hold_expires_at: holdExpiresAt,
      balance_due_on: plan.balanceDueAt ? plan.balanceDueAt.slice(0, 10) : null,
      contact: JSON.stringify(req.contact), promo_code: promo?.code ?? null, language: req.language,
      payment_plan: plan.plan, price_breakdown: JSON.stringify(breakdown),
    }).returning('*');
    const bookingId = booking.id as string;
    const passengers = await trx('passengers').insert(req.passengers.map((p) => ({
      booking_id: bookingId, pax_type: p.type, first_name: p.firstName, last_name: p.lastName, birth_date: p.birthDate ?? null,
    }))).returning('*');
    const items: Array<Record<string, unknown>> = breakdown.lines.map((l, i) => ({
      booking_id: bookingId, position: i + 1, kind: 'tour', description: `${departure.code} ${l.paxType}`,
      quantity: l.quantity, unit_minor: l.unitMinor, total_minor: l.totalMinor, status: 'confirmed',
    }));
    const components = await trx('tour_components').where({ tour_id: departure.tour_id }).orderBy('position');
    for (const c of components) {
      items.push({
        booking_id: bookingId, position: items.length + 1, kind: c.kind, description: c.description, quantity: pax,
        unit_minor: c.unit_minor, total_minor: c.unit_minor * pax, supplier_ref: c.supplier, status: 'pending',
      });
    }
    const itemRows = await trx('booking_items').insert(items).returning('*');
    const events = await trx('booking_events').insert({
      booking_id: bookingId, type: 'hold_placed', actor: req.createdByUserId ? `user:${req.createdByUserId}` : 'system',
      data: JSON.stringify({ seats: pax, holdExpiresAt: holdExpiresAt.toISOString(), totalMinor: breakdown.totalMinor, currency: breakdown.currency, plan: plan.plan }),
      dedupe_key: 'hold_placed',
    }).returning('*');
    return { bookingId, reference, holdExpiresAt, breakdown, plan, rows: { booking, passengers, items: itemRows, events } };
  });
}

export interface Amendment {
  passengers?: HoldRequest['passengers'];
  departureId?: string;
}

export interface AmendOutcome {
  status: string;
  departureId: string;
  paxCount: number;
  totalMinor: number;
  payableMinor: number;
  /** Net paid (captured − refunded) when the amendment was applied. */
  amountPaidMinor: number;
  moved: boolean;
  /** Paid beyond the new price: what goes back (absent in outcomes recorded before the ledger). */
  refundDueMinor?: number;
}

export class AmendRefused extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * Changes the passengers and/or moves the booking to another departure of the same tour, in
 * one transaction: seats (guarded, never oversold), passengers, tour lines, price. `eventKey`
 * makes a retry a no-op. Refunds of an overpayment are the caller's (the workflow's) business.
 */
export async function amendBooking(knex: Knex, bookingId: string, amendment: Amendment, eventKey: string, actor: string, now = new Date()): Promise<AmendOutcome> {
  return knex.transaction(async (trx) => {
    const b = await trx('bookings').where({ id: bookingId }).forUpdate().first();
    const outcome = (row: typeof b, moved: boolean): AmendOutcome => ({
      status: row.status, departureId: row.departure_id, paxCount: row.pax_count, totalMinor: row.total_minor,
      payableMinor: row.partner_id ? row.net_minor : row.total_minor, amountPaidMinor: row.amount_paid_minor, moved,
    });
    const done = await trx('booking_events').where({ booking_id: bookingId, dedupe_key: eventKey }).first('data');
    // Already applied (a retry): answer what the first attempt answered.
    if (done) return done.data?.outcome ?? outcome(b, Boolean(done.data?.moved));
    if (!(CHANGEABLE_STATUSES as readonly string[]).includes(b.status)) throw new AmendRefused('booking_closed', `A ${b.status} booking cannot be changed.`);

    const oldDeparture = await trx('departures').where({ id: b.departure_id }).first();
    const targetId = amendment.departureId ?? b.departure_id;
    const moved = targetId !== b.departure_id;
    const target = await trx('departures as d').join('tours as t', 't.id', 'd.tour_id').where('d.id', targetId)
      .first('d.id', 'd.starts_at', 'd.status', 'd.price_overrides', 'd.tour_id', 't.branch_id', 't.min_pax', 't.max_pax', 't.currency', 't.code');
    if (!target) throw new AmendRefused('departure_not_found', 'No departure with that id.');
    if (moved && target.tour_id !== oldDeparture.tour_id) throw new AmendRefused('different_tour', 'A booking can move only to another departure of the same tour.');
    if (moved && (!['scheduled', 'guaranteed'].includes(target.status) || new Date(target.starts_at) <= now)) {
      throw new AmendRefused('departure_closed', 'That departure takes no bookings.');
    }
    const current = await trx('passengers').where({ booking_id: bookingId }).orderBy('id');
    const passengers = amendment.passengers ?? current.map((p) => ({ type: p.pax_type, firstName: p.first_name, lastName: p.last_name, birthDate: p.birth_date ?? undefined }));
    const pax = passengers.length;
    if (pax > target.max_pax) throw new AmendRefused('too_many_passengers', `This tour takes at most ${target.max_pax} passengers per booking.`);
    if (pax < target.min_pax) throw new AmendRefused('too_few_passengers', `This tour needs at least ${target.min_pax} passengers per booking.`);
    const passengerRefusal = await passengerProblem(trx, target.tour_id, passengers, new Date(target.starts_at));
    if (passengerRefusal) throw new AmendRefused(passengerRefusal.code, 'message' in passengerRefusal ? passengerRefusal.message : 'Every booking needs at least one adult.');

    // Seats: take on the target first (guarded), then give back on the source.
    const column = b.status === 'held' ? 'seats_held' : 'seats_sold';
    const take = moved ? pax : pax - b.pax_count;
    if (take > 0) {
      const taken = await trx('departures').where({ id: targetId }).whereRaw('capacity - seats_held - seats_sold >= ?', [take])
        .update({ [column]: trx.raw('?? + ?', [column, take]), updated_at: trx.fn.now() }).returning('id');
      if (!taken.length) throw new AmendRefused('not_enough_seats', 'Not enough seats are left on that departure.');
    }
    const giveBack = moved ? b.pax_count : Math.max(0, b.pax_count - pax);
    if (giveBack > 0) {
      await trx('departures').where({ id: b.departure_id }).update({ [column]: trx.raw('?? - ?', [column, giveBack]), updated_at: trx.fn.now() });
    }

    const { prices, rules, departureAdjustment } = await pricingInputs(trx, target, now);
    const promoRow = b.promo_code ? await trx('promo_codes').where({ code: b.promo_code }).first() : undefined;
    const partner = b.partner_id ? await trx('partners').where({ id: b.partner_id }).first('commission_bp') : undefined;
    let breakdown: PriceBreakdown;
    try {
      breakdown = priceBooking({
        currency: target.currency, prices, passengers: passengers.map((p) => p.type), rules,
        promo: promoRow ? { code: promoRow.code, percentOffBp: promoRow.percent_off_bp, amountOffMinor: promoRow.amount_off_minor } : null,
        partnerCommissionBp: partner?.commission_bp ?? 0, departureAt: new Date(target.starts_at), now, departureAdjustment,
      });
    } catch (err) {
      if (err instanceof PricingError) throw new AmendRefused('pax_type_not_offered', err.message);
      throw err;
    }
    const payable = b.partner_id ? breakdown.netMinor : breakdown.totalMinor;
    // Paid means what the ledger holds now (captured − refunded), so earlier refunds count.
    const ledger = await bookingLedger(trx, bookingId);
    const status = b.status === 'held' ? 'held' : ledger.netPaidMinor >= payable ? 'paid_in_full' : 'confirmed';
    const rulesNow = await loadBookingRules(trx, target.branch_id);
    const balanceDue = b.payment_plan === 'deposit' ? new Date(+new Date(target.starts_at) - rulesNow.balanceDueDaysBefore * 86_400_000).toISOString().slice(0, 10) : null;
    const [after] = await trx('bookings').where({ id: bookingId }).update({
      departure_id: targetId, pax_count: pax, total_minor: breakdown.totalMinor, net_minor: breakdown.netMinor,
      commission_minor: breakdown.commissionMinor, deposit_minor: Math.min(b.deposit_minor, payable), price_breakdown: JSON.stringify(breakdown),
      status, balance_due_on: balanceDue, updated_at: trx.fn.now(),
    }).returning('*');
    await trx('passengers').where({ booking_id: bookingId }).delete();
    await trx('passengers').insert(passengers.map((p) => ({ booking_id: bookingId, pax_type: p.type, first_name: p.firstName, last_name: p.lastName, birth_date: p.birthDate ?? null })));
    await trx('booking_items').where({ booking_id: bookingId, kind: 'tour' }).delete();
    const maxPosition = (await trx('booking_items').where({ booking_id: bookingId }).max<{ max: number | null }[]>('position as max'))[0].max ?? 0;
    await trx('booking_items').insert(breakdown.lines.map((l, i) => ({
      booking_id: bookingId, position: maxPosition + i + 1, kind: 'tour', description: `${target.code} ${l.paxType}`,
      quantity: l.quantity, unit_minor: l.unitMinor, total_minor: l.totalMinor, status: 'confirmed',
    })));
    const result: AmendOutcome = { ...outcome(after, moved), amountPaidMinor: ledger.netPaidMinor, refundDueMinor: overpaid(payable, ledger) };
    await trx('booking_events').insert({
      booking_id: bookingId, type: 'amended', actor, dedupe_key: eventKey,
      data: JSON.stringify({ moved, from: { departureId: b.departure_id, paxCount: b.pax_count, totalMinor: b.total_minor }, to: { departureId: targetId, paxCount: pax, totalMinor: breakdown.totalMinor }, outcome: result }),
    });
    return result;
  });
}

export interface WaitlistOffer { entryId: string; bookingId: string }

/**
 * Offers freed seats to the waitlist, strictly first come first served: the first waiting entry
 * gets a hold (for `holdMinutes`) if its party fits; the line stops at the first party that does
 * not fit. One transaction; entries are locked so two releases never offer the same entry twice.
 */
export async function offerWaitlist(knex: Knex, departureId: string, holdMinutes: number, now = new Date()): Promise<WaitlistOffer[]> {
  return knex.transaction(async (trx) => {
    const offers: WaitlistOffer[] = [];
    const entries = await trx('waitlist_entries').where({ departure_id: departureId, status: 'waiting' }).orderBy('created_at').forUpdate().skipLocked();
    for (const entry of entries) {
      const d = await trx('departures').where({ id: departureId }).first('capacity', 'seats_held', 'seats_sold', 'status');
      if (!['scheduled', 'guaranteed'].includes(d.status) || d.capacity - d.seats_held - d.seats_sold < entry.pax_count) break;
      const request = entry.request as { passengers: HoldRequest['passengers']; contact: HoldRequest['contact']; language: 'es' | 'en' };
      let hold: PlacedHold;
      try {
        hold = await placeHold(trx, {
          departureId, passengers: request.passengers, contact: request.contact, language: request.language,
          customerId: entry.customer_id, partnerId: entry.partner_id, onAccount: false, createdByUserId: entry.created_by_user_id, holdMinutes,
        }, now);
      } catch (err) {
        if (err instanceof HoldRefused) {
          await trx('waitlist_entries').where({ id: entry.id }).update({ status: 'cancelled' });
          continue; // this party can no longer be held (e.g. partner suspended); the next one may
        }
        throw err;
      }
      await trx('waitlist_entries').where({ id: entry.id }).update({ status: 'offered', offered_booking_id: hold.bookingId, offered_at: trx.fn.now() });
      await trx('booking_events').insert({ booking_id: hold.bookingId, type: 'waitlist_offer', actor: 'system', data: JSON.stringify({ entryId: entry.id, holdExpiresAt: hold.holdExpiresAt.toISOString() }), dedupe_key: 'waitlist_offer' });
      offers.push({ entryId: entry.id, bookingId: hold.bookingId });
    }
    return offers;
  });
}

/**
 * Gives back the promo code use a hold took when the booking closes without being bought (its
 * hold expired, or it failed while still held). Call it inside the transaction that closes the
 * booking, after that transaction's once-only event key and status checks (closeBooking in
 * activities/booking.ts), with the booking row as it was before closing: a retried close then
 * never gives a use back twice. Returns whether a use was given back.
 */
export async function releasePromoUse(trx: Knex.Transaction, booking: { status: string; promo_code: string | null }, closedAs: string): Promise<boolean> {
  if (!booking.promo_code || booking.status !== 'held' || (closedAs !== 'expired' && closedAs !== 'failed')) return false;
  const released = await trx('promo_codes').where({ code: booking.promo_code }).where('used_count', '>', 0).decrement('used_count', 1).returning('code');
  return released.length > 0;
}
