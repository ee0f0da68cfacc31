/**
 * The agent runtime's activities, on the `agents` task queue:
 * - `agent.*`: the run's bookkeeping (begin, core, approvals, progress, finish) and the model call;
 * - `tool.<name>`: one activity per tool of every registered agent, its input checked by the
 *   tool's zod schema (the same schema the model is given), so a bad call is refused before it runs.
 *
 * The workflow (workflows/agent-run.ts) knows agents only by name; everything it needs of a
 * definition comes back from `agent.begin`.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { ActivityGroup } from '../registry';
import { taskQueues } from '../../temporal.config';
import type { AgentMode, AgentRunTrigger, AgentStep, ChatMessage, ChatTurn } from '../../workflows/agent-messages';
import { agentDefinition, allTools } from '../../agents';
import { isAgentName, type AgentName } from '../../agents/catalog';
import type { AnyAgent, AnyTool, ProposedAction, ToolCall, ToolContext } from '../../agents/types';

/** What the workflow is told about its agent at the start of a run. */
export interface RunPlan {
  mode: AgentMode;
  gather: ToolCall[];
  tools: Array<{ name: string; effect: 'read' | 'act'; needsApproval: boolean }>;
  approval: { timeoutHours: number; onTimeout: 'approve' | 'reject' };
  limits: { steps: number; tokens: number; toolErrors: number };
  /** The model's first messages (model mode). */
  messages: ChatMessage[];
  /** Set when the run was already finished (a retried trigger): its recorded result. */
  finished?: { status: 'completed' | 'failed'; output: unknown; narrative: string | null; error: string | null };
}

export interface CoreOutcome {
  output: unknown;
  narrative: string;
  actions: Array<ProposedAction & { needsApproval: boolean }>;
}

export interface ApprovalRequest {
  runId: string;
  agent: string;
  /** Stable per action: the approval's dedupe key. */
  key: string;
  tool: string;
  input: unknown;
  reason: string;
  expiresAt: string;
  onTimeout: 'approve' | 'reject';
}

/** A chat model for an agent, or undefined for core mode. Tests inject LangChain's fake chat models here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AgentModelFor = (agent: string) => any | undefined;

export type ModelCaller = (args: { model: unknown; system: string; messages: ChatMessage[]; tools: AnyTool[]; extraTools: Array<{ name: string; description: string; schema: z.ZodType }> }) => Promise<ChatTurn>;

export interface AgentActivityDeps {
  knex: Knex;
  temporal: () => Promise<Client>;
  publicUrl: string;
  modelFor?: AgentModelFor;
  callModel?: ModelCaller;
  limits?: Partial<RunPlan['limits']>;
  /** The agents this worker runs (default: the registry, agents/index.ts; tests add probes). */
  agents?: readonly AnyAgent[];
}

/** The tool the model calls to get the analytic core's result. */
export const CORE_TOOL = {
  name: 'core_analysis',
  description: "Runs this agent's analytic core on the run's input: gathers the data and returns the structured result and the actions it proposes. Call it first.",
  schema: z.object({}),
};

const DEFAULT_LIMITS = { steps: 12, tokens: 60_000, toolErrors: 3 };
/** A step's recorded input or output beyond this is cut (the full value stays in the workflow's history). */
const STEP_VALUE_MAX = 20_000;


function issues(error: z.ZodError): string {
  return error.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
}

export function clip(value: unknown): unknown {
  if (value === undefined) return undefined;
  const text = JSON.stringify(value);
  if (text === undefined || text.length <= STEP_VALUE_MAX) return value;
  return { truncated: true, bytes: text.length, head: text.slice(0, 2000) };
}

