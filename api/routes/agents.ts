/**
 * The agents: the 28 of the catalog with their state, runs (start one, list, read one with its
 * steps), and the schedules of the periodic ones (pause, resume). Admins and operators run and
 * read every agent; marketers the marketing-facing ones; nobody else sees anything here.
 */
import { z } from 'zod';
import { AGENT_CATALOG, isAgentName } from '../../agents/catalog';
import { agentDefinition } from '../../agents';
import type { AnyAgent } from '../../agents/types';
import { auditActor, recordAudit } from '../../models/audit';
import { agentScheduleState, setAgentSchedulePaused, startAgentRun } from '../../services/agent-runs';
import { agentRunViewQuery, type AgentRunView } from '../../workflows/agent-messages';
import type { Principal } from '../auth';
import { decodeCursor, page } from '../http/cursor';
import { Problem } from '../http/problem';
import { route } from '../http/routes';
import { cursor, limit, listOf } from '../schemas';


const READERS = ['admin', 'operator', 'marketer'] as const;
const iso = (v: Date | string | null | undefined) => (v ? new Date(v).toISOString() : null);

const nameParams = z.object({ name: z.string().max(60) });

/** May this person see and run this agent? Marketers: the marketing-facing ones only. */
function mayUse(p: Principal, agent: AnyAgent | undefined, name: string): boolean {
  if (p.role === 'admin' || p.role === 'operator') return true;
  return p.role === 'marketer' && agent?.audience === 'marketing' && agent.name === name;
}

function knownAgent(name: string, p: Principal): { def: AnyAgent | undefined } {
  if (!isAgentName(name)) throw new Problem(404, 'not_found', `There is no agent named "${name}". GET /api/v1/agents lists them.`, { param: 'name' });
  const def = agentDefinition(name);
  if (p.role === 'marketer' && !mayUse(p, def, name)) throw new Problem(403, 'forbidden', `Marketers may use the marketing agents only; ${name} is not one.`);
  return { def };
}

