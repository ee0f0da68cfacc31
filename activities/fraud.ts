/**
 * FraudGuardian inside the booking saga, on the bookings task queue (so a worker that polls only
 * that queue completes payments): `fraud.check` gathers a payment attempt's facts in one query,
 * runs the agent's pure core (agents/fraud-guardian/core.ts) and records, in one transaction, the
 * attempt, the run (agent_runs, mode core) and, for a review, the approval and the timeline entry.
 * A retry answers what was recorded. `fraud.review` is the way out when the check cannot run: the
 * attempt goes to a person, never straight through.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import { DEFAULT_FRAUD_RULES, mergeFraudRules, scorePayment, type FraudDecision, type FraudSignal, type IpCountryTable, normalizeIp } from '../agents/fraud-guardian/core';
import { gatherPaymentFacts } from '../agents/fraud-guardian/facts';
import { cardCountryOf } from '../integrations/payments';
import type { ProviderName } from '../integrations/payments/types';
import { agentRunId } from '../workflows/agent-messages';

export interface FraudActivityDeps {
  knex: Knex;
  /** FRAUD_RULES (JSON text or parsed), read at each check. */
  rules: () => unknown;
  ipTable: IpCountryTable;
  /** The deployment's task-queue prefix (agent run ids carry it, as services/agent-runs.ts does). */
  runIdPrefix: string;
  log?: (message: string, meta: Record<string, unknown>) => void;
}

export interface FraudCheckInput {
  bookingId: string;
  workflowId: string;
  attemptKey: string;
  provider: ProviderName;
  paymentMethod: string;
  clientIp: string | null;
  amountMinor: number;
  currency: string;
  purpose: 'deposit' | 'balance' | 'full';
  /** The booking calendar's compression (1 in production): the review's deadline is business time. */
  timeScale: number;
}

export interface FraudVerdict {
  decision: FraudDecision;
  /** null: the check could not run (the attempt went to a person). */
  score: number | null;
  signals: FraudSignal[];
  reason: string;
  runId: string;
  approvalId: string | null;
  /** For a review: its deadline in workflow milliseconds from now, and what happens then. */
  review: { timeoutMs: number; onTimeout: 'approve' | 'reject'; expiresAt: string } | null;
}

const AGENT = 'FraudGuardian';
const money = (minor: number, currency: string) => `${(minor / 100).toFixed(2)} ${currency}`;

function attemptNumber(attemptKey: string): string {
  return attemptKey.replace(/^pay-/, '');
}

export function fraudRunId(bookingId: string, attemptKey: string, prefix: string): string {
  return agentRunId(AGENT, `payment-${bookingId}-${attemptNumber(attemptKey)}`, prefix);
}