export function createAgentActivityGroups(deps: AgentActivityDeps): ActivityGroup[] {
  const { knex } = deps;
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const mustAgent = (name: string): AnyAgent => {
    const agent = deps.agents ? deps.agents.find((a) => a.name === name) : isAgentName(name) ? agentDefinition(name) : undefined;
    if (!agent) throw ApplicationFailure.nonRetryable(`agent ${name} is not available`, 'AgentUnavailable');
    return agent;
  };

  const toolContext = (runId: string, agent: string, stepKey: string): ToolContext => ({
    knex, runId, agent: agent as AgentName, stepKey, actor: `agent:${agent}`, temporal: deps.temporal, publicUrl: deps.publicUrl, now: () => new Date(),
  });

  const agentActivities: AgentRunActivities = {
    /** Records the run (once: a retried trigger finds its row) and tells the workflow what the agent is. */
    'agent.begin': async (req: { runId: string; agent: string; input: unknown; occasion: string; trigger: AgentRunTrigger; requestedBy?: string | null }): Promise<RunPlan> => {
      const agent = mustAgent(req.agent);
      const parsed = agent.input.safeParse(req.input ?? {});
      const existing = await knex('agent_runs').where({ id: req.runId }).first();
      if (existing && ['completed', 'failed'].includes(existing.status)) {
        // A workflow id is reused only after its run closed: a new run with the same id replaces the record.
        await knex('agent_runs').where({ id: req.runId }).delete().whereNotExists(knex('approvals').where('agent_run_id', req.runId).select(knex.raw('1')));
      }
      const model = deps.modelFor?.(agent.name);
      const mode: AgentMode = model ? 'model' : 'core';
      await knex('agent_runs').insert({
        id: req.runId, agent: agent.name, occasion: req.occasion, trigger: req.trigger, mode, status: 'running',
        input: JSON.stringify(req.input ?? {}), requested_by_user_id: req.requestedBy ?? null,
      }).onConflict('id').merge({ mode, status: 'running', updated_at: knex.fn.now(), ended_at: null, error: null });
      if (!parsed.success) throw ApplicationFailure.nonRetryable(`the input of ${agent.name} is invalid: ${issues(parsed.error)}`, 'AgentInputInvalid');
      return {
        mode,
        gather: agent.gather(parsed.data),
        tools: agent.tools.map((t) => ({ name: t.name, effect: t.effect, needsApproval: t.needsApproval })),
        approval: { timeoutHours: agent.approval?.timeoutHours ?? 24, onTimeout: agent.approval?.onTimeout ?? 'reject' },
        limits,
        messages: mode === 'model'
          ? [{ role: 'system', content: agent.prompt }, { role: 'user', content: `Input of this run (JSON): ${JSON.stringify(parsed.data)}` }]
          : [],
      };
    },

    /** The analytic core: the computation over what the gather tools returned, and the actions it proposes. */
    'agent.core': async (req: { agent: string; input: unknown; gathered: Record<string, unknown> }): Promise<CoreOutcome> => {
      const agent = mustAgent(req.agent);
      const input = agent.input.parse(req.input ?? {});
      const result = await agent.compute(input, req.gathered, new Date());
      const output = agent.output.safeParse(result.output);
      if (!output.success) throw ApplicationFailure.nonRetryable(`the core of ${agent.name} produced an invalid output: ${issues(output.error)}`, 'AgentOutputInvalid');
      const byName = new Map(agent.tools.map((t) => [t.name, t] as const));
      const actions = result.actions.map((a) => {
        const tool = byName.get(a.tool);
        if (!tool) throw ApplicationFailure.nonRetryable(`the core of ${agent.name} proposes tool ${a.tool}, which is not one of its tools`, 'AgentOutputInvalid');
        return { ...a, needsApproval: tool.needsApproval };
      });
      return { output: output.data, narrative: result.narrative, actions };
    },

    /** Puts proposed actions that need a person in the approvals inbox (once per key), saying exactly what will happen. */
    'agent.requestApprovals': async (req: { requests: ApprovalRequest[]; steps: AgentStep[] }): Promise<string[]> => {
      const ids: string[] = [];
      await knex.transaction(async (trx) => {
        for (const r of req.requests) {
          const agent = mustAgent(r.agent);
          const tool = agent.tools.find((t) => t.name === r.tool)!;
          const input = tool.input.parse(r.input);
          const what = tool.describe ? tool.describe(input) : `${tool.name} ${JSON.stringify(input)}`;
          const ctx = toolContext(r.runId, r.agent, r.key);
          const branchId = tool.branchOf ? (await tool.branchOf(ctx, input)) ?? null : null;
          const [row] = await trx('approvals').insert({
            kind: 'agent_action', status: 'pending', workflow_id: r.runId, agent_run_id: r.runId, branch_id: branchId,
            reason: r.reason.slice(0, 255), requested_by: `agent:${r.agent}`, expires_at: r.expiresAt, dedupe_key: `${r.runId}/${r.key}`,
            data: JSON.stringify({ agent: r.agent, tool: r.tool, input, what, reason: r.reason, onExpiry: r.onTimeout }),
          }).onConflict('dedupe_key').merge(['dedupe_key']).returning('id');
          ids.push(row.id);
        }
        await trx('agent_runs').where({ id: req.requests[0]?.runId }).update({ status: 'waiting_approval', steps: JSON.stringify(req.steps), updated_at: trx.fn.now() });
      });
      return ids;
    },

    /** A person's decision, or the deadline's default, written once (a decided approval keeps its first decision). */
    'agent.recordDecision': async (req: { approvalId: string; status: 'approved' | 'rejected' | 'expired'; by: string | null; note?: string | null }): Promise<void> => {
      await knex('approvals').where({ id: req.approvalId, status: 'pending' }).update({
        status: req.status, decided_by_user_id: req.by, decision_note: req.note ?? null, decided_at: knex.fn.now(),
      });
    },

    /** Where the run stands (status and steps so far), for the API while it runs. */
    'agent.saveProgress': async (req: { runId: string; status: 'running' | 'waiting_approval'; steps: AgentStep[]; usage?: { inputTokens: number; outputTokens: number; cost: number } }): Promise<void> => {
      await knex('agent_runs').where({ id: req.runId }).update({
        status: req.status, steps: JSON.stringify(req.steps), ...(req.usage ? { usage: JSON.stringify(req.usage) } : {}), updated_at: knex.fn.now(),
      });
    },

    'agent.finish': async (req: {
      runId: string; status: 'completed' | 'failed'; output: unknown; narrative: string | null; error: string | null;
      steps: AgentStep[]; usage: { inputTokens: number; outputTokens: number; cost: number };
    }): Promise<void> => {
      await knex('agent_runs').where({ id: req.runId }).update({
        status: req.status, output: req.output === undefined ? null : JSON.stringify(req.output), narrative: req.narrative, error: req.error,
        steps: JSON.stringify(req.steps), usage: JSON.stringify(req.usage), updated_at: knex.fn.now(), ended_at: knex.fn.now(),
      });
    },

    /** One model turn (model mode). Errors come back classified: auth and bad requests are not retried. */
    'agent.model': async (req: { agent: string; messages: ChatMessage[] }): Promise<ChatTurn> => {
      const agent = mustAgent(req.agent);
      const model = deps.modelFor?.(agent.name);
      if (!model || !deps.callModel) throw ApplicationFailure.nonRetryable(`no language model is configured for ${agent.name}`, 'ModelNotConfigured');
      const [system, ...rest] = req.messages;
      return deps.callModel({ model, system: system?.role === 'system' ? system.content : agent.prompt, messages: system?.role === 'system' ? rest : req.messages, tools: agent.tools, extraTools: [CORE_TOOL] });
    },
  };

  const toolActivities: Record<string, ToolActivity> = {};
  for (const tool of allTools(deps.agents)) {
    toolActivities[`tool.${tool.name}`] = async (req) => {
      const parsed = tool.input.safeParse(req.input ?? {});
      if (!parsed.success) throw ApplicationFailure.nonRetryable(`the input of tool ${tool.name} is invalid: ${issues(parsed.error)}`, 'ToolInputInvalid');
      const result = await tool.run(toolContext(req.runId, req.agent, req.stepKey), parsed.data);
      // Tools answer plain JSON (a bigint as a number), so the history holds what the next reader reads.
      return result === undefined ? null : JSON.parse(JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)));
    };
  }

  return [
    { name: 'agentrun', queue: taskQueues.agents, prefix: 'agent.', activities: { ...agentActivities } },
    { name: 'tool', queue: taskQueues.agents, prefix: 'tool.', activities: toolActivities },
  ];
}