const stepSchema = z.object({
  kind: z.enum(['model', 'tool', 'approval', 'core', 'wait']), name: z.string(), input: z.unknown().optional(), output: z.unknown().optional(),
  error: z.string().optional(), startedAt: z.string(), endedAt: z.string().optional(),
});
const usageSchema = z.object({ inputTokens: z.number(), outputTokens: z.number(), cost: z.number() });
const runSummary = z.object({
  object: z.literal('agent_run'), id: z.string(), agent: z.string(), mode: z.enum(['core', 'model']),
  status: z.enum(['running', 'waiting_approval', 'completed', 'failed']), trigger: z.enum(['request', 'schedule', 'event']),
  occasion: z.string(), startedAt: z.string(), endedAt: z.string().nullable(), error: z.string().nullable(),
}).meta({ id: 'AgentRunSummary' });
const runDetail = runSummary.extend({
  input: z.unknown(), steps: z.array(stepSchema), output: z.unknown().nullable(), narrative: z.string().nullable(), usage: usageSchema,
  pendingApprovals: z.array(z.string()),
}).meta({ id: 'AgentRun' });
const triggerSchema = z.object({ kind: z.enum(['event', 'schedule', 'request']), description: z.string(), every: z.string().optional(), cron: z.string().optional(), event: z.string().optional() });
const scheduleSchema = z.object({ id: z.string(), paused: z.boolean(), note: z.string().nullable(), nextRunAt: z.string().nullable(), lastRunAt: z.string().nullable() });
const agentItem = z.object({
  object: z.literal('agent'), name: z.string(), summary: z.string(), available: z.boolean(), description: z.string().nullable(),
  audience: z.enum(['operations', 'marketing']).nullable(), trigger: triggerSchema.nullable(), schedule: scheduleSchema.nullable(),
  lastRuns: z.array(runSummary),
});
const agentDetail = agentItem.extend({
  prompt: z.string().nullable(), inputSchema: z.unknown().nullable(), outputSchema: z.unknown().nullable(),
  tools: z.array(z.object({ name: z.string(), description: z.string(), effect: z.enum(['read', 'act']), needsApproval: z.boolean(), inputSchema: z.unknown() })),
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function toSummary(r: any): z.infer<typeof runSummary> {
  return {
    object: 'agent_run', id: r.id, agent: r.agent, mode: r.mode, status: r.status, trigger: r.trigger, occasion: r.occasion,
    startedAt: iso(r.started_at)!, endedAt: iso(r.ended_at), error: r.error ?? null,
  };
}

function jsonSchema(schema: z.ZodType): unknown {
  try {
    return z.toJSONSchema(schema, { unrepresentable: 'any' });
  } catch {
    return null;
  }
}

export const agentRoutes = [
  route({
    method: 'GET', path: '/api/v1/agents', operationId: 'listAgents', tag: 'Agents', auth: READERS,
    summary: 'The 28 agents: what each does, its trigger, its schedule and its last runs (marketers: the marketing agents)',
    responses: { 200: { description: 'Every agent of the catalog', schema: listOf(agentItem) } },
    handler: async (ctx, { principal }) => {
      const p = principal!;
      const entries = AGENT_CATALOG.map((c) => ({ c, def: agentDefinition(c.name) })).filter(({ c, def }) => p.role !== 'marketer' || mayUse(p, def, c.name));
      const recent = await ctx.knex.raw(`select * from (select r.*, row_number() over (partition by agent order by started_at desc, id desc) n from agent_runs r) x where n <= 3`);
      const client = entries.some(({ def }) => def?.trigger.kind === 'schedule') ? await ctx.temporalClient() : undefined;
      const data = await Promise.all(entries.map(async ({ c, def }) => ({
        object: 'agent' as const, name: c.name, summary: c.summary, available: !!def, description: def?.description ?? null, audience: def?.audience ?? null,
        trigger: def ? { ...def.trigger } : null,
        schedule: def?.trigger.kind === 'schedule' && client ? await agentScheduleState(client, c.name) : null,
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        lastRuns: recent.rows.filter((r: any) => r.agent === c.name).map(toSummary),
      })));
      return { body: { object: 'list', data, hasMore: false, nextCursor: null } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/agents/{name}', operationId: 'getAgent', tag: 'Agents', auth: READERS,
    summary: 'One agent: its tools (which wait for a person), input and output schemas, prompt, schedule and last runs',
    params: nameParams,
    responses: { 200: { description: 'The agent', schema: agentDetail }, 404: { description: 'No such agent' } },
    handler: async (ctx, { params, principal }) => {
      const { def } = knownAgent(params.name, principal!);
      const c = AGENT_CATALOG.find((a) => a.name === params.name)!;
      const runs = await ctx.knex('agent_runs').where({ agent: c.name }).orderBy([{ column: 'started_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(5);
      const schedule = def?.trigger.kind === 'schedule' ? await agentScheduleState(await ctx.temporalClient(), c.name) : null;
      return {
        body: {
          object: 'agent', name: c.name, summary: c.summary, available: !!def, description: def?.description ?? null, audience: def?.audience ?? null,
          trigger: def ? { ...def.trigger } : null, schedule, lastRuns: runs.map(toSummary), prompt: def?.prompt ?? null,
          inputSchema: def ? jsonSchema(def.input) : null, outputSchema: def ? jsonSchema(def.output) : null,
          tools: (def?.tools ?? []).map((t) => ({ name: t.name, description: t.description, effect: t.effect, needsApproval: t.needsApproval, inputSchema: jsonSchema(t.input) })),
        },
      };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/agents/{name}/runs', operationId: 'runAgent', tag: 'Agents', auth: READERS,
    summary: 'Run an agent now; periodic agents accept {"input": {}} and run over everything in scope',
    description: 'Answers 202 at once with the run id; follow it at GET /api/v1/agent-runs/{id}. An agent that is not available yet answers 409 agent_unavailable; an input its schema refuses, 422 with the field.',
    params: nameParams,
    idempotent: true,
    body: z.object({ input: z.record(z.string(), z.unknown()).optional().default({}) }).strict().optional().default({ input: {} }),
    responses: {
      202: { description: 'Started', schema: z.object({ object: z.literal('agent_run'), id: z.string(), agent: z.string(), status: z.literal('running') }) },
      409: { description: 'The agent is not available yet' }, 422: { description: 'The input does not match the agent\'s input schema' },
    },
    handler: async (ctx, { params, body, principal }) => {
      const p = principal!;
      const { def } = knownAgent(params.name, p);
      if (!def) throw new Problem(409, 'agent_unavailable', `${params.name} is not available yet: it is listed, but its definition has not been built.`);
      const input = def.input.safeParse(body?.input ?? {});
      if (!input.success) {
        const first = input.error.issues[0];
        throw new Problem(422, 'agent_input_invalid', `The input of ${def.name} is invalid: ${input.error.issues.slice(0, 3).map((i: z.core.$ZodIssue) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}`, { param: `input.${first.path.join('.')}` });
      }
      const occasion = `request-${crypto.randomUUID()}`;
      const { runId } = await startAgentRun(await ctx.temporalClient(), ctx.knex, { agent: def.name, input: input.data, occasion, trigger: 'request', requestedBy: p.userId });
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'agent.run', entityType: 'agent_run', entityId: runId, data: { agent: def.name } });
      return { status: 202, body: { object: 'agent_run', id: runId, agent: def.name, status: 'running' } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/agent-runs', operationId: 'listAgentRuns', tag: 'Agents', auth: READERS,
    summary: 'Agent runs, newest first (marketers: the marketing agents\' runs)',
    query: z.object({ agent: z.string().max(60).optional(), status: z.enum(['running', 'waiting_approval', 'completed', 'failed']).optional(), limit, cursor }),
    responses: { 200: { description: 'Runs', schema: listOf(runSummary) } },
    handler: async (ctx, { query, principal }) => {
      const p = principal!;
      const q = ctx.knex('agent_runs').orderBy([{ column: 'started_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(query.limit + 1);
      if (query.agent) q.where({ agent: query.agent });
      if (query.status) q.where({ status: query.status });
      if (p.role === 'marketer') q.whereIn('agent', AGENT_CATALOG.map((c) => c.name).filter((n) => agentDefinition(n)?.audience === 'marketing'));
      if (query.cursor) {
        const [at, id] = decodeCursor(query.cursor, ['timestamp', 'string']);
        q.whereRaw('(started_at, id) < (?::timestamptz, ?)', [at as string, id as string]);
      }
      const rows = await q;
      return { body: page(rows, query.limit, toSummary, (r) => [iso(r.started_at), r.id]) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/agent-runs/{id}', operationId: 'getAgentRun', tag: 'Agents', auth: READERS,
    summary: 'One run: mode, status, every step (model turns, tool calls, approvals, the core), output, narrative and usage',
    params: z.object({ id: z.string().max(300) }),
    responses: { 200: { description: 'The run', schema: runDetail }, 404: { description: 'No such run' } },
    handler: async (ctx, { params, principal }) => {
      const row = await ctx.knex('agent_runs').where({ id: params.id }).first();
      if (!row || (principal!.role === 'marketer' && !mayUse(principal!, agentDefinition(row.agent), row.agent))) {
        throw new Problem(404, 'not_found', `There is no agent run ${params.id}.`, { param: 'id' });
      }
      let live: AgentRunView | undefined;
      if (row.status === 'running' || row.status === 'waiting_approval') {
        // The record is written at milestones; while the run goes on, its own state is fresher.
        live = await (await ctx.temporalClient()).workflow.getHandle(row.id).query(agentRunViewQuery).catch(() => undefined);
      }
      const pending = await ctx.knex('approvals').where({ agent_run_id: row.id, status: 'pending' }).pluck('id');
      return {
        body: {
          // The run's own state is fresher, but it is not finished until its record says so.
          ...toSummary(row), status: live && (live.status === 'running' || live.status === 'waiting_approval') ? live.status : row.status,
          input: row.input, steps: live?.steps ?? row.steps, output: row.output ?? null, narrative: row.narrative ?? null,
          usage: live?.usage ?? row.usage, pendingApprovals: pending,
        },
      };
    },
  }),
  ...(['pause', 'resume'] as const).map((action) => route({
    method: 'POST', path: `/api/v1/agents/{name}/schedule/${action}`, operationId: `${action}AgentSchedule`, tag: 'Agents', auth: ['admin', 'operator'],
    summary: action === 'pause' ? 'Pause a periodic agent\'s schedule' : 'Resume a periodic agent\'s schedule',
    params: nameParams,
    body: z.object({ note: z.string().max(300).optional() }).strict().optional().default({}),
    responses: { 200: { description: 'The schedule now', schema: scheduleSchema }, 409: { description: 'Not a periodic agent, or not available' } },
    handler: async (ctx, { params, body, principal }) => {
      const { def } = knownAgent(params.name, principal!);
      if (!def) throw new Problem(409, 'agent_unavailable', `${params.name} is not available yet.`);
      const state = await setAgentSchedulePaused(await ctx.temporalClient(), def.name, action === 'pause', body?.note ?? `${action}d by user ${principal!.userId}`);
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: `agent.schedule_${action}`, entityType: 'agent', entityId: null, data: { agent: def.name } });
      return { body: state };
    },
  })),
];
