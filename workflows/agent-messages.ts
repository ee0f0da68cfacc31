/**
 * The agent run workflow's messages and ids, shared by the workflow, the API and the tools.
 * (The booking saga runs FraudGuardian's core in its own `fraud.check` activity, not as a child run.)
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export type AgentRunTrigger = 'request' | 'schedule' | 'event';
export type AgentRunStatus = 'running' | 'waiting_approval' | 'completed' | 'failed';
export type AgentMode = 'core' | 'model';

/** A run's id is its agent and its occasion: a trigger that fires twice starts one run. `prefix`: the deployment's (temporal.config). */
export function agentRunId(agent: string, occasion: string, prefix = ''): string {
  return `${prefix}agent-${agent}-${occasion}`;
}

export interface AgentRunInput {
  agent: string;
  input: unknown;
  /** Also in the id; kept for the record. */
  occasion: string;
  trigger: AgentRunTrigger;
  /** The user who asked (request), or null. */
  requestedBy?: string | null;
  /** Carried by continueAsNew (model mode, long conversations). */
  carry?: unknown;
}

export interface AgentRunResult {
  runId: string;
  agent: string;
  mode: AgentMode;
  status: 'completed' | 'failed';
  output: unknown;
  narrative: string | null;
  error?: string;
}

export interface AgentStep {
  kind: 'model' | 'tool' | 'approval' | 'core' | 'wait';
  name: string;
  input?: unknown;
  output?: unknown;
  error?: string;
  startedAt: string;
  endedAt?: string;
}

export interface AgentRunView {
  runId: string;
  agent: string;
  mode: AgentMode;
  status: AgentRunStatus;
  steps: AgentStep[];
  pendingApprovals: string[];
  usage: { inputTokens: number; outputTokens: number; cost: number };
}

export interface ActionDecision {
  approvalId: string;
  approve: boolean;
  /** The deciding user's id and role (the validator checks the role may decide agent actions). */
  by: string;
  role: string;
  note?: string;
}

export interface ActionDecisionResult {
  approvalId: string;
  status: 'approved' | 'rejected';
}

export const decideActionUpdate = defineUpdate<ActionDecisionResult, [ActionDecision]>('decideAction');
export const agentRunViewQuery = defineQuery<AgentRunView>('view');

/** The model path's conversation, as plain JSON kept in the workflow (LangChain messages are built from it in the activity). */
export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls: ChatToolCall[] }
  | { role: 'tool'; toolCallId: string; name: string; content: string };

export interface ChatToolCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
}

/** One answer of the model (activity `agent.model`). */
export interface ChatTurn {
  content: string;
  toolCalls: ChatToolCall[];
  /** Tool calls the model made that could not be parsed (bad JSON): answered to the model as tool errors. */
  invalidToolCalls: Array<{ id: string; name: string; error: string }>;
  /** From the provider's answer (never counted locally). */
  usage: { inputTokens: number; outputTokens: number };
  /** In US dollars, from the model's price table (0 when unknown). */
  cost: number;
  model: string;
}
