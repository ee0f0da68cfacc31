/**
 * Availability reads under load: autocannon against GET /api/v1/departures on a stack whose API
 * runs as its own process (bench/stack.ts). A short warmup run is discarded, then one measured run.
 * Goal (from the issue): >= 2,000 req/s with p99 < 20 ms on the 2-core machine, autocannon included.
 *
 *   npm run bench -- availability [--connections 50] [--duration 15] [--warmup 3]
 *     [--variant first|second|mix] [--path /api/v1/...] [--pipelining 1]
 *     [--log-level warn] [--pool-max 10] [--fast] [--as anonymous,customer]
 *
 * --as: who reads, one measured run each (default both, anonymous first): `anonymous` sends no
 *   token; `customer` sends the demo customer's access token (Authorization: Bearer), as the web
 *   app does for a signed-in visitor; `partner` the demo partner's (net rates: its own cache entries).
 * --variant first:  /api/v1/departures?destination=madrid&minSeats=2&limit=20 (default)
 *           second: /api/v1/departures?country=MX&from=<today+7>&to=<today+37>&minSeats=2&limit=20
 *           mix:    both, alternating on every connection
 * --rate N caps the offered load at N req/s in total (autocannon overallRate): with 50 busy connections
 *   the mean latency is 50 / throughput, so "p99 < 20 ms" is only meaningful at a fixed rate, e.g. --rate 2000.
 * --path replaces the URL(s), e.g. /api/docs/docs-init.js as a ceiling for the HTTP stack alone.
 * --log-level / --pool-max set the API's LOG_LEVEL / DATABASE_POOL_MAX; --fast: PostgreSQL without fsync.
 * --api-entry bench/experiments/<file>.ts: run that instead of api/main.ts (what-if experiments).
 * --cpu-prof: run the API under `node --cpu-prof` and summarize where its CPU went (the profile
 *   covers the API's whole life, startup and warmup included; the file is kept for DevTools).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { login } from './booking-support';
import { summarizeCpuProfile } from './cpuprofile';
import { cpuSeconds, makeTempDir, peakRssMb, processTree, say, startStack, sumOf, type BenchStack } from './stack';

const addDays = (days: number) => new Date(Date.now() + days * 86400_000).toISOString().slice(0, 10);

export const VARIANTS = {
  first: '/api/v1/departures?destination=madrid&minSeats=2&limit=20',
  second: `/api/v1/departures?country=MX&from=${addDays(7)}&to=${addDays(37)}&minSeats=2&limit=20`,
};

interface CpuSnapshot { at: number; api: number; postgres: number; temporal: number; bench: number; machine: number }

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const [, ...ticks] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks; // idle and iowait are not busy
  return (user + nice + system + irq + softirq + steal) / 100;
}

function cpuSnapshot(stack: BenchStack): CpuSnapshot {
  const pgPids = stack.pids.postgres ? processTree(stack.pids.postgres).map((p) => p.pid) : [];
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    api: cpuSeconds(stack.pids.api) ?? 0,
    postgres: sumOf(pgPids, cpuSeconds) ?? 0,
    temporal: stack.pids.temporal ? cpuSeconds(stack.pids.temporal) ?? 0 : 0,
    bench: (usage.user + usage.system) / 1e6,
    machine: machineBusySeconds(),
  };
}

/** CPU used between two snapshots, as % of one core (200 = both cores of this machine). */
function cpuPercent(a: CpuSnapshot, b: CpuSnapshot) {
  const wall = (b.at - a.at) / 1000;
  const pct = (x: number, y: number) => Math.round(((y - x) / wall) * 1000) / 10;
  const ours = (x: CpuSnapshot) => x.api + x.postgres + x.temporal + x.bench;
  return {
    api: pct(a.api, b.api), postgres: pct(a.postgres, b.postgres), temporal: pct(a.temporal, b.temporal), benchAutocannon: pct(a.bench, b.bench),
    // Everything else on the machine (other jobs, the kernel's share not charged to us): noise when high.
    otherProcesses: Math.max(0, Math.round((((b.machine - a.machine) - (ours(b) - ours(a))) / wall) * 1000) / 10),
    machineTotal: pct(a.machine, b.machine),
  };
}

async function load(baseUrl: string, paths: string[], connections: number, duration: number, pipelining: number, rate?: number, token?: string) {
  return autocannon({
    url: baseUrl,
    connections,
    duration,
    pipelining,
    ...(rate ? { overallRate: rate } : {}),
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    requests: paths.map((p) => ({ method: 'GET' as const, path: p })),
  });
}

