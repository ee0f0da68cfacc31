/**
 * Live updates for the console (GET /api/v1/events): what changed, pushed to every open stream
 * that may see it, so screens refetch without reloading.
 *
 * Feed: triggers NOTIFY `console_events` (migrations/20261202000800_console_events.ts) whoever
 * writes, and each API process keeps ONE connection LISTENing (reconnecting with backoff), fanning
 * the notifications out in memory. N API instances therefore all deliver every event. A lost
 * connection may have missed notifications: when it is back every stream is told to resync.
 * Progress that arrives in bursts (campaign sends, contact imports) is coalesced per item to at
 * most one event per COALESCE_MS. Nothing here is stored: a client that reconnects refetches.
 */
import type { Knex } from 'knex';
import pg from 'pg';
import { z } from 'zod';
import type { Logger } from '../platform/logger';
import type { Principal } from './auth';

export const CONSOLE_EVENTS_CHANNEL = 'console_events';
/** The listening connection's application_name, so it can be told apart in pg_stat_activity. */
export const LISTENER_NAME = 'spirit-console-events';

export const CONSOLE_EVENT_KINDS = ['booking', 'approval', 'campaign', 'conversation', 'contact_import', 'checkin', 'agent_run'] as const;
export type ConsoleEventKind = (typeof CONSOLE_EVENT_KINDS)[number];

// Agent run ids carry their occasion (e.g. a payment attempt's key), so ids may be long.
const id = z.string().max(200);
/** One event as a trigger writes it and a stream sends it (`data:` line): who it concerns, never its content. */
export const consoleEventSchema = z.object({
  kind: z.enum(CONSOLE_EVENT_KINDS),
  id: id.describe('The id of what changed (booking, approval, campaign, conversation, import, departure)'),
  type: z.string().max(64).optional().describe('booking: the timeline event type; approval: its kind; agent_run: the agent'),
  status: z.string().max(32).optional().describe('The new status, when a status changed'),
  bookingId: id.optional(),
  branchId: id.optional(),
  partnerId: id.optional(),
  customerId: id.optional(),
  createdBy: id.optional().describe('booking: the user who created it'),
  campaignId: id.optional(),
  conversationId: id.optional(),
  departureId: id.optional(),
});
export type ConsoleEvent = z.infer<typeof consoleEventSchema>;

/**
 * Whether a user may be told about an event: the same rules as the lists they may read.
 * An event of a kind not named here reaches admins only.
 */
export function mayReceive(p: Pick<Principal, 'userId' | 'role' | 'branchId' | 'partnerId' | 'customerId'>, e: ConsoleEvent): boolean {
  if (p.role === 'admin') return true;
  const ownBranch = p.branchId !== null && e.branchId === p.branchId;
  switch (e.kind) {
    case 'booking':
      switch (p.role) {
        case 'operator': return ownBranch || (e.createdBy !== undefined && e.createdBy === p.userId);
        case 'accountant': return ownBranch; // reads, never steers: still sees what changes
        case 'partner': return p.partnerId !== null && e.partnerId === p.partnerId;
        case 'customer': return p.customerId !== null && e.customerId === p.customerId;
        default: return false;
      }
    case 'approval':
      if (p.role === 'operator') return ownBranch || (e.branchId === undefined && e.type === 'agent_action');
      return p.role === 'accountant' && ownBranch;
    case 'conversation':
      // A conversation has a branch only through the operator it is assigned to; unassigned ones are everyone's queue.
      return p.role === 'operator' && (e.branchId === undefined || ownBranch);
    case 'checkin':
      return (p.role === 'operator' || p.role === 'accountant') && (e.branchId === undefined || ownBranch);
    case 'campaign':
    case 'contact_import':
      return p.role === 'marketer';
    case 'agent_run':
      // Agent runs are read by admins, operators and marketers (api/routes/agents.ts READERS).
      return p.role === 'operator' || p.role === 'marketer';
    default:
      return false;
  }
}

export interface LiveSubscriber {
  event(e: ConsoleEvent): void;
  /** The LISTEN connection is up, or up again after a loss (when events may have been missed). */
  listening(): void;
}

export interface LiveEvents {
  /** Starts listening on first use; the subscriber hears `listening` at once when already up. */
  subscribe(s: LiveSubscriber): () => void;
  readonly listening: boolean;
  /** Open subscriptions (streams) in this process. */
  readonly size: number;
  /** Heartbeat interval of the streams (a comment line, so proxies and clients see the stream alive). */
  readonly heartbeatMs: number;
  /** Ends every stream (they close; clients reconnect elsewhere) and the LISTEN connection. */
  close(): Promise<void>;
  /** Registered by each stream, so close() can end it. */
  onClose(end: () => void): () => void;
}

