/**
 * The message dispatcher: delivers queued booking messages (activities/messaging/
 * booking-messages.ts), one per deployment (id `<prefix>booking-message-dispatch`, marketing
 * queue). Whoever queues a message wakes it with signal-with-start; the every-minute
 * housekeeping wakes it too, as a safety net. It loops while messages are due, sleeps until
 * the next one is (a deferred retry), and ends when nothing is queued for a minute; the next
 * wake starts it again. A failed dispatch round (database down) waits and tries again: the
 * dispatcher never dies of it. History stays small: it continues as new every 200 rounds.
 */
import { allHandlersFinished, condition, continueAsNew, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { BookingMessageActivities } from '../activities/messaging/booking-messages';
import { messagesQueuedSignal } from './message-dispatch-messages';

const { 'messages.dispatchBookingMessages': dispatchBookingMessages } = proxyActivities<BookingMessageActivities>({
  // A claim older than this is stale (STALE_SENDING_SECONDS, 3 minutes, is longer).
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  scheduleToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});

const ROUNDS_PER_RUN = 200;
const IDLE_MS = 60_000;

export interface DispatchTotals { sent: number; failed: number; unknown: number; deferred: number }

export async function messageDispatchWorkflow(input: { totals?: DispatchTotals } = {}): Promise<DispatchTotals> {
  const totals: DispatchTotals = input.totals ?? { sent: 0, failed: 0, unknown: 0, deferred: 0 };
  let woken = false;
  setHandler(messagesQueuedSignal, () => {
    woken = true;
  });

  for (let round = 1; ; round++) {
    woken = false;
    let nextDueInMs: number | null = null;
    let more = false;
    try {
      const r = await dispatchBookingMessages({});
      totals.sent += r.sent;
      totals.failed += r.failed;
      totals.unknown += r.unknown;
      totals.deferred += r.deferred;
      nextDueInMs = r.nextDueInMs;
      more = r.more;
    } catch {
      await sleep('30 seconds'); // the activity ran out of attempts (database down?): look again later
      more = true;
    }
    if (!more) {
      if (nextDueInMs === null) {
        // Nothing queued: end after a quiet minute (a wake meanwhile keeps it going).
        if (!(await condition(() => woken, IDLE_MS))) {
          await condition(allHandlersFinished);
          return totals;
        }
      } else {
        await condition(() => woken, Math.max(500, nextDueInMs));
      }
    }
    if (round >= ROUNDS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof messageDispatchWorkflow>({ totals });
    }
  }
}
