/**
 * Platform housekeeping, run by the `platform-housekeeping` schedule: start booking workflows
 * the API could not start, expire idempotency keys and spent refresh tokens, and enroll contacts
 * in date- and state-triggered automations (welcome, birthday, inactive), and wake the message
 * dispatcher when booking emails are due (its safety net). Short-lived; its
 * history is a handful of events.
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { HousekeepingActivities } from '../activities/housekeeping';

const { purgeIdempotencyKeys, purgeRefreshTokens, startPendingBookingWorkflows, enrollDueContacts, wakeMessageDispatcherIfDue } = proxyActivities<HousekeepingActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

export interface HousekeepingResult {
  bookingWorkflowsStarted: number;
  idempotencyKeysDeleted: number;
  refreshTokensDeleted: number;
  /** Enrollments by trigger (welcome, birthday, inactive). */
  automationsEnrolled?: Record<string, number>;
  /** Whether the message dispatcher was woken (booking emails were due). */
  messageDispatcherWoken?: boolean;
}

export async function housekeepingWorkflow(options: { idempotencyKeyHours?: number; bookingGraceSeconds?: number; withInactive?: boolean } = {}): Promise<HousekeepingResult> {
  const bookingWorkflowsStarted = await startPendingBookingWorkflows(options.bookingGraceSeconds ?? 30);
  const idempotencyKeysDeleted = await purgeIdempotencyKeys(options.idempotencyKeyHours ?? 24);
  const refreshTokensDeleted = await purgeRefreshTokens();
  if (!patched('automation-triggers')) return { bookingWorkflowsStarted, idempotencyKeysDeleted, refreshTokensDeleted };
  // The costly "inactive" scan runs once an hour (the run started in the hour's first minute), or when asked.
  const withInactive = options.withInactive ?? workflowInfo().startTime.getUTCMinutes() === 0;
  const automationsEnrolled = await enrollDueContacts({ withInactive });
  if (!patched('message-dispatch')) return { bookingWorkflowsStarted, idempotencyKeysDeleted, refreshTokensDeleted, automationsEnrolled };
  const messageDispatcherWoken = await wakeMessageDispatcherIfDue();
  return { bookingWorkflowsStarted, idempotencyKeysDeleted, refreshTokensDeleted, automationsEnrolled, messageDispatcherWoken };
}
