/**
 * The API's side of the booking workflow: start it (idempotently, by id), and steer it with
 * update-with-start, so a command works even if the workflow was not started yet (the hold
 * commits first; the start follows, and the housekeeping schedule retries any that did not).
 */
import {
  Client, WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, WorkflowNotFoundError, ApplicationFailure,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { bookingWorkflow } from '../workflows/booking';
import { bookingWorkflowId } from '../workflows/booking-messages';
import { taskQueue, taskQueues } from '../temporal.config';
import { Problem } from './http/problem';

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

/** Workflow refusals (update validators, business failures) as HTTP problems. */
const REFUSALS: Record<string, [number, string]> = {
  InvalidProvider: [400, 'invalid_provider'],
  InvalidPaymentMethod: [400, 'invalid_payment_method'],
  InvalidReason: [400, 'validation_failed'],
  ProviderNotConfigured: [422, 'provider_not_configured'],
  BookingClosed: [409, 'booking_closed'],
  NothingToPay: [409, 'nothing_to_pay'],
  OnAccount: [409, 'booking_on_account'],
  PaymentInProgress: [409, 'payment_in_progress'],
  CancellationPending: [409, 'cancellation_pending'],
  TripStarted: [409, 'trip_started'],
  ApprovalNotPending: [409, 'approval_not_pending'],
  InvalidAmendment: [400, 'validation_failed'],
  AmendmentInProgress: [409, 'amendment_in_progress'],
};

/** Amendment refusals carry their own code (from models/holds.ts) in the failure's details. */
const AMEND_STATUS: Record<string, number> = { departure_not_found: 404, pax_type_not_offered: 422, passenger_age_mismatch: 422, adult_required: 422 };

export async function steerBooking<Ret, Args extends unknown[]>(
  client: Client, bookingId: string, update: UpdateDefinition<Ret, Args>, ...args: Args
): Promise<Ret> {
  try {
    return await client.workflow.executeUpdateWithStart(update, {
      args,
      startWorkflowOperation: new WithStartWorkflowOperation<typeof bookingWorkflow>('bookingWorkflow', {
        ...startOptions(bookingId), workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
      if (err.cause.type === 'AmendRefused') {
        const code = String(err.cause.details?.[0] ?? 'refused');
        throw new Problem(AMEND_STATUS[code] ?? 409, code, err.cause.message);
      }
      const [status, code] = REFUSALS[err.cause.type ?? ''] ?? [409, 'refused'];
      throw new Problem(status, code, err.cause.message);
    }
    if (err instanceof WorkflowExecutionAlreadyStartedError || err instanceof WorkflowNotFoundError) {
      throw new Problem(409, 'booking_closed', 'This booking is closed; it can no longer be changed.');
    }
    throw err;
  }
}
