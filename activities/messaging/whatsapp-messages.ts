/**
 * Booking messages on WhatsApp (booking confirmation, balance and pre-trip reminders,
 * CrisisManager's notices): what the message dispatcher (booking-messages.ts) does with a queued
 * `outbox_messages` row of channel 'whatsapp', through the WhatsApp channel interface.
 *
 * Before anything is claimed, each row is planned:
 * - the approved template (`whatsapp_templates`, the row's language else English) named like the
 *   row's template (`crisis_alert` → `crisis_notice`), its named parameters filled from the
 *   booking; none → failed with the reason;
 * - consent. WhatsApp lets a business start a conversation only with people who opted in, and
 *   that holds for transactional (utility) messages too, not only marketing, so every row needs:
 *   the contact's WhatsApp consent granted (contact_consents, the per-channel record marketing
 *   keeps; a withdrawal always wins), else the customer record's `consent_whatsapp`, else an open
 *   24-hour service window (the customer is writing to us on WhatsApp right now: answering within
 *   it is customer-initiated). None of these → failed, "no WhatsApp opt-in". Marketing never goes
 *   through here (campaigns are email).
 * - quiet hours (WHATSAPP_QUIET_HOURS, "21-9") in the customer's time zone: the contact's own
 *   (contacts.timezone), else the one their WhatsApp conversation carries, else the selling
 *   branch's (the market the customer bought in: a Madrid customer of a Mexico tour sleeps on
 *   Madrid time), else the departure's. In quiet hours the row waits, queued, due when they end;
 *   crisis notices are exempt (a traveller must hear about a cancelled departure tonight);
 * - the 24-hour window (`conversations.window_expires_at` of this phone and business number):
 *   inside it the template's wording goes as free text; outside it only the template itself.
 *
 * Then the claim-send rules, one message per channel call: claimed (committed) just before the
 * call; sent with the provider's id; refused → failed with the reason; ambiguous → unknown, never
 * resent; throttled (Meta's 130429, or our own per-number limit) or unavailable → back to queued
 * with a later due time, nothing handed over; throttling never fails a row. The rows after a
 * throttled one wait too. A message that went out is also written into the customer's WhatsApp
 * conversation thread, when there is one, so operators see it (delivery status included).
 */
import type { Knex } from 'knex';
import { parseQuietHours, quietUntil, type QuietHours } from '../../domain/quiet-hours';
import { WhatsAppSendError, type OutboundWhatsApp, type WhatsAppChannel } from '../../integrations/whatsapp/types';
import type { ClaimStore } from './claim-send';

/** Outbox templates whose WhatsApp template has another name. */
export const WHATSAPP_TEMPLATE_OF: Record<string, string> = { crisis_alert: 'crisis_notice' };
/** Templates that are not held back by quiet hours. */
const URGENT = new Set(['crisis_alert', 'crisis_notice']);
const E164 = /^\+[1-9]\d{6,14}$/;

export interface WhatsAppRow {
  id: string | number;
  recipient: string;
  template: string;
  language: 'es' | 'en';
  booking_id: string | null;
  data: Record<string, unknown>;
}

export type WhatsAppPlan =
  | { kind: 'fail'; reason: string }
  | { kind: 'defer'; until: Date; reason: string }
  | {
    kind: 'send'; to: string; message: OutboundWhatsApp; viaTemplate: string | null;
    /** What the customer reads (the template's wording filled in), for the conversation thread. */
    text: string; language: 'es' | 'en'; conversationId: string | null; timeZone: string;
  };

export interface PlanOptions {
  businessId: string;
  now: Date;
  quietHours: QuietHours | null;
  /** Variables of a booking's templates (bookingVariables), injected to keep one source. */
  bookingVariables: (bookingId: string, data: Record<string, unknown>) => Promise<Record<string, string> | undefined>;
}

interface BookingFacts {
  id: string;
  customer_id: string | null;
  contact: { name?: string; email?: string; phone?: string };
  currency: string;
  balance_due_on: string | null;
  branch_tz: string | null;
  departure_tz: string | null;
}

const money = (minor: number, currency: string, language: string) =>
  new Intl.NumberFormat(language === 'es' ? 'es-ES' : 'en-GB', { style: 'currency', currency }).format(minor / 10 ** (['JPY'].includes(currency) ? 0 : 2));

