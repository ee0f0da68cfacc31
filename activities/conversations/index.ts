/**
 * The conversation workflow's activities (group `conversation.`, agents queue): the turn of an
 * inbound message (the MultiChannelHub run's record and arguments), settling it (a polite answer
 * and a person when the hub could not decide), handing replies to the channel, and closing an
 * idle conversation.
 *
 * Delivery follows the claim-send rules: a message is claimed (committed) just before the
 * channel call; sent with the provider's id; back to pending when nothing was handed over
 * (throttled or unavailable: the activity fails and Temporal retries after the channel's
 * Retry-After); failed when the channel will never take it; unknown when the hand-over is
 * ambiguous or a previous attempt died holding the claim — never resent.
 *
 * A WhatsApp number on the staff allowlist (`staff_phones`) is not a customer: its messages are
 * stored in its conversation like any other (so they are auditable) but answered by the staff
 * commands (`conversation.staffCommand`, staff.ts), never by MultiChannelHub.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import { insertAgentRunRecord, type ConversationRow, type MessageRow } from '../../models/conversations';
import { agentRunId, type AgentRunInput } from '../../workflows/agent-messages';
import { WhatsAppSendError, type OutboundWhatsApp, type WhatsAppChannel } from '../../integrations/whatsapp/types';
import { windowOpen, toOutbound, templateFor } from './outbound';
import type { InlineRun, InlineRunResult } from '../agents/inline';
import { isStaffPhone } from '../../models/staff-reports';
import { answerStaffMessage } from './staff';

export interface ConversationDeps {
  knex: Knex;
  /** The WhatsApp channel this worker sends through (built once per process). */
  whatsapp: () => WhatsAppChannel;
  runIdPrefix: string;
  /**
   * Runs MultiChannelHub in core mode inside the turn (activities/agents/inline.ts), or undefined
   * when the hub has a model (then the workflow runs it as a child agentRunWorkflow).
   */
  runHubInline?: (run: InlineRun) => Promise<InlineRunResult>;
  /** Read at each run's start, so a setting change reaches conversations that begin after it. */
  idleCloseMs: () => number;
  log?: (msg: string, meta: Record<string, unknown>) => void;
}

const FALLBACK = {
  es: 'Perdona, ahora mismo no puedo responderte. Te paso con una persona de nuestro equipo; te responderá aquí en breve.',
  en: "Sorry, I can't answer right now. I'm passing you to a person from our team; they will answer here shortly.",
};

function missing(what: string): never {
  throw ApplicationFailure.create({ type: 'ConversationMissing', message: what, nonRetryable: true });
}

