/**
 * Data-subject requests as a service for DataPrivacy's tools and the privacy routes: what we hold
 * on a person (found by email: customers, contacts and their consents, bookings and their
 * travellers, messages, payments, login accounts), its erasure, the weekly consent audit and the
 * retention sweep.
 *
 * Erasure anonymises in place and keeps what accounting law requires: bookings keep their
 * reference, amounts and currency, payments and refunds are untouched (they hold no names), so the
 * books still add up; the names, emails, phones, birth dates and message bodies go. The request
 * itself keeps only a SHA-256 of the email, as evidence that it was honoured.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { recordAudit } from '../models/audit';

const iso = (d: unknown) => (d ? new Date(d as string).toISOString() : null);
const day = (d: unknown) => (d ? (d instanceof Date ? new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 10) : String(d).slice(0, 10)) : null);
export const emailHash = (email: string) => crypto.createHash('sha256').update(email.trim().toLowerCase()).digest('hex');
export const ERASED = '[erased]';

export interface PersonalData {
  email: string;
  customers: Array<Record<string, unknown>>;
  contacts: Array<Record<string, unknown>>;
  bookings: Array<Record<string, unknown>>;
  travellers: Array<Record<string, unknown>>;
  messages: Array<Record<string, unknown>>;
  campaignMessages: Array<Record<string, unknown>>;
  payments: Array<Record<string, unknown>>;
  accounts: Array<Record<string, unknown>>;
}

interface Scope { customerIds: string[]; contactIds: string[]; bookingIds: string[]; userIds: string[] }

async function scopeOf(db: Knex, email: string): Promise<Scope> {
  const e = email.trim().toLowerCase();
  const customerIds: string[] = (await db('customers').whereRaw('lower(email) = ?', [e]).orderBy('id').select('id')).map((r) => r.id);
  const contactIds: string[] = (await db('contacts').where((q) => { q.whereRaw('lower(email) = ?', [e]); if (customerIds.length) q.orWhereIn('customer_id', customerIds); }).orderBy('id').select('id')).map((r) => r.id);
  const bookingIds: string[] = (await db('bookings').where((q) => { q.whereRaw("lower(contact->>'email') = ?", [e]); if (customerIds.length) q.orWhereIn('customer_id', customerIds); }).orderBy('created_at').orderBy('id').select('id')).map((r) => r.id);
  const userIds: string[] = (await db('users').whereRaw('lower(email) = ?', [e]).where({ role: 'customer' }).orderBy('id').select('id')).map((r) => r.id);
  return { customerIds, contactIds, bookingIds, userIds };
}

const messagesOf = (db: Knex, email: string, bookingIds: string[]) => db('outbox_messages')
  .where((q) => { q.whereRaw('lower(recipient) = ?', [email.trim().toLowerCase()]); if (bookingIds.length) q.orWhereIn('booking_id', bookingIds); });

/** Everything we hold on the person with this email, as a bundle they can be given. */
export async function personalData(db: Knex, email: string): Promise<PersonalData> {
  const s = await scopeOf(db, email);
  // One after another: `db` may be a transaction (one connection).
  const customers = await db('customers').whereIn('id', s.customerIds).orderBy('id');
  const contacts = await db('contacts').whereIn('id', s.contactIds).orderBy('id');
  const consents = await db('contact_consents').whereIn('contact_id', s.contactIds).orderBy(['contact_id', 'channel']);
  const bookings = await db('bookings').whereIn('id', s.bookingIds).orderBy('created_at').orderBy('id');
  const travellers = await db('passengers').whereIn('booking_id', s.bookingIds).orderBy(['booking_id', 'last_name', 'first_name', 'id']);
  const messages = await messagesOf(db, email, s.bookingIds).orderBy('id');
  const campaignMessages = await db('campaign_recipients').whereIn('contact_id', s.contactIds).orderBy(['campaign_id']);
  const payments = await db('payments').whereIn('booking_id', s.bookingIds).orderBy('created_at').orderBy('id');
  const accounts = await db('users').whereIn('id', s.userIds).orderBy('id');
  return {
    email: email.trim().toLowerCase(),
    customers: customers.map((c) => ({
      id: c.id, firstName: c.first_name, lastName: c.last_name, email: c.email, phone: c.phone, language: c.language, country: c.country,
      consentEmailMarketing: c.consent_email_marketing, consentWhatsapp: c.consent_whatsapp, tags: c.tags, notes: c.notes, createdAt: iso(c.created_at),
    })),
    contacts: contacts.map((c) => ({
      id: c.id, email: c.email, firstName: c.first_name, lastName: c.last_name, language: c.language, country: c.country, timezone: c.timezone, birthday: day(c.birthday),
      source: c.source, tags: c.tags, attributes: c.attributes, createdAt: iso(c.created_at),
      consents: consents.filter((k) => k.contact_id === c.id).map((k) => ({ channel: k.channel, status: k.status, source: k.source, recordedAt: iso(k.recorded_at) })),
    })),
    bookings: bookings.map((b) => ({
      id: b.id, reference: b.reference, status: b.status, departureId: b.departure_id, paxCount: b.pax_count, currency: b.currency, totalMinor: Number(b.total_minor),
      amountPaidMinor: Number(b.amount_paid_minor), contact: b.contact, language: b.language, createdAt: iso(b.created_at),
    })),
    travellers: travellers.map((p) => ({ id: p.id, bookingId: p.booking_id, paxType: p.pax_type, firstName: p.first_name, lastName: p.last_name, birthDate: day(p.birth_date) })),
    messages: messages.map((m) => ({ id: String(m.id), channel: m.channel, recipient: m.recipient, template: m.template, language: m.language, status: m.status, data: m.data, bookingId: m.booking_id, createdAt: iso(m.created_at) })),
    campaignMessages: campaignMessages.map((r) => ({ campaignId: r.campaign_id, contactId: r.contact_id, email: r.email, status: r.status, sentAt: iso(r.sent_at) })),
    payments: payments.map((p) => ({ id: p.id, bookingId: p.booking_id, provider: p.provider, purpose: p.purpose, status: p.status, amountMinor: Number(p.amount_minor), currency: p.currency, createdAt: iso(p.created_at) })),
    accounts: accounts.map((u) => ({ id: u.id, email: u.email, name: u.name, role: u.role, active: u.active, createdAt: iso(u.created_at), lastLoginAt: iso(u.last_login_at) })),
  };
}

