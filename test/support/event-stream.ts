/** A test's reader of GET /api/v1/events: opens it with fetch (Bearer) and keeps every message with when it arrived. */
import type { ConsoleEvent } from '../../api/live-events';
import { stack } from './stack';

export interface StreamMessage {
  /** 'message' for a data event; ready, resync, end for the named ones; 'comment' for a heartbeat. */
  event: string;
  data?: unknown;
  comment?: string;
  retry?: number;
  at: number;
}

export interface EventStream {
  status: number;
  headers: Headers;
  messages: StreamMessage[];
  /** The data events received so far. */
  events(): Array<ConsoleEvent & { at: number }>;
  /** Resolves with the first message (already received or to come) that matches, or rejects after timeoutMs. */
  waitFor(match: (m: StreamMessage) => boolean, timeoutMs?: number): Promise<StreamMessage>;
  waitForEvent(match: (e: ConsoleEvent) => boolean, timeoutMs?: number): Promise<ConsoleEvent & { at: number }>;
  /** True once the server ended the stream. */
  readonly ended: boolean;
  close(): void;
}

export async function openEventStream(token: string | undefined, baseUrl = stack().baseUrl): Promise<EventStream> {
  const abort = new AbortController();
  const res = await fetch(`${baseUrl}/api/v1/events`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: abort.signal });
  const messages: StreamMessage[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  const notify = () => { for (const w of [...waiters]) w(); };

  if (res.ok && res.body) {
    (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const m: StreamMessage = { event: 'message', at: Date.now() };
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) { m.event = 'comment'; m.comment = line.slice(1).trim(); } else if (line.startsWith('event: ')) m.event = line.slice(7);
              else if (line.startsWith('data: ')) data.push(line.slice(6));
              else if (line.startsWith('retry: ')) { m.event = 'retry'; m.retry = Number(line.slice(7)); }
            }
            if (data.length) m.data = JSON.parse(data.join('\n'));
            messages.push(m);
          }
          notify();
        }
      } catch {
        // aborted by close()
      } finally {
        ended = true;
        notify();
      }
    })();
  } else {
    ended = true;
  }

  const waitFor = (match: (m: StreamMessage) => boolean, timeoutMs = 5_000) => new Promise<StreamMessage>((resolve, reject) => {
    const check = () => {
      const found = messages.find(match);
      if (found) { done(); resolve(found); } else if (ended) { done(); reject(new Error(`the stream ended before the message came (${messages.length} messages)`)); }
    };
    const timer = setTimeout(() => { done(); reject(new Error(`no such message within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.data ?? m.event))}`)); }, timeoutMs);
    const done = () => { clearTimeout(timer); waiters.delete(check); };
    waiters.add(check);
    check();
  });

  return {
    status: res.status,
    headers: res.headers,
    messages,
    events: () => messages.filter((m) => m.event === 'message').map((m) => ({ ...(m.data as ConsoleEvent), at: m.at })),
    waitFor,
    waitForEvent: async (match, timeoutMs) => {
      const m = await waitFor((x) => x.event === 'message' && match(x.data as ConsoleEvent), timeoutMs);
      return { ...(m.data as ConsoleEvent), at: m.at };
    },
    get ended() { return ended; },
    close: () => abort.abort(),
  };
}
