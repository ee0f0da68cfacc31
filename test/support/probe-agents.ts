/**
 * Agents that exist only in tests, to exercise the runtime (workflows/agent-run.ts) without
 * depending on a real agent's data: a read tool, an acting tool that waits for a person, an
 * acting tool that does not, and a slow tool that counts its executions. Every effect is a row in
 * `probe_effects`, keyed by the call's step key, so a test can count what really happened.
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import type { AgentName } from '../../agents/catalog';
import { defineAgent, defineTool, type AnyAgent } from '../../agents/types';

export async function createProbeTable(knex: Knex): Promise<void> {
  await knex.raw(`create table if not exists probe_effects (
    step_key text primary key, run_id text not null, tool text not null, value jsonb, executions int not null default 1, at timestamptz not null default now())`);
}

const probeCount = defineTool({
  name: 'probe.count', description: 'How many effects this run has had so far.', effect: 'read', needsApproval: false,
  input: z.object({}),
  run: async (ctx) => Number((await ctx.knex('probe_effects').where({ run_id: ctx.runId }).count({ n: '*' }).first())!.n),
});

const probeCharge = defineTool({
  name: 'probe.charge', description: 'Charges an amount (money: waits for a person).', effect: 'act', needsApproval: true,
  input: z.object({ amountMinor: z.int().positive() }),
  describe: (input) => `Charge ${(input.amountMinor / 100).toFixed(2)} EUR to the probe account`,
  run: async (ctx, input) => {
    await ctx.knex('probe_effects').insert({ step_key: ctx.stepKey, run_id: ctx.runId, tool: 'probe.charge', value: JSON.stringify(input) }).onConflict('step_key').merge({ executions: ctx.knex.raw('probe_effects.executions + 1') });
    return { charged: input.amountMinor };
  },
});

const probeNote = defineTool({
  name: 'probe.note', description: 'Writes a note (changes nothing of value: no approval).', effect: 'act', needsApproval: false,
  input: z.object({ text: z.string().min(1).max(200) }),
  run: async (ctx, input) => {
    await ctx.knex('probe_effects').insert({ step_key: ctx.stepKey, run_id: ctx.runId, tool: 'probe.note', value: JSON.stringify(input) }).onConflict('step_key').merge({ executions: ctx.knex.raw('probe_effects.executions + 1') });
    return { noted: input.text };
  },
});

const probeSlow = defineTool({
  name: 'probe.slow', description: 'Takes its time, then records one execution.', effect: 'read', needsApproval: false,
  input: z.object({ ms: z.int().min(0).max(60_000), label: z.string() }),
  run: async (ctx, input) => {
    await new Promise((resolve) => setTimeout(resolve, input.ms));
    await ctx.knex('probe_effects').insert({ step_key: ctx.stepKey, run_id: ctx.runId, tool: 'probe.slow', value: JSON.stringify(input) }).onConflict('step_key').merge({ executions: ctx.knex.raw('probe_effects.executions + 1') });
    return { done: input.label };
  },
});

const probeInput = z.object({
  charge: z.int().min(0).default(0),
  /** More charges, each its own action waiting for a person. */
  charges: z.array(z.int().positive()).default([]),
  note: z.string().optional(),
  slow: z.array(z.object({ ms: z.int(), label: z.string() })).default([]),
  noteAfterMs: z.int().optional(),
});

function probe(name: string, approval?: { timeoutHours: number; onTimeout: 'approve' | 'reject' }): AnyAgent {
  return defineAgent({
    name: name as AgentName, description: 'A probe of the agent runtime (tests only).', audience: 'operations',
    trigger: { kind: 'request', description: 'a test' },
    input: probeInput,
    output: z.object({ effectsBefore: z.number(), charge: z.number() }),
    tools: [probeCount, probeCharge, probeNote, probeSlow],
    prompt: 'You are a probe. Use the tools as asked.',
    gather: (input) => [{ tool: 'probe.count', input: {} }, ...input.slow.map((s, i) => ({ tool: 'probe.slow', input: s, as: `slow-${i}` }))],
    compute: (input, gathered) => ({
      output: { effectsBefore: gathered['probe.count'] as number, charge: input.charge },
      narrative: `The probe had ${gathered['probe.count']} effects; it proposes a charge of ${input.charge}.`,
      actions: [
        ...(input.charge > 0 ? [{ tool: 'probe.charge', input: { amountMinor: input.charge }, reason: 'the input asked for a charge' }] : []),
        ...input.charges.map((amountMinor) => ({ tool: 'probe.charge', input: { amountMinor }, reason: 'the input asked for another charge' })),
        ...(input.note ? [{ tool: 'probe.note', input: { text: input.note }, reason: 'the input asked for a note', delayMs: input.noteAfterMs }] : []),
      ],
    }),
    approval,
  });
}

export const PROBE_AGENTS: AnyAgent[] = [
  probe('ProbeAgent'),
  probe('ProbeQuickExpiry', { timeoutHours: 2 / 3600, onTimeout: 'approve' }),
  probe('ProbeModel'),
];
