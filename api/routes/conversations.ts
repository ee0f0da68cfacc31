/**
 * Conversations: the public inbound endpoint for web chat (rate limited, idempotent per
 * messageId; answers with MultiChannelHub's decision when it comes within ~2 s, else 202 with
 * the run id), and the operators' side: the human queue, a thread, and a reply that takes the
 * conversation over from the bot.
 */
import { z } from 'zod';
import type Koa from 'koa';
import crypto from 'node:crypto';
import { config } from '../../platform/config';
import { emailLinkSecret, emailLinkVerifyKeys } from '../../platform/secrets';
import { recordAudit, auditActor } from '../../models/audit';
import { conversationById, conversationEvents, handBack, listConversations, operatorReply, takeOver, thread, visibleConversation, type ConversationRow, type ConversationViewer, type MessageRow } from '../../models/conversations';
import type { Principal } from '../auth';
import { receiveInbound, signalConversation } from '../../services/conversations';
import { decodeCursor, page } from '../http/cursor';
import { Problem, type FieldError } from '../http/problem';
import type { RateLimitRule } from '../http/rate-limit';
import { route } from '../http/routes';
import { cursor, limit, listOf } from '../schemas';

const OPERATORS = ['admin', 'operator'] as const;

/** Operators see their branch's customers' conversations (and unrouted ones, and those they hold); admins all. */
const viewerOf = (p: Principal): ConversationViewer | undefined => (p.role === 'admin' ? undefined : { branchId: p.branchId, userId: p.userId });

/** The conversation, or the same 404 whether it does not exist or is another branch's. */
async function conversationFor(ctx: Koa.Context, p: Principal, id: string): Promise<ConversationRow> {
  const c = await visibleConversation(ctx.knex, id, viewerOf(p));
  if (!c) throw new Problem(404, 'resource_missing', `No conversation with id "${id}".`, { param: 'id' });
  return c;
}

/** A web chat's capability to read its own conversation's answers: an HMAC of the conversation id. */
function chatToken(conversationId: string, secret = emailLinkSecret()): string {
  return crypto.createHmac('sha256', secret).update(`web-chat\n${conversationId}`).digest('base64url').slice(0, 32);
}
function chatTokenValid(conversationId: string, token: string): boolean {
  const given = Buffer.from(token);
  return emailLinkVerifyKeys().some((k) => {
    const expected = Buffer.from(chatToken(conversationId, k.secret));
    return expected.length === given.length && crypto.timingSafeEqual(expected, given);
  });
}
const iso = (v: Date | string | null | undefined) => (v ? new Date(v).toISOString() : null);
/** How long the inbound answer waits for the hub's decision before answering 202. */
export const INBOUND_WAIT_MS = 2_000;

export const inboundMessage = z.object({
  channel: z.literal('web').describe('web chat (WhatsApp and email arrive through their own endpoints)'),
  from: z.string().trim().min(1).max(200).describe("The customer's handle: an email, an E.164 phone or the chat widget's visitor id"),
  text: z.string().trim().min(1).max(4096),
  messageId: z.string().trim().min(1).max(200).optional().describe('The chat client\'s id of this message: a retry with the same id is answered with the same decision and starts nothing new'),
  timeZone: z.string().max(64).refine((tz) => { try { new Intl.DateTimeFormat('en', { timeZone: tz }); return true; } catch { return false; } }, 'must be an IANA time zone, e.g. Europe/Madrid').optional(),
}).strict();

const handleKey = (body: unknown): string | undefined => {
  const from = (body as { from?: unknown } | undefined)?.from;
  return typeof from === 'string' && from.trim() ? `web:${from.trim().toLowerCase().slice(0, 200)}` : undefined;
};

const inboundLimits: RateLimitRule<{ body: unknown; principal: unknown }>[] = [
  { name: 'inbound_address', what: 'messages from this address', points: () => config.rateLimits.inboundMessagesPerAddressPerMinute, durationSeconds: 60, key: (ctx: Koa.Context) => `ip:${ctx.ip}` },
  { name: 'inbound_sender', what: 'messages from this sender', points: () => config.rateLimits.inboundMessagesPerSenderPerMinute, durationSeconds: 60, key: (_ctx, { body }) => handleKey(body) },
];

