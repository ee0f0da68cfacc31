/**
 * DataPrivacy's tools. Reads: the subject of a request (counts of what we hold), the consent audit,
 * what is past retention. Acts: storing an export bundle on its request (no approval: it changes
 * none of the person's data and goes only to the staff who asked), erasure and the retention sweep
 * (both erase data: they wait for a person).
 */
import { z } from 'zod';
import { defineTool } from '../types';
import { once } from '../outcomes';
import { recordAudit } from '../../models/audit';
import { consentAuditFacts, erasePerson, personalData, retentionFacts, sweepRetention } from '../../services/privacy';
import type { SubjectFacts } from './core';

const DAY = 86_400_000;

export const privacySubject = defineTool({
  name: 'privacy.subject', effect: 'read', needsApproval: false,
  description: 'A data-subject request and how much we hold on its person (customers, contacts, bookings, travellers, messages, payments, accounts).',
  input: z.object({ requestId: z.uuid() }),
  run: async (ctx, input): Promise<SubjectFacts> => {
    const request = await ctx.knex('privacy_requests').where({ id: input.requestId }).first();
    if (!request) throw new Error(`no privacy request ${input.requestId}`);
    const completed = Boolean(request.completed_at);
    const data = completed ? undefined : await personalData(ctx.knex, request.email);
    const n = (k: keyof Omit<NonNullable<typeof data>, 'email'>) => data?.[k].length ?? 0;
    return {
      request: { id: request.id, kind: request.kind, email: completed ? '' : request.email, completed },
      counts: {
        customers: n('customers'), contacts: n('contacts'), bookings: n('bookings'), travellers: n('travellers'), messages: n('messages'),
        campaignMessages: n('campaignMessages'), payments: n('payments'), accounts: n('accounts'),
      },
    };
  },
});

export const privacyConsentAudit = defineTool({
  name: 'privacy.consentAudit', effect: 'read', needsApproval: false,
  description: 'Contacts sent campaign email without email consent at the time (in the lookback), and granted consents without evidence of where they came from.',
  input: z.object({ lookbackDays: z.int().min(1).max(3650) }),
  run: async (ctx, input) => consentAuditFacts(ctx.knex, new Date(ctx.now().getTime() - input.lookbackDays * DAY)),
});

export const privacyRetention = defineTool({
  name: 'privacy.retention', effect: 'read', needsApproval: false,
  description: 'Personal data past retention: expired unpaid holds untouched for holdRetentionDays, sent message bodies older than outboxRetentionDays, security events older than securityEventRetentionDays.',
  input: z.object({ holdRetentionDays: z.int().min(1).max(36500), outboxRetentionDays: z.int().min(1).max(36500), securityEventRetentionDays: z.int().min(1).max(36500) }),
  run: async (ctx, input) => {
    const ago = (days: number) => new Date(ctx.now().getTime() - days * DAY);
    return retentionFacts(ctx.knex, ago(input.holdRetentionDays), ago(input.outboxRetentionDays), ago(input.securityEventRetentionDays));
  },
});

export const privacyStoreExport = defineTool({
  name: 'privacy.storeExport', effect: 'act', needsApproval: false,
  description: 'Stores the bundle of everything we hold on the request\'s person on the request, for download.',
  input: z.object({ requestId: z.uuid() }),
  describe: (input) => `Store the export bundle of data-subject request ${input.requestId}`,
  run: (ctx, input) => once(ctx, 'privacy.storeExport', async () => ctx.knex.transaction(async (trx) => {
    const request = await trx('privacy_requests').where({ id: input.requestId }).forUpdate().first();
    if (request.completed_at) return { requestId: input.requestId, stored: false };
    const bundle = await personalData(trx, request.email);
    const result = Object.fromEntries(Object.entries(bundle).filter(([k]) => k !== 'email').map(([k, v]) => [k, (v as unknown[]).length]));
    await trx('privacy_requests').where({ id: input.requestId }).update({ export: JSON.stringify(bundle), result: JSON.stringify(result), completed_at: trx.fn.now() });
    await recordAudit(trx, { action: 'privacy.exported', entityType: 'privacy_request', entityId: input.requestId, data: { by: ctx.actor, ...result } });
    return { requestId: input.requestId, stored: true };
  })),
});

const counts = z.object({
  customers: z.int(), contacts: z.int(), bookings: z.int(), travellers: z.int(), messages: z.int(), campaignMessages: z.int(), payments: z.int(), accounts: z.int(),
});

export const privacyErase = defineTool({
  name: 'privacy.erase', effect: 'act', needsApproval: true,
  description: 'Anonymises the request\'s person in place (names, emails, phones, birth dates, message bodies) and keeps invoices, payments and booking amounts by id.',
  input: z.object({ requestId: z.uuid(), counts }),
  describe: (i) => `Erase the personal data of data-subject request ${i.requestId}: anonymise ${i.counts.customers} customer record(s), ${i.counts.contacts} contact(s) and their consents, `
    + `the contact details of ${i.counts.bookings} booking(s) and ${i.counts.travellers} traveller(s), ${i.counts.messages + i.counts.campaignMessages} message(s) and ${i.counts.accounts} login account(s). `
    + `Kept for accounting: the bookings' amounts and ${i.counts.payments} payment(s), by id. This cannot be undone.`,
  run: (ctx, input) => once(ctx, 'privacy.erase', () => erasePerson(ctx.knex, input.requestId, ctx.actor)),
});

export const privacySweep = defineTool({
  name: 'privacy.sweep', effect: 'act', needsApproval: true,
  description: 'Erases the personal data of expired holds, the bodies of old messages and old security events past retention.',
  input: z.object({
    holdIds: z.array(z.uuid()).max(5000), holdsBefore: z.iso.datetime(), outboxBefore: z.iso.datetime(), outboxBodies: z.int().min(0), eventsBefore: z.iso.datetime(), securityEvents: z.int().min(0),
  }),
  describe: (i) => `Erase the contact details and travellers of ${i.holdIds.length} expired hold(s) untouched since before ${i.holdsBefore.slice(0, 10)}, `
    + `the bodies of ${i.outboxBodies} sent message(s) created before ${i.outboxBefore.slice(0, 10)}, and ${i.securityEvents} security event(s) recorded before ${i.eventsBefore.slice(0, 10)}. This cannot be undone.`,
  run: (ctx, input) => once(ctx, 'privacy.sweep', () => sweepRetention(ctx.knex, input, ctx.actor)),
});
