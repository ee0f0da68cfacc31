/**
 * SupplyChain: a supplier fails (POST /api/v1/incidents {kind: "supplier"}). It finds the open
 * bookings on that supplier's departures in the incident's window, moves each (after approval)
 * to another departure of its tour through the booking's amendment, and lists for a person those
 * that only a similar tour, or nothing, can take.
 */
import { z } from 'zod';
import { defineAgent } from '../types';
import { planAlternatives, supplyNarrative, type SupplyFacts } from './core';
import { findAffected, rebookBooking } from './tools';

const iso = z.iso.datetime({ offset: true });

export const supplyChainInput = z.object({
  incidentId: z.uuid().optional(),
  supplier: z.string().trim().min(1).max(64),
  from: iso,
  to: iso,
}).refine((i) => Date.parse(i.to) > Date.parse(i.from), { message: 'to must be after from', path: ['to'] });

const rebooking = z.object({
  bookingId: z.string(), reference: z.string(), tourCode: z.string(), paxCount: z.number(),
  fromDepartureId: z.string(), fromStartsAt: z.string(), toDepartureId: z.string(), toStartsAt: z.string(),
});

export const supplyChain = defineAgent({
  name: 'SupplyChain',
  description: 'A supplier failure or disruption: finds the affected bookings, proposes alternatives (another departure of the tour, a similar tour) and rebooks after approval through the booking\'s amendment.',
  trigger: { kind: 'event', event: 'incident.supplier', description: 'a supplier incident reported at POST /api/v1/incidents (or a person asks)' },
  audience: 'operations',
  input: supplyChainInput,
  output: z.object({
    supplier: z.string(), from: z.string(), to: z.string(), affected: z.number(),
    rebook: z.array(rebooking),
    similar: z.array(z.object({ bookingId: z.string(), reference: z.string(), paxCount: z.number(), tourCode: z.string(), suggestedTourCode: z.string(), suggestedDepartureId: z.string(), suggestedStartsAt: z.string() })),
    unresolved: z.array(z.object({ bookingId: z.string(), reference: z.string(), reason: z.string() })),
  }),
  tools: [findAffected, rebookBooking],
  prompt: 'You handle supplier failures for a tour operator. Call supply.findAffected for the supplier and window, then propose supply.rebook for each booking '
    + 'that another departure of the same tour can take (nearest date with room). Bookings that only a different tour or nothing can take are listed for a person; never move them yourself.',
  occasion: (input) => (input.incidentId ? `incident-${input.incidentId}` : `supplier-${input.supplier}-${input.from}`),
  gather: (input) => [{ tool: 'supply.findAffected', input: { supplier: input.supplier, from: input.from, to: input.to }, as: 'facts' }],
  compute: (input, gathered) => {
    const facts = gathered.facts as SupplyFacts;
    const plan = planAlternatives(facts);
    return {
      output: { supplier: input.supplier, from: input.from, to: input.to, affected: facts.affected.length, ...plan },
      narrative: supplyNarrative(input.supplier, input.from, input.to, facts.affected.length, plan),
      actions: plan.rebook.map((r) => ({
        tool: 'supply.rebook', input: r,
        reason: `${input.supplier} cannot operate the ${r.tourCode} departure of ${r.fromStartsAt}; the departure of ${r.toStartsAt} has room for ${r.paxCount}.`,
      })),
    };
  },
  approval: { timeoutHours: 24, onTimeout: 'reject' },
});
