/**
 * What an agent is: data. A definition names its trigger, its input and output schemas, the tools
 * it may use (each an activity, `tool.<name>`), which of them wait for a person, its prompt, and
 * its analytic core (gather → compute → proposed actions), which does the job with no model.
 *
 * One generic workflow (`agentRunWorkflow`, workflows/agent-run.ts) runs any definition. The
 * workflow never imports this file: it learns what it needs (tool names, approvals, limits) from
 * the `agent.begin` activity, so definitions may use the database, zod and LangChain freely.
 */
import type { z } from 'zod';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { AgentName } from './catalog';

export type { AgentName } from './catalog';

export type AgentTrigger =
  /** A platform event starts a run (a payment attempt, an inbound message, an incident...). */
  | { kind: 'event'; event: string; description: string }
  /** A Temporal Schedule starts a run over everything in scope (`every`: '1 day', '7 days'...; `cron` wins when given). */
  | { kind: 'schedule'; every: string; cron?: string; description: string }
  /** A person asks (POST /api/v1/agents/{name}/runs). */
  | { kind: 'request'; description: string };

/** What the platform gives a tool besides its input. Built by the worker (agents/runtime/activities.ts). */
export interface ToolContext {
  knex: Knex;
  /** The agent run's id (also its workflow id). */
  runId: string;
  agent: AgentName;
  /**
   * Unique per tool call within a run and stable across retries of that call: the idempotency key
   * of anything an acting tool changes (an update id, a dedupe key). A retried call must answer
   * what its first attempt answered.
   */
  stepKey: string;
  /** `agent:<Name>`: the actor written on timelines and in the audit log. */
  actor: string;
  /** The Temporal client, for tools that steer workflows (through services/, never around a workflow). */
  temporal: () => Promise<Client>;
  publicUrl: string;
  now: () => Date;
}

export interface ToolDef<I extends z.ZodType = z.ZodType, O = unknown> {
  /** `capability.verb`, e.g. `bookings.findAffected`; the activity is `tool.bookings.findAffected`. Unique across agents. */
  name: string;
  /** For the model: what it does and when to use it. */
  description: string;
  /** Both the activity's input check and the JSON schema given to the model. */
  input: I;
  /** read: changes nothing, auto-approved. act: changes something. */
  effect: 'read' | 'act';
  /**
   * Waits for a person before it runs: anything that spends or returns money, changes prices,
   * messages more than one person, or erases data.
   */
  needsApproval: boolean;
  /** What exactly will happen, in words, shown in the approvals inbox (acting tools). */
  describe?: (input: z.output<I>) => string;
  /** For the inbox: the branch whose staff decide (undefined: admins and every operator). */
  branchOf?: (ctx: ToolContext, input: z.output<I>) => Promise<string | undefined>;
  run: (ctx: ToolContext, input: z.output<I>) => Promise<O>;
}

export interface ToolCall {
  tool: string;
  input: unknown;
  /** Key of the result in `gathered` (default: the tool's name). */
  as?: string;
}

export interface ProposedAction extends ToolCall {
  /** Why the core proposes it (shown with the approval). */
  reason: string;
  /** Run it this long after the proposal (e.g. escalate the silent after a delay); a durable timer. */
  delayMs?: number;
}

export interface CoreResult<O> {
  output: O;
  /** A short narrative of what was found and what is proposed. */
  narrative: string;
  /** Acting tool calls, each approved first when its tool says so. */
  actions: ProposedAction[];
}

export interface AgentDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  name: AgentName;
  description: string;
  trigger: AgentTrigger;
  /** Who may run it besides admins and operators: 'marketing' agents also marketers. */
  audience: 'operations' | 'marketing';
  input: I;
  output: O;
  tools: ToolDef[];
  /** The system prompt of the model path. */
  prompt: string;
  /** The run's occasion, from its input: the run id is `agent-<name>-<occasion>`, so a trigger that fires twice starts one run. */
  occasion?: (input: z.output<I>) => string;
  /** Core mode, step 1: the read tools to call (their results are `gathered[as ?? tool]`). */
  gather: (input: z.output<I>) => ToolCall[];
  /** Core mode, step 2 (runs in an activity): the computation and the actions it proposes. Deterministic given its arguments. */
  compute: (input: z.output<I>, gathered: Record<string, unknown>, now: Date) => CoreResult<z.output<O>> | Promise<CoreResult<z.output<O>>>;
  /** Approvals of this agent's actions: how long they wait and what happens when nobody decides (default 24 h, reject). */
  approval?: { timeoutHours: number; onTimeout: 'approve' | 'reject' };
}

/** Erases the generic parameters for storage in a list. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyAgent = AgentDefinition<any, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTool = ToolDef<any, any>;

export function defineAgent<I extends z.ZodType, O extends z.ZodType>(def: AgentDefinition<I, O>): AnyAgent {
  return def as AnyAgent;
}

export function defineTool<I extends z.ZodType, O>(def: ToolDef<I, O>): AnyTool {
  return def as AnyTool;
}
