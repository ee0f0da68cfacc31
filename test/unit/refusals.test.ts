import { expect } from 'chai';
import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { bookingRefusalOf } from '../../services/booking-workflows';
import { BOOKING_REFUSALS, BOOKING_WORKFLOW_REFUSALS, BookingRefused, HOLD_REFUSALS, Refused } from '../../domain/refusals';
import { Problem, problemOf, REFUSAL_STATUS } from '../../api/http/problem';

/** What the API answered before refusals moved out of api/ (status, code): must not change. */
const HTTP_BEFORE: Record<string, [number, string]> = {
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
  PaymentMismatch: [409, 'payment_mismatch'],
  PaymentUnavailable: [503, 'payment_unavailable'],
};
const AMEND_BEFORE: Record<string, number> = {
  departure_not_found: 404, pax_type_not_offered: 422, passenger_age_mismatch: 422, adult_required: 422,
  booking_closed: 409, different_tour: 409, departure_closed: 409, too_many_passengers: 409, too_few_passengers: 409, not_enough_seats: 409,
};

const updateFailed = (type: string, message: string, details?: unknown[]) =>
  new WorkflowUpdateFailedError('update failed', ApplicationFailure.create({ type, message, details, nonRetryable: true }));

function asProblem(err: unknown): Problem {
  const refusal = bookingRefusalOf(err);
  expect(refusal).to.be.instanceOf(BookingRefused);
  const problem = problemOf(refusal);
  expect(problem).to.be.instanceOf(Problem);
  return problem as Problem;
}

describe('booking refusals (services/booking-workflows.ts → api/http/problem.ts)', () => {
  it('maps every workflow refusal to the status and code the API answered before', () => {
    expect(Object.keys(BOOKING_WORKFLOW_REFUSALS).sort()).to.deep.equal(Object.keys(HTTP_BEFORE).sort());
    for (const [type, [status, code]] of Object.entries(HTTP_BEFORE)) {
      const problem = asProblem(updateFailed(type, `refused: ${type}`));
      expect([problem.status, problem.code, problem.detail], type).to.deep.equal([status, code, `refused: ${type}`]);
    }
  });

  it('maps amendment refusals by the code in the failure details', () => {
    for (const [code, status] of Object.entries(AMEND_BEFORE)) {
      const problem = asProblem(updateFailed('AmendRefused', 'no', [code]));
      expect([problem.status, problem.code], code).to.deep.equal([status, code]);
    }
  });

  it('answers an unknown refusal as 409 refused, and a closed workflow as 409 booking_closed', () => {
    expect(asProblem(updateFailed('SomethingNew', 'x'))).to.include({ status: 409, code: 'refused' });
    expect(asProblem(updateFailed('AmendRefused', 'x', ['brand_new_code']))).to.include({ status: 409, code: 'refused' });
    expect(asProblem(new WorkflowNotFoundError('gone', 'booking-1', undefined))).to.include({ status: 409, code: 'booking_closed' });
  });

  it('leaves other errors alone, so they stay 500s', () => {
    const boom = new Error('connection refused');
    expect(bookingRefusalOf(boom)).to.equal(boom);
    expect(problemOf(boom)).to.equal(boom);
  });

  it('gives every refusal code a kind the API knows', () => {
    for (const [code, kind] of Object.entries(BOOKING_REFUSALS)) {
      const problem = problemOf(new Refused(kind, code, 'm')) as Problem;
      // 503 only for "an outside party did not answer, try again"; every other refusal is the caller's to fix.
      expect(problem.status, code).to.satisfy((st: number) => (st >= 400 && st <= 422) || (kind === 'unavailable' && st === 503));
    }
  });

  it('answers hold refusals with the statuses the API answered before', () => {
    const before: Record<string, number> = {
      departure_not_found: 404, departure_closed: 409, departure_started: 409, too_many_passengers: 409, too_few_passengers: 409, sold_out: 409,
      not_enough_seats: 409, promo_code_invalid: 422, pax_type_not_offered: 422, passenger_age_mismatch: 422, adult_required: 422,
      credit_limit_exceeded: 409, partner_suspended: 403,
    };
    expect(Object.fromEntries(Object.entries(HOLD_REFUSALS).map(([code, kind]) => [code, REFUSAL_STATUS[kind]]))).to.deep.equal(before);
  });

  it('gives a code the same kind wherever it is used (an amendment refuses as the hold does)', () => {
    for (const [code, kind] of Object.entries(HOLD_REFUSALS)) {
      if (code in BOOKING_REFUSALS) expect(BOOKING_REFUSALS[code as keyof typeof BOOKING_REFUSALS], code).to.equal(kind);
    }
  });
});
