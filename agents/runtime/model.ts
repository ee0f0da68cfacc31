/**
 * The model path of agent runs: which chat model (AGENT_MODEL, `<provider>:<model>`), and one
 * model turn (`callModel`, the `agent.model` activity's work): LangChain tool calling with each
 * tool's zod schema, usage from the provider's answer, cost from a price table, errors classified
 * for the activity's retry policy. Runs in activities only; workflows never import it.
 *
 * Token usage is never counted locally: LangChain's counting fetches tiktoken encodings from the
 * internet, which a self-hosted install may not reach. So streaming is off (the non-streaming
 * answer carries `usage`) and nothing here calls getNumTokens.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { AIMessage, BaseMessage } from '@langchain/core/messages';
import type { z } from 'zod';
import type { AnyTool } from '../types';
import type { ChatMessage, ChatToolCall, ChatTurn } from '../../workflows/agent-messages';
import { modelCost } from './prices';
import { classifyModelError } from './model-errors';

export interface ConfiguredModel {
  model: BaseChatModel;
  /** `openai:gpt-4o-mini at https://api.openai.com/v1` (for the start-up log). */
  description: string;
}

type Env = Record<string, string | undefined>;

const OPENAI_DEFAULT_BASE = 'https://api.openai.com/v1';
/** A model call gives up after this (under the activity's 2-minute start-to-close); the activity's retry policy takes over. */
const MODEL_TIMEOUT_MS = 90_000;

/** The chat models we can build: one entry per LangChain provider package. */
const PROVIDERS: Record<string, (model: string, env: Env) => Promise<BaseChatModel>> = {
  openai: async (model, env) => {
    const baseURL = env.OPENAI_BASE_URL || undefined;
    const apiKey = env.OPENAI_API_KEY || undefined;
    if (!apiKey && !baseURL) {
      throw new Error(`AGENT_MODEL=openai:${model} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a server that needs no key, such as Ollama)`);
    }
    // The chat-completions wire format always (ChatOpenAI may switch to the Responses API, which
    // Ollama, vLLM and llama.cpp do not speak). No retries here: the activity's policy backs off.
    const { ChatOpenAICompletions } = await import('@langchain/openai');
    return new ChatOpenAICompletions({
      model,
      apiKey: apiKey ?? 'not-needed',
      configuration: baseURL ? { baseURL } : undefined,
      streaming: false,
      // Even when a callback prefers streaming (a tracer), LangChain then estimates tokens locally.
      disableStreaming: true,
      maxRetries: 0,
      timeout: MODEL_TIMEOUT_MS,
    }) as unknown as BaseChatModel;
  },
};

function parseAgentModel(value: string): { provider: string; model: string } {
  const at = value.indexOf(':');
  const provider = at > 0 ? value.slice(0, at).trim().toLowerCase() : '';
  const model = at > 0 ? value.slice(at + 1).trim() : '';
  if (!provider || !model) throw new Error(`AGENT_MODEL must be <provider>:<model> (e.g. openai:gpt-4o-mini), got "${value}"`);
  if (!PROVIDERS[provider]) {
    throw new Error(`AGENT_MODEL names provider "${provider}", which this build does not know (known: ${Object.keys(PROVIDERS).join(', ')}; any server speaking OpenAI's chat-completions API works as openai with OPENAI_BASE_URL)`);
  }
  return { provider, model };
}

function where(provider: string, env: Env): string {
  return provider === 'openai' ? (env.OPENAI_BASE_URL || OPENAI_DEFAULT_BASE) : provider;
}

/** The configured chat model, or undefined (core mode). Throws a clear error for a setting that cannot work. */
export async function chatModelFromConfig(env: Env = process.env): Promise<ConfiguredModel | undefined> {
  const value = env.AGENT_MODEL?.trim();
  if (!value) return undefined;
  const { provider, model } = parseAgentModel(value);
  return { model: await PROVIDERS[provider](model, env), description: describeModelMode(env) };
}

/** The start-up log line: which mode agent runs use, and where the model is. */
export function describeModelMode(env: Env = process.env): string {
  const value = env.AGENT_MODEL?.trim();
  if (!value) return 'agents run in core mode: no AGENT_MODEL';
  const { provider, model } = parseAgentModel(value);
  const priced = modelCost(model, 1_000_000, 0) > 0 ? '' : ' (no known price: cost recorded as 0)';
  return `agents run in model mode: ${provider}:${model} at ${where(provider, env)}${priced}; FraudGuardian always runs its core`;
}

// ---------------------------------------------------------------------------------------------
// One model turn.

/** Providers accept `^[a-zA-Z0-9_-]+$` as a function name: `fraud.paymentFacts` → `fraud_paymentFacts`. */
export function providerToolName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_-]/g, '_');
}

export interface ModelCallArgs {
  model: unknown;
  system: string;
  messages: ChatMessage[];
  tools: AnyTool[];
  extraTools: Array<{ name: string; description: string; schema: z.ZodType }>;
}

interface ToolSpec { name: string; description: string; schema: z.ZodType }

