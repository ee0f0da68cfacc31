/**
 * MultiChannelHub's tools: two reads (the conversation so far; the catalog as one message
 * concerns it) and one act (store the decision on the message, the bot's reply and the
 * conversation's state, exactly once per tool call).
 */
import { z } from 'zod';
import { defineTool, type ToolContext } from '../types';
import { once } from '../outcomes';
import { applyDecision, conversationById, messagesBefore, type HubDecision } from '../../models/conversations';
import { catalogDestinations } from './destinations';
import { INTENTS, LANGUAGES, understand, type Language } from './understand';
import type { HubContext, Offer } from './core';

const ACTIVE_BOOKINGS = ['held', 'awaiting_payment', 'confirmed', 'paid_in_full', 'in_progress'];

export const conversationContext = defineTool({
  name: 'conversations.context',
  description: "The conversation so far: its status (with the bot, waiting for a person, with a person), language, how many messages in a row were not understood, the last messages, and — when the channel vouches for the customer's identity — their bookings.",
  effect: 'read', needsApproval: false,
  input: z.object({ conversationId: z.uuid(), messageId: z.uuid(), verified: z.boolean().default(false), timeZone: z.string().max(64).default('UTC') }),
  run: async (ctx: ToolContext, input): Promise<HubContext & { recent: Array<{ direction: string; author: string; intent: string | null; text: string }> }> => {
    const c = await conversationById(ctx.knex, input.conversationId);
    if (!c) throw new Error(`conversation ${input.conversationId} not found`);
    const recent = (await messagesBefore(ctx.knex, c.id, input.messageId, 6)).map((m) => ({ direction: m.direction, author: m.author, intent: m.intent, text: m.text.slice(0, 500) }));
    let bookings: HubContext['bookings'] = null;
    if (input.verified && c.customer_id) {
      const rows = await ctx.knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
        .leftJoin('tour_translations as es', (j) => j.on('es.tour_id', 't.id').andOnVal('es.language', 'es'))
        .leftJoin('tour_translations as en', (j) => j.on('en.tour_id', 't.id').andOnVal('en.language', 'en'))
        .where('b.customer_id', c.customer_id).whereIn('b.status', ACTIVE_BOOKINGS).where('d.starts_at', '>', ctx.now())
        .orderBy('d.starts_at').limit(10)
        .select('b.reference', 'b.status', 'b.total_minor', 'b.amount_paid_minor', 'b.currency', 'b.balance_due_on', 'd.starts_at', 'd.timezone', 'es.title as title_es', 'en.title as title_en');
      bookings = rows.map((r) => ({
        reference: r.reference, status: r.status, tourTitle: { es: r.title_es ?? r.title_en, en: r.title_en ?? r.title_es }, startsAt: new Date(r.starts_at).toISOString(), timezone: r.timezone,
        balanceMinor: Math.max(0, Number(r.total_minor) - Number(r.amount_paid_minor)), currency: r.currency,
        balanceDueOn: r.balance_due_on ? (r.balance_due_on instanceof Date ? r.balance_due_on.toISOString().slice(0, 10) : String(r.balance_due_on)) : null,
      }));
    }
    return {
      conversation: { id: c.id, status: c.status, language: c.language, otherStreak: c.other_streak, customerKnown: !!c.customer_id },
      bookings, timeZone: input.timeZone, recent,
    };
  },
});

export const conversationOffer = defineTool({
  name: 'conversations.offer',
  description: "The catalog as one message concerns it: the places it may name (cities, countries, tours), the active tours with their prices, and the open departures of the tours the message names, in the dates it names and the next few after.",
  effect: 'read', needsApproval: false,
  input: z.object({ text: z.string().min(1).max(4096), at: z.iso.datetime({ offset: true }), timeZone: z.string().max(64).default('UTC'), language: z.enum(LANGUAGES).optional() }),
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
    let departures: Offer['departures'] = [];
    if (codes.length) {
      const ids = rows.filter((r) => codes.includes(r.code)).map((r) => r.id);
      const open = () => ctx.knex('departures as d').join('tours as t', 't.id', 'd.tour_id').leftJoin('tour_prices as p', (j) => j.on('p.tour_id', 't.id').andOnVal('p.pax_type', 'adult'))
        .whereIn('d.tour_id', ids).whereIn('d.status', ['scheduled', 'guaranteed']).where('d.starts_at', '>', now)
        .whereRaw('d.capacity - d.seats_held - d.seats_sold > 0')
        .select('d.id', 't.code', 'd.starts_at', 'd.timezone', 't.currency', knex_seats(), knex_price())
        .orderBy([{ column: 'd.starts_at' }, { column: 'd.id' }]);
      const range = u.entities.dates;
      const day = 86_400_000;
      // A local calendar day is within a day either side of the same UTC day; the core keeps the exact ones.
      const inRange = range ? await open().where('d.starts_at', '>=', new Date(Date.parse(range.from) - day)).where('d.starts_at', '<', new Date(Date.parse(range.to) + 2 * day)).limit(40) : [];
      const next = await open().where('d.starts_at', '>=', range ? new Date(Date.parse(range.to)) : now).limit(10);
      const seen = new Set<string>();
      departures = [...inRange, ...next].filter((d) => !seen.has(d.id) && seen.add(d.id)).map((d) => ({
        id: d.id, tourCode: d.code, startsAt: new Date(d.starts_at).toISOString(), timezone: d.timezone, seatsLeft: Number(d.seats_left), adultPriceMinor: Number(d.adult_price), currency: d.currency,
      }));
      departures.sort((a, b) => a.startsAt.localeCompare(b.startsAt) || a.id.localeCompare(b.id));
    }
    return { destinations, tours, departures };

    function knex_seats() { return ctx.knex.raw('d.capacity - d.seats_held - d.seats_sold as seats_left'); }
    function knex_price() { return ctx.knex.raw(`coalesce((d.price_overrides->>'adult')::bigint, p.amount_minor, 0) as adult_price`); }
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
});

export const conversationRoute = defineTool({
  name: 'conversations.route',
  description: "Records the hub's decision on the inbound message (language, intent, confidence, entities, the flow or the human queue it goes to), stores the bot's reply to this one customer, and moves the conversation to the human queue when routed there. Once per call.",
  effect: 'act', needsApproval: false,
  input: decisionInput,
  run: async (ctx: ToolContext, input) => once(ctx, 'conversations.route', async () => {
    const decision: HubDecision = { ...input, runId: ctx.runId };
    const applied = await applyDecision(ctx.knex, decision, ctx.stepKey);
    return { conversationId: input.conversationId, messageId: input.messageId, route: input.route, status: applied.status, replyId: applied.replyId };
  }),
});

export const HUB_TOOLS = [conversationContext, conversationOffer, conversationRoute];
