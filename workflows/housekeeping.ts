/**
 * Platform housekeeping, run hourly by the `platform-housekeeping` schedule: expire idempotency
 * keys and spent refresh tokens. Short-lived; its history is a handful of events.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { HousekeepingActivities } from '../activities/housekeeping';

const { purgeIdempotencyKeys, purgeRefreshTokens } = proxyActivities<HousekeepingActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

export interface HousekeepingResult {
  idempotencyKeysDeleted: number;
  refreshTokensDeleted: number;
}

export async function housekeepingWorkflow(options: { idempotencyKeyHours?: number } = {}): Promise<HousekeepingResult> {
  const idempotencyKeysDeleted = await purgeIdempotencyKeys(options.idempotencyKeyHours ?? 24);
  const refreshTokensDeleted = await purgeRefreshTokens();
  return { idempotencyKeysDeleted, refreshTokensDeleted };
}
