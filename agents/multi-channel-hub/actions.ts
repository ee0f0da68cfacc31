/**
 * What MultiChannelHub's flows do (inside `conversations.route`, once per tool call):
 *
 * - hold: a real hold through the booking API's code path (models/holds.ts placeHold), inside the
 *   transaction that stores the answer (models/conversations.ts applyDecision), so a retried call
 *   finds the message decided and never holds twice; the booking's workflow starts after the
 *   commit (and, if that start fails, the housekeeping relay starts it, as for the API's holds).
 *   The customer is the conversation's, else the customer with this WhatsApp number, else a new
 *   one (name from the WhatsApp profile; the email the customer typed, kept on a new customer
 *   only when no other customer has it: a typed email proves nothing). Passengers: the lead is
 *   the profile name, the others "Guest 2", "Guest 3"... (all adults; names and ages can be
 *   changed later through an amendment), so booking in chat takes two questions at most.
 *   A refusal (sold out, too many people...) is a polite answer, not a failed run.
 * - pay_link: the booking's signed payment link (integrations/email/links.ts signPaymentToken),
 *   to the page of api/routes/booking-pay.ts.
 * - cancel: the booking workflow's `cancel` update (services/booking-workflows steerBookingAs),
 *   with the tool call's step key as the update id: a retry is the same cancellation.
 *
 * pay_link and cancel act only on a booking of the conversation's customer.
 */
import { z } from 'zod';
import type { Knex } from 'knex';
import type { ToolContext } from '../types';
import type { ConversationRow, DecisionEffects } from '../../models/conversations';
import { placeHold, HoldRefused } from '../../models/holds';
import { bookingPaymentState } from '../../models/booking-payments';
import { steerBookingAs, startBookingWorkflow } from '../../services/booking-workflows';
import { cancelUpdate } from '../../workflows/booking-messages';
import { Refused } from '../../domain/refusals';
import { emailLinkSecret } from '../../platform/secrets';
import { paymentUrl, signPaymentToken } from '../../integrations/email/links';
import { cancelReply, holdReply, payLinkReply, type FlowAction } from './flows';
import type { Language } from './understand';

export const actionSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('hold'), departureId: z.uuid(), partySize: z.int().min(1).max(50), email: z.email().max(254).nullable(),
    tourTitle: z.string().max(200), startsAt: z.iso.datetime({ offset: true }), timezone: z.string().max(64),
  }),
  z.object({ kind: z.literal('pay_link'), bookingId: z.uuid(), reference: z.string().max(32) }),
  z.object({ kind: z.literal('cancel'), bookingId: z.uuid(), reference: z.string().max(32) }),
]);

/** How long a payment link sent in chat opens its page. */
export const PAYMENT_LINK_DAYS = 30;

export function bookingPaymentLink(publicUrl: string, bookingId: string, now: Date): string {
  return paymentUrl(publicUrl, signPaymentToken(bookingId, emailLinkSecret(), new Date(+now + PAYMENT_LINK_DAYS * 86_400_000)));
}