const READERS = ['anonymous', 'customer', 'partner'] as const;
type Reader = (typeof READERS)[number];

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      connections: { type: 'string', default: '50' },
      duration: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '3' },
      variant: { type: 'string', default: 'first' },
      path: { type: 'string' },
      pipelining: { type: 'string', default: '1' },
      rate: { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      'pool-max': { type: 'string' },
      fast: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'api-entry': { type: 'string' },
      as: { type: 'string', default: 'anonymous,customer' },
    },
    strict: true,
  });
  const readers = o.as!.split(',').map((r) => r.trim()) as Reader[];
  for (const r of readers) if (!READERS.includes(r)) throw new Error(`--as takes ${READERS.join(', ')} (got ${r})`);
  const connections = Number(o.connections);
  const duration = Number(o.duration);
  const warmup = Number(o.warmup);
  const pipelining = Number(o.pipelining);
  const rate = o.rate ? Number(o.rate) : undefined;
  const variant = o.variant!;
  if (!['first', 'second', 'mix'].includes(variant)) throw new Error(`--variant must be first, second or mix (got ${variant})`);
  const paths = o.path ? [o.path] : variant === 'mix' ? [VARIANTS.first, VARIANTS.second] : [VARIANTS[variant as 'first' | 'second']];

  const profDir = o['cpu-prof'] ? makeTempDir('spirit-bench-cpuprof-') : undefined;
  const stack = await startStack({
    fast: o.fast,
    env: { LOG_LEVEL: o['log-level'], DATABASE_POOL_MAX: o['pool-max'] },
    nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
    apiEntry: o['api-entry'],
  });
  let report: Record<string, unknown>;
  try {
    await new Promise((r) => setTimeout(r, 2000)); // let the API settle after its first /health
    const apiRssIdleMb = stack.rssOf(stack.pids.api);

    const tokens: Partial<Record<Reader, string>> = {};
    if (readers.includes('customer')) tokens.customer = (await login(stack.baseUrl)).token;
    if (readers.includes('partner')) tokens.partner = (await login(stack.baseUrl, 'partner@demo.test')).token;

    const runs: Partial<Record<Reader, Record<string, unknown>>> = {};
    for (const reader of readers) {
      const token = tokens[reader];
      // One request per URL first: the load must hit a real, non-empty answer.
      const responses = [];
      for (const p of paths) {
        const res = await fetch(stack.baseUrl + p, { headers: token ? { authorization: `Bearer ${token}` } : {} });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`GET ${p} as ${reader} answered ${res.status}: ${text.slice(0, 500)}`);
        let items: number | undefined;
        try {
          items = (JSON.parse(text) as { data?: unknown[] }).data?.length;
        } catch {
          // not JSON (a --path to a static file)
        }
        responses.push({ path: p, status: res.status, bytes: Buffer.byteLength(text), items, xCache: res.headers.get('x-cache') });
      }
      say(`[${reader}] sanity: ${responses.map((r) => `${r.path} -> ${r.status}, ${r.bytes} B${r.items !== undefined ? `, ${r.items} items` : ''}`).join('; ')}`);

      if (warmup > 0) {
        say(`[${reader}] warmup: ${warmup} s at ${connections} connections (not measured)`);
        await load(stack.baseUrl, paths, connections, warmup, pipelining, rate, token);
      }

      say(`[${reader}] measuring: ${duration} s at ${connections} connections${pipelining > 1 ? `, pipelining ${pipelining}` : ''}${rate ? `, offered load capped at ${rate} req/s` : ''}`);
      const before = cpuSnapshot(stack);
      let rssMaxSampledMb = 0;
      const sampler = setInterval(() => {
        rssMaxSampledMb = Math.max(rssMaxSampledMb, stack.rssOf(stack.pids.api) ?? 0);
      }, 250);
      const result = await load(stack.baseUrl, paths, connections, duration, pipelining, rate, token);
      clearInterval(sampler);
      const after = cpuSnapshot(stack);

      const summary = {
        reqPerSec: Math.round(result.requests.average),
        latencyMs: { avg: result.latency.average, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
        requests: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        throughputMBps: Math.round((result.throughput.average / 2 ** 20) * 10) / 10,
      };
      say(`[${reader}] ${summary.reqPerSec} req/s, p50 ${summary.latencyMs.p50} ms, p99 ${summary.latencyMs.p99} ms, non-2xx ${summary.non2xx}, errors ${summary.errors}`);
      const cpu = cpuPercent(before, after);
      say(`[${reader}] CPU (% of one core): ${JSON.stringify(cpu)}`);
      const apiRssAfterMb = stack.rssOf(stack.pids.api);
      runs[reader] = {
        token: token ? 'Bearer (access token)' : 'none',
        responses,
        ...summary,
        cpuPercentOfOneCore: cpu,
        apiRssAfterMb,
        apiRssPeakDuringLoadMb: Math.max(rssMaxSampledMb, apiRssAfterMb ?? 0), // VmRSS sampled every 250 ms
        goal: { reqPerSec: 2000, p99Ms: 20, met: summary.reqPerSec >= 2000 && summary.latencyMs.p99 < 20 && summary.non2xx === 0 && summary.errors === 0 },
      };
    }

    report = {
      urls: paths,
      ...(o['api-entry'] ? { apiEntry: o['api-entry'] } : {}),
      variant: o.path ? 'path' : variant,
      connections,
      durationSeconds: duration,
      warmupSeconds: warmup,
      pipelining,
      offeredRate: rate ?? 'unlimited',
      apiLogLevel: o['log-level'],
      catalogCacheMs: Number(process.env.CATALOG_CACHE_MS ?? 1000),
      databasePoolMax: Number(o['pool-max'] ?? process.env.DATABASE_POOL_MAX ?? 10),
      postgres: process.env.DATABASE_URL ? 'external' : o.fast ? 'embedded-fast' : 'embedded-durable',
      ...runs,
      apiRssIdleMb,
      apiRssHighWaterMb: peakRssMb(stack.pids.api), // VmHWM: the process's peak since it started
      goal: { reqPerSec: 2000, p99Ms: 20, met: readers.every((r) => (runs[r]!.goal as { met: boolean }).met) },
    };
  } finally {
    await stack.stop(); // the API writes its profile when it exits
  }
  if (profDir) {
    const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      say(`no .cpuprofile in ${profDir}`);
    } else {
      const profile = summarizeCpuProfile(path.join(profDir, file), 20);
      say(`API CPU profile (${profile.file}), self time by package:`);
      for (const c of profile.byCategory) say(`  ${String(c.pct).padStart(5)}%  ${c.name}`);
      say('hottest functions:');
      for (const f of profile.topFunctions) say(`  ${String(f.pct).padStart(5)}%  ${f.fn}  ${f.where}`);
      report.apiCpuProfile = profile;
    }
  }
  return report;
}
