/**
 * RiskManager: daily (and on request, for everything upcoming or one departure) a risk score and
 * a go/no-go per departure. A no-go proposes cancelling the departure; once approved, every
 * booking on it is cancelled through its booking workflow with a full refund, and told.
 */
import { z } from 'zod';
import { defineAgent } from '../types';
import { assessDepartures, cancellationReason, type DepartureRiskFacts, type IncidentFacts } from './core';
import { cancelDeparture, departureFacts } from './tools';

/** At most this many cancellations are proposed by one run (the riskiest first); the next run sees the rest. */
const MAX_PROPOSALS = 20;

const risk = z.object({
  departureId: z.string(), tourCode: z.string(), startsAt: z.string(), score: z.number(), level: z.enum(['low', 'medium', 'high']),
  decision: z.enum(['go', 'no_go']), reasons: z.array(z.string()), firmPax: z.number(), minPax: z.number().nullable(), bookings: z.number(), incidents: z.array(z.string()),
});

export const riskManager = defineAgent({
  name: 'RiskManager',
  description: 'Daily per upcoming departure: a risk score (passengers against the tour\'s minimum by its guarantee deadline, supplier failures, crisis incidents at its meeting point) and a go/no-go; a no-go proposes cancelling the departure, which after approval cancels every booking on it with a full refund and tells the travellers.',
  trigger: { kind: 'schedule', every: '1 day', description: 'every day over the departures of the next 14 days; on request for one departure or another horizon' },
  audience: 'operations',
  input: z.object({ departureId: z.uuid().optional(), days: z.int().min(1).max(120).default(14) }),
  output: z.object({ assessed: z.number(), noGo: z.number(), departures: z.array(risk) }),
  tools: [departureFacts, cancelDeparture],
  prompt: 'You assess the risk of upcoming tour departures. Call risk.departureFacts, then judge each departure: passengers against the minimum by the guarantee deadline, '
    + 'supplier failures and crisis incidents. Propose risk.cancelDeparture only for a no-go, with the reason in plain words; a person approves it.',
  occasion: (input) => (input.departureId ? `departure-${input.departureId}` : 'request'),
  gather: (input) => [{ tool: 'risk.departureFacts', input: { departureId: input.departureId, days: input.days }, as: 'facts' }],
  compute: (_input, gathered, now) => {
    const facts = gathered.facts as { departures: DepartureRiskFacts[]; incidents: IncidentFacts[] };
    const risks = assessDepartures(facts.departures, facts.incidents, now);
    const noGo = risks.filter((r) => r.decision === 'no_go');
    const waiting = new Set(facts.departures.filter((d) => d.cancellationPending).map((d) => d.departureId));
    const proposable = noGo.filter((r) => !waiting.has(r.departureId));
    const proposed = proposable.slice(0, MAX_PROPOSALS);
    const alreadyWaiting = noGo.length - proposable.length;
    const high = risks.filter((r) => r.level === 'high').length;
    return {
      output: { assessed: risks.length, noGo: noGo.length, departures: risks },
      narrative: `${risks.length} departure(s) assessed: ${high} at high risk, ${noGo.length} no-go`
        + (noGo.length ? `; cancelling ${proposed.length} of them is proposed (each after approval)`
          + `${alreadyWaiting ? `, ${alreadyWaiting} already wait for a decision` : ''}${proposable.length > proposed.length ? ', the rest in later runs' : ''}.` : '.'),
      actions: proposed.map((r) => ({
        tool: 'risk.cancelDeparture',
        input: { departureId: r.departureId, tourCode: r.tourCode, startsAt: r.startsAt, bookings: r.bookings, reason: cancellationReason(r) },
        reason: `no-go (risk ${r.score}): ${r.reasons.join('; ')}`,
      })),
    };
  },
  approval: { timeoutHours: 24, onTimeout: 'reject' },
});
