/** DataPrivacy: data-subject requests (export, erasure after approval) and, weekly, the consent audit and the retention sweep. */
import { z } from 'zod';
import { defineAgent } from '../types';
import { decideRequest, weeklyReview, type SubjectFacts, type WeeklyFacts } from './core';
import { privacyConsentAudit, privacyErase, privacyRetention, privacyStoreExport, privacySubject, privacySweep } from './tools';

const input = z.object({
  /** A data-subject request (POST /api/v1/privacy/requests); without it, the weekly review. */
  requestId: z.uuid().optional(),
  lookbackDays: z.int().min(1).max(3650).default(Number(process.env.PRIVACY_CONSENT_LOOKBACK_DAYS) || 365),
  holdRetentionDays: z.int().min(1).max(36500).default(Number(process.env.PRIVACY_HOLD_RETENTION_DAYS) || 90),
  outboxRetentionDays: z.int().min(1).max(36500).default(Number(process.env.PRIVACY_OUTBOX_RETENTION_DAYS) || 365),
  securityEventRetentionDays: z.int().min(1).max(36500).default(Number(process.env.PRIVACY_SECURITY_EVENT_RETENTION_DAYS) || 90),
});

const output = z.union([
  z.object({ requestId: z.string(), kind: z.enum(['export', 'erasure']), found: z.record(z.string(), z.number()), proposed: z.string() }),
  z.object({ consentAudit: z.record(z.string(), z.unknown()), retention: z.record(z.string(), z.unknown()), proposed: z.string() }),
]);

export const dataPrivacy = defineAgent({
  name: 'DataPrivacy',
  description: 'Data-subject requests: an export of everything we hold, or an erasure after approval that keeps what accounting law requires; weekly, a consent audit and a retention sweep.',
  trigger: { kind: 'schedule', every: '7 days', description: 'weekly consent audit and retention sweep; each data-subject request (POST /api/v1/privacy/requests) starts a run of its own' },
  audience: 'operations',
  input,
  output,
  tools: [privacySubject, privacyConsentAudit, privacyRetention, privacyStoreExport, privacyErase, privacySweep],
  prompt: 'You are DataPrivacy, the data-protection officer\'s assistant of a tour operator. For an export request, store the bundle of everything held on the person. '
    + 'For an erasure request, propose the erasure: it waits for a person, anonymises personal data and keeps invoices, payments and booking amounts. '
    + 'Weekly, report contacts messaged without consent and consents without evidence, and propose a sweep of what is past retention (it waits for a person).',
  occasion: (i) => (i.requestId ? `privacy-${i.requestId}` : 'weekly'),
  gather: (i) => (i.requestId
    ? [{ tool: 'privacy.subject', input: { requestId: i.requestId } }]
    : [{ tool: 'privacy.consentAudit', input: { lookbackDays: i.lookbackDays } }, { tool: 'privacy.retention', input: { holdRetentionDays: i.holdRetentionDays, outboxRetentionDays: i.outboxRetentionDays, securityEventRetentionDays: i.securityEventRetentionDays } }]),
  compute: (i, gathered) => (i.requestId
    ? decideRequest(gathered['privacy.subject'] as SubjectFacts)
    : weeklyReview({ consent: gathered['privacy.consentAudit'] as WeeklyFacts['consent'], retention: gathered['privacy.retention'] as WeeklyFacts['retention'] })),
});
