/**
 * An open-loop load generator (not a bench itself; hold.ts and availability.ts use it).
 *
 * Requests are sent on a fixed schedule, whether or not earlier ones have been answered, as
 * independent clients would: the i-th request is due at start + i / rate (or at Poisson arrival
 * times with `arrivals: 'poisson'`). Latency is measured from the moment a request was DUE, not
 * when it happened to be written, so a generator that falls behind (or a server that stops
 * reading) shows up in the figures instead of hiding them (no coordinated omission). Sockets are
 * kept alive and reused; a new one is opened whenever all are busy.
 *
 * Why not autocannon's `overallRate`: it spreads the rate over the connections as whole requests
 * per connection per second (so with more connections than req/s the extra connections are not
 * rate limited at all), sends each connection's quota in a burst at the start of each second, and
 * corrects for coordinated omission with an expected interval of 1 ms. None of that is "offered
 * at N per second".
 */
import http from 'node:http';
import { percentiles, round1 } from './booking-support';

export interface OpenLoopOptions {
  baseUrl: string;
  method: 'GET' | 'POST';
  /** Path and body of the i-th request. */
  request: (i: number) => { path: string; body?: string; headers?: Record<string, string> };
  headers?: Record<string, string>;
  rate: number;
  durationSeconds: number;
  arrivals?: 'uniform' | 'poisson';
  /** Requests still unanswered this long after the schedule ended count as timeouts. */
  timeoutMs?: number;
}

export interface OpenLoopResult {
  offeredRate: number;
  arrivals: 'uniform' | 'poisson';
  durationSeconds: number;
  sent: number;
  /** Answers (any status) per second of the schedule. */
  achievedRate: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** From the moment each request was due to its last byte, 2xx answers only. */
  latencyMs: ReturnType<typeof percentiles>;
  /** From the moment each was written (so without the generator's own lateness), 2xx only. */
  latencyFromSendMs: ReturnType<typeof percentiles>;
  /** How late the generator wrote requests (its own CPU starvation), ms. */
  sendLagMs: { p99: number; max: number };
  maxInFlight: number;
  socketsOpened: number;
  errorSamples: Array<{ status: number; body: string }>;
}

export async function openLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const url = new URL(o.baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
  let socketsOpened = 0;
  const arrivals = o.arrivals ?? 'uniform';
  const latencies: number[] = [];
  const fromSend: number[] = [];
  const lags: number[] = [];
  const statusCodes: Record<string, number> = {};
  const errorSamples: Array<{ status: number; body: string }> = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const pending = new Set<Promise<void>>();

  const fire = (i: number, due: number) => {
    const r = o.request(i);
    const headers: Record<string, string> = { ...o.headers, ...r.headers };
    if (r.body !== undefined) headers['content-length'] = String(Buffer.byteLength(r.body));
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const sentAt = performance.now();
    lags.push(sentAt - due);
    const done = new Promise<void>((resolve) => {
      const req = http.request({ host: url.hostname, port: url.port, method: o.method, path: r.path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const ms = performance.now() - due;
          const status = res.statusCode ?? 0;
          statusCodes[status] = (statusCodes[status] ?? 0) + 1;
          if (status >= 200 && status < 300) {
            ok++;
            latencies.push(ms);
            fromSend.push(performance.now() - sentAt);
          } else {
            non2xx++;
            if (errorSamples.length < 5) errorSamples.push({ status, body: Buffer.concat(chunks).toString('utf8').slice(0, 300) });
          }
          resolve();
        });
        res.on('error', () => {
          errors++;
          resolve();
        });
      });
      req.on('socket', (s) => {
        if (!(s as { _spiritSeen?: boolean })._spiritSeen) {
          (s as { _spiritSeen?: boolean })._spiritSeen = true;
          socketsOpened++;
        }
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(r.body);
    }).finally(() => {
      inFlight--;
      pending.delete(done);
    });
    pending.add(done);
  };

  const start = performance.now();
  const end = start + o.durationSeconds * 1000;
  const interval = 1000 / o.rate;
  let i = 0;
  let due = start;
  while (due < end) {
    const wait = due - performance.now();
    if (wait >= 1) await new Promise((r) => setTimeout(r, wait)); // timers are ~1 ms coarse: that lateness is counted as latency
    fire(i++, due);
    due += arrivals === 'poisson' ? -Math.log(1 - Math.random()) * interval : interval;
  }
  const timeoutMs = o.timeoutMs ?? 30_000;
  let timedOut = false;
  await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(() => { timedOut = true; r(undefined); }, timeoutMs).unref())]);
  const timeouts = timedOut ? pending.size : 0;
  agent.destroy();
  const lagSorted = [...lags].sort((a, b) => a - b);
  return {
    offeredRate: o.rate,
    arrivals,
    durationSeconds: o.durationSeconds,
    sent: i,
    achievedRate: round1((ok + non2xx) / o.durationSeconds),
    ok,
    non2xx,
    errors,
    timeouts,
    statusCodes,
    latencyMs: percentiles(latencies),
    latencyFromSendMs: percentiles(fromSend),
    sendLagMs: { p99: round1(lagSorted[Math.max(0, Math.ceil(0.99 * lagSorted.length) - 1)] ?? 0), max: round1(lagSorted[lagSorted.length - 1] ?? 0) },
    maxInFlight,
    socketsOpened,
    errorSamples,
  };
}