function longDate(value: unknown, language: string, timeZone: string): string {
  if (!value) return '';
  const s = String(value);
  const date = /^\d{4}-\d{2}-\d{2}$/.test(s) ? new Date(`${s}T12:00:00Z`) : new Date(s);
  if (Number.isNaN(date.getTime())) return s;
  return new Intl.DateTimeFormat(language === 'es' ? 'es-ES' : 'en-GB', { dateStyle: 'long', timeZone: /^\d{4}-\d{2}-\d{2}$/.test(s) ? 'UTC' : timeZone }).format(date);
}

/** A template's named parameter, from the booking's variables and the row's data; undefined when the name means nothing here. */
function parameterValue(name: string, vars: Record<string, string>, data: Record<string, unknown>, b: BookingFacts | undefined, language: string): string | undefined {
  const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  switch (name) {
    case 'name': return vars.first_name ?? str(data.first_name);
    case 'reference': return vars.reference ?? str(data.reference);
    case 'tour': return vars.tour_name ?? str(data.tour_name);
    case 'date': return vars.departure_date ?? str(data.departure_date);
    case 'amount': return b && data.leftMinor !== undefined ? money(Number(data.leftMinor), b.currency, language) : vars.balance_due ?? str(data.amount);
    case 'dueDate': return longDate(data.dueAt ?? b?.balance_due_on ?? data.dueDate, language, b?.departure_tz ?? 'UTC');
    case 'link': return vars.pay_url ?? str(data.link ?? data.pay_url);
    case 'meetingPoint': return vars.meeting_point ?? str(data.meeting_point);
    case 'notice': return str(data.message ?? data.notice);
    case 'ackLink': return str(data.ack_url);
    case 'text': return str(data.text);
    default: return undefined;
  }
}

/** An approved template in the language, else English. */
async function approvedTemplate(knex: Knex, name: string, language: string): Promise<{ name: string; language: string; body: string; parameters: string[] } | undefined> {
  const rows = await knex('whatsapp_templates').where({ name, status: 'approved' }).whereIn('language', [language, 'en']);
  return rows.find((r) => r.language === language) ?? rows[0];
}

/** The template's wording with its parameters in place ({{1}}, {{2}}...). */
export function fillTemplate(body: string, parameters: string[]): string {
  return body.replace(/\{\{(\d+)\}\}/g, (_, n) => parameters[Number(n) - 1] ?? '');
}

/**
 * Whether the person opted in to WhatsApp (see the top of this file): the contact's consent
 * record, else the customer record's flag, else an open service window.
 */
async function consentOf(knex: Knex, b: BookingFacts | undefined, phone: string, windowOpen: boolean): Promise<{ granted: boolean; why: string; timeZone: string | null }> {
  const customerId = b?.customer_id ?? (await knex('customers').where({ phone }).orderBy('created_at').first('id'))?.id ?? null;
  const email = b?.contact?.email ?? null;
  const contact = customerId || email
    ? await knex('contacts as c').leftJoin('contact_consents as cc', (j) => j.on('cc.contact_id', 'c.id').andOnVal('cc.channel', 'whatsapp'))
      .where((q) => {
        if (customerId) q.orWhere('c.customer_id', customerId);
        if (email) q.orWhereRaw('lower(c.email) = lower(?)', [email]);
      })
      .orderByRaw('(c.customer_id is not distinct from ?::uuid) desc', [customerId])
      .first('c.id', 'c.timezone', 'cc.status', 'cc.source')
    : undefined;
  const timeZone = contact?.timezone ?? null;
  if (contact?.status === 'withdrawn') return { granted: false, why: `the customer withdrew WhatsApp consent (${contact.source})`, timeZone };
  if (contact?.status === 'granted') return { granted: true, why: `contact consent (${contact.source})`, timeZone };
  if (customerId && (await knex('customers').where({ id: customerId }).first('consent_whatsapp'))?.consent_whatsapp) return { granted: true, why: 'customer record', timeZone };
  if (windowOpen) return { granted: true, why: 'the customer wrote within 24 hours', timeZone };
  return { granted: false, why: `no WhatsApp opt-in from ${phone}: WhatsApp lets a business start a conversation only with people who opted in`, timeZone };
}

