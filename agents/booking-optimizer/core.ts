/**
 * BookingOptimizer's core: the booking funnel (holds → paid → completed) by tour and channel
 * with exact counts and rates, the abandoned bookings to recover, and experiments worth trying.
 * Pure and deterministic. Rates are basis points (7000 = 70%), rounded half up.
 *
 * Stages: every booking starts as a hold; "paid" is a booking that took money or was confirmed
 * (confirmed, paid in full, in progress, completed, no-show; a cancellation that had been paid);
 * "completed" is a trip that took place. Channel: partner (a partner's booking), staff (placed
 * by an admin or operator), web (a customer or guest).
 */
export interface FunnelGroup {
  tourCode: string;
  channel: 'web' | 'staff' | 'partner';
  holds: number;
  paid: number;
  completed: number;
  expired: number;
}

export interface FunnelRow extends FunnelGroup {
  holdToPaidBp: number | null;
  paidToCompletedBp: number | null;
  holdToCompletedBp: number | null;
}

export interface AbandonedBooking {
  bookingId: string;
  reference: string;
  tourCode: string;
  email: string;
  /** The contact may be mailed (email consent, not suppressed). */
  sendable: boolean;
  /** Already enrolled in every active abandoned-booking automation for this booking. */
  enrolled: boolean;
  /** The same person booked again afterwards (no need to chase). */
  rebooked: boolean;
}

export interface Experiment { tourCode: string; channel: string | null; finding: string; suggestion: string }

export const rate = (part: number, whole: number): number | null => (whole > 0 ? Math.floor((part * 10000) / whole + 0.5) : null);

export function funnelRow(g: FunnelGroup): FunnelRow {
  return { ...g, holdToPaidBp: rate(g.paid, g.holds), paidToCompletedBp: rate(g.completed, g.paid), holdToCompletedBp: rate(g.completed, g.holds) };
}

function sum(groups: FunnelGroup[], tourCode: string, channel: FunnelGroup['channel'] | '*'): FunnelGroup {
  const g = { tourCode, channel: channel as FunnelGroup['channel'], holds: 0, paid: 0, completed: 0, expired: 0 };
  for (const x of groups) {
    g.holds += x.holds; g.paid += x.paid; g.completed += x.completed; g.expired += x.expired;
  }
  return g;
}

const byKey = <T extends { tourCode: string; channel: string }>(a: T, b: T) => a.tourCode.localeCompare(b.tourCode) || a.channel.localeCompare(b.channel);

export interface Funnel {
  total: Omit<FunnelRow, 'tourCode' | 'channel'>;
  byTour: Array<Omit<FunnelRow, 'channel'>>;
  byChannel: Array<Omit<FunnelRow, 'tourCode'>>;
  byTourAndChannel: FunnelRow[];
}

export function funnel(groups: FunnelGroup[]): Funnel {
  const strip = <K extends 'tourCode' | 'channel'>(r: FunnelRow, ...keys: K[]) => {
    const copy: Record<string, unknown> = { ...r };
    for (const k of keys) delete copy[k];
    return copy as Omit<FunnelRow, K>;
  };
  const tours = [...new Set(groups.map((g) => g.tourCode))].sort();
  const channels = [...new Set(groups.map((g) => g.channel))].sort();
  return {
    total: strip(funnelRow(sum(groups, '*', '*')), 'tourCode', 'channel'),
    byTour: tours.map((t) => strip(funnelRow(sum(groups.filter((g) => g.tourCode === t), t, '*')), 'channel')),
    byChannel: channels.map((c) => strip(funnelRow(sum(groups.filter((g) => g.channel === c), '*', c)), 'tourCode')),
    byTourAndChannel: groups.map(funnelRow).sort(byKey),
  };
}

export interface ExperimentPolicy {
  /** Groups with fewer holds say nothing. */
  minHolds: number;
  /** A tour losing at least this share between hold and payment gets an experiment. */
  lossBp: number;
  /** A channel converting this much worse than the tour as a whole gets an experiment. */
  channelGapBp: number;
}

export const DEFAULT_EXPERIMENT_POLICY: ExperimentPolicy = { minHolds: 5, lossBp: 5000, channelGapBp: 2000 };

const pctText = (bp: number) => `${Math.floor(bp / 100 + 0.5)}%`;

/** Suggestions, not actions: what to try where the funnel leaks. */
export function experiments(f: Funnel, p: ExperimentPolicy = DEFAULT_EXPERIMENT_POLICY): Experiment[] {
  const out: Experiment[] = [];
  for (const t of f.byTour) {
    if (t.holds < p.minHolds || t.holdToPaidBp === null) continue;
    const loss = 10000 - t.holdToPaidBp;
    if (loss >= p.lossBp) {
      out.push({
        tourCode: t.tourCode, channel: null,
        finding: `${t.tourCode} loses ${pctText(loss)} between hold and payment (${t.holds - t.paid} of ${t.holds} holds never paid)`,
        suggestion: 'try a shorter payment form, a deposit option, or a longer hold with a reminder before it lapses',
      });
    }
    for (const c of f.byTourAndChannel.filter((x) => x.tourCode === t.tourCode)) {
      if (c.holds < p.minHolds || c.holdToPaidBp === null) continue;
      if (t.holdToPaidBp - c.holdToPaidBp >= p.channelGapBp) {
        out.push({
          tourCode: t.tourCode, channel: c.channel,
          finding: `${t.tourCode} via ${c.channel} converts ${pctText(c.holdToPaidBp)} of holds against ${pctText(t.holdToPaidBp)} for the tour`,
          suggestion: c.channel === 'partner' ? 'review the partner checkout and on-account terms for this tour' : `test a simpler ${c.channel} checkout for this tour (fewer fields, saved details)`,
        });
      }
    }
  }
  return out;
}

/** Abandoned bookings worth a recovery message: mailable, not enrolled yet, not booked again since. */
export function toRecover(abandoned: AbandonedBooking[]): AbandonedBooking[] {
  return abandoned.filter((a) => a.sendable && !a.enrolled && !a.rebooked)
    .sort((a, b) => a.reference.localeCompare(b.reference));
}
