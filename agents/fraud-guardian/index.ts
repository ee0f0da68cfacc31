/**
 * FraudGuardian: a fraud score for every payment attempt. Its trigger is the booking saga itself
 * (activities/fraud.ts runs this core inline, before authorization, and records the run); a
 * person may also re-score a booking's latest attempt through the API (a core-mode run: read the
 * facts, compute; it proposes no action: the saga acts on the score).
 */
import { z } from 'zod';
import { defineAgent } from '../types';
import { scorePayment, type FraudRules, type PaymentFacts } from './core';
import { paymentFacts } from './tools';

const signal = z.object({ name: z.string(), points: z.number(), detail: z.string() });

export const fraudGuardian = defineAgent({
  name: 'FraudGuardian',
  description: 'Scores every payment attempt from 0 to 100 before authorization: velocity (attempts per customer, card and address; earlier declines), country mismatch (card, phone, address), amount against the customer\'s and the tour\'s usual, lead time. Below 30 the payment goes on; 30-80 it waits for a person in the approvals inbox (the hold is kept); 80 and above it is refused.',
  trigger: { kind: 'event', event: 'payment.attempt', description: 'Every payment attempt, inside the booking saga before authorization; on request, re-scores a booking\'s latest attempt.' },
  audience: 'operations',
  input: z.object({ bookingId: z.uuid() }),
  output: z.object({
    bookingId: z.string(), attemptKey: z.string(), score: z.number(), decision: z.enum(['pass', 'review', 'block']), signals: z.array(signal), reason: z.string(),
    recorded: z.object({ attemptKey: z.string(), score: z.number().nullable(), decision: z.string(), at: z.string() }).nullable(),
  }),
  tools: [paymentFacts],
  prompt: 'You are FraudGuardian, the fraud analyst of a tour operator. Call core_analysis to score the booking\'s latest payment attempt, then explain in two or three sentences which signals drove the score and what an operator should check (the card\'s country, the phone, recent attempts). Do not invent facts.',
  gather: (input) => [{ tool: 'fraud.paymentFacts', input: { bookingId: input.bookingId }, as: 'payment' }],
  compute: (input, gathered) => {
    const g = gathered.payment as { facts: PaymentFacts; rules: FraudRules; recorded: { attemptKey: string; score: number | null; decision: string; at: string } | null };
    const result = scorePayment(g.facts, g.rules);
    const then = g.recorded ? ` At the attempt (${g.recorded.attemptKey}) it scored ${g.recorded.score ?? 'nothing (the check could not run)'}: ${g.recorded.decision}.` : ' No payment was attempted yet: this scores a payment of what is due now by an unknown card.';
    return {
      output: { bookingId: input.bookingId, attemptKey: g.facts.attemptKey, score: result.score, decision: result.decision, signals: result.signals, reason: result.reason, recorded: g.recorded },
      narrative: `Re-scored now: ${result.reason}.${then}`,
      actions: [],
    };
  },
});