const decisionSchema = z.object({
  language: z.enum(['es', 'en']), intent: z.string(), confidence: z.number(), entities: z.unknown(), routedTo: z.string(),
  conversationStatus: z.enum(['bot', 'waiting_human', 'with_human', 'closed']), reply: z.string().nullable(), replyId: z.string().nullable(), decidedAt: z.string(),
});
const inboundAnswer = z.object({
  object: z.literal('inbound_message'), conversationId: z.string(), messageId: z.string(), channelMessageId: z.string(), runId: z.string(),
  chatToken: z.string().describe('Reads this conversation\'s later answers (a person\'s replies too): GET /api/v1/conversations/{conversationId}/answers?token=...'),
  duplicate: z.boolean(), status: z.enum(['decided', 'processing']), decision: decisionSchema.nullable(),
});
const conversationItem = z.object({
  object: z.literal('conversation'), id: z.string(), channel: z.string(), customerHandle: z.string(), businessHandle: z.string(), customerId: z.string().nullable(),
  language: z.string().nullable(), status: z.enum(['bot', 'waiting_human', 'with_human', 'closed']), assignedUserId: z.string().nullable(),
  lastIntent: z.string().nullable(), waitingSince: z.string().nullable(), lastMessageAt: z.string(), lastText: z.string().nullable(),
  customerName: z.string().nullable(), resolvedAt: z.string().nullable(), closedAt: z.string().nullable(),
  window: z.object({ open: z.boolean(), expiresAt: z.string().nullable(), note: z.string() }).nullable().describe('WhatsApp\'s 24-hour service window: free text only while open; outside it replies go as the approved operator_reply template'),
});
const eventItem = z.object({ type: z.string(), userId: z.string().nullable(), note: z.string().nullable(), at: z.string() });
const messageItem = z.object({
  object: z.literal('conversation_message'), id: z.string(), direction: z.enum(['in', 'out']), author: z.enum(['customer', 'bot', 'operator']), authorUserId: z.string().nullable(),
  text: z.string(), language: z.string().nullable(), intent: z.string().nullable(), confidence: z.number().nullable(), entities: z.unknown(), routedTo: z.string().nullable(),
  agentRunId: z.string().nullable(), replyToId: z.string().nullable(), createdAt: z.string(),
  kind: z.string(), payload: z.unknown(),
  delivery: z.object({ status: z.string(), providerMessageId: z.string().nullable(), viaTemplate: z.string().nullable(), error: z.string().nullable(), sentAt: z.string().nullable(), deliveredAt: z.string().nullable(), readAt: z.string().nullable() }).nullable(),
});

function toConversation(c: ConversationRow & { last_text?: string | null }): z.infer<typeof conversationItem> {
  return {
    object: 'conversation', id: c.id, channel: c.channel, customerHandle: c.customer_handle, businessHandle: c.business_handle, customerId: c.customer_id,
    language: c.language, status: c.status, assignedUserId: c.assigned_user_id, lastIntent: c.last_intent, waitingSince: iso(c.waiting_since),
    lastMessageAt: iso(c.last_message_at)!, lastText: c.last_text ?? null,
    customerName: c.customer_name ?? null, resolvedAt: iso(c.resolved_at), closedAt: iso(c.closed_at), window: windowView(c),
  };
}

function windowView(c: ConversationRow): z.infer<typeof conversationItem>['window'] {
  if (c.channel !== 'whatsapp') return null;
  const open = !!c.window_expires_at && new Date(c.window_expires_at).getTime() > Date.now();
  return {
    open, expiresAt: iso(c.window_expires_at),
    note: open ? 'Inside the 24-hour service window: replies go as written.' : 'Outside the 24-hour service window: a reply is sent as the approved operator_reply template until the customer writes again.',
  };
}

function toMessage(m: MessageRow): z.infer<typeof messageItem> {
  return {
    object: 'conversation_message', id: m.id, direction: m.direction, author: m.author, authorUserId: m.author_user_id, text: m.text, language: m.language, intent: m.intent,
    confidence: m.confidence === null ? null : Number(m.confidence), entities: m.entities ?? null, routedTo: m.routed_to, agentRunId: m.agent_run_id, replyToId: m.reply_to_id,
    createdAt: iso(m.created_at)!, kind: m.kind ?? 'text', payload: m.payload ?? null,
    delivery: m.delivery_status ? {
      status: m.delivery_status, providerMessageId: m.provider_message_id, viaTemplate: m.via_template, error: m.delivery_error,
      sentAt: iso(m.sent_at), deliveredAt: iso(m.delivered_at), readAt: iso(m.read_at),
    } : null,
  };
}