export function createFraudActivities(deps: FraudActivityDeps) {
  const { knex } = deps;

  const parsedRules = (): unknown => {
    const raw = deps.rules();
    if (typeof raw !== 'string') return raw;
    try {
      return JSON.parse(raw);
    } catch {
      deps.log?.('FRAUD_RULES is not JSON; the default fraud rules are used', {});
      return undefined;
    }
  };

  /** The approval, its timeline entry and the longer hold, in the caller's transaction. */
  async function requestReview(trx: Knex.Transaction, input: FraudCheckInput, b: { branchId: string; reference: string; paxCount: number }, runId: string, reason: string, data: Record<string, unknown>, review: { timeoutHours: number; onTimeout: 'approve' | 'reject' }) {
    const timeoutMs = review.timeoutHours * 3_600_000;
    const expiresAt = new Date(Date.now() + Math.ceil(timeoutMs * input.timeScale)).toISOString();
    const amount = money(input.amountMinor, input.currency);
    const seats = `${b.paxCount} seat${b.paxCount === 1 ? '' : 's'}`;
    const what = input.purpose === 'balance'
      ? `Let the balance payment of ${amount} for booking ${b.reference} go ahead: the card is authorized and captured. Rejecting it refuses this payment; the booking stays as it is.`
      : `Let the payment of ${amount} for booking ${b.reference} go ahead: the card is authorized and captured and the booking confirmed. Rejecting it releases the ${seats} held and the booking fails.`;
    const [approval] = await trx('approvals').insert({
      booking_id: input.bookingId, branch_id: b.branchId, kind: 'payment_review', workflow_id: input.workflowId, amount_minor: input.amountMinor, currency: input.currency,
      reason: reason.slice(0, 255), requested_by: `agent:${AGENT}`, agent_run_id: runId, expires_at: expiresAt, dedupe_key: `booking-${input.bookingId}/${input.attemptKey}/fraud-review`,
      data: JSON.stringify({ what, attemptKey: input.attemptKey, provider: input.provider, purpose: input.purpose, onExpiry: review.onTimeout, ...data }),
    }).returning('id');
    // The hold is kept until the review is decided: the record says so too.
    await trx('bookings').where({ id: input.bookingId }).whereNotNull('hold_expires_at')
      .update({ hold_expires_at: trx.raw('greatest(hold_expires_at, ?::timestamptz)', [expiresAt]), updated_at: trx.fn.now() });
    return { approvalId: approval.id as string, review: { timeoutMs, onTimeout: review.onTimeout, expiresAt } };
  }

  const event = (trx: Knex.Transaction, bookingId: string, attemptKey: string, type: string, data: Record<string, unknown>) =>
    trx('booking_events').insert({ booking_id: bookingId, type, actor: `agent:${AGENT}`, data: JSON.stringify(data), dedupe_key: `${attemptKey}/fraud` })
      .onConflict(['booking_id', 'dedupe_key']).ignore();

  const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

  return {
    /** Scores one payment attempt before authorization; records it once. */
    async 'fraud.check'(input: FraudCheckInput): Promise<FraudVerdict> {
      const started = new Date();
      const clientIp = normalizeIp(input.clientIp);
      const attempt = {
        bookingId: input.bookingId, attemptKey: input.attemptKey, provider: input.provider, cardKey: `${input.provider}:${input.paymentMethod}`,
        cardCountry: cardCountryOf(input.provider, input.paymentMethod), clientIp, amountMinor: input.amountMinor, currency: input.currency,
      };
      const gathered = await gatherPaymentFacts(knex, attempt, { deploymentRules: parsedRules(), ipTable: deps.ipTable, now: started });
      if (!gathered) throw ApplicationFailure.nonRetryable(`booking ${input.bookingId} does not exist`, 'BookingMissing');
      if (gathered.recorded) return gathered.recorded as FraudVerdict;
      if (gathered.problems.length) deps.log?.('fraud rules: invalid values ignored', { problems: gathered.problems });
      const { facts, rules, booking } = gathered;
      const result = scorePayment(facts, rules);
      const runId = fraudRunId(input.bookingId, input.attemptKey, deps.runIdPrefix);
      const ended = new Date();
      try {
        return await knex.transaction(async (trx) => {
          const verdict: FraudVerdict = { decision: result.decision, score: result.score, signals: result.signals, reason: result.reason, runId, approvalId: null, review: null };
          await trx('agent_runs').insert({
            id: runId, agent: AGENT, occasion: `payment-${input.bookingId}-${attemptNumber(input.attemptKey)}`, trigger: 'event', mode: 'core', status: 'completed',
            input: JSON.stringify({ bookingId: input.bookingId, attemptKey: input.attemptKey }),
            steps: JSON.stringify([{ kind: 'core', name: AGENT, input: facts, output: { score: result.score, decision: result.decision, signals: result.signals }, startedAt: started.toISOString(), endedAt: ended.toISOString() }]),
            narrative: result.reason, started_at: started, ended_at: ended,
          });
          if (result.decision === 'review') {
            const r = await requestReview(trx, input, booking, runId, result.reason, { score: result.score, signals: result.signals }, rules.review);
            verdict.approvalId = r.approvalId;
            verdict.review = r.review;
          }
          await trx('agent_runs').where({ id: runId }).update({ output: JSON.stringify(verdict) });
          await trx('payment_attempts').insert({
            booking_id: input.bookingId, attempt_key: input.attemptKey, customer_id: booking.customerId, provider: input.provider, card_key: attempt.cardKey,
            card_country: facts.countries.card, client_ip: clientIp, ip_country: facts.countries.ip, phone_country: facts.countries.phone,
            amount_minor: input.amountMinor, currency: input.currency, fraud_score: result.score, fraud_decision: result.decision,
            signals: JSON.stringify(result.signals), agent_run_id: runId, approval_id: verdict.approvalId,
          });
          const type = { pass: 'fraud_checked', review: 'payment_review_requested', block: 'payment_refused_fraud' }[result.decision];
          await event(trx, input.bookingId, input.attemptKey, type, {
            score: result.score, decision: result.decision, signals: result.signals, reason: result.reason,
            ...(verdict.approvalId ? { approvalId: verdict.approvalId, expiresAt: verdict.review!.expiresAt, holdKeptUntilDecided: true } : {}),
          });
          return verdict;
        });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Another attempt of this activity recorded first: its answer is the answer.
        const again = await gatherPaymentFacts(knex, attempt, { deploymentRules: parsedRules(), ipTable: deps.ipTable });
        if (again?.recorded) return again.recorded as FraudVerdict;
        throw err;
      }
    },

    /**
     * The check could not run (the database was away past its bound, a bug): the attempt goes to a
     * person instead of through. Not scored; the run is recorded as failed with the error.
     */
    async 'fraud.review'(input: FraudCheckInput & { error: string }): Promise<FraudVerdict> {
      const runId = fraudRunId(input.bookingId, input.attemptKey, deps.runIdPrefix);
      const recorded = await knex('payment_attempts as pa').join('agent_runs as r', 'r.id', 'pa.agent_run_id')
        .where({ 'pa.booking_id': input.bookingId, 'pa.attempt_key': input.attemptKey }).first('r.output');
      if (recorded) return recorded.output as FraudVerdict;
      const b = await knex('bookings').where({ id: input.bookingId }).first('branch_id', 'reference', 'pax_count', 'customer_id');
      if (!b) throw ApplicationFailure.nonRetryable(`booking ${input.bookingId} does not exist`, 'BookingMissing');
      const reason = `the fraud check could not run (${input.error.slice(0, 120)}): a person decides`;
      const rules = mergeFraudRules(DEFAULT_FRAUD_RULES, parsedRules()).rules.review;
      try {
        return await knex.transaction(async (trx) => {
          await trx('agent_runs').insert({
            id: runId, agent: AGENT, occasion: `payment-${input.bookingId}-${attemptNumber(input.attemptKey)}`, trigger: 'event', mode: 'core', status: 'failed',
            input: JSON.stringify({ bookingId: input.bookingId, attemptKey: input.attemptKey }), error: input.error.slice(0, 2000), narrative: reason, ended_at: trx.fn.now(),
          });
          const r = await requestReview(trx, input, { branchId: b.branch_id, reference: b.reference, paxCount: b.pax_count }, runId, reason, { score: null, signals: [], checkFailed: true }, rules);
          const verdict: FraudVerdict = { decision: 'review', score: null, signals: [], reason, runId, approvalId: r.approvalId, review: r.review };
          await trx('agent_runs').where({ id: runId }).update({ output: JSON.stringify(verdict) });
          await trx('payment_attempts').insert({
            booking_id: input.bookingId, attempt_key: input.attemptKey, customer_id: b.customer_id, provider: input.provider, card_key: `${input.provider}:${input.paymentMethod}`,
            card_country: cardCountryOf(input.provider, input.paymentMethod), client_ip: normalizeIp(input.clientIp), amount_minor: input.amountMinor, currency: input.currency,
            fraud_score: null, fraud_decision: 'review', signals: '[]', agent_run_id: runId, approval_id: r.approvalId,
          });
          await event(trx, input.bookingId, input.attemptKey, 'payment_review_requested', { score: null, decision: 'review', reason, approvalId: r.approvalId, expiresAt: r.review.expiresAt, holdKeptUntilDecided: true });
          return verdict;
        });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        const again = await knex('payment_attempts as pa').join('agent_runs as r', 'r.id', 'pa.agent_run_id')
          .where({ 'pa.booking_id': input.bookingId, 'pa.attempt_key': input.attemptKey }).first('r.output');
        if (again) return again.output as FraudVerdict;
        throw err;
      }
    },
  };
}

export type FraudActivities = ReturnType<typeof createFraudActivities>;
