/** RevenueMaximizer: daily price recommendations per departure; price changes wait for a person. */
import { z } from 'zod';
import { defineAgent } from '../types';
import { DEFAULT_POLICY, priceChanges, type DepartureFacts } from './core';
import { applyPriceChangesTool, departuresTool } from './tools';

const input = z.object({
  tourCodes: z.array(z.string().min(1).max(32)).max(100).optional(),
  horizonDays: z.int().min(1).max(365).default(90),
  maxChanges: z.int().min(1).max(200).default(50),
});

const recommendation = z.object({
  departureId: z.string(), tourCode: z.string(), startsAt: z.string(), daysLeft: z.number(), loadBp: z.number(), expectedBp: z.number(),
  gapBp: z.number(), currentBp: z.number(), recommendedBp: z.number(), change: z.boolean(), reason: z.string(),
});

export const revenueMaximizer = defineAgent({
  name: 'RevenueMaximizer',
  description: 'A price recommendation per upcoming departure from its load factor against the tour\'s booking curve and the days left, within the tour\'s price floor and ceiling; applied after approval as a departure price adjustment.',
  trigger: { kind: 'schedule', every: '1 day', description: 'daily, over every departure of a tour with a price floor and ceiling in the next 90 days' },
  audience: 'operations',
  input,
  output: z.object({
    evaluated: z.number(),
    changes: z.number(),
    recommendations: z.array(recommendation),
  }),
  tools: [departuresTool, applyPriceChangesTool],
  prompt: [
    'You are the revenue manager of a tour operator. Use revenue.departures to read upcoming departures.',
    'Compare each departure\'s seats sold with the tour\'s booking curve at its days left; raise prices ahead of the curve, lower them behind it, never outside the tour\'s floor and ceiling.',
    'Propose changes with revenue.applyPriceChanges (a person approves them); explain each change in one line.',
  ].join(' '),
  gather: (i) => [{ tool: 'revenue.departures', input: { tourCodes: i.tourCodes, horizonDays: i.horizonDays } }],
  compute: (i, gathered, now) => {
    const departures = gathered['revenue.departures'] as DepartureFacts[];
    const { recommendations, changes } = priceChanges(departures, now, i.maxChanges, DEFAULT_POLICY);
    const raises = changes.filter((c) => c.toBp > c.fromBp).length;
    const proposed = new Set(changes.map((c) => c.departureId));
    return {
      output: { evaluated: departures.length, changes: changes.length, recommendations: recommendations.filter((r) => proposed.has(r.departureId)) },
      narrative: changes.length
        ? `Of ${departures.length} upcoming departures, ${changes.length} should change price (${raises} up, ${changes.length - raises} down); the changes wait for approval.`
        : `All ${departures.length} upcoming departures are priced in line with their booking curves; no change.`,
      actions: changes.length ? [{ tool: 'revenue.applyPriceChanges', input: { changes }, reason: 'load factor against the booking curve' }] : [],
    };
  },
});
