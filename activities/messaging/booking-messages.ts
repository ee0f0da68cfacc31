/**
 * Booking messages (confirmation, receipt, reminders, waitlist offer...): the booking workflow
 * only RECORDS them (queueMessage: one row in outbox_messages, once by its dedupe key, no
 * provider call), and wakes the message dispatcher (workflows/message-dispatch.ts), which
 * delivers what is due here, away from the booking's saga: a provider outage or a bad key
 * never holds up a payment or a hold's expiry.
 *
 * A row's life: queued → sending (claimed just before the provider call) → sent | failed |
 * unknown. Rendering comes first and claims nothing: no template, an unknown booking, no
 * recipient or a template that does not render fail the row with the reason. Throttled or not
 * handed over (refused, DNS, 5xx): back to queued, tried again after a backoff (the provider's
 * word, else 5 s doubling to 15 min), without holding up other rows; after MAX_ATTEMPTS it fails.
 * A configuration error (bad API key, SMTP auth) fails the rows of that call with the reason:
 * retrying cannot help. An ambiguous hand-over, or a claim older than STALE_SENDING_SECONDS (its
 * worker died mid-call), is unknown: never a second copy.
 *
 * WhatsApp rows go through the WhatsApp channel interface (whatsapp-messages.ts: the approved
 * template outside the 24-hour window, consent, quiet hours in the customer's time zone, Meta's
 * throttling backed off), in the same round, after the emails; a worker with no WhatsApp channel
 * leaves them queued. Neither channel holds the other up.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import type { EmailAddress, EmailMessage, EmailProvider } from '../../integrations/email/types';
import { messageProblem } from '../../integrations/email/message';
import { findTransactionalTemplate, renderTemplate } from '../../models/templates';
import { taskQueue, taskQueues, temporalConfig } from '../../temporal.config';
import { messagesQueuedSignal } from '../../workflows/message-dispatch-messages';
import { claimAndSend, type ClaimStore } from './claim-send';
import type { WhatsAppChannel } from '../../integrations/whatsapp/types';
import { dispatchWhatsAppRows } from './whatsapp-messages';

export const MAX_ATTEMPTS = 50;
/** Longer than the dispatch activity's start-to-close timeout (2 minutes). */
export const STALE_SENDING_SECONDS = 180;
const BACKOFF_BASE_MS = 5000;
const BACKOFF_MAX_MS = 15 * 60_000;

/** The one dispatcher of this deployment (the prefix keeps test runs and deployments apart). */
export function messageDispatchWorkflowId(): string {
  return `${temporalConfig.taskQueuePrefix}booking-message-dispatch`;
}

/**
 * Wakes the dispatcher (starting it when it is not running). Never fails its caller: when
 * Temporal cannot be reached now, the every-minute housekeeping wakes it instead.
 */
