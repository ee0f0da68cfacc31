/**
 * MultiChannelHub's tools: two reads (the conversation so far with its flow state and — on a
 * verified channel — the customer's bookings, what they owe and what cancelling gives back now;
 * the catalog as one message concerns it) and one act: store the decision on the message, the
 * bot's reply (text or interactive) and the conversation's state, exactly once per tool call,
 * after doing what the flow asked (actions.ts: a hold, a payment link, a cancellation).
 */
import { z } from 'zod';
import type { Knex } from 'knex';
import { defineTool, type ToolContext } from '../types';
import { once } from '../outcomes';
import { applyDecision, conversationById, messagesBefore, type HubDecision } from '../../models/conversations';
import { bookingLedger } from '../../models/ledger';
import { loadBookingRules } from '../../models/holds';
import { refundFor } from '../../domain/booking-rules';
import { catalogDestinations } from './destinations';
import { INTENTS, LANGUAGES, understand, type Language } from './understand';
import { FLOW_STEPS, type FlowState } from './flows';
import { actionSchema, afterHold, performAction, type ActionResult, type PreparedAction } from './actions';
import type { HubBooking, HubContext, Offer } from './core';

const ACTIVE_BOOKINGS = ['held', 'awaiting_payment', 'confirmed', 'paid_in_full', 'in_progress'];
const PAYABLE = ['held', 'awaiting_payment', 'confirmed'];

/** A stored flow state, if it is one this code writes (anything else is no flow). */
export function flowStateOf(raw: unknown): FlowState | null {
  const f = raw as FlowState | null;
  if (!f || typeof f !== 'object' || !(FLOW_STEPS as readonly string[]).includes(f.step) || !Array.isArray(f.options)) return null;
  return f;
}

/** The customer's upcoming open bookings, with the ledger's net paid and the refund the branch's policy gives now. */
export async function customerBookings(knex: Knex, customerId: string, now: Date): Promise<HubBooking[]> {
  const rows = await knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
    .leftJoin('tour_translations as es', (j) => j.on('es.tour_id', 't.id').andOnVal('es.language', 'es'))
    .leftJoin('tour_translations as en', (j) => j.on('en.tour_id', 't.id').andOnVal('en.language', 'en'))
    .where('b.customer_id', customerId).whereIn('b.status', ACTIVE_BOOKINGS).where('d.starts_at', '>', now)
    .orderBy([{ column: 'd.starts_at' }, { column: 'b.id' }]).limit(10)
    .select('b.id', 'b.reference', 'b.status', 'b.branch_id', 'b.partner_id', 'b.total_minor', 'b.net_minor', 'b.deposit_minor', 'b.payment_plan', 'b.currency', 'b.balance_due_on', 'd.starts_at', 'd.timezone', 'es.title as title_es', 'en.title as title_en',
      knex.raw(`exists (select 1 from approvals a where a.booking_id = b.id and a.status = 'pending' and a.kind <> 'payment_review') as cancellation_pending`));
  const rules = new Map<string, Awaited<ReturnType<typeof loadBookingRules>>>();
  const out: HubBooking[] = [];
  for (const r of rows) {
    if (!rules.has(r.branch_id)) rules.set(r.branch_id, await loadBookingRules(knex, r.branch_id));
    const ledger = await bookingLedger(knex, r.id);
    const payable = Number(r.partner_id ? r.net_minor : r.total_minor);
    const startsAt = new Date(r.starts_at);
    // As the booking workflow computes it when it cancels (domain/booking-rules.ts refundFor, on the ledger's net paid).
    const refund = refundFor(rules.get(r.branch_id)!, ledger.netPaidMinor, r.currency, startsAt, now);
    out.push({
      id: r.id, reference: r.reference, status: r.status, tourTitle: { es: r.title_es ?? r.title_en, en: r.title_en ?? r.title_es }, startsAt: startsAt.toISOString(), timezone: r.timezone,
      totalMinor: payable, balanceMinor: Math.max(0, payable - ledger.netPaidMinor), currency: r.currency,
      dueMinor: r.status === 'held' ? (r.payment_plan === 'deposit' ? Number(r.deposit_minor) : payable) : Math.max(0, payable - ledger.netPaidMinor),
      balanceDueOn: r.balance_due_on ? (r.balance_due_on instanceof Date ? r.balance_due_on.toISOString().slice(0, 10) : String(r.balance_due_on)) : null,
      payable: PAYABLE.includes(r.status) && !r.partner_id && r.payment_plan !== 'on_account',
      cancellable: r.status !== 'in_progress' && !r.cancellation_pending && !r.partner_id,
      refund: { paidMinor: ledger.netPaidMinor, refundMinor: refund.refundMinor, refundBp: refund.refundBp, daysBefore: refund.daysBefore, needsApproval: refund.needsApproval },
    });
  }
  return out;
}

