/**
 * `npm run bench -- agent-model [--turns 300] [--runs 20] [--steps-per-run 6] [--no-stack]`:
 * the agent model loop's own overhead per step, against a local chat-completions server that
 * answers at once (test/support/fake-openai.ts), so what is measured is ours, not a model's.
 *
 * 1. `callModel` alone (agents/runtime/model.ts with @langchain/openai's client): building the
 *    LangChain messages, binding the tools' schemas, the HTTP round trip, mapping the answer.
 * 2. The whole loop in a workflow (unless --no-stack): model-mode runs of a probe agent on an
 *    in-process worker, each step one `agent.model` activity and the tool call it asks for;
 *    per step = from one model turn's start to the next's (workflow task + both activities).
 * Goal: under 50 ms per step at p95.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { performance } from 'node:perf_hooks';
import { createAgentActivityGroups } from '../activities/agents/run';
import { activityRegistry } from '../activities/registry';
import { agentModelChooser, callModel, chatModelFromConfig } from '../agents/runtime/model';
import { taskQueues } from '../temporal.config';
import type { AgentRunInput, AgentRunResult, AgentStep, ChatMessage } from '../workflows/agent-messages';
import { bundleWorkflows } from '../workers/worker';
import { PROBE_AGENTS, createProbeTable } from '../test/support/probe-agents';
import { startFakeOpenAI, toolResults } from '../test/support/fake-openai';
import { percentiles, round1 } from './booking-support';
import { say, withStack } from './stack';

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function rounded(values: number[]) {
  const p = percentiles(values);
  if (!p) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)];
  return { n: values.length, p50: round1(p.p50), p95: round1(p95), p99: round1(p.p99), max: round1(p.max), avg: round1(p.avg) };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const turns = option(args, '--turns', 300);
  const runs = option(args, '--runs', 20);
  const stepsPerRun = option(args, '--steps-per-run', 6);
  const withWorkflow = !args.includes('--no-stack');

  // Calls probe.count until the conversation holds `stepsPerRun - 1` results, then writes the narrative.
  const server = await startFakeOpenAI({
    record: false,
    answer: (req) => toolResults(req).length < stepsPerRun - 1
      ? { toolCalls: [{ name: 'probe_count', args: {} }], usage: { prompt: 300, completion: 12 } }
      : { content: 'Done.', usage: { prompt: 400, completion: 5 } },
  });
  try {
    const configured = (await chatModelFromConfig({ AGENT_MODEL: 'openai:gpt-4o-mini', OPENAI_API_KEY: server.apiKey, OPENAI_BASE_URL: server.url }))!;
    const agent = PROBE_AGENTS.find((a) => (a.name as string) === 'ProbeModel')!;

    // 1. callModel alone, over a conversation that grows as a run's does.
    say(`callModel: ${turns} turns against ${server.url}`);
    const callMs: number[] = [];
    let messages: ChatMessage[] = [];
    for (let i = 0; i < turns + 20; i++) {
      if (i % stepsPerRun === 0) messages = [{ role: 'user', content: 'Input of this run (JSON): {}' }];
      const t0 = performance.now();
      const turn = await callModel({ model: configured.model, system: agent.prompt, messages, tools: agent.tools, extraTools: [] });
      if (i >= 20) callMs.push(performance.now() - t0); // the first 20 warm up
      for (const call of turn.toolCalls) {
        messages = [...messages, { role: 'assistant', content: turn.content, toolCalls: [call] }, { role: 'tool', toolCallId: call.id, name: call.name, content: '0' }];
      }
    }
    const result: Record<string, unknown> = { callModelMs: rounded(callMs) };

    // 2. The loop in the workflow.
    if (withWorkflow) {
      Object.assign(result, await withStack({ fast: true, seed: false }, async (stack) => {
        await createProbeTable(stack.knex);
        const bundle = await bundleWorkflows();
        const connection = await NativeConnection.connect({ address: stack.temporalAddress });
        const clientConnection = await Connection.connect({ address: stack.temporalAddress });
        const client = new Client({ connection: clientConnection });
        const taskQueue = `${stack.taskQueuePrefix}agent-model-bench`;
        const groups = createAgentActivityGroups({
          knex: stack.knex, temporal: async () => client, publicUrl: 'http://127.0.0.1', agents: PROBE_AGENTS,
          modelFor: agentModelChooser(configured.model), callModel, limits: { steps: stepsPerRun + 2 },
        });
        const worker = await Worker.create({ connection, taskQueue, workflowBundle: bundle, activities: activityRegistry(groups).forQueue(taskQueues.agents) });
        const running = worker.run();
        try {
          const stepMs: number[] = [];
          const modelTurnMs: number[] = [];
          const toolCallMs: number[] = [];
          const runMs: number[] = [];
          say(`workflow: ${runs} model-mode runs of ${stepsPerRun} model turns each, one after another`);
          for (let i = 0; i < runs + 2; i++) {
            const args: AgentRunInput = { agent: 'ProbeModel', input: {}, occasion: `bench-${i}`, trigger: 'request' };
            const t0 = performance.now();
            const done: AgentRunResult = await client.workflow.execute('agentRunWorkflow', { workflowId: `agent-ProbeModel-bench-${i}`, taskQueue, args: [args] });
            const elapsed = performance.now() - t0;
            if (done.status !== 'completed') throw new Error(`bench run ${i} ended ${done.status}: ${done.error}`);
            if (i < 2) continue; // warm-up
            runMs.push(elapsed);
            const row = await stack.knex('agent_runs').where({ id: `agent-ProbeModel-bench-${i}` }).first();
            const steps = row.steps as AgentStep[];
            const took = (s: AgentStep) => Date.parse(s.endedAt!) - Date.parse(s.startedAt);
            modelTurnMs.push(...steps.filter((s) => s.kind === 'model').map(took));
            toolCallMs.push(...steps.filter((s) => s.kind === 'tool').map(took));
            const turnsStarted = steps.filter((s) => s.kind === 'model').map((s) => Date.parse(s.startedAt));
            for (let t = 1; t < turnsStarted.length; t++) stepMs.push(turnsStarted[t] - turnsStarted[t - 1]);
          }
          return {
            workflow: {
              runs, modelTurnsPerRun: stepsPerRun,
              // A step: the model turn (activity) + the tool it asked for (activity) + the workflow tasks between.
              stepMs: rounded(stepMs),
              // As the workflow sees them: from scheduling the activity to its result (Temporal round trip included).
              modelTurnMs: rounded(modelTurnMs),
              toolCallMs: rounded(toolCallMs),
              runMs: rounded(runMs),
              perStepFromRunMs: round1(runMs.reduce((a, b) => a + b, 0) / runMs.length / stepsPerRun),
            },
          };
        } finally {
          worker.shutdown();
          await running;
          await connection.close();
          await clientConnection.close();
        }
      }));
    }
    return { goal: 'model loop overhead per step under 50 ms at p95', ...result };
  } finally {
    await server.close();
  }
}
