/**
 * Housekeeping activities: delete what has served its purpose. Idempotent by nature (a delete
 * of already-deleted rows deletes nothing).
 */
import type { Knex } from 'knex';

export interface HousekeepingDeps {
  knex: Knex;
}

export function createHousekeepingActivities({ knex }: HousekeepingDeps) {
  return {
    /** Idempotency keys are kept 24 hours, as Stripe does; after that a retry is a new request. */
    async purgeIdempotencyKeys(olderThanHours: number): Promise<number> {
      return knex('idempotency_keys').where('created_at', '<', knex.raw(`now() - make_interval(hours => ?)`, [olderThanHours])).delete();
    },
    /** Refresh tokens past expiry, or spent/revoked more than a day ago (reuse detection needs them a while). */
    async purgeRefreshTokens(): Promise<number> {
      return knex('refresh_tokens')
        .where('expires_at', '<', knex.fn.now())
        .orWhere('revoked_at', '<', knex.raw(`now() - interval '1 day'`))
        .orWhere('used_at', '<', knex.raw(`now() - interval '1 day'`))
        .delete();
    },
  };
}

export type HousekeepingActivities = ReturnType<typeof createHousekeepingActivities>;