/** What to do with a queued WhatsApp row now; claims nothing. */
export async function planWhatsAppMessage(knex: Knex, row: WhatsAppRow, o: PlanOptions): Promise<WhatsAppPlan> {
  const to = String(row.recipient ?? '').trim();
  if (!E164.test(to)) return { kind: 'fail', reason: `the recipient "${row.recipient}" is not an E.164 phone number` };
  const data = row.data ?? {};
  const language = row.language === 'es' ? 'es' : 'en';

  const name = WHATSAPP_TEMPLATE_OF[row.template] ?? row.template;
  const template = await approvedTemplate(knex, name, language);
  if (!template) return { kind: 'fail', reason: `no approved WhatsApp template "${name}" in ${language} or en` };

  // The booking: the row's, else (a crisis notice carries no booking id) the one its reference names.
  const bookingQuery = () => knex('bookings as b').join('branches as br', 'br.id', 'b.branch_id').join('departures as d', 'd.id', 'b.departure_id')
    .first('b.id', 'b.customer_id', 'b.contact', 'b.currency', 'b.balance_due_on', 'br.timezone as branch_tz', 'd.timezone as departure_tz');
  const booking: BookingFacts | undefined = row.booking_id
    ? await bookingQuery().where('b.id', row.booking_id)
    : typeof data.reference === 'string' ? await bookingQuery().where('b.reference', data.reference) : undefined;
  if (row.booking_id && !booking) return { kind: 'fail', reason: `booking ${row.booking_id} does not exist` };
  const vars = row.booking_id ? await o.bookingVariables(row.booking_id, data) : {};
  if (!vars) return { kind: 'fail', reason: `booking ${row.booking_id} does not exist` };

  const parameters: string[] = [];
  for (const p of template.parameters) {
    const value = parameterValue(p, vars, data, booking, template.language);
    if (value === undefined) return { kind: 'fail', reason: `WhatsApp template "${name}" (${template.language}) has a parameter "${p}" that booking messages cannot fill` };
    parameters.push(value.trim() ? value.slice(0, 1000) : '-'); // the Cloud API refuses empty parameters
  }

  const conversation = await knex('conversations').where({ channel: 'whatsapp', customer_handle: to, business_handle: o.businessId }).first('id', 'window_expires_at', 'time_zone');
  const windowOpen = !!conversation?.window_expires_at && new Date(conversation.window_expires_at).getTime() > o.now.getTime();

  const consent = await consentOf(knex, booking, to, windowOpen);
  if (!consent.granted) return { kind: 'fail', reason: consent.why };

  const timeZone = [consent.timeZone, conversation?.time_zone, booking?.branch_tz, booking?.departure_tz].find((z): z is string => !!z && validZone(z)) ?? 'UTC';
  if (!URGENT.has(row.template) && !URGENT.has(name)) {
    const until = quietUntil(o.now, timeZone, o.quietHours);
    if (until) return { kind: 'defer', until, reason: `quiet hours (${o.quietHours!.startHour}-${o.quietHours!.endHour}) in ${timeZone}: waits until ${until.toISOString()}` };
  }

  const text = fillTemplate(template.body, parameters);
  const message: OutboundWhatsApp = windowOpen ? { kind: 'text', text } : { kind: 'template', name: template.name, language: template.language, parameters };
  return { kind: 'send', to, message, viaTemplate: windowOpen ? null : template.name, text, language, conversationId: conversation?.id ?? null, timeZone };
}

function validZone(z: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: z });
    return true;
  } catch {
    return false;
  }
}

export interface WhatsAppDispatchOptions {
  channel: () => WhatsAppChannel;
  quietHours: string;
  publicUrl: string;
  claims: ClaimStore;
  /** attempts after the claim, by outbox id (filled by `claims.claim`). */
  attemptsById: Map<string, number>;
  backoffMs: (attempts: number, providerSaid: number | undefined) => number;
  bookingVariables: PlanOptions['bookingVariables'];
  heartbeat: () => void;
  /** Stop starting sends after this (the dispatch activity has a 2-minute timeout). */
  deadline: number;
}

export interface WhatsAppDispatchResult { sent: number; failed: number; unknown: number; deferred: number; stoppedEarly: boolean }

const sendIdOf = (id: string | number) => `bk-${id}`;

