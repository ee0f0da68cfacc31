/**
 * Agent runs as a service for their callers (API routes, tools, the worker at start-up): start a
 * run by its agent and occasion (one run per occasion, however often the trigger fires), decide
 * an agent action waiting in the inbox, and keep the periodic agents' Temporal Schedules.
 * Knows nothing of HTTP: refusals are `Refused` (domain/refusals.ts).
 */
import {
  Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, ApplicationFailure,
} from '@temporalio/client';
import type { Knex } from 'knex';
import type { Duration } from '@temporalio/common';
import { AGENTS, agentDefinition } from '../agents';
import type { AnyAgent } from '../agents/types';
import { Refused } from '../domain/refusals';
import { taskQueue, taskQueues, temporalConfig } from '../temporal.config';
import { agentRunId, decideActionUpdate, type ActionDecisionResult, type AgentRunInput, type AgentRunTrigger } from '../workflows/agent-messages';
import { insertAgentRunRecord } from '../models/conversations';
import type { agentRunWorkflow } from '../workflows/agent-run';

export interface StartRun {
  agent: string;
  input: unknown;
  occasion: string;
  trigger: AgentRunTrigger;
  requestedBy?: string | null;
}

/** Starts the run of this agent for this occasion, or finds the one already started; answers its id. */
export async function startAgentRun(client: Client, knex: Knex, run: StartRun): Promise<{ runId: string; started: boolean }> {
  const runId = agentRunId(run.agent, run.occasion, temporalConfig.taskQueuePrefix);
  await insertAgentRunRecord(knex, runId, run);
  const args: AgentRunInput = { agent: run.agent, input: run.input, occasion: run.occasion, trigger: run.trigger, requestedBy: run.requestedBy ?? null };
  try {
    await client.workflow.start<typeof agentRunWorkflow>('agentRunWorkflow', {
      workflowId: runId, taskQueue: taskQueue(taskQueues.agents), args: [args], workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
    return { runId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { runId, started: false };
    throw err;
  }
}

/** A person's decision on an agent action, sent to the run that waits for it (the same update id for a client's retry). */
export async function decideAgentAction(
  client: Client, approval: { id: string; workflow_id: string }, decision: { approve: boolean; by: string; role: string; note?: string }, updateId?: string,
): Promise<ActionDecisionResult> {
  try {
    return await client.workflow.getHandle(approval.workflow_id).executeUpdate(decideActionUpdate, {
      args: [{ approvalId: approval.id, approve: decision.approve, by: decision.by, role: decision.role, note: decision.note }], updateId,
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
      const kind = err.cause.type === 'ApprovalForbidden' ? 'forbidden' : 'conflict';
      throw new Refused(kind, kind === 'forbidden' ? 'forbidden' : 'approval_not_pending', err.cause.message);
    }
    if (err instanceof WorkflowNotFoundError) throw new Refused('conflict', 'approval_not_pending', 'The agent run that asked for this approval has ended.');
    throw err;
  }
}

// --- periodic agents: one Temporal Schedule each ---------------------------------------------

export function agentScheduleId(agent: string): string {
  return `${temporalConfig.taskQueuePrefix}agent-${agent}`;
}

function scheduleSpec(agent: AnyAgent) {
  const trigger = agent.trigger;
  if (trigger.kind !== 'schedule') throw new Error(`${agent.name} is not periodic`);
  return trigger.cron ? { cronExpressions: [trigger.cron] } : { intervals: [{ every: trigger.every as Duration }] };
}

/** Creates every periodic agent's schedule, or brings an existing one's timing in step with its definition (its paused state is kept). */
export async function ensureAgentSchedules(client: Client, agents: readonly AnyAgent[] = AGENTS): Promise<string[]> {
  const ids: string[] = [];
  for (const agent of agents.filter((a) => a.trigger.kind === 'schedule')) {
    const scheduleId = agentScheduleId(agent.name);
    const spec = scheduleSpec(agent);
    const args: AgentRunInput = { agent: agent.name, input: {}, occasion: 'scheduled', trigger: 'schedule' };
    try {
      await client.schedule.create({
        scheduleId, spec, policies: { overlap: ScheduleOverlapPolicy.SKIP },
        // Temporal appends the scheduled time to this id: each firing is its own occasion.
        action: { type: 'startWorkflow', workflowType: 'agentRunWorkflow', args: [args], taskQueue: taskQueue(taskQueues.agents), workflowId: agentRunId(agent.name, 'scheduled', temporalConfig.taskQueuePrefix) },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec }));
    }
    ids.push(scheduleId);
  }
  return ids;
}

export interface AgentScheduleState {
  id: string;
  paused: boolean;
  note: string | null;
  nextRunAt: string | null;
  lastRunAt: string | null;
}

export async function agentScheduleState(client: Client, agent: string): Promise<AgentScheduleState | null> {
  try {
    const d = await client.schedule.getHandle(agentScheduleId(agent)).describe();
    const last = d.info.recentActions.at(-1);
    return {
      id: d.scheduleId, paused: d.state.paused, note: d.state.note ?? null,
      nextRunAt: d.info.nextActionTimes[0]?.toISOString() ?? null, lastRunAt: last ? last.takenAt.toISOString() : null,
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

export async function setAgentSchedulePaused(client: Client, agent: string, paused: boolean, note: string): Promise<AgentScheduleState> {
  const def = agentDefinition(agent);
  if (!def || def.trigger.kind !== 'schedule') throw new Refused('conflict', 'not_periodic', `${agent} does not run on a schedule.`);
  const handle = client.schedule.getHandle(agentScheduleId(agent));
  try {
    if (paused) await handle.pause(note);
    else await handle.unpause(note);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) {
      // Not created yet (no worker polling the agents queue has started): create it, then apply.
      await ensureAgentSchedules(client, [def]);
      if (paused) await handle.pause(note);
      else await handle.unpause(note);
    } else throw err;
  }
  return (await agentScheduleState(client, agent))!;
}
