/**
 * Booking fixtures: a branch of our own per scenario (so its rules, such as a compressed
 * calendar, touch nothing else), a tour with prices and optional package components, and
 * departures at chosen distances from now.
 */
import crypto from 'node:crypto';
import type { BookingRules } from '../../domain/booking-rules';
import { api } from './http';
import { stack } from './stack';

export interface Scenario {
  branchId: string;
  tourId: string;
  departureId: string;
  departureAt: Date;
}

export async function scenario(options: {
  daysAhead: number;
  capacity?: number;
  adultMinor?: number;
  rules?: Partial<BookingRules> & { timeScale?: number };
  components?: Array<{ kind: 'hotel' | 'flight'; supplier: string; description: string }>;
  durationMinutes?: number;
}): Promise<Scenario> {
  const { knex } = stack();
  const tag = crypto.randomBytes(3).toString('hex').toUpperCase();
  const [branch] = await knex('branches').insert({
    code: `T${tag}`, name: `Test branch ${tag}`, country: 'ES', timezone: 'Europe/Madrid', currency: 'EUR', tax_rate_bp: 2100, tax_id_type: 'NIF', invoice_prefix: `T${tag}`,
  }).returning('id');
  if (options.rules) await knex('booking_rules').insert({ branch_id: branch.id, rules: JSON.stringify(options.rules) });
  const [tour] = await knex('tours').insert({
    code: `TEST-${tag}`, branch_id: branch.id, category: 'culture', destination_city: 'Testville', destination_country: 'ES',
    duration_minutes: options.durationMinutes ?? 120, status: 'active', min_pax: 1, max_pax: 10, currency: 'EUR',
  }).returning('id');
  await knex('tour_translations').insert({ tour_id: tour.id, language: 'en', title: `Test tour ${tag}`, summary: 's', description: 'd' });
  await knex('tour_prices').insert([
    { tour_id: tour.id, pax_type: 'adult', amount_minor: options.adultMinor ?? 10000, min_age: 12 },
    { tour_id: tour.id, pax_type: 'child', amount_minor: Math.round((options.adultMinor ?? 10000) / 2), min_age: 3, max_age: 11 },
  ]);
  for (const [i, c] of (options.components ?? []).entries()) {
    await knex('tour_components').insert({ tour_id: tour.id, position: i + 1, kind: c.kind, supplier: c.supplier, description: c.description });
  }
  const departureAt = new Date(Date.now() + options.daysAhead * 86_400_000);
  const [departure] = await knex('departures').insert({ tour_id: tour.id, starts_at: departureAt, timezone: 'Europe/Madrid', capacity: options.capacity ?? 20 }).returning('id');
  return { branchId: branch.id, tourId: tour.id, departureId: departure.id, departureAt };
}

export function holdBody(departureId: string, adults = 2, extra: Record<string, unknown> = {}) {
  return {
    departureId,
    passengers: Array.from({ length: adults }, (_, i) => ({ type: 'adult', firstName: `Ana${i}`, lastName: 'García' })),
    contact: { name: 'Ana García', email: 'ana.garcia@example.com', phone: '+34600123456' },
    ...extra,
  };
}

/** Polls until `check` returns a value (or the time is up). */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function bookingStatus(id: string): Promise<string> {
  return (await stack().knex('bookings').where({ id }).first('status')).status;
}

export async function timeline(id: string): Promise<string[]> {
  return stack().knex('booking_events').where({ booking_id: id }).orderBy('id').pluck('type');
}

export async function seats(departureId: string): Promise<{ held: number; sold: number }> {
  const d = await stack().knex('departures').where({ id: departureId }).first('seats_held', 'seats_sold');
  return { held: d.seats_held, sold: d.seats_sold };
}

export async function hold(token: string, departureId: string, adults = 2, extra: Record<string, unknown> = {}) {
  const res = await api('POST', '/api/v1/bookings', { token, body: holdBody(departureId, adults, extra) });
  if (res.status !== 201) throw new Error(`hold failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
