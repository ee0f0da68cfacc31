/**
 * Conversations and their messages (tables `conversations`, `conversation_messages`): opening a
 * conversation per channel and handles, storing an inbound message once per channel message id,
 * applying MultiChannelHub's decision (one transaction, keyed by the deciding tool call), the
 * operators' queue and thread, and an operator's reply.
 */
import type { Knex } from 'knex';
import { Refused } from '../domain/refusals';

export const CHANNELS = ['web', 'whatsapp', 'email'] as const;
export type Channel = (typeof CHANNELS)[number];
export type ConversationStatus = 'bot' | 'waiting_human' | 'with_human' | 'closed';

export interface ConversationRow {
  id: string;
  channel: Channel;
  customer_handle: string;
  business_handle: string;
  customer_id: string | null;
  language: 'es' | 'en' | null;
  status: ConversationStatus;
  assigned_user_id: string | null;
  last_intent: string | null;
  other_streak: number;
  waiting_since: Date | null;
  last_message_at: Date;
  flow: unknown;
  customer_name: string | null;
  window_expires_at: Date | null;
  closed_at: Date | null;
  resolved_at: Date | null;
  time_zone: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface MessageRow {
  id: string;
  conversation_id: string;
  direction: 'in' | 'out';
  author: 'customer' | 'bot' | 'operator';
  author_user_id: string | null;
  channel_message_id: string | null;
  text: string;
  language: 'es' | 'en' | null;
  intent: string | null;
  confidence: number | null;
  entities: unknown;
  routed_to: string | null;
  agent_run_id: string | null;
  reply_to_id: string | null;
  decided_at: Date | null;
  created_at: Date;
  kind: 'text' | 'interactive' | 'template' | 'unsupported';
  payload: unknown;
  delivery_status: 'pending' | 'claimed' | 'sent' | 'delivered' | 'read' | 'failed' | 'unknown' | null;
  delivery_attempts: number;
  provider_message_id: string | null;
  delivery_error: string | null;
  sent_at: Date | null;
  delivered_at: Date | null;
  read_at: Date | null;
  via_template: string | null;
}

/** The customer a handle names (an email or an E.164 phone), if we know them. */
async function customerFor(knex: Knex, handle: string): Promise<string | null> {
  const row = handle.includes('@')
    ? await knex('customers').whereRaw('lower(email) = ?', [handle.toLowerCase()]).whereNull('partner_id').first('id')
    : /^\+[1-9]\d{6,14}$/.test(handle) ? await knex('customers').where({ phone: handle }).orderBy('created_at').first('id') : undefined;
  return row?.id ?? null;
}

/** The conversation of these handles on this channel, opened on first contact (a closed one opens again). */
export async function openConversation(knex: Knex, c: { channel: Channel; customerHandle: string; businessHandle?: string; customerName?: string; timeZone?: string }): Promise<ConversationRow> {
  const key = { channel: c.channel, customer_handle: c.customerHandle, business_handle: c.businessHandle ?? '' };
  const found: ConversationRow | undefined = await knex('conversations').where(key).first();
  if (found) {
    if (found.status !== 'closed' && (!c.customerName || found.customer_name)) return found;
    return knex.transaction(async (trx) => {
      const [row] = await trx('conversations').where({ id: found.id }).update({
        customer_name: found.customer_name ?? c.customerName ?? null,
        ...(found.status === 'closed' ? { status: 'bot', closed_at: null, other_streak: 0, flow: null } : {}), updated_at: trx.fn.now(),
      }).returning('*');
      if (found.status === 'closed') await trx('conversation_events').insert({ conversation_id: found.id, type: 'reopened', note: 'a new message' });
      return row;
    });
  }
  const customerId = await customerFor(knex, c.customerHandle);
  await knex('conversations').insert({ ...key, customer_id: customerId, customer_name: c.customerName ?? null, time_zone: c.timeZone ?? null })
    .onConflict(['channel', 'business_handle', 'customer_handle']).ignore();
  return knex('conversations').where(key).first();
}

export interface InboundRecord {
  conversationId: string;
  channelMessageId: string;
  text: string;
  kind?: 'text' | 'interactive' | 'unsupported';
  /** An interactive choice's id, the type of an unsupported message. */
  payload?: { replyId?: string; type?: string };
  /** When the channel says the customer wrote (opens the 24-hour window from then). */
  at?: Date;
}

/** Stores an inbound message once per channel message id; `created` says whether this call stored it. */
export async function recordInbound(knex: Knex, m: InboundRecord): Promise<{ message: MessageRow; created: boolean }> {
  const [inserted] = await knex('conversation_messages')
    .insert({ conversation_id: m.conversationId, direction: 'in', author: 'customer', channel_message_id: m.channelMessageId, text: m.text, kind: m.kind ?? 'text', payload: m.payload ? JSON.stringify(m.payload) : null })
    .onConflict(knex.raw('(conversation_id, channel_message_id) where channel_message_id is not null')).ignore().returning('*');
  if (inserted) {
    // The customer wrote: the 24-hour service window runs from this message (never shortened by an older one arriving late).
    const windowEnd = new Date((m.at ?? new Date(inserted.created_at)).getTime() + 24 * 3_600_000);
    await knex('conversations').where({ id: m.conversationId }).update({
      last_message_at: inserted.created_at, updated_at: knex.fn.now(),
      window_expires_at: knex.raw('greatest(coalesce(window_expires_at, ?::timestamptz), ?::timestamptz)', [windowEnd, windowEnd]),
    });
    return { message: inserted, created: true };
  }
  const message = await knex('conversation_messages').where({ conversation_id: m.conversationId, channel_message_id: m.channelMessageId }).first();
  return { message, created: false };
}

export async function attachRun(knex: Knex, messageId: string, runId: string): Promise<void> {
  await knex('conversation_messages').where({ id: messageId }).whereNull('agent_run_id').update({ agent_run_id: runId });
}

export async function messageById(knex: Knex, id: string): Promise<MessageRow | undefined> {
  return knex('conversation_messages').where({ id }).first();
}

export async function conversationById(knex: Knex, id: string): Promise<ConversationRow | undefined> {
  return knex('conversations').where({ id }).first();
}

/** The bot's answer to an inbound message, if it wrote one. */
export async function replyTo(knex: Knex, messageId: string): Promise<MessageRow | undefined> {
  return knex('conversation_messages').where({ reply_to_id: messageId, author: 'bot' }).first();
}

/** The messages before this one (newest last), for the hub's context. */
export async function messagesBefore(knex: Knex, conversationId: string, messageId: string, limit = 10): Promise<MessageRow[]> {
  const at = await knex('conversation_messages').where({ id: messageId }).first('created_at');
  const rows = await knex('conversation_messages').where({ conversation_id: conversationId })
    .where((q) => { if (at) q.where('created_at', '<', at.created_at); })
    .whereNot({ id: messageId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit);
  return rows.reverse();
}

export interface HubDecision {
  conversationId: string;
  messageId: string;
  runId: string;
  language: 'es' | 'en';
  intent: string;
  confidence: number;
  entities: unknown;
  /** The flow (an intent's name) or 'human'. */
  route: string;
  /** The conversation's status after this message. */
  status: ConversationStatus;
  /** What the bot answers; null when it stays quiet (a person has the conversation). */
  reply: string | null;
  /** An interactive reply (`{list: {button, rows}}` or `{buttons}`): the reply is stored with kind 'interactive'. */
  payload?: unknown | null;
  /** The conversation's flow state after this message (null clears it); undefined leaves it as it is. */
  flow?: unknown;
  /** Messages in a row not understood, after this one; undefined: one more when the intent is 'other', else none. */
  otherStreak?: number;
}

/** What an action done inside the decision's transaction changes of it (a hold's answer, the bookings it made). */
export interface DecisionEffects {
  reply?: string | null;
  payload?: unknown | null;
  flow?: unknown;
  /** Bookings this message made or acted on (conversation_bookings). */
  bookings?: Array<{ bookingId: string; role: 'booked' | 'paid' | 'cancelled' | 'viewed' }>;
  /** The customer the conversation now belongs to. */
  customerId?: string;
}

/**
 * Writes the hub's decision on the message, the bot's reply and the conversation's new state, in
 * one transaction. `dedupeKey` (the deciding tool call's step key) makes a repeat change nothing.
 * `act` runs inside that transaction, only when this call decides the message and the bot still
 * has the conversation (a hold is placed with the answer that speaks of it, or not at all); what
 * it returns replaces the reply, payload and flow, and links bookings to the conversation.
 */
export async function applyDecision(
  knex: Knex, d: HubDecision, dedupeKey: string,
  act?: (trx: Knex.Transaction, conversation: ConversationRow) => Promise<DecisionEffects>,
): Promise<{ replyId: string | null; status: ConversationStatus; decided: boolean; effects: DecisionEffects | null }> {
  return knex.transaction(async (trx) => {
    const conversation: ConversationRow = await trx('conversations').where({ id: d.conversationId }).forUpdate().first();
    const message: MessageRow = await trx('conversation_messages').where({ id: d.messageId }).forUpdate().first();
    if (!conversation || !message) throw new Refused('not_found', 'conversation_missing', `No message ${d.messageId} in conversation ${d.conversationId}.`);
    const existing = await trx('conversation_messages').where({ dedupe_key: dedupeKey }).first('id');
    if (message.decided_at) return { replyId: existing?.id ?? null, status: conversation.status, decided: false, effects: null };
    // A person took the conversation while the hub was deciding: the bot stays quiet (and does nothing).
    const status = conversation.status === 'with_human' ? 'with_human' : d.status;
    const effects = status !== 'with_human' && act ? await act(trx, conversation) : null;
    const reply = status === 'with_human' ? null : effects?.reply !== undefined ? effects.reply : d.reply;
    const payload = effects?.payload !== undefined ? effects.payload : d.payload ?? null;
    const flow = status === 'with_human' ? undefined : effects?.flow !== undefined ? effects.flow : d.flow;
    await trx('conversation_messages').where({ id: d.messageId }).update({
      language: d.language, intent: d.intent, confidence: d.confidence, entities: JSON.stringify(d.entities), routed_to: d.route, agent_run_id: d.runId, decided_at: trx.fn.now(),
    });
    let replyId: string | null = null;
    if (reply) {
      const [row] = await trx('conversation_messages').insert({
        conversation_id: d.conversationId, direction: 'out', author: 'bot', text: reply.slice(0, 4096), language: d.language, reply_to_id: d.messageId, dedupe_key: dedupeKey, agent_run_id: d.runId,
        kind: payload ? 'interactive' : 'text', payload: payload ? JSON.stringify(payload) : null,
        delivery_status: conversation.channel === 'whatsapp' ? 'pending' : null,
      }).returning('id');
      replyId = row.id;
    }
    for (const b of effects?.bookings ?? []) {
      await trx('conversation_bookings').insert({ conversation_id: d.conversationId, booking_id: b.bookingId, role: b.role }).onConflict(['conversation_id', 'booking_id', 'role']).ignore();
    }
    const toHuman = status === 'waiting_human' && conversation.status !== 'waiting_human';
    await trx('conversations').where({ id: d.conversationId }).update({
      language: d.language, status, last_intent: d.intent,
      other_streak: d.otherStreak ?? (d.intent === 'other' ? conversation.other_streak + 1 : 0),
      waiting_since: toHuman ? trx.fn.now() : status === 'waiting_human' ? conversation.waiting_since : null,
      ...(flow !== undefined ? { flow: flow === null ? null : JSON.stringify(flow) } : {}),
      ...(effects?.customerId ? { customer_id: effects.customerId } : {}),
      last_message_at: trx.fn.now(), updated_at: trx.fn.now(),
    });
    if (toHuman) await trx('conversation_events').insert({ conversation_id: d.conversationId, type: 'waiting_human', note: `${d.intent}: routed to a person` });
    return { replyId, status, decided: true, effects };
  });
}

/** Conversations for operators: the human queue (waiting first, oldest wait first) or all, newest first. */
/**
 * Whose conversations an operator sees: those of their branch's customers, those of nobody's
 * branch yet (an unknown web visitor or number: every operator's queue) and those they hold.
 * Admins (branchId undefined) see all.
 */
export interface ConversationViewer { branchId?: string | null; userId: string }

function visibleTo(knex: Knex, q: Knex.QueryBuilder, viewer: ConversationViewer | undefined): Knex.QueryBuilder {
  if (!viewer || viewer.branchId === undefined) return q;
  return q.where((w) => w.whereNull('c.customer_id')
    .orWhereIn('c.customer_id', knex('customers').select('id').where('branch_id', viewer.branchId ?? null).orWhereNull('branch_id'))
    .orWhere('c.assigned_user_id', viewer.userId));
}

/** The conversation when the viewer may see it. */
export async function visibleConversation(knex: Knex, id: string, viewer: ConversationViewer | undefined): Promise<ConversationRow | undefined> {
  return visibleTo(knex, knex('conversations as c').where('c.id', id), viewer).first('c.*');
}

/**
 * The human queue (waiting for or with a person) is served oldest first: whoever has waited
 * longest is answered first. Every other list is newest first. The cursor is the same pair.
 */
export async function listConversations(knex: Knex, q: { queue?: 'human'; status?: ConversationStatus; limit: number; after?: { at: string; id: string }; viewer?: ConversationViewer }): Promise<Array<ConversationRow & { last_text: string | null }>> {
  const query = knex('conversations as c').select('c.*', knex.raw(`(select text from conversation_messages m where m.conversation_id = c.id order by m.created_at desc, m.id desc limit 1) as last_text`));
  visibleTo(knex, query, q.viewer);
  const order = q.queue === 'human' ? 'asc' : 'desc';
  if (q.queue === 'human') query.whereIn('c.status', ['waiting_human', 'with_human']);
  if (q.status) query.where('c.status', q.status);
  if (q.after) query.whereRaw(`(c.last_message_at, c.id) ${order === 'asc' ? '>' : '<'} (?, ?)`, [q.after.at, q.after.id]);
  return query.orderBy([{ column: 'c.last_message_at', order }, { column: 'c.id', order }]).limit(q.limit);
}

export async function thread(knex: Knex, conversationId: string, limit = 200): Promise<MessageRow[]> {
  return knex('conversation_messages').where({ conversation_id: conversationId }).orderBy([{ column: 'created_at', order: 'asc' }, { column: 'id', order: 'asc' }]).limit(limit);
}

/** An operator answers: the reply is stored and the conversation is theirs (the bot stays quiet). */
export async function operatorReply(knex: Knex, r: { conversationId: string; userId: string; text: string }): Promise<{ message: MessageRow; conversation: ConversationRow }> {
  return knex.transaction(async (trx) => {
    const conversation: ConversationRow | undefined = await trx('conversations').where({ id: r.conversationId }).forUpdate().first();
    if (!conversation) throw new Refused('not_found', 'resource_missing', `No conversation with id "${r.conversationId}".`, { param: 'id' });
    if (conversation.status === 'closed') throw new Refused('conflict', 'conversation_closed', 'This conversation is closed.');
    const [message] = await trx('conversation_messages').insert({
      conversation_id: r.conversationId, direction: 'out', author: 'operator', author_user_id: r.userId, text: r.text, language: conversation.language,
      delivery_status: conversation.channel === 'whatsapp' ? 'pending' : null,
    }).returning('*');
    const [updated] = await trx('conversations').where({ id: r.conversationId }).update({
      status: 'with_human', assigned_user_id: r.userId, waiting_since: null, last_message_at: trx.fn.now(), updated_at: trx.fn.now(),
    }).returning('*');
    return { message, conversation: updated };
  });
}

/**
 * The record of an agent run, written before its workflow starts, so a GET right after the 202
 * finds it (the run's first activity completes it).
 */
export async function insertAgentRunRecord(
  knex: Knex, runId: string, run: { agent: string; input: unknown; occasion: string; trigger: string; requestedBy?: string | null },
): Promise<void> {
  await knex('agent_runs').insert({
    id: runId, agent: run.agent, occasion: run.occasion, trigger: run.trigger, status: 'running', input: JSON.stringify(run.input ?? {}), requested_by_user_id: run.requestedBy ?? null,
  }).onConflict('id').ignore();
}

/** An operator takes the conversation: the bot stays quiet until it is handed back. */
export async function takeOver(knex: Knex, r: { conversationId: string; userId: string; force?: boolean }): Promise<ConversationRow & { taken_from?: string | null }> {
  return knex.transaction(async (trx) => {
    const c: ConversationRow | undefined = await trx('conversations').where({ id: r.conversationId }).forUpdate().first();
    if (!c) throw new Refused('not_found', 'resource_missing', `No conversation with id "${r.conversationId}".`, { param: 'id' });
    if (c.status === 'closed') throw new Refused('conflict', 'conversation_closed', 'This conversation is closed; it opens again when the customer writes.');
    if (c.status === 'with_human' && c.assigned_user_id === r.userId) return c;
    const from = c.status === 'with_human' && c.assigned_user_id ? c.assigned_user_id : null;
    if (from && !r.force) {
      throw new Refused('conflict', 'conversation_taken', 'Another person has this conversation; they hand it back first (an admin may take it with force: true).', { assignedUserId: c.assigned_user_id });
    }
    const [row] = await trx('conversations').where({ id: c.id }).update({ status: 'with_human', assigned_user_id: r.userId, waiting_since: null, updated_at: trx.fn.now() }).returning('*');
    await trx('conversation_events').insert({ conversation_id: c.id, type: 'taken_over', user_id: r.userId, note: from ? `taken by force from user ${from}` : null });
    return { ...row, taken_from: from };
  });
}

/** The person is done: the conversation is resolved and the bot answers again. */
export async function handBack(knex: Knex, r: { conversationId: string; userId: string; note?: string }): Promise<ConversationRow> {
  return knex.transaction(async (trx) => {
    const c: ConversationRow | undefined = await trx('conversations').where({ id: r.conversationId }).forUpdate().first();
    if (!c) throw new Refused('not_found', 'resource_missing', `No conversation with id "${r.conversationId}".`, { param: 'id' });
    if (c.status !== 'with_human' && c.status !== 'waiting_human') throw new Refused('conflict', 'not_with_a_person', `The bot already has this conversation (status ${c.status}).`);
    const [row] = await trx('conversations').where({ id: c.id }).update({
      status: 'bot', assigned_user_id: null, waiting_since: null, resolved_at: trx.fn.now(), other_streak: 0, flow: null, updated_at: trx.fn.now(),
    }).returning('*');
    await trx('conversation_events').insert({ conversation_id: c.id, type: 'handed_back', user_id: r.userId, note: r.note ?? null });
    return row;
  });
}

export async function conversationEvents(knex: Knex, conversationId: string): Promise<Array<{ type: string; user_id: string | null; note: string | null; created_at: Date }>> {
  return knex('conversation_events').where({ conversation_id: conversationId }).orderBy('id').select('type', 'user_id', 'note', 'created_at');
}