export const conversationRoutes = [
  route({
    method: 'POST', path: '/api/v1/conversations/inbound', operationId: 'receiveInboundMessage', tag: 'Conversations', auth: 'public',
    summary: 'A customer\'s web chat message: understood by MultiChannelHub, answered by a flow or queued for a person',
    description: 'Body: {"channel": "web", "from": handle, "text": ..., "messageId"?: the client\'s id, "timeZone"?: IANA}. Answers 200 with the decision (language, intent, entities, route, reply) when it comes within about 2 s, else 202 with the run id (ask again with the same messageId for the decision). A body that breaks these rules is a 422 with the fields; limits per address and per sender answer 429 with Retry-After.',
    // The document shows the message's fields; anything else also reaches the handler, which answers 422 (not the usual 400) naming the fields.
    body: inboundMessage.or(z.unknown()),
    rateLimit: inboundLimits,
    responses: {
      200: { description: 'Decided: the reply, or that a person will answer', schema: inboundAnswer },
      202: { description: 'Stored and being decided', schema: inboundAnswer },
      422: { description: 'The message is not valid' }, 429: { description: 'Too many messages from this address or sender (Retry-After)' },
    },
    handler: async (ctx, { body }) => {
      const parsed = inboundMessage.safeParse(body);
      if (!parsed.success) {
        const errors: FieldError[] = parsed.error.issues.map((i) => ({ location: 'body', param: i.path.join('.') || 'body', message: i.message }));
        throw new Problem(422, 'message_invalid', `The message is not valid: ${errors.slice(0, 3).map((e) => `"${e.param}": ${e.message}`).join('; ')}.`, { param: errors[0].param, errors });
      }
      const m = parsed.data;
      const result = await receiveInbound(await ctx.temporalClient(), ctx.knex, { channel: m.channel, from: m.from, text: m.text, messageId: m.messageId, timeZone: m.timeZone }, { waitMs: INBOUND_WAIT_MS });
      const answer = { object: 'inbound_message' as const, ...result, chatToken: chatToken(result.conversationId), status: result.decision ? 'decided' as const : 'processing' as const };
      return result.decision ? { status: 200, body: answer } : { status: 202, body: answer, provisional: true };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/conversations', operationId: 'listConversations', tag: 'Conversations', auth: OPERATORS,
    summary: 'Conversations, newest message first; queue=human: those waiting for or with a person, longest waiting first',
    description: 'Operators see the conversations of their branch\'s customers, those not tied to any branch yet, and those they hold; admins all.',
    query: z.object({ queue: z.enum(['human']).optional(), status: z.enum(['bot', 'waiting_human', 'with_human', 'closed']).optional(), limit, cursor }),
    responses: { 200: { description: 'Conversations', schema: listOf(conversationItem) } },
    handler: async (ctx, { query, principal }) => {
      const after = query.cursor ? decodeCursor(query.cursor, ['timestamp', 'uuid']) : undefined;
      const rows = await listConversations(ctx.knex, { queue: query.queue, status: query.status, limit: query.limit + 1, after: after ? { at: after[0] as string, id: after[1] as string } : undefined, viewer: viewerOf(principal!) });
      return { body: page(rows, query.limit, toConversation, (r) => [iso(r.last_message_at), r.id]) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/conversations/{id}', operationId: 'getConversation', tag: 'Conversations', auth: OPERATORS,
    summary: 'One conversation and its thread (each inbound message with what the hub understood and where it went)',
    params: z.object({ id: z.uuid() }),
    responses: { 200: { description: 'The conversation', schema: conversationItem.extend({ messages: z.array(messageItem), events: z.array(eventItem) }) }, 404: { description: 'No such conversation' } },
    handler: async (ctx, { params, principal }) => {
      const c = await conversationFor(ctx, principal!, params.id);
      const [messages, events] = await Promise.all([thread(ctx.knex, c.id), conversationEvents(ctx.knex, c.id)]);
      return {
        body: {
          ...toConversation({ ...c, last_text: messages.at(-1)?.text ?? null }), messages: messages.map(toMessage),
          events: events.map((e) => ({ type: e.type, userId: e.user_id, note: e.note, at: iso(e.created_at)! })),
        },
      };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/conversations/{id}/reply', operationId: 'replyToConversation', tag: 'Conversations', auth: OPERATORS,
    summary: 'An operator answers: the reply is stored and the conversation is theirs (the bot stays quiet)',
    params: z.object({ id: z.uuid() }),
    body: z.object({ text: z.string().trim().min(1).max(4096) }).strict(),
    idempotent: true,
    responses: { 201: { description: 'Stored', schema: messageItem.extend({ conversationStatus: z.string() }) }, 404: { description: 'No such conversation' }, 409: { description: 'The conversation is closed' } },
    handler: async (ctx, { params, body, principal }) => {
      await conversationFor(ctx, principal!, params.id);
      const { message, conversation } = await operatorReply(ctx.knex, { conversationId: params.id, userId: principal!.userId, text: body.text });
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'conversation.reply', entityType: 'conversation', entityId: params.id, data: { messageId: message.id } });
      // Stored first; the conversation's workflow hands it to the channel (a template outside the 24-hour window).
      if (message.delivery_status) await signalConversation(await ctx.temporalClient(), conversation.id, 'outbound', message.id);
      return { status: 201, body: { ...toMessage(message), conversationStatus: conversation.status } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/conversations/{id}/takeover', operationId: 'takeOverConversation', tag: 'Conversations', auth: OPERATORS,
    summary: 'An operator takes the conversation from the bot (or from the human queue); the bot stays quiet until it is handed back',
    description: 'Another person\'s conversation is refused (409 conversation_taken) unless an admin sends {"force": true}; a forced take is on the conversation\'s events and in the audit log with whom it was taken from.',
    params: z.object({ id: z.uuid() }),
    body: z.object({ force: z.boolean().optional().describe('Admins only: take it even though another person has it') }).strict().optional(),
    responses: { 200: { description: 'Taken', schema: conversationItem }, 403: { description: 'force by someone not an admin' }, 404: { description: 'No such conversation' }, 409: { description: 'Closed, or another person has it' } },
    handler: async (ctx, { params, body, principal }) => {
      if (body?.force && principal!.role !== 'admin') throw new Problem(403, 'forbidden', 'Only an admin may take a conversation another person has (force).');
      await conversationFor(ctx, principal!, params.id);
      const { taken_from: takenFrom, ...c } = await takeOver(ctx.knex, { conversationId: params.id, userId: principal!.userId, force: body?.force === true });
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: takenFrom ? 'conversation.takeover_forced' : 'conversation.takeover', entityType: 'conversation', entityId: params.id, data: takenFrom ? { takenFrom } : {} });
      return { body: toConversation(c) };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/conversations/{id}/handback', operationId: 'handBackConversation', tag: 'Conversations', auth: OPERATORS,
    summary: 'The person is done: the conversation is resolved and goes back to the bot',
    params: z.object({ id: z.uuid() }),
    body: z.object({ note: z.string().trim().max(500).optional() }).strict().optional(),
    responses: { 200: { description: 'Handed back', schema: conversationItem }, 404: { description: 'No such conversation' }, 409: { description: 'The bot already has it' } },
    handler: async (ctx, { params, body, principal }) => {
      await conversationFor(ctx, principal!, params.id);
      const c = await handBack(ctx.knex, { conversationId: params.id, userId: principal!.userId, note: body?.note });
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'conversation.handback', entityType: 'conversation', entityId: params.id, data: { note: body?.note ?? null } });
      return { body: toConversation(c) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/conversations/{id}/answers', operationId: 'readChatAnswers', tag: 'Conversations', auth: 'public',
    summary: 'A web chat reads the answers in its conversation (the bot\'s and a person\'s), with the chatToken of its inbound answers',
    description: 'Outbound messages only, oldest first, after the message id `after` (exclusive) when given. A wrong token is a 404, as for a conversation that does not exist.',
    params: z.object({ id: z.uuid() }),
    query: z.object({ token: z.string().min(1).max(64), after: z.uuid().optional(), limit }),
    responses: { 200: { description: 'Answers', schema: z.object({ object: z.literal('list'), data: z.array(messageItem.pick({ id: true, author: true, text: true, kind: true, payload: true, replyToId: true, createdAt: true })), status: z.string() }) }, 404: { description: 'No such conversation (or a wrong token)' } },
    handler: async (ctx, { params, query }) => {
      const c = chatTokenValid(params.id, query.token) ? await conversationById(ctx.knex, params.id) : undefined;
      if (!c || c.channel !== 'web') throw new Problem(404, 'resource_missing', `No conversation with id "${params.id}".`, { param: 'id' });
      // Compared in SQL: timestamps keep their microseconds there.
      const rows: MessageRow[] = await ctx.knex('conversation_messages').where({ conversation_id: c.id, direction: 'out' })
        .where((q) => { if (query.after) q.whereRaw('(created_at, id) > (select created_at, id from conversation_messages where id = ? and conversation_id = ?)', [query.after, c.id]); })
        .orderBy([{ column: 'created_at' }, { column: 'id' }]).limit(query.limit);
      return { body: { object: 'list' as const, status: c.status, data: rows.map((m) => { const v = toMessage(m); return { id: v.id, author: v.author, text: v.text, kind: v.kind, payload: v.payload, replyToId: v.replyToId, createdAt: v.createdAt }; }) } };
    },
  }),
];
