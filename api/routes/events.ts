/**
 * GET /api/v1/events: the console's live updates as server-sent events, for any signed-in role,
 * each stream getting only what its user may see (api/live-events.ts `mayReceive`). Read with
 * fetch (the access token goes in the Authorization header, which EventSource cannot send).
 *
 * The stream: `retry:` first; `event: ready` once this process is LISTENing (events from then on
 * arrive; refetch what the screen shows); `data: {kind, id, ...}` per change; `event: resync` when
 * the feed was interrupted (events may be lost: refetch); a comment line every 15 s; `event: end`
 * and the end of the stream when the access token expires or the session changes (deactivated,
 * logged out everywhere, another role or scope) or the server stops: the client reconnects with
 * its current token.
 */
import { PassThrough } from 'node:stream';
import type Koa from 'koa';
import jwt from 'jsonwebtoken';
import { ROLES } from '../../models';
import type { Principal } from '../auth';
import { consoleEventSchema, mayReceive, type ConsoleEvent, type LiveEvents } from '../live-events';
import { Problem } from '../http/problem';
import { route } from '../http/routes';

/** What the client waits before reconnecting after the stream ends. */
export const RETRY_MS = 3_000;
const MAX_STREAMS_PER_USER = 10;
const MAX_STREAMS = 10_000;
/** A client that does not read (a stalled tab) is dropped past this much unsent data, rather than buffered forever. */
const MAX_UNSENT_BYTES = 256 * 1024;

const streamsByUser = new WeakMap<LiveEvents, Map<string, number>>();
/** Every stream gets the same event object: serialized once, not once per stream. */
const serialized = new WeakMap<ConsoleEvent, string>();
function dataLine(e: ConsoleEvent): string {
  let text = serialized.get(e);
  if (!text) serialized.set(e, (text = `data: ${JSON.stringify(e)}\n\n`));
  return text;
}

function openStream(ctx: Koa.Context, p: Principal): PassThrough {
  const live = ctx.liveEvents;
  const perUser = streamsByUser.get(live) ?? new Map<string, number>();
  streamsByUser.set(live, perUser);
  if ((perUser.get(p.userId) ?? 0) >= MAX_STREAMS_PER_USER) {
    throw new Problem(429, 'too_many_streams', `This user already has ${MAX_STREAMS_PER_USER} event streams open here; close one (another tab?) first.`, { headers: { 'Retry-After': '30' } });
  }
  if (live.size >= MAX_STREAMS) throw new Problem(503, 'streams_exhausted', 'This server has as many event streams open as it takes; try again shortly.', { headers: { 'Retry-After': '10' } });

  const stream = new PassThrough();
  let ended = false;
  let ready = false;
  const send = (text: string) => {
    if (ended) return;
    stream.write(text);
    if (stream.writableLength > MAX_UNSENT_BYTES) {
      // What is buffered would never drain: the connection goes, and the client's reconnection refetches.
      ended = true;
      cleanup();
      ctx.res.destroy();
    }
  };
  const end = (reason: string) => {
    if (ended) return;
    ended = true;
    stream.write(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
    cleanup();
    stream.end();
  };

  // The session as it was when the stream opened: any later change of it ends the stream.
  const opened = ctx.sessions.cached(p.userId);
  const sessionChanged = async () => {
    const now = ctx.sessions.cached(p.userId) ?? await ctx.sessions.load(p.userId);
    return !now || !now.active || (opened != null && now.epoch > opened.epoch)
      || now.role !== p.role || now.branchId !== p.branchId || now.partnerId !== p.partnerId || now.customerId !== p.customerId;
  };
  const heartbeat = setInterval(() => {
    sessionChanged().then((changed) => (changed ? end('session_changed') : send(': keep-alive\n\n')), () => send(': keep-alive\n\n'));
  }, live.heartbeatMs);
  heartbeat.unref();
  const exp = (jwt.decode(/^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1] ?? '') as jwt.JwtPayload | null)?.exp;
  const expiry = exp ? setTimeout(() => end('token_expired'), Math.min(Math.max(exp * 1000 - Date.now(), 0), 2 ** 31 - 1)) : undefined;
  expiry?.unref();

  const unsubscribe = live.subscribe({
    event: (e) => { if (mayReceive(p, e)) send(dataLine(e)); },
    listening: () => {
      send(`event: ${ready ? 'resync' : 'ready'}\ndata: {}\n\n`);
      ready = true;
    },
  });
  const unregister = live.onClose(() => end('server_closing'));
  perUser.set(p.userId, (perUser.get(p.userId) ?? 0) + 1);
  let cleaned = false;
  function cleanup() {
    if (cleaned) return;
    cleaned = true;
    clearInterval(heartbeat);
    clearTimeout(expiry);
    unsubscribe();
    unregister();
    const n = (perUser.get(p.userId) ?? 1) - 1;
    if (n > 0) perUser.set(p.userId, n);
    else perUser.delete(p.userId);
  }
  // The client went away (Koa destroys the body stream when the response closes), or we ended it.
  stream.on('close', () => { ended = true; cleanup(); });
  ctx.res.on('close', () => { if (!stream.destroyed) stream.destroy(); });

  // An open stream is idle for long stretches: no socket timeout, and each event leaves at once.
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.req.socket.setKeepAlive(true);
  stream.write(`retry: ${RETRY_MS}\n\n`);
  return stream;
}

export const eventRoutes = [
  route({
    method: 'GET', path: '/api/v1/events', operationId: 'streamEvents', tag: 'Events', auth: ROLES,
    summary: 'Live updates: a server-sent event stream of what changes that you may see (bookings, approvals, campaigns, conversations, contact imports, check-ins)',
    description: 'text/event-stream, read with fetch and the Authorization header. First `retry:`; `event: ready` once the stream is fed (refetch, then follow the events); '
      + 'one `data:` line per change with a small JSON object {kind, id, ...} (refetch what it names: nothing else is in it); `event: resync` after an interruption '
      + '(events may have been missed: refetch everything shown); a comment line every 15 s; `event: end` with a reason (token_expired, session_changed, '
      + 'server_closing) before the server ends the stream (one that stops reading is cut): reconnect with a current access token. Scope: admins everything; operators their branch '
      + '(and bookings they created, unassigned conversations); accountants their branch\'s bookings and approvals; marketers campaigns and contact imports; '
      + 'partners and customers their own bookings. Fed by PostgreSQL LISTEN/NOTIFY, so every API instance delivers every event.',
    responses: {
      200: { description: 'The stream (each `data:` line is one of these)', schema: consoleEventSchema, contentType: 'text/event-stream' },
      429: { description: 'This user has too many streams open on this server' },
      503: { description: 'This server has no room for another stream' },
    },
    handler: async (ctx, { principal }) => ({
      status: 200,
      headers: {
        'Content-Type': 'text/event-stream; charset=utf-8',
        // Never cached, never transformed (compressed or buffered) on the way: each event must leave when written.
        'Cache-Control': 'no-cache, no-store, no-transform',
        'X-Accel-Buffering': 'no',
      },
      body: openStream(ctx, principal!),
    }),
  }),
];
