/**
 * DataPrivacy's decisions, pure. A data-subject request: an export is stored on the request (it
 * changes nothing of the person's), an erasure is proposed for approval, saying what goes and what
 * accounting law keeps; a request already completed proposes nothing. The weekly run: the consent
 * audit's findings, and a retention sweep proposed for approval when anything is past retention.
 */
import type { CoreResult, ProposedAction } from '../types';

export interface SubjectFacts {
  request: { id: string; kind: 'export' | 'erasure'; email: string; completed: boolean };
  counts: { customers: number; contacts: number; bookings: number; travellers: number; messages: number; campaignMessages: number; payments: number; accounts: number };
}

export interface RequestOutput {
  requestId: string;
  kind: 'export' | 'erasure';
  found: SubjectFacts['counts'];
  proposed: 'store_export' | 'erase' | 'nothing';
}

export function decideRequest(facts: SubjectFacts): CoreResult<RequestOutput> {
  const { request: r, counts: c } = facts;
  const held = `${c.customers} customer record(s), ${c.contacts} contact(s), ${c.bookings} booking(s) with ${c.travellers} traveller(s), ${c.messages + c.campaignMessages} message(s), ${c.accounts} login account(s)`;
  const base = { requestId: r.id, kind: r.kind, found: c };
  if (r.completed) {
    return { output: { ...base, proposed: 'nothing' }, narrative: `The ${r.kind} request ${r.id} is already completed; nothing to do.`, actions: [] };
  }
  if (r.kind === 'export') {
    return {
      output: { ...base, proposed: 'store_export' },
      narrative: `We hold ${held} and ${c.payments} payment(s) on the subject; the export bundle is stored on the request.`,
      actions: [{ tool: 'privacy.storeExport', input: { requestId: r.id }, reason: 'an export request: the bundle of everything we hold' }],
    };
  }
  const action: ProposedAction = {
    tool: 'privacy.erase',
    input: { requestId: r.id, counts: c },
    reason: 'an erasure request: personal data is anonymised; invoices, payments and booking amounts are kept as accounting law requires',
  };
  return {
    output: { ...base, proposed: 'erase' },
    narrative: `We hold ${held} on the subject. Proposed, after approval: anonymise all of it in place, keeping ${c.bookings} booking(s)' amounts and ${c.payments} payment(s) by id.`,
    actions: [action],
  };
}

export interface WeeklyFacts {
  consent: {
    messagedWithoutConsent: Array<{ contactId: string; sends: number; lastSentAt: string }>;
    consentsWithoutEvidence: Array<{ contactId: string; channel: string; source: string; recordedAt: string }>;
  };
  retention: { expiredHolds: string[]; outboxBodies: number; securityEvents: number; holdsBefore: string; outboxBefore: string; eventsBefore: string };
}

export interface WeeklyOutput {
  consentAudit: WeeklyFacts['consent'];
  retention: { expiredHolds: number; outboxBodies: number; securityEvents: number; holdsBefore: string; outboxBefore: string; eventsBefore: string };
  proposed: 'sweep' | 'nothing';
}

export function weeklyReview(facts: WeeklyFacts): CoreResult<WeeklyOutput> {
  const { consent, retention } = facts;
  const sweep = retention.expiredHolds.length > 0 || retention.outboxBodies > 0 || retention.securityEvents > 0;
  const output: WeeklyOutput = {
    consentAudit: consent,
    retention: { ...retention, expiredHolds: retention.expiredHolds.length },
    proposed: sweep ? 'sweep' : 'nothing',
  };
  const audit = `Consent audit: ${consent.messagedWithoutConsent.length} contact(s) messaged without email consent, ${consent.consentsWithoutEvidence.length} consent(s) without evidence.`;
  const narrative = sweep
    ? `${audit} Retention: ${retention.expiredHolds.length} expired hold(s), ${retention.outboxBodies} message body(ies) and ${retention.securityEvents} security event(s) past retention; proposed, after approval, to erase them.`
    : `${audit} Retention: nothing past retention.`;
  return {
    output, narrative,
    actions: sweep ? [{
      tool: 'privacy.sweep',
      input: {
        holdIds: retention.expiredHolds, holdsBefore: retention.holdsBefore, outboxBefore: retention.outboxBefore, outboxBodies: retention.outboxBodies,
        eventsBefore: retention.eventsBefore, securityEvents: retention.securityEvents,
      },
      reason: 'personal data kept past its retention period',
    }] : [],
  };
}
