/**
 * MultiChannelHub's decision, pure: what the message says (understand.ts), where it goes (a flow
 * named after its intent, or the human queue), and the bot's answer in the customer's language,
 * from the catalog data and the customer's bookings the run gathered. The flows themselves (the
 * lists, picks, party size, hold, payment link, cancellation) are flows.ts.
 *
 * To the human queue: the customer asks for a person; the intent is unsure (confidence below
 * HUMAN_BELOW); or a second message in a row is not understood. While a person has the
 * conversation (waiting for one, or with one) the bot stays quiet and only records.
 */
import { DEFAULT_BOOKING_RULES, type BookingRules } from '../../domain/booking-rules';
import { understand, type Destination, type Intent, type Language, type Understanding } from './understand';
import { continueFlow, startFlow, unsupported, type FlowAction, type FlowState, type Interactive, type Turn } from './flows';

export const HUMAN_BELOW = 0.45;

export interface ContextMessage { direction: 'in' | 'out'; author: string; intent: string | null; text: string }

/** One of the customer's upcoming bookings, with what it owes and what cancelling it now gives back. */
export interface HubBooking {
  id: string;
  reference: string;
  status: string;
  tourTitle: Record<Language, string>;
  startsAt: string;
  timezone: string;
  totalMinor: number;
  /** What is owed now: the payable total less what the ledger says was paid (captured − refunded). */
  balanceMinor: number;
  /** What a payment now would be (as the booking workflow's `due()`): the deposit or the full amount while held, else the balance. */
  dueMinor: number;
  currency: string;
  balanceDueOn: string | null;
  /** A payment may be taken now (held, awaiting payment, confirmed with a balance). */
  payable: boolean;
  /** The customer may cancel it here (not started, not closed, no cancellation pending). */
  cancellable: boolean;
  /** The branch's policy applied now to what the ledger says was paid (as the booking workflow computes it). */
  refund: { paidMinor: number; refundMinor: number; refundBp: number; daysBefore: number; needsApproval: boolean };
}

export interface HubContext {
  conversation: { id: string; status: 'bot' | 'waiting_human' | 'with_human' | 'closed'; language: Language | null; otherStreak: number; customerKnown: boolean };
  /** The customer's bookings, only when the channel vouches for who they are (a WhatsApp number); null otherwise. */
  bookings: HubBooking[] | null;
  timeZone: string;
  /** What we know of the customer (verified channels): an email on file for confirmations. */
  customer?: { email: string | null; name: string | null } | null;
  /** The flow in progress (`conversations.flow`). */
  flow?: FlowState | null;
  /** The refund tiers the policy text shows when the bookings cannot be (default rules). */
  refundTiers?: BookingRules['refundTiers'];
}

export interface OfferTour { code: string; city: string; country: string; title: Record<Language, string>; adultPriceMinor: number; currency: string; durationMinutes: number }
export interface OfferDeparture { id: string; tourCode: string; startsAt: string; timezone: string; seatsLeft: number; adultPriceMinor: number; currency: string }

/** The catalog as one message concerns it (tool conversations.offer). */
export interface Offer {
  destinations: Destination[];
  tours: OfferTour[];
  /** Open departures of the tours the message names: in its dates, then the next few. */
  departures: OfferDeparture[];
}

export type Route = Exclude<Intent, 'human'> | 'human';

export interface HubOutcome {
  understanding: Understanding;
  route: Route;
  why: string;
  status: HubContext['conversation']['status'];
  reply: string | null;
  /** The departures the reply names. */
  departureIds: string[];
  /** WhatsApp's list or reply buttons for the reply (kind 'interactive'). */
  interactive: Interactive | null;
  /** The flow state after this message; undefined: unchanged (a person has the conversation). */
  flow?: FlowState | null;
  /** What the acting tool does before it answers (hold, payment link, cancel). */
  action: FlowAction | null;
  /** Messages in a row not understood, after this one; undefined: by the intent (other counts). */
  otherStreak?: number;
}

