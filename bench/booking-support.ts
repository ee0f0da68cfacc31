/**
 * Shared by the booking benches (hold, booking, worker-rss); not a bench itself.
 * A bench tour of our own (its own branch, so no seeded data or rules are touched), login,
 * hold bodies, a concurrency-limited runner, percentiles, and CPU accounting by process
 * (API, worker, PostgreSQL, Temporal, this bench process, everything else on the machine).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Knex } from 'knex';
import { summarizeCpuProfile } from './cpuprofile';
import { cpuSeconds, processTree, type BenchStack } from './stack';

export const DEMO_PASSWORD = 'spirit-demo';

export interface BenchTour { branchId: string; tourId: string; departureIds: string[] }

/**
 * A branch, an active tour (1-10 pax, EUR 100 per adult, no package components) and `departures`
 * departures `daysAhead` days out (one hour apart), each with `capacity` seats.
 */
export async function createBenchTour(knex: Knex, options: { departures: number; capacity: number; daysAhead?: number; rules?: Record<string, unknown> }): Promise<BenchTour> {
  const tag = crypto.randomBytes(3).toString('hex').toUpperCase();
  const [branch] = await knex('branches').insert({
    code: `B${tag}`, name: `Bench branch ${tag}`, country: 'ES', timezone: 'Europe/Madrid', currency: 'EUR', tax_rate_bp: 2100, tax_id_type: 'NIF', invoice_prefix: `B${tag}`,
  }).returning('id');
  if (options.rules) await knex('booking_rules').insert({ branch_id: branch.id, rules: JSON.stringify(options.rules) });
  const [tour] = await knex('tours').insert({
    code: `BENCH-${tag}`, branch_id: branch.id, category: 'culture', destination_city: 'Benchville', destination_country: 'ES',
    duration_minutes: 120, status: 'active', min_pax: 1, max_pax: 10, currency: 'EUR',
  }).returning('id');
  await knex('tour_translations').insert({ tour_id: tour.id, language: 'en', title: `Bench tour ${tag}`, summary: 's', description: 'd' });
  await knex('tour_prices').insert([
    { tour_id: tour.id, pax_type: 'adult', amount_minor: 10000 },
    { tour_id: tour.id, pax_type: 'child', amount_minor: 5000 },
  ]);
  const base = Date.now() + (options.daysAhead ?? 60) * 86_400_000;
  const rows = Array.from({ length: options.departures }, (_, i) => ({
    tour_id: tour.id, starts_at: new Date(base + i * 3_600_000), timezone: 'Europe/Madrid', capacity: options.capacity,
  }));
  const departureIds: string[] = [];
  for (let i = 0; i < rows.length; i += 500) {
    const inserted = await knex('departures').insert(rows.slice(i, i + 500)).returning('id');
    departureIds.push(...inserted.map((r: { id: string }) => r.id));
  }
  await knex.raw('analyze departures');
  return { branchId: branch.id, tourId: tour.id, departureIds };
}

export function holdBody(departureId: string, adults = 2) {
  return {
    departureId,
    passengers: Array.from({ length: adults }, (_, i) => ({ type: 'adult' as const, firstName: `Ana${i}`, lastName: 'García' })),
    contact: { name: 'Carmen López', email: 'customer@demo.test', phone: '+34600111222' },
  };
}

