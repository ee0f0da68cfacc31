/**
 * MultiChannelHub: every inbound message on any channel (web chat, WhatsApp; email plugs in
 * through services/conversations.ts `receiveInbound`). Its core understands the message
 * (understand.ts: language, intent, entities), decides the route (a flow or the human queue),
 * moves the conversation's flow on (flows.ts: lists, picks, party size, hold, payment link,
 * cancellation) and writes the reply from real catalog data and the customer's bookings
 * (core.ts); `conversations.route` does what the flow asks (actions.ts) and stores it once.
 */
import { z } from 'zod';
import { defineAgent } from '../types';
import { CHANNELS } from '../../models/conversations';
import { decide, type HubContext, type Offer } from './core';
import { HUB_TOOLS } from './tools';
import { INTENTS, LANGUAGES } from './understand';

export const hubInput = z.object({
  conversationId: z.uuid(),
  /** Our id of the stored inbound message. */
  messageId: z.uuid(),
  /** The channel's id of the message (the idempotency key of a delivery). */
  channelMessageId: z.string().min(1).max(200),
  channel: z.enum(CHANNELS),
  text: z.string().min(1).max(4096),
  /** When the message arrived: the clock "mañana" is read against. */
  receivedAt: z.iso.datetime({ offset: true }),
  /** The channel vouches for who the customer is (a WhatsApp number): their bookings may be shown. */
  verified: z.boolean().default(false),
  timeZone: z.string().max(64).default('UTC'),
  /** text: typed; interactive: a list row or button chosen (`replyId`); unsupported: an image, a sticker... (`type`). */
  kind: z.enum(['text', 'interactive', 'unsupported']).optional(),
  replyId: z.string().min(1).max(256).optional(),
  type: z.string().min(1).max(32).optional(),
});

const entities = z.object({
  dates: z.object({ from: z.string(), to: z.string(), text: z.string() }).nullable(),
  partySize: z.number().nullable(),
  destination: z.object({ name: z.string(), kind: z.enum(['city', 'country', 'tour']), tourCodes: z.array(z.string()) }).nullable(),
});

export const hubOutput = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  language: z.enum(LANGUAGES),
  intent: z.enum(INTENTS),
  confidence: z.number(),
  entities,
  route: z.string(),
  why: z.string(),
  status: z.enum(['bot', 'waiting_human', 'with_human', 'closed']),
  reply: z.string().nullable(),
  departureIds: z.array(z.string()),
  /** What the flow asked the acting tool to do (hold, pay_link, cancel), if anything. */
  action: z.string().nullable().optional(),
  /** The step the conversation waits at after this message. */
  flowStep: z.string().nullable().optional(),
});

export const multiChannelHub = defineAgent({
  name: 'MultiChannelHub',
  description: 'Understands every inbound customer message (language, intent, dates, party size, destination), routes it to a flow or the human queue, and answers from the catalog.',
  trigger: { kind: 'event', event: 'conversation.message', description: 'every inbound message (POST /api/v1/conversations/inbound; WhatsApp later)' },
  audience: 'operations',
  input: hubInput,
  output: hubOutput,
  tools: HUB_TOOLS,
  prompt: [
    'You are the front desk of Spirit Tours, a tour operator, answering one customer message at a time in the customer\'s language (Spanish or English).',
    'Call core_analysis first: it understands the message and proposes the route and a reply built from real departures.',
    'Then call conversations.route exactly once with that decision; you may improve the wording of the reply but never invent departures, prices or policies.',
    'Send the customer to a person (route "human") when they ask for one or when you are unsure.',
  ].join(' '),
  occasion: (input) => `message-${input.conversationId}-${input.channelMessageId}`,
  gather: (input) => [
    { tool: 'conversations.context', input: { conversationId: input.conversationId, messageId: input.messageId, verified: input.verified, timeZone: input.timeZone }, as: 'context' },
    {
      tool: 'conversations.offer', as: 'offer',
      input: { text: input.text, at: input.receivedAt, timeZone: input.timeZone, conversationId: input.conversationId, ...(input.replyId ? { replyId: input.replyId } : {}) },
    },
  ],
  compute: (input, gathered) => {
    const context = gathered.context as HubContext;
    const offer = gathered.offer as Offer;
    const o = decide(input.text, context, offer, new Date(input.receivedAt), {
      kind: input.kind ?? 'text', replyId: input.replyId ?? null, type: input.type ?? null, channel: input.channel, state: context.flow ?? null,
    });
    const u = o.understanding;
    const output = {
      conversationId: input.conversationId, messageId: input.messageId, language: u.language, intent: u.intent, confidence: u.confidence,
      entities: u.entities, route: o.route, why: o.why, status: o.status, reply: o.reply, departureIds: o.departureIds,
      action: o.action?.kind ?? null, flowStep: o.flow === undefined ? context.flow?.step ?? null : o.flow?.step ?? null,
    };
    return {
      output,
      narrative: `${u.language}, ${u.intent} (${u.confidence}) → ${o.route}: ${o.why}.`,
      actions: [{
        tool: 'conversations.route', reason: o.why,
        input: {
          conversationId: input.conversationId, messageId: input.messageId, language: u.language, intent: u.intent, confidence: u.confidence, entities: u.entities, route: o.route, status: o.status, reply: o.reply,
          interactive: o.interactive, action: o.action, ...(o.flow !== undefined ? { flow: o.flow } : {}), ...(o.otherStreak !== undefined ? { otherStreak: o.otherStreak } : {}),
        },
      }],
    };
  },
});
