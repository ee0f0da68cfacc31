/**
 * Model mode end to end (workflows/agent-run.ts through the probe worker): the model calls tools,
 * gets their results and writes the narrative; malformed calls are answered and counted; the step
 * limit and the token budget end a run; an acting tool that needs a person waits in the inbox.
 * With LangChain's fake chat model, scripted, and with @langchain/openai against a local server.
 */
import { expect } from 'chai';
import type { BaseMessage } from '@langchain/core/messages';
import { api, loginAs } from '../support/http';
import { eventually } from '../support/bookings';
import { stack } from '../support/stack';
import { startProbeWorker, type ProbeWorker } from '../support/probe-worker';
import { ScriptedChatModel, callsTools, says, toolResultsIn, type Script } from '../support/scripted-model';
import { startFakeOpenAI, toolResults, type FakeOpenAI } from '../support/fake-openai';
import { agentModelChooser, callModel, chatModelFromConfig } from '../../agents/runtime/model';

interface Step { kind: string; name: string; input?: unknown; output?: any; error?: string }

describe('agent runtime (model mode)', function () {
  this.timeout(90_000);
  let operator: string;
  const workers: ProbeWorker[] = [];

  before(async () => {
    operator = await loginAs('operator');
  });
  after(async () => {
    for (const w of workers) await w.stop();
  });

  /** A probe worker whose ProbeModel runs follow `script`. */
  const withScript = async (script: Script, limits?: { steps?: number; tokens?: number; toolErrors?: number }) => {
    const model = new ScriptedChatModel(script);
    const worker = await startProbeWorker({ modelFor: (agent) => (agent === 'ProbeModel' ? model : undefined), callModel, limits });
    workers.push(worker);
    return worker;
  };
  const view = (id: string) => api('GET', `/api/v1/agent-runs/${encodeURIComponent(id)}`, { token: operator });
  const finished = (id: string) => eventually(async () => {
    const r = await view(id);
    return ['completed', 'failed'].includes(r.body.status) && r.body;
  }, 45_000);
  const kinds = (steps: Step[]) => steps.map((s) => `${s.kind}:${s.name}`);
  const effects = (id: string) => stack().knex('probe_effects').where({ run_id: id }).orderBy('at');
  const lastToolResult = (messages: BaseMessage[]) => String(toolResultsIn(messages).at(-1)?.content ?? '');

  it('lets the model call a tool and the core, then write the narrative; steps and usage recorded', async () => {
    const probe = await withScript((messages) => {
      const results = toolResultsIn(messages).length;
      if (results === 0) return callsTools([{ name: 'probe_count', args: {} }]);
      if (results === 1) return callsTools([{ name: 'core_analysis', args: {} }]);
      return says(`Counted ${lastToolResult(messages.slice(0, -1)) || '?'}; the core says ${JSON.parse(lastToolResult(messages)).output.effectsBefore} effects.`);
    });
    const id = await probe.start('ProbeModel', {});
    const done = await finished(id);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    expect(done.mode).to.equal('model');
    expect(kinds(done.steps)).to.deep.equal(['model:turn 1', 'tool:probe.count', 'model:turn 2', 'tool:probe.count', 'core:ProbeModel', 'model:turn 3']);
    expect(done.steps[1].output).to.equal(0);
    expect(done.steps[0].output.toolCalls).to.deep.equal([{ id: 'call-probe_count-0', name: 'probe.count', args: {} }]);
    expect(done.narrative).to.equal('Counted 0; the core says 0 effects.');
    expect(done.output).to.deep.equal({ effectsBefore: 0, charge: 0 });
    expect(done.usage).to.deep.equal({ inputTokens: 50 + 50 + 80, outputTokens: 10 + 10 + 30, cost: 0 });
  });

  it('answers a malformed tool call with a tool error, records it, and ends the run within its limit', async () => {
    const answered: string[] = [];
    const probe = await withScript((messages) => {
      if (toolResultsIn(messages).length) answered.push(lastToolResult(messages));
      return callsTools([{ name: 'probe_charge', args: { amountMinor: 'lots' } }]);
    }, { toolErrors: 2 });
    const id = await probe.start('ProbeModel', {});
    const done = await finished(id);
    expect(done.status).to.equal('failed');
    expect(done.error).to.equal('the model made 3 malformed or refused tool calls (limit 2)');
    expect(kinds(done.steps)).to.deep.equal(['model:turn 1', 'tool:probe.charge', 'model:turn 2', 'tool:probe.charge', 'model:turn 3', 'tool:probe.charge']);
    expect(done.steps[1].error).to.match(/^malformed tool call: the arguments do not match the schema of probe.charge: amountMinor/);
    expect(answered).to.have.length(2);
    expect(answered[0]).to.match(/^Error: the arguments of this call could not be read .*Call probe.charge again/);
    expect(await effects(id)).to.have.length(0);
  });

  it('ends a run at its step limit, and at its token budget, saying which', async () => {
    const forever: Script = () => callsTools([{ name: 'probe_count', args: {} }], { input: 50, output: 10 });
    const stepped = await withScript(forever, { steps: 3 });
    const budgeted = await withScript(forever, { tokens: 100 });
    const [a, b] = await Promise.all([stepped.start('ProbeModel', {}), budgeted.start('ProbeModel', {})]);
    const [byStep, byBudget] = await Promise.all([finished(a), finished(b)]);
    expect(byStep.status).to.equal('failed');
    expect(byStep.error).to.equal('the step limit (3 model turns) was reached before the model finished');
    expect(kinds(byStep.steps).filter((k: string) => k.startsWith('model:'))).to.have.length(3);
    expect(byBudget.status).to.equal('failed');
    expect(byBudget.error).to.equal('the token budget (100) is spent');
    expect(byBudget.usage).to.deep.equal({ inputTokens: 100, outputTokens: 20, cost: 0 });
  });

  it('puts a money tool the model calls in the approvals inbox; once approved it runs once and the model hears the result', async () => {
    const probe = await withScript((messages) => {
      if (!toolResultsIn(messages).length) return callsTools([{ name: 'probe_charge', args: { amountMinor: 700 } }], undefined, 'Charging the agreed 7 EUR.');
      return says(`Result: ${lastToolResult(messages)}`);
    });
    const id = await probe.start('ProbeModel', {});
    const approval = await eventually(async () => {
      const list = await api('GET', '/api/v1/approvals?status=pending&kind=agent_action', { token: operator });
      return list.body.data.find((a: { agentRunId: string }) => a.agentRunId === id);
    });
    expect(approval.what).to.equal('Charge 7.00 EUR to the probe account');
    expect(approval.reason).to.equal('proposed by the model: Charging the agreed 7 EUR.');
    expect((await view(id)).body.status).to.equal('waiting_approval');
    expect(await effects(id)).to.have.length(0);

    const approved = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: operator, body: {} });
    expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
    const done = await finished(id);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    expect(done.narrative).to.equal('Result: {"tool":"probe.charge","status":"done","result":{"charged":700}}');
    expect(kinds(done.steps)).to.deep.equal(['model:turn 1', 'approval:probe.charge', 'tool:probe.charge', 'model:turn 2', 'tool:probe.count', 'core:ProbeModel']);
    expect((await effects(id)).map((r) => [r.tool, r.executions])).to.deep.equal([['probe.charge', 1]]);
  });

  describe('with @langchain/openai against a local chat-completions server', () => {
    let server: FakeOpenAI;
    before(async () => {
      server = await startFakeOpenAI();
    });
    after(() => server.close());

    it('runs the same loop over the wire: tools by provider name, usage and cost from the answers', async () => {
      server.answer = (req) => {
        const results = toolResults(req);
        if (results.length === 0) return { toolCalls: [{ name: 'probe_note', args: { text: 'from the model' } }], usage: { prompt: 400, completion: 30 } };
        if (results.length === 1) return { toolCalls: [{ name: 'core_analysis', args: {} }], usage: { prompt: 500, completion: 20 } };
        return { content: `Noted and analysed (${results.length} tool results).`, usage: { prompt: 700, completion: 50 } };
      };
      const configured = (await chatModelFromConfig({ AGENT_MODEL: 'openai:gpt-4o-mini', OPENAI_API_KEY: server.apiKey, OPENAI_BASE_URL: server.url }))!;
      const probe = await startProbeWorker({ modelFor: agentModelChooser(configured.model), callModel });
      workers.push(probe);
      const id = await probe.start('ProbeModel', {});
      const done = await finished(id);
      expect(done.status, JSON.stringify(done)).to.equal('completed');
      expect(done.mode).to.equal('model');
      expect(done.narrative).to.equal('Noted and analysed (2 tool results).');
      expect(kinds(done.steps)).to.deep.equal(['model:turn 1', 'tool:probe.note', 'model:turn 2', 'tool:probe.count', 'core:ProbeModel', 'model:turn 3']);
      expect(done.usage.inputTokens).to.equal(1600);
      expect(done.usage.outputTokens).to.equal(100);
      expect(done.usage.cost).to.be.closeTo((1600 * 0.15 + 100 * 0.6) / 1e6, 1e-9);
      expect((await effects(id)).map((r) => [r.tool, r.value])).to.deep.equal([['probe.note', { text: 'from the model' }]]);
      const last = server.requests.at(-1)!.body;
      expect(last.messages.map((m) => m.role)).to.deep.equal(['system', 'user', 'assistant', 'tool', 'assistant', 'tool']);
      expect(last.messages[2].tool_calls![0].function.name).to.equal('probe_note');
    });

    it('fails a run at once on an auth error, naming it', async () => {
      const configured = (await chatModelFromConfig({ AGENT_MODEL: 'openai:gpt-4o-mini', OPENAI_API_KEY: 'sk-wrong', OPENAI_BASE_URL: server.url }))!;
      const probe = await startProbeWorker({ modelFor: agentModelChooser(configured.model), callModel });
      workers.push(probe);
      const before = server.requests.length;
      const done = await finished(await probe.start('ProbeModel', {}));
      expect(done.status).to.equal('failed');
      expect(done.error).to.match(/^the model failed: .*Incorrect API key provided/);
      expect(done.error).to.match(/\(ModelAuthFailed\)$/);
      expect(server.requests.length - before).to.equal(1);
    });

    it('backs off a rate limit for its Retry-After, then goes on', async () => {
      let limited = 0;
      server.answer = () => (limited++ === 0 ? { status: 429, message: 'Rate limit reached', headers: { 'retry-after': '1' } } : { content: 'Fine after the wait.' });
      const configured = (await chatModelFromConfig({ AGENT_MODEL: 'openai:gpt-4o-mini', OPENAI_API_KEY: server.apiKey, OPENAI_BASE_URL: server.url }))!;
      const probe = await startProbeWorker({ modelFor: agentModelChooser(configured.model), callModel });
      workers.push(probe);
      const started = Date.now();
      const done = await finished(await probe.start('ProbeModel', {}));
      expect(done.status, JSON.stringify(done)).to.equal('completed');
      expect(done.narrative).to.equal('Fine after the wait.');
      expect(Date.now() - started).to.be.greaterThan(900);
      expect(limited).to.equal(2);
    });
  });

  it('never gives FraudGuardian the model (payment path: always core)', () => {
    const chooser = agentModelChooser({} as never);
    expect(chooser('FraudGuardian')).to.equal(undefined);
    expect(chooser('RiskManager')).to.not.equal(undefined);
  });
});