export async function login(baseUrl: string, email = 'customer@demo.test', password = DEMO_PASSWORD): Promise<{ token: string; customerId: string | null; userId: string }> {
  const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }),
  });
  const body = (await res.json()) as { accessToken?: string; user?: { id: string; customerId: string | null } };
  if (res.status !== 200 || !body.accessToken) throw new Error(`login as ${email} answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
  return { token: body.accessToken, customerId: body.user!.customerId, userId: body.user!.id };
}

/** Runs fn over 0..count-1 with at most `concurrency` in flight; resolves when all are done (rejects on the first error). */
export async function inPool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      await fn(i);
    }
  });
  await Promise.all(lanes);
}

export function percentiles(values: number[]): { p50: number; p90: number; p99: number; max: number; avg: number } | undefined {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  const r = (x: number) => Math.round(x * 10) / 10;
  return { p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(s[s.length - 1]), avg: r(s.reduce((a, b) => a + b, 0) / s.length) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round1 = (x: number) => Math.round(x * 10) / 10;

/** Polls until check() is truthy or the time is up; returns the last value either way. */
export async function pollUntil<T>(check: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, everyMs = 250): Promise<{ value: T; ms: number; timedOut: boolean }> {
  const t0 = Date.now();
  for (;;) {
    const value = await check();
    if (done(value)) return { value, ms: Date.now() - t0, timedOut: false };
    if (Date.now() - t0 > timeoutMs) return { value, ms: Date.now() - t0, timedOut: true };
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// CPU by process

export interface CpuSnapshot { at: number; api: number; worker: number; postgres: number; temporal: number; bench: number; machine: number }

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const [, ...ticks] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks; // idle and iowait are not busy
  return (user + nice + system + irq + softirq + steal) / 100;
}

/**
 * PostgreSQL backends come and go (pools close idle connections): the last CPU time seen of every
 * backend, by pid and start time, so a backend that exited keeps counting what it used.
 */
const pgSeen = new Map<string, number>();
function postgresCpuSeconds(rootPid: number | undefined): number {
  if (!rootPid) return 0;
  for (const p of processTree(rootPid)) {
    let started = '';
    try {
      const raw = fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8');
      started = raw.slice(raw.lastIndexOf(')') + 2).split(' ')[19];
    } catch {
      continue; // gone
    }
    const cpu = cpuSeconds(p.pid);
    if (cpu !== undefined) pgSeen.set(`${p.pid}:${started}`, cpu);
  }
  let total = 0;
  for (const v of pgSeen.values()) total += v;
  return total;
}

export function cpuSnapshot(stack: BenchStack): CpuSnapshot {
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    api: cpuSeconds(stack.pids.api) ?? 0,
    worker: stack.pids.worker ? cpuSeconds(stack.pids.worker) ?? 0 : 0,
    postgres: postgresCpuSeconds(stack.pids.postgres),
    temporal: stack.pids.temporal ? cpuSeconds(stack.pids.temporal) ?? 0 : 0,
    bench: (usage.user + usage.system) / 1e6,
    machine: machineBusySeconds(),
  };
}

/** CPU used between two snapshots, as % of one core (200 = both cores of a 2-core machine). */
export function cpuPercent(a: CpuSnapshot, b: CpuSnapshot, benchLabel = 'bench') {
  const wall = (b.at - a.at) / 1000;
  const pct = (x: number, y: number) => Math.round(((y - x) / wall) * 1000) / 10;
  const ours = (x: CpuSnapshot) => x.api + x.worker + x.postgres + x.temporal + x.bench;
  return {
    api: pct(a.api, b.api), worker: pct(a.worker, b.worker), postgres: pct(a.postgres, b.postgres), temporal: pct(a.temporal, b.temporal),
    [benchLabel]: pct(a.bench, b.bench),
    // Everything else on the machine (other jobs, the kernel's share not charged to us): noise when high.
    otherProcesses: Math.max(0, Math.round((((b.machine - a.machine) - (ours(b) - ours(a))) / wall) * 1000) / 10),
    machineTotal: pct(a.machine, b.machine),
    seconds: round1(wall),
  };
}

/** CPU seconds per unit of work (e.g. per booking), by process, between two snapshots. */
export function cpuMsPer(a: CpuSnapshot, b: CpuSnapshot, units: number) {
  const per = (x: number, y: number) => round1(((y - x) * 1000) / units);
  return { api: per(a.api, b.api), worker: per(a.worker, b.worker), postgres: per(a.postgres, b.postgres), temporal: per(a.temporal, b.temporal), bench: per(a.bench, b.bench) };
}

// ---------------------------------------------------------------------------------------------
// CPU profiles (node --cpu-prof in the API and the worker)

/**
 * Summaries of the .cpuprofile files node wrote in `dir` (CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile),
 * labelled by process (api, worker) and thread (main, or the worker's workflow threads).
 */
export function summarizeProfiles(dir: string, pids: Record<string, number | undefined>, top = 12) {
  const out: Array<{ process: string; thread: string } & ReturnType<typeof summarizeCpuProfile>> = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    const parts = file.split('.');
    const pid = Number(parts[3]);
    const tid = Number(parts[4]);
    const name = Object.entries(pids).find(([, p]) => p === pid)?.[0] ?? `pid ${pid}`;
    const summary = summarizeCpuProfile(`${dir}/${file}`, top);
    if (summary.sampledMs - summary.idleMs < 50) continue; // an idle thread
    out.push({ process: name, thread: tid === 0 ? 'main' : `thread ${tid}`, ...summary });
  }
  return out;
}