export function createConversationActivities(deps: ConversationDeps) {
  const { knex } = deps;

  /** The message and its conversation, in one query. */
  async function load(messageId: string): Promise<{ message: MessageRow; conversation: ConversationRow }> {
    const row = await knex('conversation_messages as m').join('conversations as c', 'c.id', 'm.conversation_id').where('m.id', messageId)
      .first(knex.raw('row_to_json(m.*) as message'), knex.raw('row_to_json(c.*) as conversation'));
    if (!row) missing(`no conversation message ${messageId}`);
    // row_to_json gives timestamps as text: the callers read them through new Date(...).
    return { message: row.message as MessageRow, conversation: row.conversation as ConversationRow };
  }

  const activities = {
    'conversation.settings': async (_: { conversationId: string }) => ({ idleCloseMs: deps.idleCloseMs(), inline: !!deps.runHubInline }),

    /** The MultiChannelHub run of this message: its record (once) and its arguments; or that it was decided already; or that a staff number wrote (staffCommand answers). */
    'conversation.beginTurn': async (input: { conversationId: string; messageId: string; record?: boolean }): Promise<{ kind: 'run'; runId: string; args: AgentRunInput } | { kind: 'decided' } | { kind: 'staff' }> => {
      const { message, conversation } = await load(input.messageId);
      if (message.decided_at) return { kind: 'decided' };
      if (conversation.channel === 'whatsapp' && await isStaffPhone(knex, conversation.customer_handle)) return { kind: 'staff' };
      const channelMessageId = message.channel_message_id ?? message.id;
      const occasion = `message-${conversation.id}-${channelMessageId}`;
      const runId = agentRunId('MultiChannelHub', occasion, deps.runIdPrefix);
      const payload = (message.payload ?? {}) as { replyId?: string; type?: string };
      const hubInput = {
        conversationId: conversation.id, messageId: message.id, channelMessageId, channel: conversation.channel, text: message.text,
        receivedAt: new Date(message.created_at).toISOString(),
        // A WhatsApp number is vouched for by WhatsApp: the hub may show that customer's bookings.
        verified: conversation.channel === 'whatsapp', timeZone: conversation.time_zone ?? 'UTC',
        kind: message.kind, ...(payload.replyId ? { replyId: payload.replyId } : {}), ...(payload.type ? { type: String(payload.type).slice(0, 32) } : {}),
      };
      const run = { agent: 'MultiChannelHub', input: hubInput, occasion, trigger: 'event' as const, requestedBy: null };
      // The inline runner writes the run's record itself (record: false); the workflow's run needs it first.
      if (input.record !== false) await insertAgentRunRecord(knex, runId, run);
      if (!message.agent_run_id) await knex('conversation_messages').where({ id: message.id }).whereNull('agent_run_id').update({ agent_run_id: runId });
      return { kind: 'run', runId, args: run };
    },

    /**
     * A staff member's message: the answer to their command (staff.ts), stored as the bot's reply
     * (pending delivery), and the message decided as `staff` — once: a retry finds it decided.
     */
    'conversation.staffCommand': async (input: { conversationId: string; messageId: string }): Promise<{ replyId: string | null }> => {
      const { message, conversation } = await load(input.messageId);
      if (message.decided_at) return { replyId: (await knex('conversation_messages').where({ dedupe_key: `staff-${message.id}` }).first('id'))?.id ?? null };
      const answer = await answerStaffMessage(knex, conversation.customer_handle, message.text, new Date());
      // Taken off the allowlist meanwhile: say so rather than answer as a customer (the next message goes to the hub).
      const reply = answer ?? { text: 'This number is no longer on the staff list. / Este número ya no está en la lista del equipo.', language: conversation.language ?? 'es', command: 'refused' as const };
      return knex.transaction(async (trx) => {
        const m: MessageRow = await trx('conversation_messages').where({ id: message.id }).forUpdate().first();
        if (m.decided_at) return { replyId: (await trx('conversation_messages').where({ dedupe_key: `staff-${m.id}` }).first('id'))?.id ?? null };
        await trx('conversation_messages').where({ id: m.id }).update({
          language: reply.language, intent: 'staff', confidence: 1, entities: JSON.stringify({ command: reply.command }), routed_to: 'staff', decided_at: trx.fn.now(),
        });
        const [row] = await trx('conversation_messages').insert({
          conversation_id: conversation.id, direction: 'out', author: 'bot', text: reply.text.slice(0, 4096), language: reply.language, reply_to_id: m.id,
          dedupe_key: `staff-${m.id}`, delivery_status: conversation.channel === 'whatsapp' ? 'pending' : null,
        }).returning('id');
        await trx('conversations').where({ id: conversation.id }).update({ language: reply.language, last_intent: 'staff', last_message_at: trx.fn.now(), updated_at: trx.fn.now() });
        return { replyId: row.id as string };
      });
    },

    /** A run started elsewhere: wait (a while) for its decision on the message. */
    'conversation.awaitDecision': async (input: { messageId: string; timeoutMs: number }): Promise<{ decided: boolean }> => {
      const until = Date.now() + input.timeoutMs;
      for (;;) {
        const row = await knex('conversation_messages').where({ id: input.messageId }).first('decided_at');
        if (row?.decided_at) return { decided: true };
        if (Date.now() >= until) return { decided: false };
        Context.current().heartbeat();
        await new Promise((r) => setTimeout(r, 100));
      }
    },

    /**
     * After the hub's run: the replies to deliver, oldest first. A message still undecided (the
     * run failed) is decided here: a polite answer, and the conversation waits for a person.
     */
    'conversation.settle': async (input: { conversationId: string; messageId: string }): Promise<{ replyIds: string[]; fallback: boolean }> => {
      const { message, conversation } = await load(input.messageId);
      let fallback = false;
      // Decided (the usual case): only the replies are read.
      if (!message.decided_at) await knex.transaction(async (trx) => {
        const m: MessageRow = await trx('conversation_messages').where({ id: input.messageId }).forUpdate().first();
        if (m.decided_at) return;
        const c: ConversationRow = await trx('conversations').where({ id: conversation.id }).forUpdate().first();
        const language = c.language ?? 'es';
        await trx('conversation_messages').where({ id: m.id }).update({ language, intent: 'other', routed_to: 'human', decided_at: trx.fn.now() });
        if (c.status === 'bot' || c.status === 'closed') {
          await trx('conversation_messages').insert({
            conversation_id: c.id, direction: 'out', author: 'bot', text: FALLBACK[language], language, reply_to_id: m.id, dedupe_key: `fallback-${m.id}`,
            delivery_status: c.channel === 'whatsapp' ? 'pending' : null,
          }).onConflict('dedupe_key').ignore();
          await trx('conversations').where({ id: c.id }).update({ status: 'waiting_human', waiting_since: trx.fn.now(), updated_at: trx.fn.now() });
          await trx('conversation_events').insert({ conversation_id: c.id, type: 'waiting_human', note: 'the assistant could not answer this message' });
        }
        fallback = true;
      });
      if (conversation.channel !== 'whatsapp') return { replyIds: [], fallback };
      const replies = await knex('conversation_messages').where({ reply_to_id: input.messageId, direction: 'out' })
        .orderBy([{ column: 'created_at' }, { column: 'id' }]).pluck('id');
      return { replyIds: replies, fallback };
    },

    /** Hands one outbound message to the conversation's channel (claim-send rules above). */
    'conversation.deliver': async (input: { messageId: string }): Promise<{ status: string; providerMessageId?: string }> => {
      const { message, conversation } = await load(input.messageId);
      if (conversation.channel !== 'whatsapp') return { status: 'not_applicable' };
      if (message.delivery_status && !['pending', 'claimed'].includes(message.delivery_status)) return { status: message.delivery_status, providerMessageId: message.provider_message_id ?? undefined };
      if (message.delivery_status === 'claimed') {
        // An earlier attempt claimed it and never said how the hand-over went: it may have been sent.
        await knex('conversation_messages').where({ id: message.id, delivery_status: 'claimed' }).update({ delivery_status: 'unknown', delivery_error: 'the attempt holding the claim ended without an answer' });
        return { status: 'unknown' };
      }
      // Inside the 24-hour window: as written; outside it, only an approved template.
      let outbound: OutboundWhatsApp = toOutbound(message);
      let viaTemplate: string | null = null;
      if (outbound.kind !== 'template' && !windowOpen(conversation, new Date())) {
        const template = await templateFor(knex, message, conversation);
        if (!template) {
          await knex('conversation_messages').where({ id: message.id }).update({ delivery_status: 'failed', delivery_error: 'outside the 24-hour service window and no approved template to send instead' });
          return { status: 'failed' };
        }
        outbound = template;
        viaTemplate = template.name;
      }
      const claimed = await knex('conversation_messages').where({ id: message.id, delivery_status: 'pending' })
        .update({ delivery_status: 'claimed', claimed_at: knex.fn.now(), delivery_attempts: knex.raw('delivery_attempts + 1'), via_template: viaTemplate });
      if (!claimed) return { status: 'claimed_elsewhere' };
      const channel = deps.whatsapp();
      try {
        const sent = await channel.send(conversation.customer_handle, outbound, `conversation-message-${message.id}`);
        await knex('conversation_messages').where({ id: message.id }).update({ delivery_status: 'sent', provider_message_id: sent.providerMessageId, sent_at: knex.fn.now(), delivery_error: null });
        return { status: 'sent', providerMessageId: sent.providerMessageId };
      } catch (err) {
        if (!(err instanceof WhatsAppSendError) || err.kind === 'ambiguous') {
          await knex('conversation_messages').where({ id: message.id }).update({ delivery_status: 'unknown', delivery_error: String((err as Error).message).slice(0, 500) });
          return { status: 'unknown' };
        }
        if (err.kind === 'refused') {
          await knex('conversation_messages').where({ id: message.id }).update({ delivery_status: 'failed', delivery_error: err.message.slice(0, 500) });
          return { status: 'failed' };
        }
        // Nothing was handed over: back to pending, and let Temporal try again after the channel's pause.
        await knex('conversation_messages').where({ id: message.id }).update({ delivery_status: 'pending', delivery_error: err.message.slice(0, 500) });
        throw ApplicationFailure.create({
          type: err.kind === 'throttled' ? 'WhatsAppThrottled' : 'WhatsAppUnavailable', message: err.message,
          nextRetryDelay: err.details.retryAfterMs ? Math.max(100, err.details.retryAfterMs) : undefined,
        });
      }
    },

    /** Closes the conversation when nothing happened in it for `idleMs` (a person's conversation stays open). */
    'conversation.closeIdle': async (input: { conversationId: string; idleMs: number }): Promise<boolean> => {
      return knex.transaction(async (trx) => {
        const c: ConversationRow | undefined = await trx('conversations').where({ id: input.conversationId }).forUpdate().first();
        if (!c) return true;
        if (c.status === 'closed') return true;
        if (c.status !== 'bot') return false;
        if (Date.now() - new Date(c.last_message_at).getTime() < input.idleMs - 1000) return false;
        await trx('conversations').where({ id: c.id }).update({ status: 'closed', closed_at: trx.fn.now(), flow: null, updated_at: trx.fn.now() });
        await trx('conversation_events').insert({ conversation_id: c.id, type: 'closed', note: 'idle' });
        return true;
      });
    },
  };
  return {
    ...activities,
    /**
     * A message's whole turn in one (local) activity, the hub in core mode: its run recorded and
     * executed inline (or the staff command's answer), then settled. Once per message: a retry
     * finds the message decided, or the run's acting tool answers its recorded outcome.
     */
    'conversation.turn': async (input: { conversationId: string; messageId: string }): Promise<{ replyIds: string[]; fallback: boolean }> => {
      const begun = await activities['conversation.beginTurn']({ ...input, record: false });
      if (begun.kind === 'staff') await activities['conversation.staffCommand'](input);
      else if (begun.kind === 'run') {
        if (!deps.runHubInline) throw ApplicationFailure.create({ type: 'NotInline', message: 'MultiChannelHub has a model here: its runs go through agentRunWorkflow', nonRetryable: true });
        await deps.runHubInline({ runId: begun.runId, ...begun.args });
      }
      return activities['conversation.settle'](input);
    },
  };
}

export type ConversationActivities = ReturnType<typeof createConversationActivities>;
