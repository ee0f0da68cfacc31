/**
 * An agent run in core mode inside one activity, for the callers on a customer's critical path
 * (a conversation's turn): the same definition, tools, steps and record as `agentRunWorkflow`
 * in core mode — gather in parallel, the core, then the proposed actions in order — without a
 * workflow of its own and its dozen round trips through the Temporal server per message.
 *
 * Idempotent as the workflow's steps are: the gather tools only read, each action's step key is
 * `${runId}/action-<i>` (what the workflow uses), so an acting tool answers its recorded outcome
 * when the activity is retried. Actions that need a person's approval cannot run here (no durable
 * wait): such a run fails with that reason; its caller uses the workflow for those agents.
 * Model mode always goes through the workflow (its loop needs it).
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { AnyAgent, ToolContext, AgentName } from '../../agents/types';
import type { AgentRunTrigger, AgentStep } from '../../workflows/agent-messages';

export interface InlineRun {
  runId: string;
  agent: string;
  input: unknown;
  occasion: string;
  trigger: AgentRunTrigger;
  requestedBy?: string | null;
}

export interface InlineRunResult {
  status: 'completed' | 'failed';
  output: unknown;
  error: string | null;
}

const plain = (v: unknown) => (v === undefined ? null : JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x))));

export function createInlineRunner(deps: { knex: Knex; temporal: () => Promise<Client>; publicUrl: string; agentOf: (name: string) => AnyAgent | undefined }) {
  const { knex } = deps;
  return async (req: InlineRun): Promise<InlineRunResult> => {
    const agent = deps.agentOf(req.agent);
    if (!agent) throw ApplicationFailure.nonRetryable(`agent ${req.agent} is not available`, 'AgentUnavailable');
    // One statement: the record is written (or taken up again), unless the run already ended (then its outcome is answered).
    const begun = await knex('agent_runs').insert({
      id: req.runId, agent: agent.name, occasion: req.occasion, trigger: req.trigger, mode: 'core', status: 'running',
      input: JSON.stringify(req.input ?? {}), requested_by_user_id: req.requestedBy ?? null,
    }).onConflict('id').merge({ mode: 'core', status: 'running', updated_at: knex.fn.now() }).whereNotIn('agent_runs.status', ['completed', 'failed']).returning('id');
    if (!begun.length) {
      const done = await knex('agent_runs').where({ id: req.runId }).first('status', 'output', 'error');
      return { status: done.status, output: done.output, error: done.error };
    }
    const steps: AgentStep[] = [];
    const step = (kind: AgentStep['kind'], name: string, input?: unknown): AgentStep => {
      const s: AgentStep = { kind, name, input, startedAt: new Date().toISOString() };
      steps.push(s);
      return s;
    };
    const ctx = (stepKey: string): ToolContext => ({
      knex, runId: req.runId, agent: agent.name as AgentName, stepKey, actor: `agent:${agent.name}`, temporal: deps.temporal, publicUrl: deps.publicUrl, now: () => new Date(),
    });
    const call = async (toolName: string, input: unknown, key: string): Promise<unknown> => {
      const tool = agent.tools.find((t) => t.name === toolName);
      if (!tool) throw ApplicationFailure.nonRetryable(`${agent.name} has no tool ${toolName}`, 'AgentOutputInvalid');
      const s = step('tool', toolName, input);
      try {
        const parsed = tool.input.safeParse(input ?? {});
        if (!parsed.success) throw ApplicationFailure.nonRetryable(`the input of tool ${toolName} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, 'ToolInputInvalid');
        s.output = plain(await tool.run(ctx(`${req.runId}/${key}`), parsed.data));
        return s.output;
      } catch (err) {
        s.error = (err as Error).message;
        throw err;
      } finally {
        s.endedAt = new Date().toISOString();
      }
    };
    let output: unknown = null;
    let narrative: string | null = null;
    let error: string | null = null;
    try {
      const input = agent.input.parse(req.input ?? {});
      const gather = agent.gather(input);
      const results = await Promise.all(gather.map((g, i) => call(g.tool, g.input, `gather-${i}`)));
      const gathered: Record<string, unknown> = {};
      gather.forEach((g, i) => { gathered[g.as ?? g.tool] = results[i]; });
      const s = step('core', agent.name);
      const result = await agent.compute(input, gathered, new Date());
      output = agent.output.parse(result.output);
      narrative = result.narrative;
      s.output = { output, actions: result.actions.map((a) => ({ tool: a.tool, reason: a.reason })) };
      s.endedAt = new Date().toISOString();
      for (const [i, a] of result.actions.entries()) {
        const tool = agent.tools.find((t) => t.name === a.tool);
        if (tool?.needsApproval || a.delayMs) throw ApplicationFailure.nonRetryable(`${a.tool} waits for a person or a delay: ${agent.name} runs through agentRunWorkflow for that`, 'NotInline');
        await call(a.tool, a.input, `action-${i}`);
      }
    } catch (err) {
      // Retryable failures (the database went away) retry the activity; the rest end the run as failed.
      if (!(err instanceof ApplicationFailure && err.nonRetryable) && !(err instanceof Error && err.name === 'ZodError')) throw err;
      error = err.message;
    }
    const status = error ? 'failed' : 'completed';
    await knex('agent_runs').where({ id: req.runId }).update({
      status, output: output === null ? null : JSON.stringify(output), narrative, error, steps: JSON.stringify(steps),
      usage: JSON.stringify({ inputTokens: 0, outputTokens: 0, cost: 0 }), updated_at: knex.fn.now(), ended_at: knex.fn.now(),
    });
    return { status, output, error };
  };
}