function splitName(name: string | null): { first: string; last: string } | null {
  const words = (name ?? '').replace(/[^\p{L}\p{M}' .-]/gu, ' ').trim().split(/\s+/).filter(Boolean);
  if (!words.length) return null;
  return { first: words[0].slice(0, 80), last: (words.slice(1).join(' ') || '-').slice(0, 80) };
}

/** What the action did, for the tool's answer and the run's record. */
export type ActionResult =
  | { kind: 'hold'; placed: true; bookingId: string; reference: string }
  | { kind: 'hold'; placed: false; code: string }
  | { kind: 'pay_link'; bookingId: string; sent: boolean }
  | { kind: 'cancel'; bookingId: string; outcome: string; refundMinor?: number };

export interface PreparedAction {
  /** Replaces the decision's reply (and clears its list or buttons) before it is stored. */
  reply?: string;
  flow?: null;
  /** Runs inside the decision's transaction. */
  act?: (trx: Knex.Transaction, conversation: ConversationRow) => Promise<DecisionEffects & { result?: ActionResult }>;
  result?: ActionResult;
  bookings?: DecisionEffects['bookings'];
}

/** Does what can be done before the decision is stored (payment link, cancellation), or prepares what is done with it (hold). */
export async function performAction(ctx: ToolContext, action: FlowAction, conversation: ConversationRow, lang: Language): Promise<PreparedAction> {
  const mine = async (bookingId: string) => {
    const state = await bookingPaymentState(ctx.knex, bookingId);
    return state && conversation.customer_id && state.customerId === conversation.customer_id ? state : undefined;
  };
  switch (action.kind) {
    case 'pay_link': {
      const state = await mine(action.bookingId);
      if (!state?.due) {
        return { reply: lang === 'es' ? `No hay nada pendiente de pago en ${action.reference}.` : `There is nothing to pay on ${action.reference}.`, flow: null, result: { kind: 'pay_link', bookingId: action.bookingId, sent: false } };
      }
      const link = bookingPaymentLink(ctx.publicUrl, state.bookingId, ctx.now());
      return { reply: payLinkReply(lang, { reference: state.reference, dueMinor: state.due.amountMinor, currency: state.currency, link }), flow: null, result: { kind: 'pay_link', bookingId: state.bookingId, sent: true }, bookings: [{ bookingId: state.bookingId, role: 'viewed' }] };
    }
    case 'cancel': {
      const state = await mine(action.bookingId);
      if (!state) return { reply: cancelReply(lang, { outcome: 'refused', reference: action.reference, code: 'not_found' }), flow: null, result: { kind: 'cancel', bookingId: action.bookingId, outcome: 'not_found' } };
      try {
        // The step key is the update id: a retried tool call is the same cancellation, never a second refund.
        const r = await steerBookingAs(await ctx.temporal(), state.bookingId, cancelUpdate, ctx.stepKey, { reason: 'cancelled by the customer in chat', actor: null });
        return {
          reply: cancelReply(lang, { outcome: r.outcome, reference: state.reference, refundMinor: r.refundMinor, currency: state.currency }), flow: null,
          result: { kind: 'cancel', bookingId: state.bookingId, outcome: r.outcome, refundMinor: r.refundMinor },
          bookings: r.outcome === 'cancelled' ? [{ bookingId: state.bookingId, role: 'cancelled' }] : [],
        };
      } catch (err) {
        if (!(err instanceof Refused)) throw err;
        return { reply: cancelReply(lang, { outcome: 'refused', reference: state.reference, code: err.code }), flow: null, result: { kind: 'cancel', bookingId: state.bookingId, outcome: `refused: ${err.code}` } };
      }
    }
    case 'hold':
      return { act: (trx, c) => holdIn(trx, ctx, c, action, lang) };
  }
}

async function holdIn(trx: Knex.Transaction, ctx: ToolContext, c: ConversationRow, a: Extract<FlowAction, { kind: 'hold' }>, lang: Language): Promise<DecisionEffects & { result: ActionResult }> {
  const refused = (code: string, seatsAvailable?: number) => ({ reply: holdReply(lang, { placed: false, code, seatsAvailable }), payload: null, flow: null, result: { kind: 'hold' as const, placed: false as const, code } });
  // Only a number WhatsApp vouches for books in chat.
  if (c.channel !== 'whatsapp' || !/^\+[1-9]\d{6,14}$/.test(c.customer_handle)) return refused('not_verified');
  const name = splitName(c.customer_name);
  let customerId = c.customer_id ?? (await trx('customers').where({ phone: c.customer_handle }).whereNull('partner_id').orderBy('created_at').first('id'))?.id ?? null;
  const emailFree = async (email: string) => !(await trx('customers').whereRaw('lower(email) = ?', [email.toLowerCase()]).whereNull('partner_id').first('id'));
  if (!customerId) {
    const [row] = await trx('customers').insert({
      first_name: name?.first ?? 'WhatsApp', last_name: name?.last ?? c.customer_handle, phone: c.customer_handle, language: lang,
      email: a.email && await emailFree(a.email) ? a.email : null,
    }).returning('id');
    customerId = row.id as string;
  } else if (a.email) {
    await trx('customers').where({ id: customerId }).whereNull('email').update({ email: (await emailFree(a.email)) ? a.email : null, updated_at: trx.fn.now() });
  }
  const email: string | null = a.email ?? (await trx('customers').where({ id: customerId }).first('email'))?.email ?? null;
  if (!email) return { ...refused('no_email'), customerId };
  const lead = name ?? { first: 'Guest', last: '1' };
  const passengers = Array.from({ length: a.partySize }, (_, i) => (i === 0 ? { type: 'adult' as const, firstName: lead.first, lastName: lead.last } : { type: 'adult' as const, firstName: 'Guest', lastName: String(i + 1) }));
  try {
    const hold = await placeHold(trx, {
      departureId: a.departureId, passengers, contact: { name: `${lead.first} ${lead.last === '-' ? '' : lead.last}`.trim(), email, phone: c.customer_handle },
      language: lang, customerId, partnerId: null, onAccount: false, createdByUserId: null,
    }, ctx.now());
    const booking = hold.rows.booking;
    return {
      reply: holdReply(lang, {
        placed: true, reference: hold.reference, paxCount: a.partySize, totalMinor: Number(booking.total_minor), dueNowMinor: Number(hold.plan.depositMinor) || Number(booking.total_minor),
        currency: booking.currency, expiresAt: hold.holdExpiresAt.toISOString(), link: bookingPaymentLink(ctx.publicUrl, hold.bookingId, ctx.now()),
        tourTitle: a.tourTitle, startsAt: a.startsAt, timezone: a.timezone,
      }),
      payload: null, flow: null, customerId, bookings: [{ bookingId: hold.bookingId, role: 'booked' }],
      result: { kind: 'hold', placed: true, bookingId: hold.bookingId, reference: hold.reference },
    };
  } catch (err) {
    if (!(err instanceof HoldRefused)) throw err;
    const r = err.refusal as { code: string; seatsAvailable?: number };
    return { ...refused(r.code, r.seatsAvailable), customerId };
  }
}

/** After the hold is committed: its workflow (a failed start is left to the housekeeping relay). */
export async function afterHold(ctx: ToolContext, result: ActionResult | undefined): Promise<void> {
  if (result?.kind !== 'hold' || !result.placed) return;
  try {
    await startBookingWorkflow(await ctx.temporal(), result.bookingId);
  } catch {
    // The hold's row is the outbox: housekeeping (startPendingBookingWorkflows) starts it.
  }
}
