/**
 * The model path's pieces (agents/runtime/model.ts): AGENT_MODEL → a chat model, and one model
 * turn (`callModel`) with LangChain's fake chat model and with the real `@langchain/openai`
 * client against a local chat-completions server (tool names, schemas, usage, cost, errors).
 */
import { expect } from 'chai';
import { ApplicationFailure } from '@temporalio/common';
import { callModel, chatModelFromConfig, describeModelMode, providerToolName } from '../../agents/runtime/model';
import { modelCost } from '../../agents/runtime/prices';
import { retryAfterMs } from '../../agents/runtime/model-errors';
import { CORE_TOOL } from '../../activities/agents/run';
import { PROBE_AGENTS } from '../support/probe-agents';
import { ScriptedChatModel, callsTools, says } from '../support/scripted-model';
import { startFakeOpenAI, toolResults, type FakeOpenAI } from '../support/fake-openai';
import type { ChatMessage } from '../../workflows/agent-messages';

const tools = PROBE_AGENTS.find((a) => (a.name as string) === 'ProbeModel')!.tools;
const extraTools = [CORE_TOOL];
const conversation: ChatMessage[] = [{ role: 'user', content: 'Input of this run (JSON): {}' }];

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected a failure');
}

describe('agent model: configuration', () => {
  it('is core mode without AGENT_MODEL', async () => {
    expect(await chatModelFromConfig({})).to.equal(undefined);
    expect(describeModelMode({})).to.equal('agents run in core mode: no AGENT_MODEL');
  });

  it('builds a chat-completions client for openai:<model>, at OpenAI or at OPENAI_BASE_URL', async () => {
    const official = await chatModelFromConfig({ AGENT_MODEL: 'openai:gpt-4o-mini', OPENAI_API_KEY: 'sk-x' });
    expect(official!.model.constructor.name).to.equal('ChatOpenAICompletions');
    expect(official!.description).to.equal('agents run in model mode: openai:gpt-4o-mini at https://api.openai.com/v1; FraudGuardian always runs its core');
    const local = await chatModelFromConfig({ AGENT_MODEL: 'openai:llama3.1', OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' });
    expect(local!.description).to.equal('agents run in model mode: openai:llama3.1 at http://127.0.0.1:11434/v1 (no known price: cost recorded as 0); FraudGuardian always runs its core');
    const m = local!.model as unknown as { streaming: boolean; disableStreaming: boolean; maxRetries: number };
    expect([m.streaming, m.disableStreaming]).to.deep.equal([false, true]);
  });

  it('refuses a setting that cannot work, saying why', async () => {
    let err = await chatModelFromConfig({ AGENT_MODEL: 'anthropic:claude-x' }).catch((e: Error) => e);
    expect(String(err)).to.match(/provider "anthropic", which this build does not know \(known: openai/);
    err = await chatModelFromConfig({ AGENT_MODEL: 'gpt-4o-mini' }).catch((e: Error) => e);
    expect(String(err)).to.match(/AGENT_MODEL must be <provider>:<model>/);
    err = await chatModelFromConfig({ AGENT_MODEL: 'openai:gpt-4o-mini' }).catch((e: Error) => e);
    expect(String(err)).to.match(/needs OPENAI_API_KEY/);
  });

  it('prices known models by the longest matching name, unknown ones at 0', () => {
    expect(modelCost('gpt-4o-mini', 1_000_000, 1_000_000)).to.equal(0.75);
    expect(modelCost('gpt-4o-mini-2024-07-18', 1000, 0)).to.equal(0.00015);
    expect(modelCost('gpt-4o', 1000, 1000)).to.equal(0.0125);
    expect(modelCost('llama3.1', 1000, 1000)).to.equal(0);
  });

  it('reads Retry-After as seconds, milliseconds or a date', () => {
    expect(retryAfterMs({ 'retry-after': '7' })).to.equal(7000);
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '250' }))).to.equal(250);
    expect(retryAfterMs({ 'Retry-After': new Date(10_000).toUTCString() }, 4_000)).to.equal(6000);
    expect(retryAfterMs({})).to.equal(undefined);
  });
});