/** LangChain is loaded on the first model call: a worker in core mode never loads it. */
async function toLangChain(system: string, messages: ChatMessage[]): Promise<BaseMessage[]> {
  const { AIMessage, HumanMessage, SystemMessage, ToolMessage } = await import('@langchain/core/messages');
  const out: BaseMessage[] = [new SystemMessage(system)];
  for (const m of messages) {
    if (m.role === 'tool') out.push(new ToolMessage({ tool_call_id: m.toolCallId, name: providerToolName(m.name), content: m.content }));
    else if (m.role === 'assistant') {
      out.push(new AIMessage({
        content: m.content,
        tool_calls: m.toolCalls.map((c) => ({ id: c.id, name: providerToolName(c.name), args: c.args, type: 'tool_call' as const })),
      }));
    } else out.push(m.role === 'system' ? new SystemMessage(m.content) : new HumanMessage(m.content));
  }
  return out;
}

function textOf(content: AIMessage['content']): string {
  if (typeof content === 'string') return content;
  return content.map((part) => (typeof part === 'string' ? part : part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
}

function usageOf(answer: AIMessage): { inputTokens: number; outputTokens: number } {
  const u = answer.usage_metadata;
  if (u) return { inputTokens: u.input_tokens ?? 0, outputTokens: u.output_tokens ?? 0 };
  const t = (answer.response_metadata?.tokenUsage ?? answer.response_metadata?.usage) as Record<string, number> | undefined;
  return { inputTokens: t?.promptTokens ?? t?.prompt_tokens ?? t?.input_tokens ?? 0, outputTokens: t?.completionTokens ?? t?.completion_tokens ?? t?.output_tokens ?? 0 };
}

function modelName(model: unknown, answer: AIMessage): string {
  const fromAnswer = answer.response_metadata?.model_name ?? answer.response_metadata?.model;
  if (typeof fromAnswer === 'string' && fromAnswer) return fromAnswer;
  const m = model as { model?: unknown; modelName?: unknown; _llmType?: () => string };
  if (typeof m.model === 'string') return m.model;
  if (typeof m.modelName === 'string') return m.modelName;
  return typeof m._llmType === 'function' ? m._llmType() : 'unknown';
}

function zodIssues(error: z.ZodError): string {
  return error.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ');
}

let invalidIds = 0;

/**
 * One model turn: the conversation so far in, the model's answer out as plain JSON for the
 * workflow. Tool calls come back under the tools' own names; a call whose arguments are not JSON
 * or fail the tool's schema is an invalid tool call (the workflow answers it as a tool error); a
 * call of an unknown tool comes back as it is (the workflow answers that too). Errors are
 * ApplicationFailures typed for the activity's retry policy (model-errors.ts).
 */
export async function callModel(args: ModelCallArgs): Promise<ChatTurn> {
  const model = args.model as BaseChatModel;
  const specs: ToolSpec[] = [...args.extraTools, ...args.tools.map((t) => ({ name: t.name, description: t.description, schema: t.input }))];
  const byProviderName = new Map<string, ToolSpec>();
  for (const spec of specs) {
    const name = providerToolName(spec.name);
    if (byProviderName.has(name)) throw ApplicationFailure.nonRetryable(`tools ${byProviderName.get(name)!.name} and ${spec.name} have the same name for the model (${name})`, 'ModelBadRequest');
    byProviderName.set(name, spec);
  }
  if (typeof model?.bindTools !== 'function') throw ApplicationFailure.nonRetryable('the configured chat model cannot call tools (no bindTools)', 'ModelNotConfigured');
  const bound = model.bindTools(specs.map((s) => ({ name: providerToolName(s.name), description: s.description, schema: s.schema })));

  let answer: AIMessage;
  try {
    answer = (await bound.invoke(await toLangChain(args.system, args.messages))) as AIMessage;
  } catch (err) {
    throw classifyModelError(err);
  }

  const toolCalls: ChatToolCall[] = [];
  const invalidToolCalls: ChatTurn['invalidToolCalls'] = [];
  for (const call of answer.tool_calls ?? []) {
    const spec = byProviderName.get(call.name);
    const id = call.id || `call-${Date.now().toString(36)}-${++invalidIds}`;
    if (!spec) {
      // Not one of its tools: the workflow tells the model which tools there are.
      toolCalls.push({ id, name: call.name, args: call.args ?? {} });
      continue;
    }
    const checked = spec.schema.safeParse(call.args ?? {});
    if (checked.success) toolCalls.push({ id, name: spec.name, args: call.args ?? {} });
    else invalidToolCalls.push({ id, name: spec.name, error: `the arguments do not match the schema of ${spec.name}: ${zodIssues(checked.error)}` });
  }
  for (const bad of answer.invalid_tool_calls ?? []) {
    const name = bad.name ? byProviderName.get(bad.name)?.name ?? bad.name : 'unknown';
    invalidToolCalls.push({ id: bad.id || `invalid-${Date.now().toString(36)}-${++invalidIds}`, name, error: `the arguments are not valid JSON${bad.error ? ` (${bad.error})` : ''}` });
  }

  const usage = usageOf(answer);
  const name = modelName(model, answer);
  return { content: textOf(answer.content), toolCalls, invalidToolCalls, usage, cost: modelCost(name, usage.inputTokens, usage.outputTokens), model: name };
}

/** Which agents use the model: every one but FraudGuardian, which is on the payment path and always runs its core. */
export function agentModelChooser(model: BaseChatModel | undefined): (agent: string) => BaseChatModel | undefined {
  return (agent) => (agent === 'FraudGuardian' ? undefined : model);
}