export interface ErasureResult {
  emailSha256: string;
  erased: { customers: number; contacts: number; bookings: number; travellers: number; messages: number; campaignMessages: number; accounts: number };
  /** What accounting law requires us to keep, by id (no names or emails left on them). */
  kept: { bookings: string[]; payments: string[]; refunds: string[] };
}

/** Anonymises the person in place, in one transaction; a second call for the same request answers the first one's result. */
export async function erasePerson(knex: Knex, requestId: string, actor: string): Promise<ErasureResult> {
  return knex.transaction(async (trx) => {
    const request = await trx('privacy_requests').where({ id: requestId }).forUpdate().first();
    if (!request) throw new Error(`no privacy request ${requestId}`);
    if (request.completed_at) return request.result as ErasureResult;
    const email: string = request.email;
    const s = await scopeOf(trx, email);
    const messages = await messagesOf(trx, email, s.bookingIds).update({ recipient: ERASED, data: '{}' });
    const customers = s.customerIds.length ? await trx('customers').whereIn('id', s.customerIds).update({
      first_name: ERASED, last_name: ERASED, email: null, phone: null, notes: null, tags: '{}', consent_email_marketing: false, consent_whatsapp: false, updated_at: trx.fn.now(),
    }) : 0;
    const campaignMessages = s.contactIds.length ? await trx('campaign_recipients').whereIn('contact_id', s.contactIds).update({ email: trx.raw("'erased-' || contact_id || '@erased.invalid'") }) : 0;
    if (s.contactIds.length) await trx('contact_consents').whereIn('contact_id', s.contactIds).delete();
    const contacts = s.contactIds.length ? await trx('contacts').whereIn('id', s.contactIds).update({
      email: trx.raw("'erased-' || id || '@erased.invalid'"), first_name: null, last_name: null, timezone: null, birthday: null, attributes: '{}', tags: '{}', updated_at: trx.fn.now(),
    }) : 0;
    const bookings = s.bookingIds.length ? await trx('bookings').whereIn('id', s.bookingIds).update({ contact: JSON.stringify({ erased: true }), updated_at: trx.fn.now() }) : 0;
    const travellers = s.bookingIds.length ? await trx('passengers').whereIn('booking_id', s.bookingIds).update({ first_name: ERASED, last_name: ERASED, birth_date: null }) : 0;
    const accounts = s.userIds.length ? await trx('users').whereIn('id', s.userIds).update({
      email: trx.raw("'erased-' || id || '@erased.invalid'"), name: ERASED, active: false, session_epoch: trx.raw('session_epoch + 1'),
    }) : 0;
    const payments = s.bookingIds.length ? (await trx('payments').whereIn('booking_id', s.bookingIds).orderBy('id').select('id')).map((r) => r.id as string) : [];
    const refunds = s.bookingIds.length ? (await trx('refunds').whereIn('booking_id', s.bookingIds).orderBy('id').select('id')).map((r) => r.id as string) : [];
    const result: ErasureResult = {
      emailSha256: emailHash(email),
      erased: { customers, contacts, bookings, travellers, messages, campaignMessages, accounts },
      kept: { bookings: s.bookingIds, payments, refunds },
    };
    await trx('privacy_requests').where({ id: requestId }).update({ email: `sha256:${result.emailSha256}`, result: JSON.stringify(result), completed_at: trx.fn.now() });
    await recordAudit(trx, { action: 'privacy.erased', entityType: 'privacy_request', entityId: requestId, data: { by: actor, ...result } });
    return result;
  });
}

