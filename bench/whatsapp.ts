/**
 * WhatsApp through the signed Cloud API webhook path, end to end, with the agents in core mode:
 *
 *   npm run bench -- whatsapp [--conversations 200] [--rounds 2] [--sequential 20] [--rate 20 --seconds 30] [--fast]
 *
 * The API and the worker run as child processes exactly as `npm start` runs them, with
 * WHATSAPP_CHANNEL=cloud and WHATSAPP_GRAPH_API_BASE pointing at a local server in this process
 * that speaks the Graph API's /messages (answers a wamid, records what arrived and when).
 * Each round, `conversations` customers (new numbers) each send one message at the same moment,
 * as signed webhook deliveries (X-Hub-Signature-256 over the raw body). Measured:
 * - webhook: POST → 200 latency (goal: p99 under 200 ms, what Meta asks of its partners);
 * - reply: POST sent → the reply reaching the Graph API server (goal: p95 under 1 s);
 * - lost / answered twice: every message must get exactly one reply (checked at the Graph
 *   server and in conversation_messages).
 * Rounds after the first reuse the same customers (their conversation workflows are running).
 * Also: `sequential` messages one after another (the floor of one reply's latency), and an open
 * loop: the same customers writing at `rate` messages per second in all for `seconds` (each
 * message at a random moment), which is how 200 open conversations load the platform in practice.
 * CPU seconds used by the API, the worker, Temporal and PostgreSQL are reported per phase.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { round1, sleep } from './booking-support';
import fs from 'node:fs';
import path from 'node:path';
import { summarizeCpuProfile } from './cpuprofile';
import { cpuSeconds, makeTempDir, peakRssMb, processTree, say, startStack, sumOf } from './stack';

const APP_SECRET = 'bench-app-secret-0123456789abcdef0123456789';
const PHONE_NUMBER_ID = '109876543210';

function stats(values: number[]) {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { n: s.length, p50: round1(at(0.5)), p95: round1(at(0.95)), p99: round1(at(0.99)), max: round1(s[s.length - 1]) };
}

/** A local Graph API: POST /{version}/{phone-number-id}/messages → {messages:[{id}]}, each arrival recorded. */
function startGraphServer(): Promise<{ url: string; arrivals: Array<{ to: string; at: number; body: unknown }>; close: () => Promise<void> }> {
  const arrivals: Array<{ to: string; at: number; body: unknown }> = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const at = performance.now();
      if (req.method !== 'POST' || !/^\/v\d+\.\d+\/[^/]+\/messages$/.test(req.url ?? '') || req.headers.authorization !== 'Bearer bench-token') {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'bad request', code: 100 } }));
        return;
      }
      const body = JSON.parse(raw) as { to: string };
      arrivals.push({ to: body.to, at, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        messaging_product: 'whatsapp', contacts: [{ input: body.to, wa_id: body.to }], messages: [{ id: `wamid.BENCH${crypto.randomBytes(8).toString('hex')}` }],
      }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals,
    close: () => new Promise((r) => server.close(() => r())),
  })));
}

function webhookBody(from: string, wamid: string, text: string): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{
      id: 'WABA-BENCH',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp', metadata: { display_phone_number: '34910000000', phone_number_id: PHONE_NUMBER_ID },
          contacts: [{ profile: { name: 'Bench' }, wa_id: from }],
          messages: [{ from, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }],
        },
      }],
    }],
  });
}

