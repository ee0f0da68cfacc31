/**
 * WhatsApp inbound, for every channel: a customer's message (InboundWhatsApp, from the Cloud API
 * webhook, whatsapp-web.js or the simulator) enters the one inbound path
 * (services/conversations.ts receiveInbound); a stored webhook delivery is processed after its
 * 200 (messages, then status events applied forward only); and a sweep processes deliveries left
 * unprocessed (the API process died after storing one, or processing failed).
 *
 * Where the sweep runs: on an interval in the API process (api/main.ts), not in the housekeeping
 * workflow. Processing needs services/ (receiveInbound signals the conversation's workflow
 * through the Temporal client) and activities may not import services/; the API is also the
 * process that stored the events. Several API instances may sweep at once: processing is
 * idempotent (messages by wamid, statuses forward only), so a double pass changes nothing.
 *
 * What "stale" means here:
 * - a status event older than what we know (delivered after read) changes nothing (models/whatsapp.ts);
 * - a customer message sent more than STALE_MESSAGE_MS ago (Meta retries a failing webhook for
 *   days; a phone offline for a day sends late) is stored in the conversation, so operators see
 *   it, but not answered: the bot's answer to day-old words would be wrong, and outside the
 *   24-hour window it could only go as a template. It does not reopen the window either
 *   (recordInbound counts the window from the message's own time);
 * - a repeated delivery (same body) is stored once; a repeated message (same wamid) once.
 * Signed deliveries carry no timestamp of their own (Meta's scheme), so a replay of an old body
 * is caught by the body hash and the wamid, not by its age.
 */
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { openConversation, recordInbound } from '../models/conversations';
import { applyDeliveryStatus, markWhatsAppEvent, unprocessedWhatsAppEvents, whatsAppEventById, type StatusOutcome } from '../models/whatsapp';
import { isCloudWebhookBody, parseCloudWebhook } from '../integrations/whatsapp/webhook';
import type { InboundWhatsApp, StatusWhatsApp } from '../integrations/whatsapp/types';
import { receiveInbound, type InboundResult } from './conversations';

/** A customer message older than this is recorded and not answered. */
export const STALE_MESSAGE_MS = 24 * 3_600_000;
/** A status for a message id we do not know yet (our send's answer not yet written) is tried again until its delivery is this old. */
export const UNMATCHED_STATUS_RETRY_MS = 10 * 60_000;
/** The sweep picks deliveries unprocessed this long after they arrived. */
export const SWEEP_AFTER_MS = 30_000;
/** A delivery that still fails this long after it arrived is given up (marked processed, its error kept). */
export const GIVE_UP_AFTER_MS = 24 * 3_600_000;

export type WhatsAppInboundOutcome = { stale: false; result: InboundResult } | { stale: true; conversationId: string; messageId: string; duplicate: boolean };

/** One customer message from any WhatsApp channel, into its conversation (answered unless stale). */
export async function receiveWhatsApp(client: Client, knex: Knex, m: InboundWhatsApp, options: { now?: Date; waitMs?: number } = {}): Promise<WhatsAppInboundOutcome> {
  const now = options.now ?? new Date();
  if (now.getTime() - m.at.getTime() > STALE_MESSAGE_MS) {
    const conversation = await openConversation(knex, { channel: 'whatsapp', customerHandle: m.from, businessHandle: m.businessId, customerName: m.profileName });
    const payload = m.replyId || m.type ? { ...(m.replyId ? { replyId: m.replyId } : {}), ...(m.type ? { type: m.type } : {}) } : undefined;
    const { message, created } = await recordInbound(knex, { conversationId: conversation.id, channelMessageId: m.messageId, text: m.text, kind: m.kind, payload, at: m.at });
    // Decided without a decision (no intent, no route): the conversation's workflow is never woken
    // for it; `payload.stale` says why in the operators' thread.
    if (created) {
      await knex('conversation_messages').where({ id: message.id }).whereNull('decided_at')
        .update({ decided_at: knex.fn.now(), payload: knex.raw(`coalesce(payload, '{}'::jsonb) || ?::jsonb`, [JSON.stringify({ stale: true, sentAt: m.at.toISOString() })]) });
    }
    return { stale: true, conversationId: conversation.id, messageId: message.id, duplicate: !created };
  }
  const result = await receiveInbound(client, knex, {
    channel: 'whatsapp', from: m.from, to: m.businessId, text: m.text, messageId: m.messageId, verified: true,
    kind: m.kind, replyId: m.replyId, type: m.type, profileName: m.profileName, at: m.at,
  }, { waitMs: options.waitMs, withoutDecision: !options.waitMs });
  return { stale: false, result };
}

