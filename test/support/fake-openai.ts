/**
 * A local stand-in for OpenAI's chat-completions endpoint (the wire format Ollama, vLLM and
 * llama.cpp also speak), so the real `@langchain/openai` client can talk to it:
 * POST /v1/chat/completions with `Authorization: Bearer <key>`; 200 with `choices[0].message`
 * (`content`, `tool_calls` whose `arguments` is a JSON string, given raw so a test can send bad
 * JSON) and `usage`; 401 for a wrong key; and whatever error a test scripts (400, 429 with
 * Retry-After, 500...), in OpenAI's error envelope.
 *
 * What it answers is a function of the request (the conversation so far), so a retried request
 * gets the same answer; every request is recorded.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WireToolCall { id: string; type: 'function'; function: { name: string; arguments: string } }
export interface WireMessage { role: string; content: string | null; tool_calls?: WireToolCall[]; tool_call_id?: string; name?: string }
export interface WireRequest { model: string; messages: WireMessage[]; tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters?: unknown } }>; stream?: boolean; [k: string]: unknown }

export type FakeAnswer =
  | { content?: string; toolCalls?: Array<{ name: string; args: unknown | string; id?: string }>; usage?: { prompt: number; completion: number } }
  | { status: number; message: string; type?: string; headers?: Record<string, string> };

export interface FakeOpenAI {
  /** Base URL for OPENAI_BASE_URL, e.g. http://127.0.0.1:54321/v1 */
  url: string;
  apiKey: string;
  requests: Array<{ headers: http.IncomingHttpHeaders; body: WireRequest; status: number }>;
  /** What to answer; `n` counts requests so far (0-based). */
  answer: (req: WireRequest, n: number) => FakeAnswer;
  close(): Promise<void>;
}

let calls = 0;

/** The number of `role: tool` messages so far: a script's usual "where are we" in the conversation. */
export function toolResults(req: WireRequest): WireMessage[] {
  return req.messages.filter((m) => m.role === 'tool');
}

export async function startFakeOpenAI(options: { apiKey?: string; answer?: FakeOpenAI['answer']; record?: boolean } = {}): Promise<FakeOpenAI> {
  const apiKey = options.apiKey ?? 'sk-fake-openai';
  const record = options.record ?? true;
  const fake: FakeOpenAI = {
    url: '',
    apiKey,
    requests: [],
    answer: options.answer ?? (() => ({ content: 'done' })),
    close: async () => undefined,
  };
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      let body: WireRequest;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        send(400, { error: { message: 'We could not parse the JSON body of your request.', type: 'invalid_request_error', param: null, code: null } });
        return;
      }
      const keep = (status: number) => { if (record) fake.requests.push({ headers: req.headers, body, status }); };
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        keep(404);
        send(404, { error: { message: `Unknown request URL: ${req.method} ${req.url}`, type: 'invalid_request_error', param: null, code: 'unknown_url' } });
        return;
      }
      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        keep(401);
        send(401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
        return;
      }
      const a = fake.answer(body, n++);
      if ('status' in a) {
        keep(a.status);
        send(a.status, { error: { message: a.message, type: a.type ?? (a.status === 429 ? 'rate_limit_exceeded' : 'invalid_request_error'), param: null, code: null } }, a.headers);
        return;
      }
      keep(200);
      const toolCalls = (a.toolCalls ?? []).map((c, i) => ({
        id: c.id ?? `call_${++calls}_${i}`, type: 'function' as const,
        function: { name: c.name, arguments: typeof c.args === 'string' ? c.args : JSON.stringify(c.args) },
      }));
      const usage = a.usage ?? { prompt: 100, completion: 20 };
      send(200, {
        id: `chatcmpl-${++calls}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: body.model,
        choices: [{
          index: 0, finish_reason: toolCalls.length ? 'tool_calls' : 'stop',
          message: { role: 'assistant', content: a.content ?? (toolCalls.length ? null : ''), ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
        }],
        usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion },
      });
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}/v1`;
  fake.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return fake;
}