/** Delivers due WhatsApp rows, one channel call each (see the top of this file). */
export async function dispatchWhatsAppRows(knex: Knex, rows: WhatsAppRow[], o: WhatsAppDispatchOptions): Promise<WhatsAppDispatchResult> {
  const result: WhatsAppDispatchResult = { sent: 0, failed: 0, unknown: 0, deferred: 0, stoppedEarly: false };
  if (!rows.length) return result;
  let channel: WhatsAppChannel;
  let quiet: QuietHours | null;
  try {
    quiet = parseQuietHours(o.quietHours);
    channel = o.channel();
  } catch (err) {
    // No channel in this worker (misconfigured): every row waits, nothing is claimed.
    const reason = `WhatsApp channel not available: ${(err as Error).message}`.slice(0, 500);
    result.deferred += await knex('outbox_messages').whereIn('id', rows.map((r) => r.id)).where({ status: 'queued' })
      .update({ error: reason, next_attempt_at: knex.raw(`now() + interval '1 minute'`) });
    result.stoppedEarly = true;
    return result;
  }
  const waitRest = async (from: number, ms: number, reason: string) => {
    const rest = rows.slice(from).map((r) => r.id);
    if (!rest.length) return;
    result.deferred += await knex('outbox_messages').whereIn('id', rest).where({ status: 'queued' })
      .update({ next_attempt_at: knex.raw(`greatest(next_attempt_at, now() + make_interval(secs => ?))`, [ms / 1000]), error: reason.slice(0, 500) });
  };

  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    o.heartbeat();
    if (Date.now() > o.deadline) {
      result.stoppedEarly = true;
      return result;
    }
    let plan: WhatsAppPlan;
    try {
      plan = await planWhatsAppMessage(knex, row, { businessId: channel.businessId, now: new Date(), quietHours: quiet, bookingVariables: o.bookingVariables });
    } catch (err) {
      plan = { kind: 'fail', reason: `cannot be prepared: ${(err as Error).message}` };
    }
    if (plan.kind === 'fail') {
      result.failed += await knex('outbox_messages').where({ id: row.id, status: 'queued' }).update({ status: 'failed', error: plan.reason.slice(0, 500) });
      continue;
    }
    if (plan.kind === 'defer') {
      result.deferred += await knex('outbox_messages').where({ id: row.id, status: 'queued' }).update({ next_attempt_at: plan.until, error: plan.reason.slice(0, 500) });
      continue;
    }

    const sendId = sendIdOf(row.id);
    const claimed = await o.claims.claim([sendId]);
    if (!claimed.has(sendId)) continue; // someone else's, or no longer queued
    await knex('outbox_messages').where({ id: row.id, status: 'sending' }).update({ via_template: plan.viaTemplate });
    let providerMessageId: string;
    try {
      ({ providerMessageId } = await channel.send(plan.to, plan.message, `outbox-${row.id}`));
    } catch (err) {
      const reason = (err as Error)?.message ?? String(err);
      if (err instanceof WhatsAppSendError && (err.kind === 'throttled' || err.kind === 'unavailable')) {
        // Nothing was handed over: back to queued, due later; the rows after it wait as long.
        const throttled = err.kind === 'throttled';
        await o.claims.release([{ sendId, error: `not sent (${err.kind}${err.details.code ? ` ${err.details.code}` : ''}): ${reason}`, retryAfterMs: err.details.retryAfterMs, throttled }]);
        const waitMs = o.backoffMs(o.attemptsById.get(String(row.id)) ?? 1, err.details.retryAfterMs);
        result.deferred++;
        await waitRest(i + 1, waitMs, `waiting: the WhatsApp channel was ${err.kind} (${reason})`);
        result.stoppedEarly = true;
        return result;
      }
      const refused = err instanceof WhatsAppSendError && err.kind === 'refused';
      await o.claims.settle([{ sendId, status: refused ? 'failed' : 'unknown', error: refused ? `refused by WhatsApp: ${reason}` : `the hand-over is ambiguous, never resent: ${reason}` }]);
      if (refused) result.failed++;
      else result.unknown++;
      continue;
    }
    await o.claims.settle([{ sendId, status: 'sent', providerMessageId }]);
    result.sent++;
    if (plan.conversationId) await recordInThread(knex, row, plan, providerMessageId).catch(() => undefined);
  }
  return result;
}

/** The message as a line of the customer's WhatsApp thread (once per outbox row); a failure here never touches the row's outcome. */
async function recordInThread(knex: Knex, row: WhatsAppRow, plan: Extract<WhatsAppPlan, { kind: 'send' }>, providerMessageId: string): Promise<void> {
  await knex('conversation_messages').insert({
    conversation_id: plan.conversationId, direction: 'out', author: 'bot', text: plan.text.slice(0, 4096), language: plan.language,
    kind: plan.message.kind === 'template' ? 'template' : 'text',
    payload: plan.message.kind === 'template' ? JSON.stringify({ template: { name: plan.message.name, language: plan.message.language, parameters: plan.message.parameters } }) : null,
    delivery_status: 'sent', delivery_attempts: 1, provider_message_id: providerMessageId, sent_at: knex.fn.now(), via_template: plan.viaTemplate,
    dedupe_key: `outbox-${row.id}`,
  }).onConflict('dedupe_key').ignore();
}