/** Kinds whose notifications come in bursts (a statement per send batch, a chunk per import). */
const COALESCED: ReadonlySet<ConsoleEventKind> = new Set(['campaign', 'contact_import']);
export const COALESCE_MS = 250;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A LISTEN connection cut by the network sends no error; a probe query every so often finds out. */
const PROBE_MS = 30_000;

export function createLiveEvents(deps: { knex: Knex; logger?: Logger; heartbeatMs?: number; coalesceMs?: number }): LiveEvents {
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  const coalesceMs = deps.coalesceMs ?? COALESCE_MS;
  const subscribers = new Set<LiveSubscriber>();
  const closers = new Set<() => void>();
  let client: pg.Client | undefined;
  let listening = false;
  let started = false;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let probe: NodeJS.Timeout | undefined;
  let backoff = BACKOFF_MIN_MS;

  const deliver = (e: ConsoleEvent) => {
    for (const s of subscribers) {
      try { s.event(e); } catch (err) { deps.logger?.warn({ err: (err as Error).message }, 'live event not delivered to a stream'); }
    }
  };

  // Coalescing: the first event of an item goes out at once; later ones within the window are merged into one sent at its end.
  const windows = new Map<string, { latest?: ConsoleEvent; timer: NodeJS.Timeout }>();
  const openWindow = (key: string) => {
    const timer = setTimeout(() => {
      const w = windows.get(key);
      windows.delete(key);
      if (w?.latest) {
        deliver(w.latest);
        openWindow(key);
      }
    }, coalesceMs);
    timer.unref();
    windows.set(key, { timer });
  };
  const dispatch = (e: ConsoleEvent) => {
    if (!COALESCED.has(e.kind) || coalesceMs <= 0) return deliver(e);
    const key = `${e.kind}:${e.id}`;
    const w = windows.get(key);
    if (!w) {
      deliver(e);
      openWindow(key);
    } else w.latest = { ...w.latest, ...e };
  };

  const onNotification = (payload: string | undefined) => {
    let parsed: unknown;
    try { parsed = JSON.parse(payload ?? ''); } catch { parsed = undefined; }
    const e = consoleEventSchema.safeParse(parsed);
    if (e.success) dispatch(e.data);
    else deps.logger?.warn({ payload: payload?.slice(0, 200) }, 'console event ignored: not a console event');
  };

  async function connect(): Promise<void> {
    if (closed) return;
    const connection = (deps.knex.client.config as { connection: string | pg.ClientConfig }).connection;
    const c = new pg.Client({ ...(typeof connection === 'string' ? { connectionString: connection } : connection), keepAlive: true, application_name: LISTENER_NAME });
    client = c;
    const lost = (err?: Error) => {
      if (client !== c) return;
      client = undefined;
      listening = false;
      clearInterval(probe);
      c.end().catch(() => undefined);
      if (closed) return;
      deps.logger?.warn({ err: err?.message, retryInMs: backoff }, 'console events: LISTEN connection lost; reconnecting');
      retry = setTimeout(() => { connect().catch(() => undefined); }, backoff);
      retry.unref();
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    };
    c.on('error', lost);
    c.on('end', () => lost());
    c.on('notification', (msg) => { if (msg.channel === CONSOLE_EVENTS_CHANNEL) onNotification(msg.payload); });
    try {
      await c.connect();
      await c.query(`LISTEN ${CONSOLE_EVENTS_CHANNEL}`);
      if (client !== c) return;
      // The listener must not keep a process alive on its own (tests, scripts); the API closes it on stop.
      (c as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
      listening = true;
      backoff = BACKOFF_MIN_MS;
      probe = setInterval(() => { c.query('select 1').catch((err) => lost(err)); }, PROBE_MS);
      probe.unref();
      for (const s of subscribers) s.listening();
    } catch (err) {
      lost(err as Error);
    }
  }

  return {
    get listening() { return listening; },
    get size() { return subscribers.size; },
    heartbeatMs,
    subscribe(s) {
      subscribers.add(s);
      if (!started) {
        started = true;
        connect().catch(() => undefined);
      } else if (listening) s.listening();
      return () => { subscribers.delete(s); };
    },
    onClose(end) {
      closers.add(end);
      return () => { closers.delete(end); };
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      clearInterval(probe);
      for (const w of windows.values()) clearTimeout(w.timer);
      windows.clear();
      for (const end of [...closers]) end();
      const c = client;
      client = undefined;
      listening = false;
      await c?.end().catch(() => undefined);
    },
  };
}

declare module 'koa' {
  interface DefaultContext {
    /** This process's console event feed (GET /api/v1/events). */
    liveEvents: LiveEvents;
  }
}
