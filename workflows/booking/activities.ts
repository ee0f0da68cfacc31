/**
 * The booking workflow's activities, one proxy per timeout class, so a call cannot pick up the
 * wrong timeouts. Every class has a schedule-to-close bound and names the failures that retrying
 * cannot fix (they come back at once as non-retryable ApplicationFailures with these types).
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { BookingActivities } from '../../activities/booking';
import type { FraudActivities } from '../../activities/fraud';

/** Our own database: short attempts, retried while PostgreSQL is away, for a day at most. */
export const {
  loadBooking, markWorkflowStarted, closeBooking, recordPayment, confirmOnAccount, setStatus, appendEvent, queueMessage,
  createApproval, recordApprovalDecision, requestManualRefund, bookingLedger, amendBooking, offerWaitlist,
  enrollAbandonedBooking, enrollBookingContact,
} = proxyActivities<BookingActivities>({
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds', backoffCoefficient: 2, nonRetryableErrorTypes: ['BookingMissing', 'PaymentMissing', 'AmendRefused'] },
});

/** Payment providers: a few minutes in all, then the saga decides (compensate, or a person). */
export const { authorizePayment, capturePayment, voidPayment, refundPayment, refundBooking, refreshPayment } = proxyActivities<BookingActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '5 minutes',
  retry: {
    initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2,
    nonRetryableErrorTypes: ['ProviderNotConfigured', 'PaymentMissing', 'CaptureRefused', 'VoidRefused', 'RefundRefused'],
  },
});

/** Suppliers answer slowly; the activity heartbeats. */
export const { reserveComponent, cancelComponent } = proxyActivities<BookingActivities>({
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2, nonRetryableErrorTypes: ['SupplierRefused'] },
});

/**
 * FraudGuardian's check, on the payment's path: one query and one transaction, so a local
 * activity (no round trip through the server: the latency a payment feels is the database's);
 * bounded (a loaded machine still gets a few retries), then the saga sends the attempt to a
 * person (`fraud.review`, retried like our database), never through.
 */
export const { 'fraud.check': checkFraud } = proxyLocalActivities<FraudActivities>({
  startToCloseTimeout: '10 seconds',
  scheduleToCloseTimeout: '30 seconds',
  retry: { initialInterval: '100 milliseconds', maximumInterval: '2 seconds', backoffCoefficient: 2, nonRetryableErrorTypes: ['BookingMissing'] },
});

export const { 'fraud.review': reviewUnscored } = proxyActivities<FraudActivities>({
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds', backoffCoefficient: 2, nonRetryableErrorTypes: ['BookingMissing'] },
});