export const conversationContext = defineTool({
  name: 'conversations.context',
  description: "The conversation so far: its status (with the bot, waiting for a person, with a person), language, how many messages in a row were not understood, the flow in progress, the last messages, and — when the channel vouches for the customer's identity — their bookings (what they owe, what cancelling gives back now) and the email on file.",
  effect: 'read', needsApproval: false,
  input: z.object({ conversationId: z.uuid(), messageId: z.uuid(), verified: z.boolean().default(false), timeZone: z.string().max(64).default('UTC') }),
  run: async (ctx: ToolContext, input): Promise<HubContext & { recent: Array<{ direction: string; author: string; intent: string | null; text: string }> }> => {
    const c = await conversationById(ctx.knex, input.conversationId);
    if (!c) throw new Error(`conversation ${input.conversationId} not found`);
    const recent = (await messagesBefore(ctx.knex, c.id, input.messageId, 6)).map((m) => ({ direction: m.direction, author: m.author, intent: m.intent, text: m.text.slice(0, 500) }));
    let bookings: HubContext['bookings'] = null;
    let customer: HubContext['customer'] = null;
    if (input.verified) {
      bookings = c.customer_id ? await customerBookings(ctx.knex, c.customer_id, ctx.now()) : [];
      const row = c.customer_id ? await ctx.knex('customers').where({ id: c.customer_id }).first('email') : undefined;
      customer = { email: row?.email ?? null, name: c.customer_name };
    }
    return {
      conversation: { id: c.id, status: c.status, language: c.language, otherStreak: c.other_streak, customerKnown: !!c.customer_id },
      bookings, customer, flow: flowStateOf(c.flow), timeZone: input.timeZone, recent,
    };
  },
});

