/**
 * Live updates: GET /api/v1/events (server-sent events fed by PostgreSQL LISTEN/NOTIFY), read
 * with fetch so the access token stays in a header and in memory. Each event names what
 * changed; the queries showing it are invalidated and TanStack Query refetches the ones on screen.
 */
import type { QueryClient } from '@tanstack/react-query';
import { currentAccessToken, refreshSession } from './session';

export interface LiveEvent {
  kind: string;
  id?: string;
  type?: string;
  bookingId?: string;
  departureId?: string;
  campaignId?: string;
  conversationId?: string;
  importId?: string;
}

/** Which cached queries an event makes stale. Query keys start with these names. */
export function staleKeys(e: LiveEvent): unknown[][] {
  switch (e.kind) {
    case 'booking':
      return [['booking', e.bookingId], ['bookings'], ['today'], ['calendar'], ['manifest'], ['my-trips']];
    case 'approval':
      return [['approvals'], ['today'], ...(e.bookingId ? [['booking', e.bookingId]] : [])];
    case 'checkin':
      return [['manifest', e.departureId], ...(e.bookingId ? [['booking', e.bookingId]] : [])];
    case 'campaign':
      return [['campaign', e.campaignId ?? e.id], ['campaigns']];
    case 'conversation':
      return [['conversation', e.conversationId ?? e.id], ['conversations']];
    case 'contact_import':
      return [['contact-import', e.importId ?? e.id], ['contacts']];
    case 'agent_run':
      return [['agent-runs'], ['agents']];
    default:
      return [];
  }
}

export type LiveStatus = 'connecting' | 'open' | 'closed';

/** Keeps one stream open while signed in; returns a stop function. */
export function connectLive(queryClient: QueryClient, onStatus?: (s: LiveStatus) => void, onEvent?: (e: LiveEvent) => void): () => void {
  let stopped = false;
  let controller: AbortController | null = null;
  let delay = 500;

  const handle = (data: string) => {
    let event: LiveEvent;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    for (const key of staleKeys(event)) {
      const prefix = key.filter((part) => part !== undefined);
      void queryClient.invalidateQueries({ queryKey: prefix });
    }
    onEvent?.(event);
  };

  const run = async () => {
    while (!stopped) {
      onStatus?.('connecting');
      controller = new AbortController();
      try {
        const token = currentAccessToken();
        const res = await fetch('/api/v1/events', {
          headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          signal: controller.signal,
          cache: 'no-store',
        });
        if (res.status === 401) {
          if (!(await refreshSession())) return;
          continue;
        }
        if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
        onStatus?.('open');
        delay = 500;
        // Whatever changed while the stream was down is refetched once.
        void queryClient.invalidateQueries();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const lines = block.split('\n');
            const name = lines.find((l) => l.startsWith('event:'))?.slice(6).trim();
            const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
            // resync: the server lost its LISTEN connection for a while, so events may be missing.
            if (name === 'resync') void queryClient.invalidateQueries();
            else if (!name && data) handle(data);
          }
        }
      } catch {
        // a dropped connection: try again below
      }
      if (stopped) break;
      onStatus?.('closed');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  };
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
