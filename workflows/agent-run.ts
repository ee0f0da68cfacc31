/**
 * One agent run, for any agent: the definition is data (agents/), this is the loop.
 *
 * Core mode (no model configured): the read tools the definition gathers with, then its analytic
 * core (an activity), then the actions the core proposes, each waiting for a person first when
 * its tool says so. Model mode: the model plans and calls the same tools (LangChain tool calling
 * in the `agent.model` activity), the core's result is one of its tools, and it writes the
 * narrative; a step limit, a token budget and a limit of malformed tool calls bound it, and a long
 * conversation continues as new.
 *
 * Every step (model turn, tool call, approval, core, wait) is recorded in the run's state and in
 * `agent_runs`; a crashed worker resumes where the history stops, so a completed tool call is
 * never repeated. Approvals are decided through the `decideAction` update (validated: the
 * approval is this run's and still pending, the role may decide) or expire at their deadline
 * with the agent's default.
 */
import {
  ActivityFailure, ApplicationFailure, allHandlersFinished, condition, continueAsNew, patched, proxyActivities, proxyLocalActivities, setHandler, sleep, workflowInfo,
} from '@temporalio/workflow';
import type { AgentRunActivities, CoreOutcome, RunPlan, ToolActivity, Usage } from '../activities/agents/run';
import {
  agentRunViewQuery, decideActionUpdate,
  type ActionDecision, type AgentMode, type AgentRunInput, type AgentRunResult, type AgentStep, type ChatMessage,
} from './agent-messages';

/** The run's own records: local activities (same worker, no round trip through the server). */
const records = proxyLocalActivities<AgentRunActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '10 minutes',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds', nonRetryableErrorTypes: ['AgentUnavailable', 'AgentInputInvalid', 'AgentOutputInvalid'] },
});

/** Tools reach the database, providers and other workflows: bounded, refusals not retried. */
const tools = proxyActivities<Record<string, ToolActivity>>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '10 minutes',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds', backoffCoefficient: 2, nonRetryableErrorTypes: ['ToolInputInvalid', 'ToolRefused', 'Refused', 'BookingRefused'] },
});

/** The model: rate limits back off (the activity's failure says how long), auth and bad requests fail at once. */
const models = proxyActivities<AgentRunActivities>({
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '15 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', backoffCoefficient: 2, maximumAttempts: 8, nonRetryableErrorTypes: ['ModelAuthFailed', 'ModelBadRequest', 'ModelNotConfigured'] },
});

const DECIDING_ROLES = ['admin', 'operator'];
const CORE_TOOL = 'core_analysis';
/** Past this many events the conversation continues as new (the server suggests it earlier for big histories). */
const HISTORY_LIMIT = 4_000;

type ApprovalState = { status: 'pending' | 'deciding' | 'approved' | 'rejected' | 'expired'; expiresAtMs: number; note?: string | null };

/** What a model-mode run hands to the next when it continues as new. */
interface ModelCarry {
  messages: ChatMessage[];
  steps: AgentStep[];
  usage: Usage;
  turns: number;
  toolErrors: number;
  core?: CoreOutcome;
  plan: RunPlan;
}

class RunFailed extends Error {}

/** The run's state in one place; the handlers read and change only this. */
class AgentRun {
  status: 'running' | 'completed' | 'failed' = 'running';
  mode: AgentMode = 'core';
  steps: AgentStep[] = [];
  usage: Usage = { inputTokens: 0, outputTokens: 0, cost: 0 };
  readonly approvals = new Map<string, ApprovalState>();

  constructor(readonly runId: string, readonly agent: string) {}

  get waiting(): boolean {
    return [...this.approvals.values()].some((a) => a.status === 'pending' || a.status === 'deciding');
  }

  step(kind: AgentStep['kind'], name: string, input?: unknown): AgentStep {
    const s: AgentStep = { kind, name, input, startedAt: new Date().toISOString() };
    this.steps.push(s);
    return s;
  }
}

function failureText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

function failureKind(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? cause.type ?? undefined : undefined;
}

