/**
 * CrisisManager's core: pure and deterministic. Who is "there" (a booking that counts, on a
 * departure whose time overlaps the incident's and whose tour meets within the radius), and what
 * to do about it: tell each of them once, then escalate whoever is still silent after a delay.
 */
import type { CoreResult, ProposedAction } from '../types';

/** Mean Earth radius (IUGG), km. */
export const EARTH_RADIUS_KM = 6371;

/** Bookings whose travellers are (or will be) on the trip. Held, failed, cancelled... are not. */
export const TRAVELLING_STATUSES = ['confirmed', 'paid_in_full', 'in_progress'] as const;

export interface CrisisInput {
  incidentId: string;
  lat: number;
  lng: number;
  radiusKm: number;
  /** ISO date-times, or ISO dates (a date means the whole day, UTC: see incidentWindow). */
  from: string;
  to: string;
  message: string;
}

/** A booking the gather tool found in the time window (any place): the core decides who is within the radius. */
export interface Candidate {
  bookingId: string;
  reference: string;
  status: string;
  departureId: string;
  departureStatus: string;
  tourCode: string;
  startsAt: string;
  endsAt: string;
  lat: number | null;
  lng: number | null;
  contactName: string;
  email: string | null;
  phone: string | null;
}

export interface Traveller {
  bookingId: string;
  reference: string;
  tourCode: string;
  startsAt: string;
  contactName: string;
  distanceKm: number;
  channel: 'email' | 'whatsapp';
}

export interface CrisisOutput {
  incidentId: string;
  travellers: Traveller[];
  /** Found in the window but left out, with why (outside the radius, no coordinates, no address...). */
  excluded: Array<{ bookingId: string; reference: string; why: string }>;
  escalateAfterMs: number;
}

/** Great-circle distance (haversine) between two points in degrees, in km. */
export function haversineKm(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLng = (lng2 - lng1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

/**
 * The latitude band (degrees) that holds every point within `radiusKm` of `lat`: a cheap SQL
 * pre-filter, never narrower than the exact test (a great circle cannot change latitude faster
 * than its length).
 */
export function latitudeBand(lat: number, radiusKm: number): { min: number; max: number } {
  const deg = (radiusKm / EARTH_RADIUS_KM) * (180 / Math.PI);
  return { min: Math.max(-90, lat - deg - 1e-6), max: Math.min(90, lat + deg + 1e-6) };
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** The incident's time as instants: a date-only `from` starts its day, a date-only `to` ends its day (UTC). */
export function incidentWindow(input: Pick<CrisisInput, 'from' | 'to'>): { from: string; to: string } {
  const from = DATE_ONLY.test(input.from) ? `${input.from}T00:00:00.000Z` : new Date(input.from).toISOString();
  const to = DATE_ONLY.test(input.to) ? new Date(Date.parse(`${input.to}T00:00:00.000Z`) + 86_400_000).toISOString() : new Date(input.to).toISOString();
  return { from, to };
}

/** Half-open intervals [aFrom, aTo) and [bFrom, bTo) share an instant. */
export function overlaps(aFrom: number, aTo: number, bFrom: number, bTo: number): boolean {
  return aFrom < bTo && bFrom < aTo;
}

/** Who is there: each booking that counts, once, nearest first (then by reference). */
export function selectTravellers(input: CrisisInput, candidates: Candidate[]): Pick<CrisisOutput, 'travellers' | 'excluded'> {
  const window = incidentWindow(input);
  const from = Date.parse(window.from);
  const to = Date.parse(window.to);
  const travellers: Traveller[] = [];
  const excluded: CrisisOutput['excluded'] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c.bookingId)) continue;
    seen.add(c.bookingId);
    const out = (why: string) => excluded.push({ bookingId: c.bookingId, reference: c.reference, why });
    if (!(TRAVELLING_STATUSES as readonly string[]).includes(c.status)) { out(`booking is ${c.status}`); continue; }
    if (c.departureStatus === 'cancelled') { out('departure is cancelled'); continue; }
    if (!overlaps(Date.parse(c.startsAt), Date.parse(c.endsAt), from, to)) { out('departure is outside the incident\'s time'); continue; }
    if (c.lat === null || c.lng === null) { out('the tour has no coordinates'); continue; }
    const distanceKm = haversineKm(input.lat, input.lng, c.lat, c.lng);
    if (distanceKm > input.radiusKm) { out(`${distanceKm.toFixed(1)} km away`); continue; }
    const channel = c.email ? 'email' : c.phone ? 'whatsapp' : null;
    if (!channel) { out('no email or phone to reach'); continue; }
    travellers.push({ bookingId: c.bookingId, reference: c.reference, tourCode: c.tourCode, startsAt: c.startsAt, contactName: c.contactName, distanceKm: Math.round(distanceKm * 1000) / 1000, channel });
  }
  travellers.sort((a, b) => a.distanceKm - b.distanceKm || a.reference.localeCompare(b.reference));
  return { travellers, excluded };
}

/** The whole plan: who to tell, and the escalation of the silent `escalateAfterMs` later. */
export function planCrisis(input: CrisisInput, candidates: Candidate[], escalateAfterMs: number): CoreResult<CrisisOutput> {
  const { travellers, excluded } = selectTravellers(input, candidates);
  const output: CrisisOutput = { incidentId: input.incidentId, travellers, excluded, escalateAfterMs };
  if (!travellers.length) {
    return { output, actions: [], narrative: `Incident ${input.incidentId}: nobody is booked within ${input.radiusKm} km between ${input.from} and ${input.to}; nobody to notify.` };
  }
  const actions: ProposedAction[] = [
    {
      tool: 'crisis.notifyTravellers',
      input: { incidentId: input.incidentId, message: input.message, bookingIds: travellers.map((t) => t.bookingId) },
      reason: `${travellers.length} booking(s) within ${input.radiusKm} km of the incident during its time`,
    },
    {
      tool: 'crisis.escalateSilent',
      input: { incidentId: input.incidentId },
      reason: `tell the operators who has not acknowledged ${Math.round(escalateAfterMs / 60_000)} minute(s) after the notice`,
      delayMs: escalateAfterMs,
    },
  ];
  const refs = travellers.map((t) => t.reference).join(', ');
  return {
    output, actions,
    narrative: `Incident ${input.incidentId}: ${travellers.length} booking(s) within ${input.radiusKm} km during ${input.from} – ${input.to} (${refs}); `
      + `each is sent the notice with a personal acknowledgement link, and whoever has not acknowledged after ${Math.round(escalateAfterMs / 60_000)} minute(s) is escalated to the operators.`,
  };
}
