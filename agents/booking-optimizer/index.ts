/** BookingOptimizer: funnel statistics, abandoned-booking recovery (after approval) and suggested experiments. */
import { z } from 'zod';
import { defineAgent } from '../types';
import { experiments, funnel, toRecover, type FunnelGroup } from './core';
import { abandonedTool, funnelTool, recoverTool, type AbandonedFacts } from './tools';

const input = z.object({
  sinceDays: z.int().min(1).max(365).default(30),
  tourCodes: z.array(z.string().min(1).max(32)).max(100).optional(),
  maxRecoveries: z.int().min(1).max(500).default(200),
});

const row = z.object({ holds: z.number(), paid: z.number(), completed: z.number(), expired: z.number(), holdToPaidBp: z.number().nullable(), paidToCompletedBp: z.number().nullable(), holdToCompletedBp: z.number().nullable() });

export const bookingOptimizer = defineAgent({
  name: 'BookingOptimizer',
  description: 'The booking funnel (holds → paid → completed, by tour and channel), recovery of abandoned bookings through the abandoned-booking automation (after approval), and experiments worth trying.',
  trigger: { kind: 'schedule', every: '1 day', description: 'daily, over the bookings of the last 30 days; also on request' },
  audience: 'marketing',
  input,
  output: z.object({
    funnel: z.object({
      total: row,
      byTour: z.array(row.extend({ tourCode: z.string() })),
      byChannel: z.array(row.extend({ channel: z.string() })),
      byTourAndChannel: z.array(row.extend({ tourCode: z.string(), channel: z.string() })),
    }),
    abandoned: z.number(),
    toRecover: z.array(z.string()),
    experiments: z.array(z.object({ tourCode: z.string(), channel: z.string().nullable(), finding: z.string(), suggestion: z.string() })),
  }),
  tools: [funnelTool, abandonedTool, recoverTool],
  prompt: [
    'You optimise the booking funnel of a tour operator. Read funnel.stats and funnel.abandoned.',
    'Report where bookings are lost (hold → paid → completed, by tour and channel) with exact numbers, suggest experiments (as suggestions, not actions),',
    'and propose funnel.recoverAbandoned for abandoned bookings whose contacts consent to email and have not booked again (a person approves it).',
  ].join(' '),
  gather: (i) => [
    { tool: 'funnel.stats', input: { sinceDays: i.sinceDays, tourCodes: i.tourCodes } },
    { tool: 'funnel.abandoned', input: { sinceDays: i.sinceDays, tourCodes: i.tourCodes } },
  ],
  compute: (i, gathered) => {
    const f = funnel(gathered['funnel.stats'] as FunnelGroup[]);
    const abandoned = gathered['funnel.abandoned'] as AbandonedFacts;
    const recover = abandoned.automations.length ? toRecover(abandoned.bookings).slice(0, i.maxRecoveries) : [];
    const ideas = experiments(f);
    const rateText = f.total.holdToPaidBp === null ? 'no holds' : `${f.total.paid} of ${f.total.holds} holds paid (${(f.total.holdToPaidBp / 100).toFixed(2)}%), ${f.total.completed} completed`;
    const recoveryText = !abandoned.automations.length
      ? 'no abandoned-booking automation is active, so nobody is chased'
      : `${recover.length} of ${abandoned.bookings.length} abandoned bookings can be recovered (the others lack email consent, are enrolled already, or booked again)`;
    return {
      output: { funnel: f, abandoned: abandoned.bookings.length, toRecover: recover.map((b) => b.reference), experiments: ideas },
      narrative: `Last ${i.sinceDays} days: ${rateText}; ${recoveryText}; ${ideas.length} experiment${ideas.length === 1 ? '' : 's'} suggested.`,
      actions: recover.length ? [{
        tool: 'funnel.recoverAbandoned',
        input: { bookings: recover.map((b) => ({ bookingId: b.bookingId, reference: b.reference, email: b.email, tourCode: b.tourCode })), automations: abandoned.automations.map((a) => a.name) },
        reason: 'their holds lapsed before payment; the abandoned-booking automation reminds them',
      }] : [],
    };
  },
});