const T = {
  es: {
    human: 'Te paso con una persona de nuestro equipo; te responderá aquí en breve.',
    unsure: 'No estoy seguro de haberte entendido, así que te paso con una persona de nuestro equipo; te responderá aquí en breve.',
    repeatedOther: 'Perdona, sigo sin entenderte. Te paso con una persona de nuestro equipo; te responderá aquí en breve.',
  },
  en: {
    human: "I'm passing you to a person from our team; they will answer here shortly.",
    unsure: "I'm not sure I understood, so I'm passing you to a person from our team; they will answer here shortly.",
    repeatedOther: "Sorry, I still don't understand. I'm passing you to a person from our team; they will answer here shortly.",
  },
} as const;

export { money } from './flows';

/** What one message is besides its text: how it came (typed, a choice, unreadable), the channel, the flow in progress. */
export interface HubTurn {
  kind?: Turn['kind'];
  replyId?: string | null;
  /** The WhatsApp type of an unsupported message (image, sticker, location...). */
  type?: string | null;
  channel?: Turn['channel'];
  state?: FlowState | null;
}

/** The whole decision for one inbound message (`turn`: how it came and the flow in progress). */
export function decide(text: string, ctx: HubContext, offer: Offer, now: Date, turn: HubTurn = {}): HubOutcome {
  const u = understand(text, { now, destinations: offer.destinations, timeZone: ctx.timeZone, fallbackLanguage: ctx.conversation.language ?? undefined });
  const t0: Turn = { kind: turn.kind ?? 'text', replyId: turn.replyId ?? null, channel: turn.channel ?? 'web', state: turn.state ?? ctx.flow ?? null };
  // A choice's title says little of the language: the conversation's stands.
  const lang: Language = t0.kind === 'interactive' && ctx.conversation.language ? ctx.conversation.language : u.language;
  const understanding = lang === u.language ? u : { ...u, language: lang };
  const base = { understanding, departureIds: [] as string[], interactive: null, action: null };
  const streak = ctx.conversation.otherStreak;
  if (ctx.conversation.status === 'waiting_human' || ctx.conversation.status === 'with_human') {
    return { ...base, route: 'human', why: `a person has this conversation (${ctx.conversation.status})`, status: ctx.conversation.status, reply: null };
  }
  const toHuman = (why: string, reply: string, otherStreak = 0): HubOutcome => ({ ...base, route: 'human', why, status: 'waiting_human', reply, flow: null, otherStreak });
  const flowOutcome = (o: ReturnType<typeof startFlow>): HubOutcome => ({
    understanding, route: o.route, why: o.why, status: 'bot', reply: o.reply, departureIds: o.departureIds, interactive: o.interactive, flow: o.flow, action: o.action,
    otherStreak: o.notUnderstood ? streak + 1 : 0,
  });
  if (t0.kind === 'unsupported') return { ...flowOutcome(unsupported(lang, turn.type ?? null, t0.state)), otherStreak: streak };
  if (u.intent === 'human' && !t0.replyId) return toHuman('the customer asked for a person', T[lang].human);
  const next = continueFlow(understanding, lang, t0, ctx, offer, text);
  if (next) {
    if (next.route === 'human') return toHuman(next.why, T[lang].human);
    if (next.notUnderstood && streak >= 1) return toHuman('a second message in a row not understood', T[lang].repeatedOther, streak + 1);
    return flowOutcome(next);
  }
  // Small talk ("hola", "gracias") is understood as such; anything else not understood twice goes to a person.
  if (u.intent === 'other' && u.confidence < 0.9 && streak >= 1) return toHuman('a second message in a row not understood', T[lang].repeatedOther, streak + 1);
  if (u.intent !== 'other' && u.confidence < HUMAN_BELOW) {
    return toHuman(`unsure of the intent (confidence ${u.confidence} below ${HUMAN_BELOW})`, T[lang].unsure);
  }
  return flowOutcome(startFlow(understanding, lang, t0, ctx, offer, ctx.refundTiers ?? DEFAULT_BOOKING_RULES.refundTiers));
}
