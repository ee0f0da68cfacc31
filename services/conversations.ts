/**
 * Inbound customer messages for every channel: store the message once per channel message id,
 * then signal-with-start the conversation's workflow (workflows/conversation.ts), which runs
 * MultiChannelHub on it (one run per message, however often the channel delivers it) and
 * delivers the reply; web chat waits a little for the decision so it gets the answer in the same
 * request. Knows nothing of HTTP. WhatsApp's channels call `receiveInbound` as web chat does.
 */
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import crypto from 'node:crypto';
import { conversationById, messageById, openConversation, recordInbound, replyTo, type Channel, type ConversationStatus } from '../models/conversations';
import { taskQueue, taskQueues, temporalConfig } from '../temporal.config';
import { agentRunId } from '../workflows/agent-messages';
import { conversationWorkflowId, inboundSignal, outboundSignal } from '../workflows/conversation-messages';
import type { conversationWorkflow } from '../workflows/conversation';

export interface InboundMessage {
  channel: Channel;
  /** The customer's handle on the channel: an email, an E.164 phone, a web chat visitor id. */
  from: string;
  /** The business handle it was sent to (a WhatsApp business number); '' for web chat. */
  to?: string;
  text: string;
  /** The channel's id of the message; a repeat delivery with the same id is the same message. */
  messageId?: string;
  /** The channel vouches for `from` (a WhatsApp number): the hub may show that customer's bookings. */
  verified?: boolean;
  /** The customer's time zone, for "mañana" and "el viernes" (default UTC). */
  timeZone?: string;
  /** text (default); interactive: a button or list row chosen (`replyId`); unsupported: an image, a sticker... (`type`). */
  kind?: 'text' | 'interactive' | 'unsupported';
  replyId?: string;
  type?: string;
  /** The name the channel shows for the customer. */
  profileName?: string;
  /** When the channel says it was sent. */
  at?: Date;
}

export interface HubDecisionView {
  language: 'es' | 'en';
  intent: string;
  confidence: number;
  entities: unknown;
  /** The flow (named after the intent) or 'human'. */
  routedTo: string;
  /** The conversation's status after the decision. */
  conversationStatus: ConversationStatus;
  /** The bot's answer; null when a person has the conversation. */
  reply: string | null;
  replyId: string | null;
  decidedAt: string;
}

export interface InboundResult {
  conversationId: string;
  messageId: string;
  channelMessageId: string;
  runId: string;
  /** This delivery was seen before (same channel message id). */
  duplicate: boolean;
  /** Null when the run had not decided within the wait. */
  decision: HubDecisionView | null;
}

/** The hub's decision on a stored inbound message, once it is made. */
export async function decisionOf(knex: Knex, messageId: string): Promise<HubDecisionView | null> {
  const m = await messageById(knex, messageId);
  if (!m?.decided_at) return null;
  const [reply, conversation] = await Promise.all([replyTo(knex, messageId), conversationById(knex, m.conversation_id)]);
  return {
    language: m.language!, intent: m.intent!, confidence: Number(m.confidence), entities: m.entities, routedTo: m.routed_to!,
    conversationStatus: conversation!.status, reply: reply?.text ?? null, replyId: reply?.id ?? null, decidedAt: new Date(m.decided_at).toISOString(),
  };
}

/** Polls the stored message until the run decided it, or `ms` passed. */
export async function waitForDecision(knex: Knex, messageId: string, ms: number, everyMs = 40): Promise<HubDecisionView | null> {
  const until = Date.now() + ms;
  for (;;) {
    const decision = await decisionOf(knex, messageId);
    if (decision || Date.now() >= until) return decision;
    await new Promise((resolve) => setTimeout(resolve, Math.min(everyMs, Math.max(1, until - Date.now()))));
  }
}

/** Wakes the conversation's workflow (starting it if it is not running) for one message. */
export async function signalConversation(client: Client, conversationId: string, signal: 'inbound' | 'outbound', messageId: string): Promise<void> {
  await client.workflow.signalWithStart<typeof conversationWorkflow, [{ messageId: string }]>('conversationWorkflow', {
    workflowId: conversationWorkflowId(conversationId, temporalConfig.taskQueuePrefix), taskQueue: taskQueue(taskQueues.agents),
    args: [{ conversationId }], signal: signal === 'inbound' ? inboundSignal : outboundSignal, signalArgs: [{ messageId }],
  });
}

/** A channel's delivery of one customer message. */
export async function receiveInbound(client: Client, knex: Knex, msg: InboundMessage, options: { waitMs?: number; withoutDecision?: boolean } = {}): Promise<InboundResult> {
  const conversation = await openConversation(knex, { channel: msg.channel, customerHandle: msg.from, businessHandle: msg.to, customerName: msg.profileName, timeZone: msg.timeZone });
  const channelMessageId = msg.messageId ?? `${msg.channel}-${crypto.randomUUID()}`;
  const payload = msg.replyId || msg.type ? { ...(msg.replyId ? { replyId: msg.replyId } : {}), ...(msg.type ? { type: msg.type } : {}) } : undefined;
  const { message, created } = await recordInbound(knex, { conversationId: conversation.id, channelMessageId, text: msg.text, kind: msg.kind, payload, at: msg.at });
  // Every delivery signals (a repeat finds the message handled or queued; the workflow ignores it): a crash between the insert and the signal loses nothing.
  if (!message.decided_at) await signalConversation(client, conversation.id, 'inbound', message.id);
  const runId = message.agent_run_id ?? agentRunId('MultiChannelHub', `message-${conversation.id}-${channelMessageId}`, temporalConfig.taskQueuePrefix);
  // A channel that answers through its own sends (WhatsApp) does not read the decision here.
  const decision = options.waitMs ? await waitForDecision(knex, message.id, options.waitMs) : options.withoutDecision ? null : await decisionOf(knex, message.id);
  return { conversationId: conversation.id, messageId: message.id, channelMessageId, runId, duplicate: !created, decision };
}
