/**
 * RiskManager's computation: a risk score (0–100) and a go/no-go per upcoming departure. Pure:
 * the same facts and instant give the same answer.
 *
 * - Passengers against the tour's departure minimum: the shortfall's share of the minimum,
 *   weighted 60 once the guarantee deadline has passed, 45 within 7 days of it, else 30.
 * - An open supplier incident over the departure's operator and time: +30.
 * - An open crisis incident whose circle holds the tour's meeting point during the trip: +50.
 * No-go: below the minimum at or after the guarantee deadline, or a score of 80 or more.
 */

export interface DepartureRiskFacts {
  departureId: string;
  tourCode: string;
  startsAt: string;
  endsAt: string;
  guaranteeDeadline: string | null;
  minPax: number | null;
  capacity: number;
  /** Passengers of confirmed and paid bookings. */
  firmPax: number;
  /** Passengers of held bookings and bookings being paid. */
  pendingPax: number;
  bookings: number;
  supplier: string | null;
  lat: number | null;
  lng: number | null;
  /** A proposal to cancel it already waits in the inbox (an earlier run's): not proposed again. */
  cancellationPending?: boolean;
}

export interface IncidentFacts {
  id: string;
  kind: 'supplier' | 'crisis';
  supplier: string | null;
  lat: number | null;
  lng: number | null;
  radiusKm: number | null;
  from: string;
  to: string;
}

export interface DepartureRisk {
  departureId: string;
  tourCode: string;
  startsAt: string;
  score: number;
  level: 'low' | 'medium' | 'high';
  decision: 'go' | 'no_go';
  reasons: string[];
  firmPax: number;
  minPax: number | null;
  bookings: number;
  incidents: string[];
}

const DAY = 86_400_000;
export const NO_GO_SCORE = 80;

/** Great-circle distance in km (haversine, mean Earth radius). */
export function distanceKm(aLat: number, aLng: number, bLat: number, bLng: number): number {
  const rad = (d: number) => (d * Math.PI) / 180;
  const dLat = rad(bLat - aLat);
  const dLng = rad(bLng - aLng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(aLat)) * Math.cos(rad(bLat)) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

const overlaps = (d: DepartureRiskFacts, i: IncidentFacts) => Date.parse(d.startsAt) < Date.parse(i.to) && Date.parse(d.endsAt) > Date.parse(i.from);

export function assessDeparture(d: DepartureRiskFacts, incidents: IncidentFacts[], now: Date): DepartureRisk {
  const reasons: string[] = [];
  const hit: string[] = [];
  let score = 0;
  let belowAtDeadline = false;
  if (d.minPax && d.firmPax < d.minPax) {
    const shortfall = (d.minPax - d.firmPax) / d.minPax;
    const deadline = d.guaranteeDeadline ? Date.parse(d.guaranteeDeadline) : null;
    const passed = deadline !== null && +now >= deadline;
    const near = deadline !== null && !passed && deadline - +now <= 7 * DAY;
    score += Math.round(shortfall * (passed ? 60 : near ? 45 : 30));
    belowAtDeadline = passed;
    reasons.push(`${d.firmPax} of the ${d.minPax} passengers it needs${passed ? ' at its guarantee deadline' : deadline !== null ? ` with the guarantee deadline ${near ? 'within 7 days' : 'ahead'}` : ''}${d.pendingPax ? ` (${d.pendingPax} more not yet paid)` : ''}`);
  }
  for (const i of incidents) {
    if (!overlaps(d, i)) continue;
    if (i.kind === 'supplier' && i.supplier && d.supplier && i.supplier.trim().toLowerCase() === d.supplier.trim().toLowerCase()) {
      score += 30;
      hit.push(i.id);
      reasons.push(`its operator ${d.supplier} has reported a failure (incident ${i.id})`);
    } else if (i.kind === 'crisis' && d.lat !== null && d.lng !== null && i.lat !== null && i.lng !== null && i.radiusKm !== null
      && distanceKm(d.lat, d.lng, i.lat, i.lng) <= i.radiusKm) {
      score += 50;
      hit.push(i.id);
      reasons.push(`its meeting point is inside a crisis area (incident ${i.id})`);
    }
  }
  score = Math.min(100, score);
  const decision = belowAtDeadline || score >= NO_GO_SCORE ? 'no_go' : 'go';
  return {
    departureId: d.departureId, tourCode: d.tourCode, startsAt: d.startsAt, score, level: score >= 60 ? 'high' : score >= 30 ? 'medium' : 'low',
    decision, reasons, firmPax: d.firmPax, minPax: d.minPax, bookings: d.bookings, incidents: hit,
  };
}

/** Every departure's risk, the riskiest first (then the soonest). */
export function assessDepartures(departures: DepartureRiskFacts[], incidents: IncidentFacts[], now: Date): DepartureRisk[] {
  return departures.map((d) => assessDeparture(d, incidents, now))
    .sort((a, b) => b.score - a.score || Date.parse(a.startsAt) - Date.parse(b.startsAt) || a.departureId.localeCompare(b.departureId));
}

export function cancellationReason(r: DepartureRisk): string {
  return `departure cancelled by the operator: ${r.reasons.join('; ') || 'no-go'}`;
}