export async function wakeMessageDispatcher(temporal: (() => Promise<Client>) | undefined, timeoutMs = 3000): Promise<boolean> {
  if (!temporal) return false;
  const wake = (async () => {
    const client = await temporal();
    await client.workflow.signalWithStart('messageDispatchWorkflow', {
      workflowId: messageDispatchWorkflowId(), taskQueue: taskQueue(taskQueues.marketing), args: [{}], signal: messagesQueuedSignal, signalArgs: [],
    });
    return true;
  })();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
  try {
    return await Promise.race([wake, late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    wake.catch(() => undefined);
  }
}

export interface BookingMessageInput {
  bookingId: string;
  channel: 'email' | 'whatsapp';
  template: string;
  /** Unique within the booking: the message is recorded once per key and channel. */
  key: string;
  data?: Record<string, unknown>;
}

/**
 * Records a booking message (nothing is sent here), once: in the caller's transaction when given
 * one, so the message exists exactly when the state change that speaks of it does. Wake the
 * dispatcher after the commit (wakeMessageDispatcher). False when already recorded or the
 * booking has no address for the channel.
 */
export async function recordBookingMessage(db: Knex | Knex.Transaction, input: BookingMessageInput): Promise<boolean> {
  const booking = await db('bookings').where({ id: input.bookingId }).first('contact', 'language', 'reference');
  const recipient = input.channel === 'email' ? booking.contact.email : booking.contact.phone;
  if (!recipient) return false;
  const inserted = await db('outbox_messages').insert({
    channel: input.channel, recipient, template: input.template, language: booking.language, booking_id: input.bookingId,
    data: JSON.stringify({ reference: booking.reference, ...(input.data ?? {}) }), dedupe_key: `booking-${input.bookingId}/${input.key}/${input.channel}`,
  }).onConflict('dedupe_key').ignore().returning('id');
  return inserted.length > 0;
}

/** What the booking templates speak of, in the booking's language. */
export async function bookingVariables(knex: Knex, publicUrl: string, bookingId: string, data: Record<string, unknown>): Promise<Record<string, string> | undefined> {
  const b = await knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
    .leftJoin('tour_translations as tl', (j) => j.on('tl.tour_id', 't.id').andOn('tl.language', 'b.language'))
    .leftJoin('tour_translations as te', (j) => j.on('te.tour_id', 't.id').andOnVal('te.language', 'en'))
    .where('b.id', bookingId)
    .first('b.*', 'd.starts_at', 'd.timezone', knex.raw('coalesce(tl.title, te.title) as tour_name'), knex.raw('coalesce(tl.meeting_point, te.meeting_point) as meeting_point'));
  if (!b) return undefined;
  const locale = b.language === 'es' ? 'es-ES' : 'en-GB';
  const money = (minor: number) => new Intl.NumberFormat(locale, { style: 'currency', currency: b.currency }).format(minor / 10 ** (['JPY'].includes(b.currency) ? 0 : 2));
  const when = new Date(b.starts_at);
  const payable = b.partner_id ? b.net_minor : b.total_minor;
  const manage = `${publicUrl.replace(/\/+$/, '')}/bookings/${bookingId}`;
  // A waitlist offer's expiry: the one recorded with the offer, else the booking's hold.
  const offerExpires = typeof data.holdExpiresAt === 'string' ? new Date(data.holdExpiresAt) : b.hold_expires_at ? new Date(b.hold_expires_at) : null;
  return {
    reference: b.reference, first_name: String(b.contact.name ?? '').split(/\s+/)[0] ?? '', tour_name: b.tour_name ?? '',
    departure_date: new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: b.timezone }).format(when),
    departure_time: new Intl.DateTimeFormat(locale, { timeStyle: 'short', timeZone: b.timezone }).format(when),
    meeting_point: b.meeting_point ?? '', pax_count: String(b.pax_count), total: money(payable), amount_paid: money(b.amount_paid_minor),
    balance_due: money(Math.max(0, payable - b.amount_paid_minor)), balance_due_on: b.balance_due_on ?? '',
    amount: money(Number(data.amountMinor ?? b.amount_paid_minor)), payment_date: new Intl.DateTimeFormat(locale, { dateStyle: 'long' }).format(new Date()),
    refund_amount: money(Number(data.refundMinor ?? 0)), manage_url: manage, pay_url: manage, book_url: `${publicUrl.replace(/\/+$/, '')}/api/v1/departures/${b.departure_id}`,
    review_url: `${manage}/review`, offer_url: manage,
    offer_expires_at: offerExpires ? `${new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'short', timeZone: b.timezone }).format(offerExpires)} (${b.timezone})` : '',
    seats: String(b.pax_count),
  };
}

export interface OutboxRow {
  id: string | number;
  channel: string;
  recipient: string;
  template: string;
  language: 'es' | 'en';
  booking_id: string | null;
  data: Record<string, unknown>;
  attempts: number;
}

export const bookingSendId = (row: Pick<OutboxRow, 'id'>) => `bk-${row.id}`;

/** The email for a queued row, or why it cannot be sent (a configuration problem: it fails, unclaimed). */
export async function renderBookingMessage(knex: Knex, publicUrl: string, from: EmailAddress, row: OutboxRow): Promise<{ message: EmailMessage } | { problem: string }> {
  try {
    return await render(knex, publicUrl, from, row);
  } catch (err) {
    // One message that cannot be rendered fails alone; it never stops the others.
    return { problem: `cannot be rendered: ${(err as Error).message}` };
  }
}

