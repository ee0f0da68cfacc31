/**
 * Crisis notifications (CrisisManager): one per incident and booking, each with an unguessable
 * acknowledgement token (only its SHA-256 is stored), and the escalations of the silent to the
 * operators. The notice itself goes out through the message outbox (outbox_messages), recorded
 * in the same transaction as its notification row, both once by their unique keys.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';

export const ACK_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export const hashAckToken = (token: string) => crypto.createHash('sha256').update(token).digest('hex');

export function newAckToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

export function ackUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/a/${token}`;
}

export interface CrisisNotices {
  incidentId: string;
  bookingIds: string[];
  runId: string | null;
  message: string;
  publicUrl: string;
}

/**
 * Records the notice to each booking's contact and its outbox message, once per incident and
 * booking, in one transaction: a booking already told (a retry, or an earlier run for the
 * incident) is left alone, as is one with no address (unreachable) or none at all. Answers the bookings told now.
 */
export async function recordCrisisNotices(knex: Knex, notice: CrisisNotices): Promise<{ told: string[]; unreachable: number }> {
  if (!notice.bookingIds.length) return { told: [], unreachable: 0 };
  return knex.transaction(async (trx) => {
    const bookings = await trx('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
      .leftJoin('tour_translations as tl', (j) => j.on('tl.tour_id', 't.id').andOn('tl.language', 'b.language'))
      .leftJoin('tour_translations as te', (j) => j.on('te.tour_id', 't.id').andOnVal('te.language', 'en'))
      .whereIn('b.id', notice.bookingIds)
      .select('b.id', 'b.reference', 'b.contact', 'b.language', 'd.starts_at', 'd.timezone', trx.raw('coalesce(tl.title, te.title, t.code) as tour_name'));
    const planned = bookings.flatMap((b) => {
      const channel: 'email' | 'whatsapp' | null = b.contact?.email ? 'email' : b.contact?.phone ? 'whatsapp' : null;
      return channel ? [{ b, channel, recipient: channel === 'email' ? b.contact.email as string : b.contact.phone as string, token: newAckToken() }] : [];
    });
    const unreachable = notice.bookingIds.length - planned.length;
    if (!planned.length) return { told: [], unreachable };
    const inserted: Array<{ booking_id: string }> = await trx('crisis_notifications').insert(planned.map((p) => ({
      incident_id: notice.incidentId, booking_id: p.b.id, run_id: notice.runId, channel: p.channel, recipient: p.recipient, token_hash: hashAckToken(p.token), message: notice.message,
    }))).onConflict(['incident_id', 'booking_id']).ignore().returning('booking_id');
    const fresh = new Set(inserted.map((r) => r.booking_id));
    const messages = planned.filter((p) => fresh.has(p.b.id)).map(({ b, channel, recipient, token }) => {
      const language = b.language === 'es' ? 'es' : 'en';
      const when = new Intl.DateTimeFormat(language === 'es' ? 'es-ES' : 'en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone: b.timezone }).format(new Date(b.starts_at));
      // No booking_id on the row: the template is filled from `data` (as a password reset), which carries the link.
      return {
        channel, recipient, template: 'crisis_alert', language,
        data: JSON.stringify({
          reference: b.reference, first_name: String(b.contact.name ?? '').split(/\s+/)[0] ?? '', tour_name: b.tour_name, departure_date: when,
          message: notice.message, ack_url: ackUrl(notice.publicUrl, token), incident_id: notice.incidentId,
        }),
        dedupe_key: `crisis-${notice.incidentId}/${b.id}/${channel}`,
      };
    });
    if (messages.length) await trx('outbox_messages').insert(messages).onConflict('dedupe_key').ignore();
    return { told: [...fresh], unreachable };
  });
}

export interface Acknowledgement {
  incidentId: string;
  reference: string;
  language: 'es' | 'en';
  message: string;
  acknowledgedAt: string;
  /** False when this token had been used before (the first time is the one kept). */
  first: boolean;
}

/** What a token's page shows, without changing anything; undefined for a token that names nothing. */
export async function findCrisisNotice(knex: Knex, token: string): Promise<Omit<Acknowledgement, 'acknowledgedAt' | 'first'> & { acknowledgedAt: string | null } | undefined> {
  if (!ACK_TOKEN_PATTERN.test(token)) return undefined;
  const row = await knex('crisis_notifications as n').join('bookings as b', 'b.id', 'n.booking_id').where('n.token_hash', hashAckToken(token))
    .first('n.incident_id', 'n.message', 'n.acknowledged_at', 'b.reference', 'b.language');
  if (!row) return undefined;
  return { incidentId: row.incident_id, reference: row.reference, language: row.language === 'es' ? 'es' : 'en', message: row.message, acknowledgedAt: row.acknowledged_at ? new Date(row.acknowledged_at).toISOString() : null };
}

/** Records the acknowledgement behind a token (idempotent: the first time is kept); undefined for a token that names nothing. */
export async function acknowledgeCrisisNotice(knex: Knex, token: string): Promise<Acknowledgement | undefined> {
  if (!ACK_TOKEN_PATTERN.test(token)) return undefined;
  const [row] = await knex('crisis_notifications').where({ token_hash: hashAckToken(token) })
    .update({ acknowledged_at: knex.raw('coalesce(acknowledged_at, now())'), acknowledgements: knex.raw('acknowledgements + 1') })
    .returning(['incident_id', 'booking_id', 'message', 'acknowledged_at', 'acknowledgements']);
  if (!row) return undefined;
  const b = await knex('bookings').where({ id: row.booking_id }).first('reference', 'language');
  return {
    incidentId: row.incident_id, reference: b.reference, language: b.language === 'es' ? 'es' : 'en', message: row.message,
    acknowledgedAt: new Date(row.acknowledged_at).toISOString(), first: row.acknowledgements === 1,
  };
}

export interface SilentTraveller { bookingId: string; reference: string; contactName: string; recipient: string; phone: string | null; notifiedAt: string }

/** The incident's notified travellers who have not acknowledged, as of now. */
export async function silentTravellers(knex: Knex | Knex.Transaction, incidentId: string): Promise<{ notified: number; silent: SilentTraveller[]; branchIds: string[] }> {
  const rows = await knex('crisis_notifications as n').join('bookings as b', 'b.id', 'n.booking_id').where('n.incident_id', incidentId)
    .orderBy('b.reference').select('n.booking_id', 'n.recipient', 'n.notified_at', 'n.acknowledged_at', 'b.reference', 'b.contact', 'b.branch_id');
  const silent = rows.filter((r) => !r.acknowledged_at);
  return {
    notified: rows.length,
    silent: silent.map((r) => ({
      bookingId: r.booking_id, reference: r.reference, contactName: String(r.contact?.name ?? ''), recipient: r.recipient, phone: r.contact?.phone ?? null,
      notifiedAt: new Date(r.notified_at).toISOString(),
    })),
    branchIds: [...new Set(silent.map((r) => r.branch_id as string))],
  };
}

/** Where an incident stands for the operators: each notice and its acknowledgement, and the escalations. */
export async function crisisIncidentView(knex: Knex, incidentId: string) {
  const notices = await knex('crisis_notifications as n').join('bookings as b', 'b.id', 'n.booking_id').where('n.incident_id', incidentId).orderBy('b.reference')
    .select('n.booking_id', 'b.reference', 'b.contact', 'n.channel', 'n.recipient', 'n.notified_at', 'n.acknowledged_at', 'n.escalated_at');
  const escalations = await knex('crisis_escalations').where({ incident_id: incidentId }).orderBy('created_at').select('id', 'created_at', 'notified', 'silent', 'recipients');
  const iso = (v: Date | string | null) => (v ? new Date(v).toISOString() : null);
  return {
    incidentId,
    notified: notices.length,
    acknowledged: notices.filter((n) => n.acknowledged_at).length,
    notices: notices.map((n) => ({
      bookingId: n.booking_id, reference: n.reference, contactName: String(n.contact?.name ?? ''), channel: n.channel, recipient: n.recipient,
      notifiedAt: iso(n.notified_at)!, acknowledgedAt: iso(n.acknowledged_at), escalatedAt: iso(n.escalated_at),
    })),
    escalations: escalations.map((e) => ({ id: e.id, at: iso(e.created_at)!, notified: e.notified, silent: e.silent as SilentTraveller[], recipients: e.recipients as string[] })),
  };
}