describe('agent model: one turn with a fake chat model', () => {
  it('binds every tool under a provider-safe name and maps the calls back', async () => {
    const model = new ScriptedChatModel(() => callsTools([{ name: 'probe_note', args: { text: 'hi' } }, { name: 'core_analysis', args: {} }], { input: 120, output: 15 }, 'Noting.'));
    const turn = await callModel({ model, system: 'You are a probe.', messages: conversation, tools, extraTools });
    expect(model.boundTools).to.deep.equal(['core_analysis', 'probe_count', 'probe_charge', 'probe_note', 'probe_slow']);
    expect(turn.content).to.equal('Noting.');
    expect(turn.toolCalls).to.deep.equal([
      { id: 'call-probe_note-0', name: 'probe.note', args: { text: 'hi' } },
      { id: 'call-core_analysis-1', name: 'core_analysis', args: {} },
    ]);
    expect(turn.invalidToolCalls).to.deep.equal([]);
    expect(turn.usage).to.deep.equal({ inputTokens: 120, outputTokens: 15 });
    expect(turn).to.include({ model: 'scripted-fake', cost: 0 });
  });

  it('gives back a call whose arguments fail the schema as an invalid call, and an unknown tool as it came', async () => {
    const model = new ScriptedChatModel(() => callsTools([{ name: 'probe_charge', args: { amountMinor: -5 } }, { name: 'probe_explode', args: {} }]));
    const turn = await callModel({ model, system: 's', messages: conversation, tools, extraTools });
    expect(turn.toolCalls).to.deep.equal([{ id: 'call-probe_explode-1', name: 'probe_explode', args: {} }]);
    expect(turn.invalidToolCalls).to.have.length(1);
    expect(turn.invalidToolCalls[0]).to.include({ id: 'call-probe_charge-0', name: 'probe.charge' });
    expect(turn.invalidToolCalls[0].error).to.match(/do not match the schema of probe.charge: amountMinor/);
  });

  it('prices a known model from the answer usage', async () => {
    const model = new ScriptedChatModel(() => says('All done.', { input: 2000, output: 500 }));
    model.model = 'gpt-4o-mini';
    const turn = await callModel({ model, system: 's', messages: conversation, tools, extraTools });
    expect(turn).to.deep.include({ content: 'All done.', toolCalls: [], model: 'gpt-4o-mini', cost: 0.0006 });
  });

  it('sends the conversation back with tool calls and results under provider names', async () => {
    let seen: Array<{ type: string; name?: string; toolCalls?: unknown }> = [];
    const model = new ScriptedChatModel((messages) => {
      seen = messages.map((m) => ({ type: m.getType(), name: (m as { name?: string }).name, toolCalls: (m as { tool_calls?: Array<{ name: string }> }).tool_calls?.map((c) => c.name) }));
      return says('ok');
    });
    await callModel({
      model, system: 'sys', tools, extraTools,
      messages: [
        ...conversation,
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'probe.count', args: {} }] },
        { role: 'tool', toolCallId: 'c1', name: 'probe.count', content: '0' },
      ],
    });
    expect(seen).to.deep.equal([
      { type: 'system', name: undefined, toolCalls: undefined },
      { type: 'human', name: undefined, toolCalls: undefined },
      { type: 'ai', name: undefined, toolCalls: ['probe_count'] },
      { type: 'tool', name: 'probe_count', toolCalls: undefined },
    ]);
  });

  it('refuses two tools whose provider names collide', async () => {
    const clash = [...tools, { ...tools[0], name: 'probe_count' }];
    const err = await failure(callModel({ model: new ScriptedChatModel(() => says('x')), system: 's', messages: conversation, tools: clash, extraTools }));
    expect(err.type).to.equal('ModelBadRequest');
    expect(providerToolName('a.b-c')).to.equal('a_b-c');
  });
});