async function render(knex: Knex, publicUrl: string, from: EmailAddress, row: OutboxRow): Promise<{ message: EmailMessage } | { problem: string }> {
  const template = await findTransactionalTemplate(knex, row.template, row.language) ?? await findTransactionalTemplate(knex, row.template, 'en');
  if (!template) return { problem: `no transactional template "${row.template}" in ${row.language} or en` };
  // A message of no booking (an account's password reset) carries its variables in its data.
  const variables = row.booking_id
    ? await bookingVariables(knex, publicUrl, row.booking_id, row.data ?? {})
    : Object.fromEntries(Object.entries(row.data ?? {}).map(([k, v]) => [k, String(v ?? '')]));
  if (!variables) return { problem: `booking ${row.booking_id} does not exist` };
  let rendered;
  try {
    rendered = await renderTemplate(template, variables);
  } catch (err) {
    return { problem: `template "${row.template}" (${template.language}) does not render: ${(err as Error).message}` };
  }
  const message: EmailMessage = {
    sendId: bookingSendId(row), kind: 'transactional', to: { email: row.recipient, name: variables.first_name || undefined }, from,
    subject: rendered.subject, html: rendered.html, text: rendered.text, categories: ['transactional', row.template],
  };
  const problem = messageProblem(message);
  return problem ? { problem } : { message };
}

export function backoffMs(attempts: number, providerSaid: number | undefined): number {
  const ours = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1));
  return Math.max(ours, providerSaid ?? 0);
}

/** Claims over outbox_messages, keyed by `bk-<id>`. */
export function outboxClaims(knex: Knex, attemptsById: Map<string, number>): ClaimStore {
  const idOf = (sendId: string) => sendId.slice(3);
  return {
    async claim(sendIds) {
      const rows = await knex('outbox_messages').whereIn('id', sendIds.map(idOf)).where({ status: 'queued' })
        .update({ status: 'sending', claimed_at: knex.fn.now(), attempts: knex.raw('attempts + 1') }).returning(['id', 'attempts']);
      for (const r of rows) attemptsById.set(String(r.id), r.attempts);
      return new Set(rows.map((r) => bookingSendId(r)));
    },
    async release(releases) {
      await knex.transaction(async (trx) => {
        for (const r of releases) {
          const attempts = attemptsById.get(idOf(r.sendId)) ?? 1;
          const giveUp = attempts >= MAX_ATTEMPTS && !r.throttled;
          await trx('outbox_messages').where({ id: idOf(r.sendId), status: 'sending' }).update({
            status: giveUp ? 'failed' : 'queued', claimed_at: null, error: (giveUp ? `gave up after ${attempts} attempts: ${r.error}` : r.error).slice(0, 500),
            next_attempt_at: trx.raw(`now() + make_interval(secs => ?)`, [backoffMs(attempts, r.retryAfterMs) / 1000]),
          });
        }
      });
    },
    async settle(settlements) {
      await knex.transaction(async (trx) => {
        for (const s of settlements) {
          await trx('outbox_messages').where({ id: idOf(s.sendId), status: 'sending' }).update({
            status: s.status, error: s.error?.slice(0, 500) ?? null, provider_message_id: s.providerMessageId ?? null,
            ...(s.status === 'sent' ? { sent_at: trx.fn.now() } : {}),
          });
        }
      });
    },
  };
}

export interface DispatchResult {
  sent: number;
  failed: number;
  unknown: number;
  /** Given back to the queue for later (throttled, not handed over). */
  deferred: number;
  /** A full batch was due: there may be more right now. */
  more: boolean;
  /** When the next queued message (email, or WhatsApp when this worker has the channel) is due, from now (null: nothing queued). */
  nextDueInMs: number | null;
}

export interface BookingMessageDeps {
  knex: Knex;
  provider: () => EmailProvider;
  from: EmailAddress;
  publicUrl: string;
  /** The WhatsApp channel this worker sends through (built once per process); without it WhatsApp rows stay queued. */
  whatsapp?: () => WhatsAppChannel;
  /** WHATSAPP_QUIET_HOURS ("21-9"; "" for none), read each round (tests change it). */
  quietHours?: () => string;
}

/** At most this many WhatsApp rows per round (one channel call each). */
const WHATSAPP_BATCH = 100;
/** No WhatsApp send is started this long after the round began (the activity's timeout is 2 minutes). */
const WHATSAPP_ROUND_MS = 60_000;

