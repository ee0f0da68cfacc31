/**
 * A conversation, as a durable process (id `conversation-<id>`, agents queue): every channel's
 * inbound path stores the message, then signals-with-start this workflow, which handles the
 * conversation's messages one at a time, in the order they arrived:
 *
 * 1. `conversation.beginTurn` records the MultiChannelHub run of the message (one per message:
 *    its id is `agent-MultiChannelHub-message-<conversation>-<channel message id>`);
 * 2. that run is a child workflow (understanding, the flow, the reply; acting tools once per
 *    step key), abandoned rather than cancelled if this conversation ever ends first;
 *    (A staff number's message is answered by `conversation.staffCommand` instead: figures, not a chat.)
 * 3. `conversation.deliver` hands the replies to the channel (claimed only when ready; an
 *    ambiguous hand-over is `unknown`, never resent). A message the hub could not decide gets a
 *    polite answer and goes to a person (`conversation.fallback`): the conversation never breaks.
 *
 * Operators' replies arrive as `outbound` signals and are delivered the same way. A repeated
 * signal for a message already handled is ignored (and each step is once per message anyway).
 * With nothing to do for CONVERSATION_IDLE_CLOSE_MINUTES the conversation is closed and the
 * workflow ends; the next message starts it again. Long conversations continue as new.
 */
import {
  ChildWorkflowFailure, ParentClosePolicy, allHandlersFinished, condition, continueAsNew,
  ActivityFailure, executeChild, proxyActivities, proxyLocalActivities, setHandler, workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ConversationActivities } from '../activities/conversations';
import { conversationViewQuery, inboundSignal, outboundSignal, type ConversationInput } from './conversation-messages';
import type { agentRunWorkflow } from './agent-run';

const acts = proxyActivities<ConversationActivities>({
  startToCloseTimeout: '20 seconds',
  scheduleToCloseTimeout: '2 minutes',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '5 seconds', backoffCoefficient: 2, nonRetryableErrorTypes: ['ConversationMissing'] },
});
// Handing a message to the channel: throttled or unavailable channels are retried (after Retry-After) for up to a day.
const delivery = proxyActivities<ConversationActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '5 minutes', backoffCoefficient: 2, nonRetryableErrorTypes: ['ConversationMissing'] },
});

// The turn and the first try at delivery as local activities: a message costs one workflow task, not a dozen round trips.
const local = proxyLocalActivities<ConversationActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '2 minutes',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '5 seconds', backoffCoefficient: 2, nonRetryableErrorTypes: ['ConversationMissing', 'NotInline'] },
});
const quickDelivery = proxyLocalActivities<ConversationActivities>({
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '20 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '2 seconds', backoffCoefficient: 2, nonRetryableErrorTypes: ['ConversationMissing'] },
});

const RECENT = 200;
const MESSAGES_PER_RUN = 300;

type Work = { kind: 'in' | 'out'; messageId: string };

export async function conversationWorkflow(input: ConversationInput): Promise<{ handled: number; closed: boolean }> {
  const { conversationId } = input;
  const recent: string[] = [...(input.carry?.recent ?? [])];
  const seen = new Set(recent);
  const queue: Work[] = [];
  let handled = input.carry?.handled ?? 0;
  let lastMessageId: string | null = null;
  const push = (w: Work) => {
    const key = `${w.kind}:${w.messageId}`;
    if (seen.has(key) || queue.some((q) => q.kind === w.kind && q.messageId === w.messageId)) return;
    queue.push(w);
  };
  setHandler(inboundSignal, ({ messageId }) => push({ kind: 'in', messageId }));
  setHandler(outboundSignal, ({ messageId }) => push({ kind: 'out', messageId }));
  setHandler(conversationViewQuery, () => ({ conversationId, handled, queued: queue.length, lastMessageId }));

  const plan = await local['conversation.settings']({ conversationId });
  for (let inRun = 0; ; inRun++) {
    if (!queue.length) {
      const woke = await condition(() => queue.length > 0, plan.idleCloseMs);
      if (!woke) {
        // Quiet for the idle time: close unless a message arrived meanwhile (then go on).
        const closed = await acts['conversation.closeIdle']({ conversationId, idleMs: plan.idleCloseMs });
        if (closed && !queue.length) {
          await condition(allHandlersFinished);
          if (!queue.length) return { handled, closed: true };
        }
        continue;
      }
    }
    const work = queue.shift()!;
    if (work.kind === 'in') await handleInbound(conversationId, work.messageId, plan.inline);
    else await deliver(work.messageId);
    const key = `${work.kind}:${work.messageId}`;
    seen.add(key);
    recent.push(key);
    if (recent.length > RECENT) seen.delete(recent.shift()!);
    handled++;
    lastMessageId = work.messageId;
    if ((inRun >= MESSAGES_PER_RUN || workflowInfo().continueAsNewSuggested) && !queue.length) {
      await condition(allHandlersFinished);
      if (!queue.length) return continueAsNew<typeof conversationWorkflow>({ conversationId, carry: { recent, handled } });
    }
  }
}

/** Hands a message to the channel: a local activity first; if the channel stays throttled or down past it, an activity retried for up to a day. */
async function deliver(messageId: string): Promise<void> {
  try {
    await quickDelivery['conversation.deliver']({ messageId });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    await delivery['conversation.deliver']({ messageId });
  }
}

async function handleInbound(conversationId: string, messageId: string, inline: boolean): Promise<void> {
  if (inline) {
    // Core mode: the hub runs inside the turn (activities/agents/inline.ts), recorded as its run.
    const { replyIds } = await local['conversation.turn']({ conversationId, messageId });
    for (const replyId of replyIds) await deliver(replyId);
    return;
  }
  // Model mode: the hub's run is a child workflow (the model's loop needs one).
  const turn = await acts['conversation.beginTurn']({ conversationId, messageId });
  if (turn.kind === 'staff') {
    // An allowlisted staff number: answered by the staff commands, never by MultiChannelHub.
    await acts['conversation.staffCommand']({ conversationId, messageId });
  } else if (turn.kind === 'run') {
    try {
      await executeChild<typeof agentRunWorkflow>('agentRunWorkflow', {
        workflowId: turn.runId, args: [turn.args], parentClosePolicy: ParentClosePolicy.ABANDON, workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    } catch (err) {
      // Started elsewhere (an earlier path): wait for its decision. A failed run: the fallback below answers.
      if (err instanceof WorkflowExecutionAlreadyStartedError) await acts['conversation.awaitDecision']({ messageId, timeoutMs: 60_000 });
      else if (!(err instanceof ChildWorkflowFailure)) throw err;
    }
  }
  // The replies to deliver; a message the hub could not decide (its run failed) gets a polite answer and goes to a person.
  const { replyIds } = await acts['conversation.settle']({ conversationId, messageId });
  for (const replyId of replyIds) await deliver(replyId);
}
