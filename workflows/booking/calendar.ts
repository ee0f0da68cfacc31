/**
 * The booking's calendar: waits until an instant of the booking's business time, doing any work
 * that arrives meanwhile, with the side deadlines of the corrected path (a customer action, an
 * approval, the departure for a pending approval).
 */
import { condition } from '@temporalio/workflow';
import { isTerminalStatus } from '../../domain/bookings';
import type { BookingLifecycle } from './state';

export function bookingCalendar(s: BookingLifecycle, on: {
  work: () => Promise<void>; abandonPendingPayment: () => Promise<void>;
  expireApproval: (note: string, outcome?: 'reject' | 'approve') => Promise<unknown>; expireReview: (note: string, outcome?: 'reject' | 'approve') => Promise<unknown>;
}) {
  const { fixed, booking } = s;
  const clock = s.clock!;
  const { work, abandonPendingPayment, expireApproval, expireReview } = on;
  const hasWork = () => s.hasWork();

  /** Deadlines that run beside the calendar (corrected path): a customer action, an approval (its own deadline, or the departure). */
  const nextSideDeadline = (): number | undefined => {
    const at = [s.pendingPayment?.expiresAtMs, s.pendingApproval?.expiresAtMs, s.pendingReview?.expiresAtMs].filter((x): x is number => x !== undefined);
    if (s.pendingApproval || s.pendingReview) at.push(Date.now() + clock.msUntil(booking.departureAt));
    return at.length ? Math.min(...at) : undefined;
  };
  const runSideDeadlines = async () => {
    if (s.pendingPayment?.expiresAtMs !== undefined && Date.now() >= s.pendingPayment.expiresAtMs) await abandonPendingPayment();
    if (s.pendingApproval && clock.msUntil(booking.departureAt) === 0) await expireApproval('the trip started before anyone decided', 'reject');
    if (s.pendingApproval?.expiresAtMs !== undefined && Date.now() >= s.pendingApproval.expiresAtMs) await expireApproval(`nobody decided within ${booking.rules.approvalTimeoutHours} hours`);
    if (s.pendingReview && clock.msUntil(booking.departureAt) === 0) await expireReview('the trip started before anyone decided the payment review', 'reject');
    if (s.pendingReview && Date.now() >= s.pendingReview.expiresAtMs) await expireReview('nobody decided the payment review in time');
  };

  /**
   * Waits until `at` on the booking calendar, doing any work that arrives meanwhile.
   * Returns true when the time came, false when the booking ended or `stop` became true first.
   * `pausedByApproval`: when the time comes while an approval is pending, wait for the decision
   * (or its deadline) first (corrected path). A payment under fraud review pauses every milestone,
   * the hold's expiry included: the hold is kept until the review is decided (or its deadline).
   */
  const waitUntil = async (kind: string, at: string, stop: () => boolean = () => false, pausedByApproval = false): Promise<boolean> => {
    s.nextMilestone = { kind, at };
    for (;;) {
      if (isTerminalStatus(s.status) || s.restart || stop()) return false;
      const side = fixed ? nextSideDeadline() : undefined;
      const untilMilestone = clock.msUntil(at);
      const paused = fixed && ((pausedByApproval && s.pendingApproval !== undefined) || s.pendingReview !== undefined) && untilMilestone === 0;
      const timeout = side === undefined ? (paused ? undefined : untilMilestone) : Math.max(0, paused ? side - Date.now() : Math.min(untilMilestone, side - Date.now()));
      const woke = timeout === undefined ? (await condition(() => hasWork() || (s.pendingApproval === undefined && s.pendingReview === undefined)), true) : await condition(hasWork, timeout);
      if (woke) {
        await work();
        continue;
      }
      if (fixed) await runSideDeadlines();
      if (isTerminalStatus(s.status) || s.restart) return false;
      if (clock.msUntil(at) > 0) continue;
      if (fixed && ((pausedByApproval && s.pendingApproval) || s.pendingReview)) continue;
      return true;
    }
  };

  /** Corrected path: a reminder whose moment had already passed when the booking reached it is skipped, not sent late. */
  const remindAt = async (kind: string, at: string): Promise<'due' | 'late' | 'ended'> => {
    const late = fixed && clock.msUntil(at) === 0;
    if (!(await waitUntil(kind, at, undefined, true))) return 'ended';
    return late ? 'late' : 'due';
  };

  return { waitUntil, remindAt };
}
