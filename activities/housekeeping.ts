/**
 * Housekeeping activities: delete what has served its purpose, and start booking workflows that
 * the API could not start right after the hold (the transactional outbox's relay). Idempotent by
 * nature: a delete of deleted rows deletes nothing; a start of a started workflow is refused.
 */
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { taskQueue, taskQueues } from '../temporal.config';
import { enrollDueContacts } from './automation';
import { wakeMessageDispatcher } from './messaging/booking-messages';

export interface HousekeepingDeps {
  knex: Knex;
  temporal?: () => Promise<Client>;
  /** Starts a booking's workflow (idempotently); wired in activities/index.ts. */
  startBookingWorkflow?: (bookingId: string) => Promise<void>;
}

export function createHousekeepingActivities({ knex, temporal, startBookingWorkflow }: HousekeepingDeps) {
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
    /**
     * The outbox relay: bookings whose workflow is not known to run (workflow_started_at is set by
     * the workflow's own markWorkflowStarted), held for longer than `graceSeconds`. The API starts
     * each right after its hold and a `pay` starts it by update-with-start; every start is by the
     * booking's workflow id with REJECT_DUPLICATE, so one that already runs (or ran) is refused and
     * skipped here: however these race, a booking never gets a second workflow.
     */
    async startPendingBookingWorkflows(graceSeconds: number): Promise<number> {
      if (!startBookingWorkflow) throw new Error('this worker has no Temporal client for starting workflows');
      const pending = await knex('bookings').whereNull('workflow_started_at')
        .where('created_at', '<', knex.raw(`now() - make_interval(secs => ?)`, [graceSeconds])).orderBy('created_at').limit(500).pluck('id');
      for (const id of pending) await startBookingWorkflow(id);
      return pending.length;
    },
    /** Contacts due for a date- or state-triggered automation (welcome, birthday; inactive once an hour). */
    async enrollDueContacts(options: { withInactive: boolean }): Promise<Record<string, number>> {
      if (!temporal) throw new Error('this worker has no Temporal client for starting workflows');
      return enrollDueContacts(knex, temporal, taskQueue(taskQueues.marketing), options);
    },
    /** The message dispatcher's safety net: wakes it when an email or a WhatsApp message is due (a wake lost when it was queued). */
    async wakeMessageDispatcherIfDue(): Promise<boolean> {
      if (!temporal) throw new Error('this worker has no Temporal client for starting workflows');
      const due = await knex('outbox_messages').where({ status: 'queued' }).whereIn('channel', ['email', 'whatsapp']).where('next_attempt_at', '<=', knex.fn.now()).first('id');
      return due ? wakeMessageDispatcher(temporal, 10_000) : false;
    },
  };
}

export type HousekeepingActivities = ReturnType<typeof createHousekeepingActivities>;