/** Named with the `messages.` prefix (activities/registry.ts: groups after the first release are kept apart by a prefix). */
export function createBookingMessageActivities(deps: BookingMessageDeps) {
  const { knex } = deps;
  return {
    /** Delivers the booking emails that are due (at most `limit`); see the top of this file. */
    async 'messages.dispatchBookingMessages'(input: { limit?: number } = {}): Promise<DispatchResult> {
      const heartbeat = () => { try { Context.current().heartbeat(); } catch { /* outside an activity (tests) */ } };
      const startedAt = Date.now();
      const limit = Math.min(Math.max(1, input.limit ?? 200), 1000);
      const channels = deps.whatsapp ? ['email', 'whatsapp'] : ['email'];
      const result: DispatchResult = { sent: 0, failed: 0, unknown: 0, deferred: 0, more: false, nextDueInMs: null };

      // In flight when its worker died: it may have gone out, so never again.
      // (No claimed_at: claimed by the code before the dispatcher, which sent inline.)
      result.unknown += await knex('outbox_messages').where({ status: 'sending' })
        .where((q) => q.whereNull('claimed_at').orWhere('claimed_at', '<', knex.raw(`now() - make_interval(secs => ?)`, [STALE_SENDING_SECONDS])))
        .update({ status: 'unknown', error: 'in flight when its worker stopped: it may have been sent, so it is not sent again' });

      const due: OutboxRow[] = await knex('outbox_messages').where({ status: 'queued', channel: 'email' }).where('next_attempt_at', '<=', knex.fn.now())
        .orderBy([{ column: 'next_attempt_at' }, { column: 'id' }]).limit(limit)
        .select('id', 'channel', 'recipient', 'template', 'language', 'booking_id', 'data', 'attempts');
      result.more = due.length === limit;

      const messages: EmailMessage[] = [];
      for (const row of due) {
        heartbeat();
        const rendered = await renderBookingMessage(knex, deps.publicUrl, deps.from, row);
        if ('problem' in rendered) {
          result.failed += await knex('outbox_messages').where({ id: row.id, status: 'queued' }).update({ status: 'failed', error: rendered.problem.slice(0, 500) });
        } else {
          messages.push(rendered.message);
        }
      }
      if (messages.length) {
        const sent = await claimAndSend(deps.provider(), messages, outboxClaims(knex, new Map()), { heartbeat, configurationErrors: 'fail' });
        result.sent += sent.sent;
        result.failed += sent.failed;
        result.unknown += sent.unknown;
        result.deferred += sent.released;
        // Not reached because the provider stopped us (throttled): these wait with the others.
        const untried = messages.filter((m) => !sent.outcomes.has(m.sendId)).map((m) => m.sendId.slice(3));
        if (untried.length && sent.released) {
          await knex('outbox_messages').whereIn('id', untried).where({ status: 'queued' })
            .update({ next_attempt_at: knex.raw(`now() + make_interval(secs => ?)`, [sent.retryAfterMs / 1000]) });
          result.deferred += untried.length;
        }
        if (sent.released) result.more = false;
      }

      if (deps.whatsapp) {
        const batch = Math.min(limit, WHATSAPP_BATCH);
        const rows: OutboxRow[] = await knex('outbox_messages').where({ status: 'queued', channel: 'whatsapp' }).where('next_attempt_at', '<=', knex.fn.now())
          .orderBy([{ column: 'next_attempt_at' }, { column: 'id' }]).limit(batch)
          .select('id', 'channel', 'recipient', 'template', 'language', 'booking_id', 'data', 'attempts');
        const attemptsById = new Map<string, number>();
        const w = await dispatchWhatsAppRows(knex, rows, {
          channel: deps.whatsapp, quietHours: deps.quietHours?.() ?? '', publicUrl: deps.publicUrl, claims: outboxClaims(knex, attemptsById), attemptsById, backoffMs,
          bookingVariables: (bookingId, data) => bookingVariables(knex, deps.publicUrl, bookingId, data), heartbeat, deadline: startedAt + WHATSAPP_ROUND_MS,
        });
        result.sent += w.sent;
        result.failed += w.failed;
        result.unknown += w.unknown;
        result.deferred += w.deferred;
        if (rows.length === batch && !w.stoppedEarly) result.more = true;
        if (w.stoppedEarly && Date.now() - startedAt >= WHATSAPP_ROUND_MS) result.more = true;
      }

      const { rows: [next] } = await knex.raw(`select greatest(0, extract(epoch from min(next_attempt_at) - now()) * 1000)::bigint as ms
        from outbox_messages where status = 'queued' and channel in (${channels.map(() => '?').join(', ')})`, channels);
      result.nextDueInMs = next.ms === null ? null : Number(next.ms);
      return result;
    },
  };
}

export type BookingMessageActivities = ReturnType<typeof createBookingMessageActivities>;