// --- weekly: consent audit and retention -----------------------------------------------------

export interface ConsentAuditFacts {
  /** Contacts sent a campaign email with no email consent granted at the time. */
  messagedWithoutConsent: Array<{ contactId: string; sends: number; lastSentAt: string }>;
  /** Granted consents that do not say where they came from. */
  consentsWithoutEvidence: Array<{ contactId: string; channel: string; source: string; recordedAt: string }>;
}

/** A consent's source is its evidence ("import:<id>", "web form", "booking <ref>"...): blank or "unknown" is none. */
export const NO_EVIDENCE = ['', 'unknown', 'none', 'n/a'];

export async function consentAuditFacts(db: Knex, since: Date): Promise<ConsentAuditFacts> {
  const messaged = await db('campaign_recipients as cr')
    .whereNotNull('cr.sent_at').where('cr.sent_at', '>=', since)
    .whereNotExists((q) => q.select(db.raw('1')).from('contact_consents as cc')
      .whereRaw('cc.contact_id = cr.contact_id').where({ 'cc.channel': 'email', 'cc.status': 'granted' }).whereRaw('cc.recorded_at <= cr.sent_at'))
    .groupBy('cr.contact_id').orderBy('cr.contact_id').select('cr.contact_id').count({ sends: '*' }).max({ last: 'cr.sent_at' });
  const unproven = await db('contact_consents').where({ status: 'granted' }).whereRaw('lower(trim(source)) = any(?)', [NO_EVIDENCE])
    .orderBy(['contact_id', 'channel']).select('contact_id', 'channel', 'source', 'recorded_at');
  return {
    messagedWithoutConsent: messaged.map((r: any) => ({ contactId: r.contact_id, sends: Number(r.sends), lastSentAt: iso(r.last)! })),
    consentsWithoutEvidence: unproven.map((r) => ({ contactId: r.contact_id, channel: r.channel, source: r.source, recordedAt: iso(r.recorded_at)! })),
  };
}

export interface RetentionFacts {
  /** Expired or failed holds (nothing paid) untouched since before the cutoff whose contact is still there. */
  expiredHolds: string[];
  /** Sent or failed messages created before the cutoff whose body is still kept. */
  outboxBodies: number;
  /** Security events (addresses are personal data) recorded before their cutoff. */
  securityEvents: number;
  holdsBefore: string;
  outboxBefore: string;
  eventsBefore: string;
}

const expiredHoldsQuery = (db: Knex, before: Date) => db('bookings').whereIn('status', ['expired', 'failed']).where('amount_paid_minor', 0)
  .where('updated_at', '<', before).whereRaw("(contact -> 'erased') is null");
const oldBodiesQuery = (db: Knex, before: Date) => db('outbox_messages').whereIn('status', ['sent', 'failed']).where('created_at', '<', before).whereRaw("data <> '{}'::jsonb");

export async function retentionFacts(db: Knex, holdsBefore: Date, outboxBefore: Date, eventsBefore: Date): Promise<RetentionFacts> {
  const holds = await expiredHoldsQuery(db, holdsBefore).orderBy('id').limit(5000).select('id');
  const bodies = await oldBodiesQuery(db, outboxBefore).count({ n: '*' }).first();
  const events = await db('security_events').where('at', '<', eventsBefore).count({ n: '*' }).first();
  return {
    expiredHolds: holds.map((r) => r.id), outboxBodies: Number(bodies!.n), securityEvents: Number(events!.n),
    holdsBefore: holdsBefore.toISOString(), outboxBefore: outboxBefore.toISOString(), eventsBefore: eventsBefore.toISOString(),
  };
}

/** Strips the personal data of these expired holds (still expired and unpaid) and the bodies of old messages. */
export async function sweepRetention(knex: Knex, sweep: { holdIds: string[]; holdsBefore: string; outboxBefore: string; eventsBefore: string }, actor: string): Promise<{ holds: number; travellers: number; outboxBodies: number; securityEvents: number }> {
  return knex.transaction(async (trx) => {
    const ids = (await expiredHoldsQuery(trx, new Date(sweep.holdsBefore)).whereIn('id', sweep.holdIds).select('id')).map((r) => r.id);
    const holds = ids.length ? await trx('bookings').whereIn('id', ids).update({ contact: JSON.stringify({ erased: true }) }) : 0;
    const travellers = ids.length ? await trx('passengers').whereIn('booking_id', ids).update({ first_name: ERASED, last_name: ERASED, birth_date: null }) : 0;
    const outboxBodies = await oldBodiesQuery(trx, new Date(sweep.outboxBefore)).update({ data: '{}' });
    const securityEvents = await trx('security_events').where('at', '<', new Date(sweep.eventsBefore)).delete();
    await recordAudit(trx, { action: 'privacy.retention_sweep', entityType: 'privacy_sweep', data: { by: actor, holds, travellers, outboxBodies, securityEvents, ...sweep, holdIds: undefined } });
    return { holds, travellers, outboxBodies, securityEvents };
  });
}