export interface EventOutcome {
  messages: number;
  stale: number;
  statuses: Record<StatusOutcome, number>;
  /** Whether the delivery is done with (false: left for the sweep). */
  processed: boolean;
}

/** Processes one stored Cloud API delivery; safe to run twice (messages by wamid, statuses forward only). */
export async function processWhatsAppEvent(client: Client, knex: Knex, eventId: string, options: { now?: Date } = {}): Promise<EventOutcome> {
  const now = options.now ?? new Date();
  const outcome: EventOutcome = { messages: 0, stale: 0, statuses: { applied: 0, ignored: 0, unmatched: 0 }, processed: false };
  const event = await whatsAppEventById(knex, eventId);
  if (!event) return outcome;
  if (event.processed_at) return { ...outcome, processed: true };
  const age = now.getTime() - new Date(event.received_at).getTime();
  try {
    if (!isCloudWebhookBody(event.body)) {
      await markWhatsAppEvent(knex, eventId, { processed: true, error: 'not a whatsapp_business_account delivery' });
      return { ...outcome, processed: true };
    }
    const { messages, statuses } = parseCloudWebhook(event.body);
    for (const m of messages) {
      const r = await receiveWhatsApp(client, knex, m, { now });
      if (r.stale) outcome.stale++;
      else outcome.messages++;
    }
    for (const s of statuses) outcome.statuses[await applyStatus(knex, s)]++;
    if (outcome.statuses.unmatched && age < UNMATCHED_STATUS_RETRY_MS) {
      // Our send's answer (the wamid) may not be written yet: the sweep tries again.
      await markWhatsAppEvent(knex, eventId, { processed: false, error: `${outcome.statuses.unmatched} status event(s) for message ids not known yet` });
      return outcome;
    }
    await markWhatsAppEvent(knex, eventId, { processed: true, error: outcome.statuses.unmatched ? `${outcome.statuses.unmatched} status event(s) for messages that are not ours` : null });
    return { ...outcome, processed: true };
  } catch (err) {
    const giveUp = age >= GIVE_UP_AFTER_MS;
    await markWhatsAppEvent(knex, eventId, { processed: giveUp, error: `${giveUp ? 'given up: ' : ''}${(err as Error).message}` });
    if (!giveUp) throw err;
    return { ...outcome, processed: true };
  }
}

export async function applyStatus(knex: Knex, s: StatusWhatsApp): Promise<StatusOutcome> {
  return applyDeliveryStatus(knex, s);
}

/** Processes deliveries still unprocessed SWEEP_AFTER_MS after they arrived; answers how many were done with. */
export async function sweepWhatsAppEvents(client: Client, knex: Knex, options: { olderThanMs?: number; limit?: number; log?: (msg: string, meta: Record<string, unknown>) => void } = {}): Promise<{ picked: number; processed: number; failed: number }> {
  const events = await unprocessedWhatsAppEvents(knex, options.olderThanMs ?? SWEEP_AFTER_MS, options.limit ?? 100);
  let processed = 0;
  let failed = 0;
  for (const e of events) {
    try {
      if ((await processWhatsAppEvent(client, knex, e.id)).processed) processed++;
    } catch (err) {
      failed++;
      options.log?.('whatsapp event still failing', { eventId: e.id, err: (err as Error).message });
    }
  }
  return { picked: events.length, processed, failed };
}

/** Starts the sweep on an interval in this process; answers a function that stops it. */
export function startWhatsAppSweep(client: () => Promise<Client>, knex: Knex, options: { everyMs?: number; log?: (msg: string, meta: Record<string, unknown>) => void } = {}): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    client().then((c) => sweepWhatsAppEvents(c, knex, { log: options.log }))
      .catch((err) => options.log?.('whatsapp sweep failed', { err: (err as Error).message }))
      .finally(() => { running = false; });
  }, options.everyMs ?? 15_000);
  timer.unref();
  return () => clearInterval(timer);
}