const TEXTS = ['Hola, ¿qué tours tenéis en España?', 'What tours do you have in Madrid?', '¿Hay plazas para Toledo mañana? Somos 2', 'hola', 'Do you have seats in Toledo tomorrow for 3?'];

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args, options: {
      conversations: { type: 'string', default: '200' }, rounds: { type: 'string', default: '2' }, sequential: { type: 'string', default: '20' },
      rate: { type: 'string', default: '20' }, seconds: { type: 'string', default: '30' }, fast: { type: 'boolean', default: false },
      'messages-per-second': { type: 'string', default: '80' },
      'cpu-prof': { type: 'boolean', default: false },
    },
  });
  const n = Number(o.conversations);
  const rounds = Number(o.rounds);
  const graph = await startGraphServer();
  const profDir = o['cpu-prof'] ? makeTempDir('spirit-bench-cpuprof-') : undefined;
  const stack = await startStack({
    worker: true, fast: o.fast, nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
    env: {
      LOG_LEVEL: 'warn', WHATSAPP_CHANNEL: 'cloud', WHATSAPP_GRAPH_API_BASE: graph.url, WHATSAPP_ACCESS_TOKEN: 'bench-token', WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
      WHATSAPP_APP_SECRET: APP_SECRET, WHATSAPP_VERIFY_TOKEN: 'bench-verify', WHATSAPP_MESSAGES_PER_SECOND: o['messages-per-second'], RATE_LIMIT_INBOUND_ADDRESS_PER_MINUTE: '0', RATE_LIMIT_INBOUND_SENDER_PER_MINUTE: '0',
    },
  });
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    const post = (body: string) => new Promise<{ status: number; ms: number }>((resolve, reject) => {
      const started = performance.now();
      const signature = `sha256=${crypto.createHmac('sha256', APP_SECRET).update(body).digest('hex')}`;
      const req = http.request(`${stack.baseUrl}/api/v1/webhooks/whatsapp`, {
        method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-hub-signature-256': signature },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      });
      req.on('error', reject);
      req.end(body);
    });
    const pids = { api: stack.pids.api, worker: stack.pids.worker!, temporal: stack.pids.temporal, postgres: stack.pids.postgres };
    const cpuNow = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid ? sumOf(processTree(pid).map((p) => p.pid), cpuSeconds) ?? 0 : 0]));
    const cpuSince = (before: Record<string, number>) => { const now = cpuNow(); return Object.fromEntries(Object.keys(now).map((k) => [k, round1(now[k] - before[k])])); };
    /** Waits until `to` got `count` replies at the Graph server; answers when the last arrived. */
    const replied = async (to: string, count: number, timeoutMs = 30_000): Promise<number | undefined> => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const got = graph.arrivals.filter((a) => a.to === to);
        if (got.length >= count) return got[count - 1].at;
        if (Date.now() > until) return undefined;
        await sleep(5);
      }
    };
    // Warm up: one conversation, answered.
    say('warming up');
    await post(webhookBody('34600000000', `wamid.warm-${Date.now()}`, 'hola'));
    for (let i = 0; i < 300 && !graph.arrivals.length; i++) await sleep(100);
    if (!graph.arrivals.length) throw new Error(`the warm-up message got no reply at the Graph server\n${stack.logTail('worker', 30)}`);

    const numbers = Array.from({ length: n }, (_, i) => `3461${String(1_000_000 + i).slice(1)}${String(Math.floor(Math.random() * 90) + 10)}`);
    const results: Array<Record<string, unknown>> = [];
    // One message at a time: the floor of a reply's latency on this machine.
    const seqMs: number[] = [];
    const seqHook: number[] = [];
    for (let i = 0; i < Number(o.sequential); i++) {
      const from = `3462${String(1_000_000 + i).slice(1)}${String(Math.floor(Math.random() * 90) + 10)}`;
      const start = performance.now();
      const answer = await post(webhookBody(from, `wamid.seq-${i}-${crypto.randomBytes(4).toString('hex')}`, TEXTS[i % TEXTS.length]));
      seqHook.push(answer.ms);
      const at = await replied(from, 1);
      if (at !== undefined) seqMs.push(at - start);
    }
    const sequential = { webhookMs: stats(seqHook), replyMs: stats(seqMs) };
    say(`sequential: ${JSON.stringify(sequential)}`);
    for (let round = 1; round <= rounds; round++) {
      const cpu0 = cpuNow();
      graph.arrivals.length = 0;
      const sentAt = new Map<string, number>();
      say(`round ${round}: ${n} conversations, one signed webhook delivery each, all at once`);
      const answers = await Promise.all(numbers.map((from, i) => {
        const body = webhookBody(from, `wamid.bench-${round}-${i}-${crypto.randomBytes(4).toString('hex')}`, TEXTS[i % TEXTS.length]);
        sentAt.set(from, performance.now());
        return post(body);
      }));
      const bad = answers.filter((a) => a.status !== 200);
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && new Set(graph.arrivals.map((a) => a.to)).size < n) await sleep(20);
      await sleep(1000); // anything answered twice arrives by now
      const perNumber = new Map<string, number[]>();
      for (const a of graph.arrivals) perNumber.set(a.to, [...(perNumber.get(a.to) ?? []), a.at]);
      const replyMs = numbers.filter((x) => perNumber.has(x)).map((x) => perNumber.get(x)![0] - sentAt.get(x)!);
      const lost = numbers.filter((x) => !perNumber.has(x)).length;
      const twice = [...perNumber.values()].filter((v) => v.length > 1).length;
      const r = { round, webhookMs: stats(answers.map((a) => a.ms)), webhookNon200: bad.length, replyMs: stats(replyMs), lost, answeredTwice: twice, cpuSeconds: cpuSince(cpu0) };
      say(JSON.stringify(r));
      results.push(r);
    }
    // Open loop: the same customers write at `rate` messages per second in all, each at a random moment.
    const rate = Number(o.rate);
    const seconds = Number(o.seconds);
    let openLoop: Record<string, unknown> | undefined;
    if (rate > 0 && seconds > 0) {
      say(`open loop: ${rate} messages/s over ${n} conversations for ${seconds} s`);
      graph.arrivals.length = 0;
      const cpu0 = cpuNow();
      const total = Math.round(rate * seconds);
      const sends: Array<{ from: string; at: number; answer: Promise<{ status: number; ms: number }> }> = [];
      const t0 = performance.now();
      const counts = new Map<string, number>();
      for (let i = 0; i < total; i++) {
        const due = t0 + (i * 1000) / rate + Math.random() * (1000 / rate);
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const from = numbers[Math.floor(Math.random() * n)];
        counts.set(from, (counts.get(from) ?? 0) + 1);
        sends.push({ from, at: performance.now(), answer: post(webhookBody(from, `wamid.open-${i}-${crypto.randomBytes(4).toString('hex')}`, TEXTS[i % TEXTS.length])) });
      }
      const answers = await Promise.all(sends.map((x) => x.answer));
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && graph.arrivals.length < total) await sleep(20);
      await sleep(1000);
      // Each customer's replies come in the order of their messages: the k-th reply answers the k-th message.
      const byFrom = new Map<string, number[]>();
      for (const a of graph.arrivals) byFrom.set(a.to, [...(byFrom.get(a.to) ?? []), a.at]);
      const seen = new Map<string, number>();
      const replyMs: number[] = [];
      for (const x of sends) {
        const k = seen.get(x.from) ?? 0;
        seen.set(x.from, k + 1);
        const at = byFrom.get(x.from)?.[k];
        if (at !== undefined) replyMs.push(at - x.at);
      }
      const lost = [...counts].reduce((sum, [from, c]) => sum + Math.max(0, c - (byFrom.get(from)?.length ?? 0)), 0);
      const twice = [...counts].reduce((sum, [from, c]) => sum + Math.max(0, (byFrom.get(from)?.length ?? 0) - c), 0);
      openLoop = { rate, seconds, messages: total, webhookMs: stats(answers.map((a) => a.ms)), webhookNon200: answers.filter((a) => a.status !== 200).length, replyMs: stats(replyMs), lost, answeredTwice: twice, cpuSeconds: cpuSince(cpu0) };
      say(JSON.stringify(openLoop));
    }
    if (process.env.BENCH_LOG_TAIL) say(`worker log:\n${stack.logTail('worker', 15)}\napi log:\n${stack.logTail('api', 15)}`);
    // The database agrees: every stored inbound message decided, every reply sent once.
    const { knex } = stack;
    const undecided = Number((await knex('conversation_messages').where({ direction: 'in' }).whereNull('decided_at').count<{ count: string }[]>('* as count'))[0].count);
    const notSent = Number((await knex('conversation_messages').where({ direction: 'out' }).whereNot({ delivery_status: 'sent' }).count<{ count: string }[]>('* as count'))[0].count);
    const workerPeakMb = stack.pids.worker ? peakRssMb(stack.pids.worker) : undefined;
    const apiPeakMb = peakRssMb(stack.pids.api);
    return { conversations: n, sequential, burst: results, openLoop, undecidedInbound: undecided, repliesNotSent: notSent, workerPeakRssMb: workerPeakMb, apiPeakRssMb: apiPeakMb };
  } finally {
    await stack.stop(); // the API and the worker write their profiles as they exit
    await graph.close();
    if (profDir) {
      for (const file of fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'))) {
        const profile = summarizeCpuProfile(path.join(profDir, file), 15);
        say(`CPU profile ${file}: self time by package`);
        for (const c of profile.byCategory.slice(0, 12)) say(`  ${String(c.pct).padStart(5)}%  ${c.name}`);
        for (const f of profile.topFunctions) say(`  ${String(f.pct).padStart(5)}%  ${f.fn}  ${f.where}`);
      }
    }
  }
}
