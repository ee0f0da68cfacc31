/**
 * WhatsApp's own tables: webhook deliveries (`whatsapp_events`, stored once per body before the
 * 200 and processed afterwards), delivery status events applied to the messages we sent
 * (`conversation_messages` by provider_message_id, forward only), and the whatsapp-web.js
 * session's state (`whatsapp_sessions`, written by the worker that holds it, read by the API).
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';

export interface WhatsAppEventRow {
  id: string;
  body_sha256: string;
  body: unknown;
  received_at: Date;
  processed_at: Date | null;
  error: string | null;
}

/** Stores a delivery once per body (Meta redelivers the same bytes): `duplicate` when it was there already. */
export async function storeWhatsAppEvent(knex: Knex, rawBody: Buffer, body: unknown): Promise<{ id: string; duplicate: boolean; processed: boolean }> {
  const sha = crypto.createHash('sha256').update(rawBody).digest('hex');
  const [row] = await knex('whatsapp_events').insert({ body_sha256: sha, body: JSON.stringify(body) }).onConflict('body_sha256').ignore().returning('id');
  if (row) return { id: String(row.id), duplicate: false, processed: false };
  const existing = await knex('whatsapp_events').where({ body_sha256: sha }).first('id', 'processed_at');
  return { id: String(existing.id), duplicate: true, processed: !!existing.processed_at };
}

export async function whatsAppEventById(knex: Knex, id: string): Promise<WhatsAppEventRow | undefined> {
  return knex('whatsapp_events').where({ id }).first();
}

export async function markWhatsAppEvent(knex: Knex, id: string, outcome: { processed: boolean; error?: string | null }): Promise<void> {
  await knex('whatsapp_events').where({ id }).update({
    ...(outcome.processed ? { processed_at: knex.fn.now() } : {}), error: outcome.error ? outcome.error.slice(0, 1000) : null,
  });
}

/**
 * Deliveries still unprocessed `olderThanMs` after they arrived (the process died, or processing
 * failed): those never tried first, then those that failed, oldest first in each (a pile of
 * failing deliveries never starves new ones).
 */
export async function unprocessedWhatsAppEvents(knex: Knex, olderThanMs: number, limit = 100): Promise<Array<{ id: string; received_at: Date }>> {
  const rows = await knex('whatsapp_events').whereNull('processed_at')
    .where('received_at', '<', knex.raw(`now() - (? * interval '1 millisecond')`, [olderThanMs]))
    .orderByRaw('(error is not null), received_at').limit(limit).select('id', 'received_at');
  return rows.map((r) => ({ id: String(r.id), received_at: r.received_at }));
}

/** How far along a message is; a status event only ever moves it forward. */
const RANK: Record<string, number> = { pending: 0, claimed: 1, unknown: 1, sent: 2, delivered: 3, read: 4 };

export type StatusOutcome = 'applied' | 'ignored' | 'unmatched';

/**
 * Applies Meta's status event to the message with that provider id: sent < delivered < read,
 * never backwards (a `delivered` after `read` changes nothing; a repeat changes nothing);
 * `failed` only while nothing better is known (pending, claimed, unknown, sent), with Meta's
 * error code and title. Timestamps: sent_at, delivered_at (a read implies delivered), read_at.
 */
export async function applyDeliveryStatus(knex: Knex, s: { providerMessageId: string; status: 'sent' | 'delivered' | 'read' | 'failed'; at: Date; error?: { code: number; title: string } }): Promise<StatusOutcome> {
  return knex.transaction(async (trx) => {
    const m = await trx('conversation_messages').where({ provider_message_id: s.providerMessageId }).forUpdate().first('id', 'delivery_status', 'sent_at', 'delivered_at', 'read_at');
    if (!m) {
      // A booking message sent to a number with no conversation thread: its outbox row. Delivered
      // and read change nothing there (it was sent); a later failure (Meta refused it after taking
      // it) is recorded with WhatsApp's reason.
      const o = await trx('outbox_messages').where({ channel: 'whatsapp', provider_message_id: s.providerMessageId }).forUpdate().first('id', 'status');
      if (!o) return 'unmatched';
      if (s.status !== 'failed' || o.status !== 'sent') return 'ignored';
      await trx('outbox_messages').where({ id: o.id }).update({ status: 'failed', error: `${s.error ? `${s.error.code} ${s.error.title}` : 'failed'} (reported by WhatsApp after it was sent)`.slice(0, 500) });
      return 'applied';
    }
    const current = m.delivery_status as string | null;
    if (s.status === 'failed') {
      if (current === 'failed' || !(current === null || (RANK[current] ?? 9) <= RANK.sent)) return 'ignored';
      await trx('conversation_messages').where({ id: m.id }).update({ delivery_status: 'failed', delivery_error: `${s.error ? `${s.error.code} ${s.error.title}` : 'failed'} (reported by WhatsApp)`.slice(0, 500) });
      return 'applied';
    }
    if (current === 'failed' || (current !== null && (RANK[current] ?? 9) >= RANK[s.status])) return 'ignored';
    const update: Record<string, unknown> = { delivery_status: s.status };
    if (!m.sent_at) update.sent_at = s.at;
    if (s.status !== 'sent' && !m.delivered_at) update.delivered_at = s.at;
    if (s.status === 'read' && !m.read_at) update.read_at = s.at;
    await trx('conversation_messages').where({ id: m.id }).update(update);
    return 'applied';
  });
}

export type SessionState = 'starting' | 'qr' | 'ready' | 'disconnected';

export interface WhatsAppSession { id: string; state: SessionState; qr: string | null; detail: string | null; updatedAt: string }

export async function writeWhatsAppSession(knex: Knex, s: { id: string; state: SessionState; qr?: string | null; detail?: string | null }): Promise<void> {
  await knex('whatsapp_sessions').insert({ id: s.id, state: s.state, qr: s.qr ?? null, detail: s.detail ?? null, updated_at: knex.fn.now() })
    .onConflict('id').merge(['state', 'qr', 'detail', 'updated_at']);
}

export async function readWhatsAppSession(knex: Knex, id: string): Promise<WhatsAppSession | null> {
  const row = await knex('whatsapp_sessions').where({ id }).first();
  return row ? { id: row.id, state: row.state, qr: row.qr, detail: row.detail, updatedAt: new Date(row.updated_at).toISOString() } : null;
}