export interface BeginRequest { runId: string; agent: string; input: unknown; occasion: string; trigger: AgentRunTrigger; requestedBy?: string | null }
export interface ToolRequest { runId: string; agent: string; stepKey: string; input: unknown }
export type Usage = { inputTokens: number; outputTokens: number; cost: number };

/** The `agent.*` activities (the workflow proxies them by these names). */
export interface AgentRunActivities {
  'agent.begin'(req: BeginRequest): Promise<RunPlan>;
  'agent.core'(req: { agent: string; input: unknown; gathered: Record<string, unknown> }): Promise<CoreOutcome>;
  'agent.requestApprovals'(req: { requests: ApprovalRequest[]; steps: AgentStep[] }): Promise<string[]>;
  'agent.recordDecision'(req: { approvalId: string; status: 'approved' | 'rejected' | 'expired'; by: string | null; note?: string | null }): Promise<void>;
  'agent.saveProgress'(req: { runId: string; status: 'running' | 'waiting_approval'; steps: AgentStep[]; usage?: Usage }): Promise<void>;
  'agent.finish'(req: { runId: string; status: 'completed' | 'failed'; output: unknown; narrative: string | null; error: string | null; steps: AgentStep[]; usage: Usage }): Promise<void>;
  'agent.model'(req: { agent: string; messages: ChatMessage[] }): Promise<ChatTurn>;
}

/** Every tool activity (`tool.<name>`) takes this. */
export type ToolActivity = (req: ToolRequest) => Promise<unknown>;