export const conversationOffer = defineTool({
  name: 'conversations.offer',
  description: "The catalog as one message concerns it: the places it may name (cities, countries, tours), the active tours with their prices, and the open departures of the tours the message names (in the dates it names and the next few after), of the tours and departures the conversation's flow offered or the customer picked.",
  effect: 'read', needsApproval: false,
  input: z.object({
    text: z.string().min(1).max(4096), at: z.iso.datetime({ offset: true }), timeZone: z.string().max(64).default('UTC'), language: z.enum(LANGUAGES).optional(),
    /** The conversation whose flow state names tours and departures offered before. */
    conversationId: z.uuid().optional(),
    /** The interactive choice (`tour:<code>`, `dep:<id>`...). */
    replyId: z.string().max(256).optional(),
  }),
  run: async (ctx: ToolContext, input): Promise<Offer> => {
    const rows = await ctx.knex('tours as t')
      .leftJoin('tour_translations as es', (j) => j.on('es.tour_id', 't.id').andOnVal('es.language', 'es'))
      .leftJoin('tour_translations as en', (j) => j.on('en.tour_id', 't.id').andOnVal('en.language', 'en'))
      .leftJoin('tour_prices as p', (j) => j.on('p.tour_id', 't.id').andOnVal('p.pax_type', 'adult'))
      .where('t.status', 'active').orderBy('t.code')
      .select('t.id', 't.code', 't.destination_city', 't.destination_country', 't.currency', 't.duration_minutes', 'es.title as title_es', 'en.title as title_en', 'p.amount_minor as adult');
    const tours = rows.map((r) => ({
      code: r.code as string, city: r.destination_city as string, country: r.destination_country as string,
      title: { es: r.title_es ?? r.title_en ?? r.code, en: r.title_en ?? r.title_es ?? r.code } as Record<Language, string>,
      adultPriceMinor: Number(r.adult ?? 0), currency: r.currency as string, durationMinutes: r.duration_minutes as number,
    }));
    const destinations = catalogDestinations(tours.map((t) => ({ code: t.code, city: t.city, country: t.country, titles: [t.title.es, t.title.en] })));
    const now = new Date(input.at);
    const u = understand(input.text, { now, destinations, timeZone: input.timeZone, fallbackLanguage: input.language });
    const codes = u.entities.destination?.tourCodes ?? [];
    // What the flow offered or the customer picked: its tours' next departures, and the departures themselves.
    const flow = input.conversationId ? flowStateOf((await ctx.knex('conversations').where({ id: input.conversationId }).first('flow'))?.flow) : null;
    const ids = [input.replyId ?? '', ...(flow?.options.map((o) => o.id) ?? [])];
    const flowCodes = [...new Set([...ids.filter((i) => i.startsWith('tour:')).map((i) => i.slice(5)), ...(flow?.tourCodes ?? [])])];
    const depIds = [...new Set([...ids.filter((i) => i.startsWith('dep:')).map((i) => i.slice(4)), ...(flow?.departureId ? [flow.departureId] : [])])]
      .filter((i) => z.uuid().safeParse(i).success);
    const open = () => ctx.knex('departures as d').join('tours as t', 't.id', 'd.tour_id').leftJoin('tour_prices as p', (j) => j.on('p.tour_id', 't.id').andOnVal('p.pax_type', 'adult'))
      .whereIn('d.status', ['scheduled', 'guaranteed']).where('d.starts_at', '>', now).where('t.status', 'active')
      .select('d.id', 't.code', 'd.starts_at', 'd.timezone', 't.currency', knexSeats(), knexPrice());
    let found: Array<Record<string, any>> = [];
    if (codes.length) {
      const tourIds = rows.filter((r) => codes.includes(r.code)).map((r) => r.id);
      const withSeats = () => open().whereIn('d.tour_id', tourIds).whereRaw('d.capacity - d.seats_held - d.seats_sold > 0').orderBy([{ column: 'd.starts_at' }, { column: 'd.id' }]);
      const range = u.entities.dates;
      const day = 86_400_000;
      // A local calendar day is within a day either side of the same UTC day; the core keeps the exact ones.
      const inRange = range ? await withSeats().where('d.starts_at', '>=', new Date(Date.parse(range.from) - day)).where('d.starts_at', '<', new Date(Date.parse(range.to) + 2 * day)).limit(40) : [];
      const next = await withSeats().where('d.starts_at', '>=', range ? new Date(Date.parse(range.to)) : now).limit(10);
      found.push(...inRange, ...next);
    }
    const more = flowCodes.filter((c) => !codes.includes(c));
    if (more.length) {
      // The next few departures of each tour offered (a picked tour lists its dates).
      const tourIds = rows.filter((r) => more.includes(r.code)).map((r) => r.id);
      const ranked = open().whereIn('d.tour_id', tourIds).whereRaw('d.capacity - d.seats_held - d.seats_sold > 0')
        .select(ctx.knex.raw('row_number() over (partition by d.tour_id order by d.starts_at, d.id) as n'));
      found.push(...await ctx.knex.select('*').from(ranked.as('x')).where('n', '<=', 6));
    }
    // The departures offered or picked, seats or not: the flow says when one is gone.
    if (depIds.length) found.push(...await open().whereIn('d.id', depIds));
    const seen = new Set<string>();
    const departures: Offer['departures'] = found.filter((d) => !seen.has(d.id) && seen.add(d.id)).map((d) => ({
      id: d.id, tourCode: d.code, startsAt: new Date(d.starts_at).toISOString(), timezone: d.timezone, seatsLeft: Number(d.seats_left), adultPriceMinor: Number(d.adult_price), currency: d.currency,
    }));
    departures.sort((a, b) => a.startsAt.localeCompare(b.startsAt) || a.id.localeCompare(b.id));
    return { destinations, tours, departures };

    function knexSeats() { return ctx.knex.raw('d.capacity - d.seats_held - d.seats_sold as seats_left'); }
    function knexPrice() { return ctx.knex.raw(`coalesce((d.price_overrides->>'adult')::bigint, p.amount_minor, 0) as adult_price`); }
  },
});

