/**
 * The booking workflow as a service for its callers (API routes, activities through their deps,
 * benches): start it (idempotently, by id), and steer it with update-with-start, so a command
 * works even if the workflow was not started yet (the hold commits first; the start follows, and
 * the housekeeping schedule retries any that did not).
 *
 * Knows nothing of HTTP: a refused command throws a `BookingRefused` (domain/refusals.ts) with
 * the code and kind of the refusal; the API renders it (api/http/problem.ts).
 */
import {
  Client, WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, WorkflowNotFoundError, ApplicationFailure,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { bookingWorkflow } from '../workflows/booking';
import { bookingWorkflowId } from '../workflows/booking-messages';
import { taskQueue, taskQueues } from '../temporal.config';
import { BOOKING_WORKFLOW_REFUSALS, BookingRefused, isBookingRefusalCode, type BookingWorkflowRefusal } from '../domain/refusals';

function startOptions(bookingId: string) {
  return {
    workflowId: bookingWorkflowId(bookingId),
    taskQueue: taskQueue(taskQueues.bookings),
    args: [{ bookingId }] as [{ bookingId: string }],
    // A finished booking's workflow is never started again.
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
  };
}

export async function startBookingWorkflow(client: Client, bookingId: string): Promise<void> {
  try {
    await client.workflow.start<typeof bookingWorkflow>('bookingWorkflow', startOptions(bookingId));
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

/** A workflow's refusal (update validator or business failure) as a typed refusal; anything else as it was. */
export function bookingRefusalOf(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const failure = err.cause;
    if (failure.type === 'AmendRefused') {
      // Amendment refusals carry their own code (from models/holds.ts) in the failure's details.
      const code = String(failure.details?.[0] ?? 'refused');
      return new BookingRefused(isBookingRefusalCode(code) ? code : 'refused', failure.message);
    }
    const code = Object.prototype.hasOwnProperty.call(BOOKING_WORKFLOW_REFUSALS, failure.type ?? '')
      ? BOOKING_WORKFLOW_REFUSALS[failure.type as BookingWorkflowRefusal]
      : 'refused';
    return new BookingRefused(code, failure.message);
  }
  if (err instanceof WorkflowExecutionAlreadyStartedError || err instanceof WorkflowNotFoundError) {
    return new BookingRefused('booking_closed', 'This booking is closed; it can no longer be changed.');
  }
  return err;
}

/** Sends an update to a booking's workflow (starting it if needed); a refusal throws `BookingRefused`. */
export async function steerBooking<Ret, Args extends unknown[]>(
  client: Client, bookingId: string, update: UpdateDefinition<Ret, Args>, ...args: Args
): Promise<Ret> {
  return steerBookingAs(client, bookingId, update, undefined, ...args);
}

/** steerBooking with an update id (a client's retry of the same request passes the same id: one update). */
export async function steerBookingAs<Ret, Args extends unknown[]>(
  client: Client, bookingId: string, update: UpdateDefinition<Ret, Args>, updateId: string | undefined, ...args: Args
): Promise<Ret> {
  const answer = await steerBookingWithin(client, bookingId, update, { updateId }, ...args);
  return (answer as { result: Ret }).result;
}

export interface SteerOptions {
  /** The update's id: the same for a client's retry of the same request, so Temporal runs it once. */
  updateId?: string;
  /** Answer `{ done: false }` when the workflow has accepted the update but not finished it within this time. */
  answerWithinMs?: number;
}

/**
 * Like steerBooking, but may answer before the update has finished: once the workflow has
 * accepted it (validators passed), wait at most `answerWithinMs` for its result. A caller that
 * gets `{ done: false }` asks again later with the same `updateId` and gets the same update's result.
 */
export async function steerBookingWithin<Ret, Args extends unknown[]>(
  client: Client, bookingId: string, update: UpdateDefinition<Ret, Args>, options: SteerOptions, ...args: Args
): Promise<{ done: true; result: Ret } | { done: false; updateId: string }> {
  const startWorkflowOperation = new WithStartWorkflowOperation<typeof bookingWorkflow>('bookingWorkflow', {
    ...startOptions(bookingId), workflowIdConflictPolicy: 'USE_EXISTING',
  });
  try {
    if (options.answerWithinMs === undefined) {
      return { done: true, result: await client.workflow.executeUpdateWithStart(update, { args, updateId: options.updateId, startWorkflowOperation }) };
    }
    const handle = await client.workflow.startUpdateWithStart(update, { args, updateId: options.updateId, startWorkflowOperation, waitForStage: 'ACCEPTED' });
    const result = handle.result();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), options.answerWithinMs); });
    const first = await Promise.race([result, late]).finally(() => clearTimeout(timer));
    if (first === 'late') {
      result.catch(() => undefined); // the caller asks again; nobody waits for this one
      return { done: false, updateId: handle.updateId };
    }
    return { done: true, result: first as Ret };
  } catch (err) {
    throw bookingRefusalOf(err);
  }
}

/** A client-bound starter, for activities that create bookings (their deps get this, not the client). */
export function bookingWorkflowStarter(temporal: () => Promise<Client>): (bookingId: string) => Promise<void> {
  return async (bookingId) => startBookingWorkflow(await temporal(), bookingId);
}
