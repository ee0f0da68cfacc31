/**
 * Platform housekeeping, run by the `platform-housekeeping` schedule: start booking workflows
 * the API could not start, expire idempotency keys and spent refresh tokens. Short-lived; its
 * history is a handful of events.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { HousekeepingActivities } from '../activities/housekeeping';

const { purgeIdempotencyKeys, purgeRefreshTokens, startPendingBookingWorkflows } = proxyActivities<HousekeepingActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

export interface HousekeepingResult {
  bookingWorkflowsStarted: number;
  idempotencyKeysDeleted: number;
  refreshTokensDeleted: number;
}

export async function housekeepingWorkflow(options: { idempotencyKeyHours?: number; bookingGraceSeconds?: number } = {}): Promise<HousekeepingResult> {
  const bookingWorkflowsStarted = await startPendingBookingWorkflows(options.bookingGraceSeconds ?? 30);
  const idempotencyKeysDeleted = await purgeIdempotencyKeys(options.idempotencyKeyHours ?? 24);
  const refreshTokensDeleted = await purgeRefreshTokens();
  return { bookingWorkflowsStarted, idempotencyKeysDeleted, refreshTokensDeleted };
}