const decisionInput = z.object({
  conversationId: z.uuid(), messageId: z.uuid(),
  language: z.enum(LANGUAGES), intent: z.enum(INTENTS), confidence: z.number().min(0).max(1),
  entities: z.object({
    dates: z.object({ from: z.string(), to: z.string(), text: z.string() }).nullable(),
    partySize: z.int().min(1).max(99).nullable(),
    destination: z.object({ name: z.string(), kind: z.enum(['city', 'country', 'tour']), tourCodes: z.array(z.string()) }).nullable(),
  }),
  // A flow is named after its intent; 'human' is the queue.
  route: z.enum(INTENTS),
  status: z.enum(['bot', 'waiting_human', 'with_human', 'closed']),
  reply: z.string().min(1).max(4096).nullable(),
  /** WhatsApp's interactive reply: a list (10 rows, titles of 24) or reply buttons (3, titles of 20). */
  interactive: z.union([
    z.object({ list: z.object({ button: z.string().min(1).max(20), rows: z.array(z.object({ id: z.string().min(1).max(200), title: z.string().min(1).max(24), description: z.string().max(72).optional() })).min(1).max(10) }) }),
    z.object({ buttons: z.array(z.object({ id: z.string().min(1).max(200), title: z.string().min(1).max(20) })).min(1).max(3) }),
  ]).nullable().optional(),
  /** The conversation's flow state after this message (null: none); absent: unchanged. */
  flow: z.object({
    step: z.enum(FLOW_STEPS), options: z.array(z.object({ id: z.string().max(200), title: z.string().max(300) })).max(10),
    tourCodes: z.array(z.string().max(64)).max(20).optional(), departureId: z.uuid().optional(), partySize: z.int().min(1).max(99).optional(),
    email: z.email().max(254).optional(), bookingId: z.uuid().optional(),
  }).nullable().optional(),
  /** What to do before answering (a hold, a payment link, a cancellation); its outcome writes the reply. */
  action: actionSchema.nullable().optional(),
  /** Messages in a row not understood, after this one. */
  otherStreak: z.int().min(0).max(1000).optional(),
});

export const conversationRoute = defineTool({
  name: 'conversations.route',
  description: "Records the hub's decision on the inbound message (language, intent, confidence, entities, the flow or the human queue it goes to), does what the flow asks (holds seats and sends the booking's payment link; sends a payment link; cancels a booking through its workflow), stores the bot's reply (text, or a list or buttons) to this one customer with the conversation's flow state, and moves the conversation to the human queue when routed there. Once per call.",
  effect: 'act', needsApproval: false,
  input: decisionInput,
  run: async (ctx: ToolContext, input) => once(ctx, 'conversations.route', async () => {
    const { interactive, action, ...rest } = input;
    const decision: HubDecision = { ...rest, payload: interactive ?? null, runId: ctx.runId };
    let prepared: PreparedAction | null = null;
    if (action && input.status === 'bot') {
      const conversation = await conversationById(ctx.knex, input.conversationId);
      if (!conversation) throw new Error(`conversation ${input.conversationId} not found`);
      prepared = await performAction(ctx, action, conversation, input.language);
      if (prepared.reply !== undefined) Object.assign(decision, { reply: prepared.reply, payload: null, flow: prepared.flow ?? null });
    }
    let result: ActionResult | undefined = prepared?.result;
    const applied = await applyDecision(ctx.knex, decision, ctx.stepKey, prepared && (prepared.act || prepared.bookings?.length) ? async (trx, c) => {
      if (!prepared!.act) return { bookings: prepared!.bookings };
      const effects = await prepared!.act(trx, c);
      result = effects.result;
      return effects;
    } : undefined);
    await afterHold(ctx, result);
    return { conversationId: input.conversationId, messageId: input.messageId, route: input.route, status: applied.status, replyId: applied.replyId, ...(result ? { action: result } : {}) };
  }),
});

export const HUB_TOOLS = [conversationContext, conversationOffer, conversationRoute];
