/**
 * LangChain's fake streaming chat model (`@langchain/core/utils/testing`) made to follow a script:
 * each answer is a function of the conversation so far (so a retried turn gets the same answer),
 * an AIMessage with tool calls and usage, or an Error to throw. It remembers the tool names bound.
 */
import { FakeStreamingChatModel } from '@langchain/core/utils/testing';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';

export type Script = (messages: BaseMessage[], turn: number) => AIMessage | Error;

export class ScriptedChatModel extends FakeStreamingChatModel {
  boundTools: string[] = [];
  calls = 0;
  model = 'scripted-fake';

  constructor(private readonly script: Script) {
    super({});
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override bindTools(tools: any[]): any {
    this.boundTools = tools.map((t) => t.name ?? t.function?.name);
    return this.withConfig({});
  }

  override async _generate(messages: BaseMessage[]): Promise<ChatResult> {
    const answer = this.script(messages, this.calls++);
    if (answer instanceof Error) throw answer;
    return { generations: [{ text: typeof answer.content === 'string' ? answer.content : '', message: answer }] };
  }
}

/** An answer that calls tools (provider names: dots as underscores). */
export function callsTools(calls: Array<{ name: string; args: Record<string, unknown>; id?: string }>, usage = { input: 50, output: 10 }, content = ''): AIMessage {
  return new AIMessage({
    content,
    tool_calls: calls.map((c, i) => ({ id: c.id ?? `call-${c.name}-${i}`, name: c.name, args: c.args, type: 'tool_call' as const })),
    usage_metadata: { input_tokens: usage.input, output_tokens: usage.output, total_tokens: usage.input + usage.output },
  });
}

/** A final answer (the narrative). */
export function says(content: string, usage = { input: 80, output: 30 }): AIMessage {
  return new AIMessage({ content, usage_metadata: { input_tokens: usage.input, output_tokens: usage.output, total_tokens: usage.input + usage.output } });
}

/** How many tool results the conversation holds so far. */
export function toolResultsIn(messages: BaseMessage[]): BaseMessage[] {
  return messages.filter((m) => m.getType() === 'tool');
}
