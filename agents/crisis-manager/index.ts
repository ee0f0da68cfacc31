/**
 * CrisisManager (agent 26): an incident with a place, a radius and a time. Finds the travellers
 * there, sends each the notice with a personal acknowledgement link (/a/{token}), and after
 * CRISIS_ESCALATE_SILENT_AFTER_MS (a durable timer in the run) tells the operators who is still
 * silent. Started by POST /api/v1/incidents (kind "crisis") or by a person; one run per incident.
 *
 * Notifying messages many people, so it waits for a person, but only briefly: a crisis notice is
 * urgent, so when nobody decides within CRISIS_APPROVAL_TIMEOUT_MINUTES (default 15) it goes out
 * (onTimeout 'approve'); an operator can still reject it or approve it at once.
 */
import { z } from 'zod';
import { defineAgent } from '../types';
import { crisisTools } from './tools';
import { incidentWindow, planCrisis, type Candidate, type CrisisInput } from './core';

const DEFAULT_ESCALATE_AFTER_MS = 2 * 3_600_000;
const DEFAULT_APPROVAL_TIMEOUT_MINUTES = 15;

/** Read when a run needs them (not at import), so an operator's change applies to the next incident. */
export function crisisSettings(env: NodeJS.ProcessEnv = process.env): { escalateAfterMs: number; approvalTimeoutMinutes: number } {
  const num = (value: string | undefined, fallback: number) => {
    const n = Number(value);
    return value !== undefined && value !== '' && Number.isFinite(n) && n >= 0 ? n : fallback;
  };
  return {
    escalateAfterMs: num(env.CRISIS_ESCALATE_SILENT_AFTER_MS, DEFAULT_ESCALATE_AFTER_MS),
    approvalTimeoutMinutes: num(env.CRISIS_APPROVAL_TIMEOUT_MINUTES, DEFAULT_APPROVAL_TIMEOUT_MINUTES),
  };
}

/** An instant with its offset, or a date (the whole day, UTC). */
const isoMoment = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);

const input = z.object({
  incidentId: z.string().min(1).max(120),
  lat: z.number().min(-90).max(90),
  lng: z.number().min(-180).max(180),
  radiusKm: z.number().positive().max(20_000),
  from: isoMoment,
  to: isoMoment,
  message: z.string().min(1).max(4000),
}).strict().refine((i) => { const w = incidentWindow(i); return Date.parse(w.from) < Date.parse(w.to); }, { message: 'must be after from', path: ['to'] });

const traveller = z.object({
  bookingId: z.string(), reference: z.string(), tourCode: z.string(), startsAt: z.string(), contactName: z.string(), distanceKm: z.number(), channel: z.enum(['email', 'whatsapp']),
});

const output = z.object({
  incidentId: z.string(),
  travellers: z.array(traveller),
  excluded: z.array(z.object({ bookingId: z.string(), reference: z.string(), why: z.string() })),
  escalateAfterMs: z.number(),
});

export const crisisManager = defineAgent({
  name: 'CrisisManager',
  description: 'An incident with a place, a radius and a time: finds the travellers there, sends each a notice with an acknowledgement link, and escalates those still silent to the operators after a delay.',
  trigger: { kind: 'event', event: 'incident.crisis', description: 'POST /api/v1/incidents with kind "crisis" (or a person, with the same input)' },
  audience: 'operations',
  input,
  output,
  tools: crisisTools,
  prompt: [
    'You are CrisisManager for Spirit Tours. An incident has a place (lat, lng), a radius in km and a time window.',
    'Call core_analysis first: it finds the bookings whose departure overlaps the window and whose tour meets within the radius, and proposes the actions.',
    'Then call crisis.notifyTravellers with exactly the booking ids the core found and the incident message; never invent booking ids.',
    'Escalation of the silent (crisis.escalateSilent) is due only after the configured delay; do not call it right after notifying.',
    'Finish with a short summary: how many travellers were told, and when the silent will be escalated.',
  ].join(' '),
  occasion: (i: CrisisInput) => `incident-${i.incidentId}`,
  gather: (i: CrisisInput) => [{ tool: 'crisis.findCandidates', input: { lat: i.lat, lng: i.lng, radiusKm: i.radiusKm, ...incidentWindow(i) }, as: 'candidates' }],
  compute: (i: CrisisInput, gathered) => planCrisis(i, (gathered.candidates ?? []) as Candidate[], crisisSettings().escalateAfterMs),
  get approval() {
    return { timeoutHours: crisisSettings().approvalTimeoutMinutes / 60, onTimeout: 'approve' as const };
  },
});
