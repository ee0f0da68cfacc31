/**
 * SupplyChain's computation: for each booking a supplier incident hits, the best alternative.
 * Another departure of the same tour (the nearest in time with room for the party) can be
 * rebooked through the booking's amendment; a similar tour (same category and country, the same
 * city first) cannot (an amendment keeps the tour), so it goes to a person with the suggestion;
 * a booking with neither goes to a person as it is. Pure: no database, no clock.
 */

export interface AffectedBooking {
  bookingId: string;
  reference: string;
  status: string;
  branchId: string;
  departureId: string;
  tourId: string;
  tourCode: string;
  startsAt: string;
  paxCount: number;
  category: string;
  destinationCity: string;
  destinationCountry: string;
}

export interface CandidateDeparture {
  departureId: string;
  tourId: string;
  tourCode: string;
  startsAt: string;
  seatsLeft: number;
  category: string;
  destinationCity: string;
  destinationCountry: string;
}

export interface SupplyFacts {
  affected: AffectedBooking[];
  /** Open departures not hit by the incident, with room: the same tours' and similar tours'. */
  candidates: CandidateDeparture[];
}

export interface Rebooking {
  bookingId: string;
  reference: string;
  tourCode: string;
  paxCount: number;
  fromDepartureId: string;
  fromStartsAt: string;
  toDepartureId: string;
  toStartsAt: string;
}

export interface SimilarTour {
  bookingId: string;
  reference: string;
  paxCount: number;
  tourCode: string;
  suggestedTourCode: string;
  suggestedDepartureId: string;
  suggestedStartsAt: string;
}

export interface Unresolved {
  bookingId: string;
  reference: string;
  reason: string;
}

export interface SupplyPlan {
  rebook: Rebooking[];
  /** For a person: only another tour has room (an amendment cannot change the tour). */
  similar: SimilarTour[];
  /** For a person: no alternative, or the booking cannot be changed now. */
  unresolved: Unresolved[];
}

/** Bookings the amendment can move (the booking workflow's CHANGEABLE_STATUSES). */
const MOVABLE = new Set(['held', 'confirmed', 'paid_in_full']);

const distance = (a: string, b: string) => Math.abs(Date.parse(a) - Date.parse(b));

/** The nearest in time to `at`; ties: the earlier, then the smaller id (so the answer is stable). */
function nearest(candidates: CandidateDeparture[], at: string): CandidateDeparture | undefined {
  return [...candidates].sort((x, y) => distance(x.startsAt, at) - distance(y.startsAt, at)
    || Date.parse(x.startsAt) - Date.parse(y.startsAt) || x.departureId.localeCompare(y.departureId))[0];
}

export function planAlternatives(facts: SupplyFacts): SupplyPlan {
  const plan: SupplyPlan = { rebook: [], similar: [], unresolved: [] };
  const seatsLeft = new Map(facts.candidates.map((c) => [c.departureId, c.seatsLeft]));
  const hit = new Set(facts.affected.map((b) => b.departureId));
  const open = facts.candidates.filter((c) => !hit.has(c.departureId));
  const roomFor = (c: CandidateDeparture, pax: number) => (seatsLeft.get(c.departureId) ?? 0) >= pax;
  // Earlier trips first (they are the most urgent), then by reference: a stable order for the seats.
  const bookings = [...facts.affected].sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt) || a.reference.localeCompare(b.reference));
  for (const b of bookings) {
    if (!MOVABLE.has(b.status)) {
      plan.unresolved.push({ bookingId: b.bookingId, reference: b.reference, reason: `a ${b.status} booking cannot be moved now (a payment is in progress)` });
      continue;
    }
    const sameTour = nearest(open.filter((c) => c.tourId === b.tourId && roomFor(c, b.paxCount)), b.startsAt);
    if (sameTour) {
      seatsLeft.set(sameTour.departureId, seatsLeft.get(sameTour.departureId)! - b.paxCount);
      plan.rebook.push({
        bookingId: b.bookingId, reference: b.reference, tourCode: b.tourCode, paxCount: b.paxCount,
        fromDepartureId: b.departureId, fromStartsAt: b.startsAt, toDepartureId: sameTour.departureId, toStartsAt: sameTour.startsAt,
      });
      continue;
    }
    const similar = open.filter((c) => c.tourId !== b.tourId && c.category === b.category && c.destinationCountry === b.destinationCountry && roomFor(c, b.paxCount));
    const sameCity = similar.filter((c) => c.destinationCity === b.destinationCity);
    const other = nearest(sameCity.length ? sameCity : similar, b.startsAt);
    if (other) {
      // Not reserved: a person offers it to the traveller, who may prefer a refund.
      plan.similar.push({
        bookingId: b.bookingId, reference: b.reference, paxCount: b.paxCount, tourCode: b.tourCode,
        suggestedTourCode: other.tourCode, suggestedDepartureId: other.departureId, suggestedStartsAt: other.startsAt,
      });
      continue;
    }
    plan.unresolved.push({ bookingId: b.bookingId, reference: b.reference, reason: 'no other departure of this tour or a similar tour has room' });
  }
  return plan;
}

export function supplyNarrative(supplier: string, from: string, to: string, affected: number, plan: SupplyPlan): string {
  if (!affected) return `No open booking is on a departure operated by ${supplier} between ${from} and ${to}.`;
  return `${affected} booking(s) are on departures operated by ${supplier} between ${from} and ${to}: `
    + `${plan.rebook.length} can move to another departure of their tour (each after approval), `
    + `${plan.similar.length} have only a similar tour to offer and ${plan.unresolved.length} have no alternative (both for a person).`;
}