export async function agentRunWorkflow(req: AgentRunInput): Promise<AgentRunResult> {
  const runId = workflowInfo().workflowId;
  const run = new AgentRun(runId, req.agent);
  const carry = req.carry as ModelCarry | undefined;
  if (carry) {
    run.steps = carry.steps;
    run.usage = carry.usage;
  }

  setHandler(agentRunViewQuery, () => ({
    runId, agent: req.agent, mode: run.mode, status: run.status === 'running' && run.waiting ? 'waiting_approval' : run.status,
    steps: run.steps, usage: run.usage,
    pendingApprovals: [...run.approvals].filter(([, a]) => a.status === 'pending').map(([id]) => id),
  }));
  setHandler(decideActionUpdate, async (d: ActionDecision) => {
    const approval = run.approvals.get(d.approvalId)!;
    approval.status = 'deciding';
    await records['agent.recordDecision']({ approvalId: d.approvalId, status: d.approve ? 'approved' : 'rejected', by: d.by, note: d.note ?? null });
    approval.status = d.approve ? 'approved' : 'rejected';
    approval.note = d.note ?? null;
    return { approvalId: d.approvalId, status: approval.status };
  }, {
    validator: (d: ActionDecision) => {
      const approval = run.approvals.get(d.approvalId);
      if (!approval) throw ApplicationFailure.create({ type: 'ApprovalUnknown', message: `approval ${d.approvalId} is not one of this run's`, nonRetryable: true });
      if (approval.status !== 'pending') throw ApplicationFailure.create({ type: 'ApprovalNotPending', message: `this approval is already ${approval.status === 'deciding' ? 'being decided' : approval.status}`, nonRetryable: true });
      if (!DECIDING_ROLES.includes(d.role)) throw ApplicationFailure.create({ type: 'ApprovalForbidden', message: `a ${d.role} may not decide an agent's action (admins and operators do)`, nonRetryable: true });
    },
  });

  let plan: RunPlan | undefined = carry?.plan;
  let output: unknown;
  let narrative: string | null = null;
  let error: string | null = null;
  try {
    plan ??= await records['agent.begin']({ runId, agent: req.agent, input: req.input, occasion: req.occasion, trigger: req.trigger, requestedBy: req.requestedBy ?? null });
    run.mode = plan.mode;
    const p = plan;

    /** A tool call as an activity; its step records what it was given and what it answered. */
    const callTool = async (tool: string, input: unknown, key: string): Promise<unknown> => {
      const s = run.step('tool', tool, input);
      try {
        const result = await tools[`tool.${tool}`]({ runId, agent: req.agent, stepKey: `${runId}/${key}`, input });
        s.output = result;
        return result;
      } catch (err) {
        s.error = failureText(err);
        throw err;
      } finally {
        s.endedAt = new Date().toISOString();
      }
    };

    /** The analytic core: gather (in parallel), then compute. */
    const core = async (): Promise<CoreOutcome> => {
      const gathered: Record<string, unknown> = {};
      const results = await Promise.all(p.gather.map((call, i) => callTool(call.tool, call.input, `gather-${i}`)));
      p.gather.forEach((call, i) => { gathered[call.as ?? call.tool] = results[i]; });
      const s = run.step('core', req.agent);
      const outcome = await records['agent.core']({ agent: req.agent, input: req.input, gathered });
      s.output = { output: outcome.output, actions: outcome.actions.map((a) => ({ tool: a.tool, reason: a.reason })) };
      s.endedAt = new Date().toISOString();
      return outcome;
    };

    /**
     * Proposed actions: those that need a person are put in the inbox together, and each runs as
     * soon as it is approved (after its delay, if any); the others keep their order.
     */
    const act = async (actions: CoreOutcome['actions'], key: string): Promise<Array<{ tool: string; status: string; result?: unknown; error?: string }>> => {
      const proposedAt = Date.now();
      const needing = actions.map((a, i) => ({ a, i })).filter(({ a }) => a.needsApproval);
      const approvalIds: Record<number, string> = {};
      if (needing.length) {
        const expiresAtMs = proposedAt + p.approval.timeoutHours * 3_600_000;
        const ids = await records['agent.requestApprovals']({
          steps: run.steps,
          requests: needing.map(({ a, i }) => ({ runId, agent: req.agent, key: `${key}-${i}`, tool: a.tool, input: a.input, reason: a.reason, expiresAt: new Date(expiresAtMs).toISOString(), onTimeout: p.approval.onTimeout })),
        });
        needing.forEach(({ i }, n) => {
          approvalIds[i] = ids[n];
          if (!run.approvals.has(ids[n])) run.approvals.set(ids[n], { status: 'pending', expiresAtMs });
        });
      }
      type Done = { tool: string; status: string; result?: unknown; error?: string };
      const waitForDecision = async (i: number, a: CoreOutcome['actions'][number]): Promise<boolean> => {
        const approvalId = approvalIds[i];
        const approval = run.approvals.get(approvalId)!;
        const s = run.step('approval', a.tool, { approvalId, input: a.input, reason: a.reason });
        const decided = await condition(() => approval.status !== 'pending', Math.max(1, approval.expiresAtMs - Date.now()));
        if (!decided) {
          approval.status = 'expired';
          await records['agent.recordDecision']({ approvalId, status: 'expired', by: null, note: `nobody decided in time; the default is to ${p.approval.onTimeout}` });
        }
        await condition(() => approval.status !== 'deciding');
        const go = approval.status === 'approved' || (approval.status === 'expired' && p.approval.onTimeout === 'approve');
        s.output = { decision: approval.status, note: approval.note ?? null, runs: go };
        s.endedAt = new Date().toISOString();
        return go;
      };
      const waitForDelay = async (a: CoreOutcome['actions'][number]) => {
        if (!a.delayMs) return;
        const s = run.step('wait', a.tool, { delayMs: a.delayMs });
        await sleep(Math.max(0, proposedAt + a.delayMs - Date.now()));
        s.endedAt = new Date().toISOString();
      };
      const runAction = async (i: number, a: CoreOutcome['actions'][number]): Promise<Done> => {
        try {
          return { tool: a.tool, status: 'done', result: await callTool(a.tool, a.input, `${key}-${i}`) };
        } catch (err) {
          return { tool: a.tool, status: 'failed', error: failureText(err) };
        }
      };
      let done: Done[];
      if (patched('agent-actions-independent-1')) {
        // Each action that waits for a person runs as soon as it is approved, whatever the others'
        // decisions (one branch's operator does not wait for another's); an action nobody decides
        // keeps its place: it runs after everything proposed before it.
        done = new Array<Done>(actions.length);
        const tasks: Promise<void>[] = [];
        let unconditional: Promise<void> = Promise.resolve();
        for (const [i, a] of actions.entries()) {
          const earlier = Promise.all([...tasks]).then(() => undefined);
          const beforeMe = unconditional;
          const task = (async () => {
            if (!approvalIds[i]) await earlier;
            await waitForDelay(a);
            if (approvalIds[i]) {
              if (!(await waitForDecision(i, a))) {
                done[i] = { tool: a.tool, status: run.approvals.get(approvalIds[i])!.status };
                return;
              }
              await beforeMe;
            }
            done[i] = await runAction(i, a);
          })();
          tasks.push(task);
          if (!approvalIds[i]) unconditional = task;
        }
        await Promise.all(tasks);
      } else {
        done = [];
        for (const [i, a] of actions.entries()) {
          await waitForDelay(a);
          if (approvalIds[i] && !(await waitForDecision(i, a))) {
            done.push({ tool: a.tool, status: run.approvals.get(approvalIds[i])!.status });
            continue;
          }
          done.push(await runAction(i, a));
        }
      }
      if (needing.length) await records['agent.saveProgress']({ runId, status: 'running', steps: run.steps, usage: run.usage });
      return done;
    };

    if (p.mode === 'core') {
      const outcome = await core();
      const actions = await act(outcome.actions, 'action');
      output = actions.length ? { ...(outcome.output as object), actions } : outcome.output;
      narrative = outcome.narrative;
    } else {
      // --- model mode: the model plans and calls the tools ------------------------------------
      const known = new Map(p.tools.map((t) => [t.name, t] as const));
      const messages: ChatMessage[] = carry?.messages ?? [...p.messages];
      let turns = carry?.turns ?? 0;
      let toolErrors = carry?.toolErrors ?? 0;
      let coreOutcome = carry?.core;
      const tooManyErrors = () => {
        if (toolErrors > p.limits.toolErrors) throw new RunFailed(`the model made ${toolErrors} malformed or refused tool calls (limit ${p.limits.toolErrors})`);
      };
      for (;;) {
        if (turns >= p.limits.steps) throw new RunFailed(`the step limit (${p.limits.steps} model turns) was reached before the model finished`);
        if (run.usage.inputTokens + run.usage.outputTokens >= p.limits.tokens) throw new RunFailed(`the token budget (${p.limits.tokens}) is spent`);
        turns += 1;
        const s = run.step('model', `turn ${turns}`, { messages: messages.length });
        let turn;
        try {
          turn = await models['agent.model']({ agent: req.agent, messages });
        } catch (err) {
          s.error = failureText(err);
          s.endedAt = new Date().toISOString();
          throw new RunFailed(`the model failed: ${failureText(err)}${failureKind(err) ? ` (${failureKind(err)})` : ''}`);
        }
        s.output = { content: turn.content, toolCalls: turn.toolCalls, invalidToolCalls: turn.invalidToolCalls, usage: turn.usage };
        s.endedAt = new Date().toISOString();
        run.usage = { inputTokens: run.usage.inputTokens + turn.usage.inputTokens, outputTokens: run.usage.outputTokens + turn.usage.outputTokens, cost: run.usage.cost + turn.cost };
        messages.push({ role: 'assistant', content: turn.content, toolCalls: [...turn.toolCalls, ...turn.invalidToolCalls.map((c) => ({ id: c.id, name: c.name, args: {} }))] });
        for (const bad of turn.invalidToolCalls) {
          toolErrors += 1;
          const t = run.step('tool', bad.name, undefined);
          t.error = `malformed tool call: ${bad.error}`;
          t.endedAt = t.startedAt;
          messages.push({ role: 'tool', toolCallId: bad.id, name: bad.name, content: `Error: the arguments of this call could not be read (${bad.error}). Call ${bad.name} again with JSON arguments that match its schema.` });
        }
        tooManyErrors();
        if (!turn.toolCalls.length && !turn.invalidToolCalls.length) {
          narrative = turn.content;
          break;
        }
        for (const [n, call] of turn.toolCalls.entries()) {
          const key = `model-${turns}-${n}`;
          let content: string;
          if (call.name === CORE_TOOL) {
            coreOutcome = await core();
            content = JSON.stringify({ output: coreOutcome.output, narrative: coreOutcome.narrative, proposedActions: coreOutcome.actions });
          } else if (!known.has(call.name)) {
            toolErrors += 1;
            content = `Error: there is no tool named ${call.name}. The tools are: ${[CORE_TOOL, ...known.keys()].join(', ')}.`;
          } else if (known.get(call.name)!.needsApproval) {
            const [result] = await act([{ tool: call.name, input: call.args, reason: `proposed by the model: ${turn.content || call.name}`.slice(0, 250), needsApproval: true }], key);
            content = JSON.stringify(result);
          } else {
            try {
              content = JSON.stringify(await callTool(call.name, call.args, key));
            } catch (err) {
              if (failureKind(err) === 'ToolInputInvalid') toolErrors += 1;
              content = `Error: ${failureText(err)}`;
            }
          }
          messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content });
        }
        tooManyErrors();
        const info = workflowInfo();
        if (info.continueAsNewSuggested || info.historyLength > HISTORY_LIMIT) {
          await records['agent.saveProgress']({ runId, status: 'running', steps: run.steps, usage: run.usage });
          await condition(allHandlersFinished);
          const next: ModelCarry = { messages, steps: run.steps, usage: run.usage, turns, toolErrors, core: coreOutcome, plan: p };
          return continueAsNew<typeof agentRunWorkflow>({ ...req, carry: next });
        }
      }
      // The structured output always comes from the core; the model adds the narrative and the actions it took.
      coreOutcome ??= await core();
      output = coreOutcome.output;
    }
    run.status = 'completed';
  } catch (err) {
    run.status = 'failed';
    error = err instanceof RunFailed ? err.message : failureText(err);
  }
  await records['agent.finish']({ runId, status: run.status as 'completed' | 'failed', output, narrative, error, steps: run.steps, usage: run.usage });
  await condition(allHandlersFinished);
  return { runId, agent: req.agent, mode: run.mode, status: run.status as 'completed' | 'failed', output, narrative, ...(error ? { error } : {}) };
}