describe('agent model: one turn with @langchain/openai against a local chat-completions server', function () {
  this.timeout(20_000);
  let server: FakeOpenAI;
  const fetched: string[] = [];
  const realFetch = globalThis.fetch;

  before(async () => {
    server = await startFakeOpenAI();
    // Nothing but the configured server is reached (no tiktoken download, no telemetry).
    globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      fetched.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      return realFetch(input, init);
    }) as typeof fetch;
  });
  after(async () => {
    globalThis.fetch = realFetch;
    await server.close();
    expect(fetched.length).to.be.greaterThan(0);
    expect(fetched.filter((u) => !u.startsWith('http://127.0.0.1:'))).to.deep.equal([]);
  });

  const openai = async (key = server.apiKey) => (await chatModelFromConfig({ AGENT_MODEL: 'openai:gpt-4o-mini', OPENAI_API_KEY: key, OPENAI_BASE_URL: server.url }))!.model;

  it('calls tools over the wire: JSON-schema tools, tool_calls mapped back, usage and cost from the answer', async () => {
    server.answer = (req) => toolResults(req).length === 0
      ? { toolCalls: [{ name: 'probe_charge', args: { amountMinor: 500 }, id: 'call_a' }], usage: { prompt: 1000, completion: 100 } }
      : { content: `Charged; the tool said ${toolResults(req)[0].content}.`, usage: { prompt: 1200, completion: 40 } };
    const model = await openai();
    const first = await callModel({ model, system: 'You are a probe.', messages: conversation, tools, extraTools });
    expect(first.toolCalls).to.deep.equal([{ id: 'call_a', name: 'probe.charge', args: { amountMinor: 500 } }]);
    expect(first.usage).to.deep.equal({ inputTokens: 1000, outputTokens: 100 });
    expect(first.model).to.equal('gpt-4o-mini');
    expect(first.cost).to.equal(0.00021);

    const wire = server.requests.at(-1)!.body;
    expect(wire.stream ?? false).to.equal(false);
    expect(wire.model).to.equal('gpt-4o-mini');
    expect(wire.messages.map((m) => m.role)).to.deep.equal(['system', 'user']);
    expect(wire.tools!.map((t) => t.function.name)).to.deep.equal(['core_analysis', 'probe_count', 'probe_charge', 'probe_note', 'probe_slow']);
    expect(wire.tools![2].function.parameters).to.deep.include({ type: 'object', required: ['amountMinor'] });

    const second = await callModel({
      model, system: 'You are a probe.', tools, extraTools,
      messages: [...conversation, { role: 'assistant', content: first.content, toolCalls: first.toolCalls }, { role: 'tool', toolCallId: 'call_a', name: 'probe.charge', content: '{"charged":500}' }],
    });
    expect(second).to.deep.include({ content: 'Charged; the tool said {"charged":500}.', toolCalls: [], invalidToolCalls: [] });
    const back = server.requests.at(-1)!.body.messages;
    expect(back[2].tool_calls![0]).to.deep.include({ id: 'call_a', function: { name: 'probe_charge', arguments: '{"amountMinor":500}' } });
    expect(back[3]).to.include({ role: 'tool', tool_call_id: 'call_a', content: '{"charged":500}' });
  });

  it('gives back arguments that are not JSON as an invalid tool call', async () => {
    server.answer = () => ({ toolCalls: [{ name: 'probe_note', args: '{"text": "unterminated', id: 'call_bad' }] });
    const turn = await callModel({ model: await openai(), system: 's', messages: conversation, tools, extraTools });
    expect(turn.toolCalls).to.deep.equal([]);
    expect(turn.invalidToolCalls).to.have.length(1);
    expect(turn.invalidToolCalls[0]).to.include({ id: 'call_bad', name: 'probe.note' });
    expect(turn.invalidToolCalls[0].error).to.match(/not valid JSON/);
  });

  it('classifies errors: 401 and 400 not retried, 429 after Retry-After, 500 retried', async () => {
    const before = server.requests.length;
    let err = await failure(callModel({ model: await openai('sk-wrong'), system: 's', messages: conversation, tools, extraTools }));
    expect([err.type, err.nonRetryable]).to.deep.equal(['ModelAuthFailed', true]);
    expect(err.message).to.match(/Incorrect API key/);

    server.answer = () => ({ status: 400, message: "Invalid schema for function 'probe_note'" });
    err = await failure(callModel({ model: await openai(), system: 's', messages: conversation, tools, extraTools }));
    expect([err.type, err.nonRetryable]).to.deep.equal(['ModelBadRequest', true]);

    server.answer = () => ({ status: 404, message: 'The model `gpt-4o-mini` does not exist' });
    err = await failure(callModel({ model: await openai(), system: 's', messages: conversation, tools, extraTools }));
    expect([err.type, err.nonRetryable]).to.deep.equal(['ModelBadRequest', true]);

    server.answer = () => ({ status: 429, message: 'Rate limit reached for gpt-4o-mini', headers: { 'retry-after': '7' } });
    err = await failure(callModel({ model: await openai(), system: 's', messages: conversation, tools, extraTools }));
    expect([err.type, err.nonRetryable, err.nextRetryDelay]).to.deep.equal(['ModelRateLimited', false, 7000]);

    server.answer = () => ({ status: 500, message: 'The server had an error', type: 'server_error' });
    err = await failure(callModel({ model: await openai(), system: 's', messages: conversation, tools, extraTools }));
    expect([err.type, err.nonRetryable]).to.deep.equal(['ModelUnavailable', false]);
    // Each failure is one request: the activity's retry policy retries, not the client.
    expect(server.requests.length - before).to.equal(5);
  });

  it('says a server that cannot be reached is unavailable (retried)', async () => {
    const gone = await startFakeOpenAI();
    const url = gone.url;
    await gone.close();
    const model = (await chatModelFromConfig({ AGENT_MODEL: 'openai:gpt-4o-mini', OPENAI_BASE_URL: url }))!.model;
    const err = await failure(callModel({ model, system: 's', messages: conversation, tools, extraTools }));
    expect([err.type, err.nonRetryable]).to.deep.equal(['ModelUnavailable', false]);
  });
});
