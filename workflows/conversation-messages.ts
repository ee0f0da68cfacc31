/**
 * The conversation workflow's messages and id, shared by the workflow, the API and services.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

/** One workflow per conversation (a customer number and a business number on a channel). */
export function conversationWorkflowId(conversationId: string, prefix = ''): string {
  return `${prefix}conversation-${conversationId}`;
}

/** A customer's message, stored (once per channel message id) before the signal. */
export const inboundSignal = defineSignal<[{ messageId: string }]>('inbound');
/** A message written by a person (an operator's reply), stored before the signal, to deliver. */
export const outboundSignal = defineSignal<[{ messageId: string }]>('outbound');

export interface ConversationView {
  conversationId: string;
  handled: number;
  queued: number;
  lastMessageId: string | null;
}
export const conversationViewQuery = defineQuery<ConversationView>('view');

export interface ConversationInput {
  conversationId: string;
  /** Carried by continueAsNew: the last message ids handled (a repeat signal is ignored). */
  carry?: { recent: string[]; handled: number };
}
