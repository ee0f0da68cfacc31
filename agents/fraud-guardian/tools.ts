/** FraudGuardian's tools: read only (it scores; the booking saga acts on the score). */
import { z } from 'zod';
import { cardCountryOf } from '../../integrations/payments';
import { config } from '../../platform/config';
import { defineTool } from '../types';
import { ipCountryTable } from './core';
import { gatherPaymentFacts, type AttemptInput } from './facts';
import type { ProviderName } from '../../integrations/payments/types';

let table: ReturnType<typeof ipCountryTable> | undefined;
const ipTable = () => (table ??= ipCountryTable(config.fraud.ipCountries));

function deploymentRules(): unknown {
  try {
    return config.fraud.rules ? JSON.parse(config.fraud.rules) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The facts of a booking's latest payment attempt, as of now (velocity counts over the window
 * ending now); with no attempt yet, those of a payment of what is due now by an unknown card.
 */
export const paymentFacts = defineTool({
  name: 'fraud.paymentFacts',
  description: "The facts FraudGuardian scores for a booking's latest payment attempt: attempts per customer, card and address in the velocity window, earlier declines, card/phone/address countries, the customer's and the tour's usual payment, lead time; and the rules in force.",
  effect: 'read',
  needsApproval: false,
  input: z.object({ bookingId: z.uuid() }),
  run: async (ctx, input) => {
    const latest = await ctx.knex('payment_attempts').where({ booking_id: input.bookingId }).orderBy('created_at', 'desc').first();
    let attempt: AttemptInput;
    if (latest) {
      const [provider, ...method] = String(latest.card_key).split(':');
      attempt = {
        bookingId: input.bookingId, attemptKey: latest.attempt_key, provider, cardKey: latest.card_key, cardCountry: cardCountryOf(provider as ProviderName, method.join(':')) ?? latest.card_country,
        clientIp: latest.client_ip ?? null, amountMinor: Number(latest.amount_minor), currency: String(latest.currency).trim(),
      };
    } else {
      const b = await ctx.knex('bookings').where({ id: input.bookingId }).first('total_minor', 'net_minor', 'partner_id', 'deposit_minor', 'payment_plan', 'amount_paid_minor', 'status', 'currency');
      if (!b) throw new Error(`booking ${input.bookingId} does not exist`);
      const payable = Number(b.partner_id ? b.net_minor : b.total_minor);
      const due = b.status === 'held' && b.payment_plan === 'deposit' ? Number(b.deposit_minor) : payable - Number(b.amount_paid_minor);
      attempt = { bookingId: input.bookingId, attemptKey: 'next', provider: 'unknown', cardKey: 'unknown:', cardCountry: null, clientIp: null, amountMinor: Math.max(0, due), currency: String(b.currency).trim() };
    }
    const gathered = await gatherPaymentFacts(ctx.knex, attempt, { deploymentRules: deploymentRules(), ipTable: ipTable(), now: ctx.now(), alreadyRecorded: Boolean(latest) });
    if (!gathered) throw new Error(`booking ${input.bookingId} does not exist`);
    return {
      facts: gathered.facts, rules: gathered.rules, problems: gathered.problems,
      recorded: latest ? { attemptKey: latest.attempt_key, score: latest.fraud_score, decision: latest.fraud_decision, at: new Date(latest.created_at).toISOString() } : null,
    };
  },
});
