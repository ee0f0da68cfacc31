/**
 * Segment counts over a large contact base: countSegment (models/segments.ts, what the API's
 * segment preview runs: matching, sendable and a 5-contact sample, in parallel) for several rule
 * trees, each timed --runs times after one unmeasured warm-up; the EXPLAIN (ANALYZE, BUFFERS) of
 * each of its three queries summarized (top nodes, indexes used, sequential scans).
 * Goal (the issue): a segment count over 1,000,000 contacts in under 1 s.
 *
 *   npm run bench -- segment [--contacts 1000000] [--customers-share 0.2] [--bookings 150000]
 *     [--events 300000] [--runs 5] [--only name,name] [--index "<DDL>" ...] [--after "<SQL>" ...]
 *     [--goal-ms 1000] [--fast] [--no-explain] [--no-what-if]
 *
 * Data (generate_series, in the stack's database, no API involved): contacts with a realistic
 * spread (languages, 13 countries with their time zones, 0-5 tags from a vocabulary of 12 with
 * skewed popularity, created_at over 3 years, birthdays for 70%, sources), 20% linked to
 * customers, bookings of those customers on the demo tours (past departures added so that
 * last_trip has something to find), email consent granted for 80% (withdrawn for 5%, WhatsApp
 * for 30%), 2% suppressed, ~300k open/click events over the last 120 days. VACUUM ANALYZE after.
 *
 * --index "<DDL>" (repeatable): after the baseline, create these indexes (the bench database is
 * thrown away), ANALYZE, and measure every tree again: before/after, for a migration to adopt.
 * --after "<SQL>" (repeatable): any other statement before that second measurement, `{db}` standing
 * for the database, e.g. --after "alter database {db} set work_mem = '32MB'" (measured on new sessions).
 * A tree over 5x the goal on its warm-up is timed once more only, and only its matching query explained.
 *
 * What-ifs (unless --no-what-if), answers checked equal to countSegment's: matching and sendable
 * from one scan (left joins + count(*) filter) beside the sample, instead of three queries; and
 * last_trip / total_spend as one semi-join over bookings instead of a subquery per contact.
 */
import { parseArgs } from 'node:util';
import type { Knex } from 'knex';
import { createKnex } from '../platform/db';
import { applySegment, countSegment, segmentNodeSchema, sendable, type SegmentNode } from '../models/segments';
import { cpuPercent, cpuSnapshot, round1 } from './booking-support';
import { say, startStack } from './stack';

const TREES: Record<string, SegmentNode> = {
  // the brief's list
  field: { field: 'country', op: 'eq', value: 'ES' },
  and2: { all: [{ field: 'country', op: 'eq', value: 'ES' }, { field: 'language', op: 'eq', value: 'en' }] },
  or: { any: [{ field: 'country', op: 'eq', value: 'MX' }, { field: 'country', op: 'eq', value: 'AR' }, { field: 'language', op: 'eq', value: 'en' }] },
  tagRare: { field: 'tag', op: 'has', value: 'vip' },
  tagCommon: { field: 'tag', op: 'has', value: 'newsletter' },
  opened30: { field: 'opened', op: 'within_days', value: 30 },
  not: { not: { field: 'tag', op: 'has', value: 'newsletter' } },
  combination: {
    all: [
      { any: [{ field: 'country', op: 'eq', value: 'ES' }, { field: 'country', op: 'eq', value: 'MX' }] },
      { field: 'opened', op: 'within_days', value: 90 },
      { not: { field: 'tag', op: 'has', value: 'budget' } },
      { field: 'created', op: 'older_than_days', value: 30 },
    ],
  },
  // the other kinds of condition a marketer can write
  countryIn: { field: 'country', op: 'in', value: ['FR', 'DE', 'IT', 'GB'] },
  countryNeq: { field: 'country', op: 'neq', value: 'ES' },
  tagLacks: { field: 'tag', op: 'lacks', value: 'vip' },
  created90: { field: 'created', op: 'within_days', value: 90 },
  birthdayMonth: { field: 'birthday_month', op: 'eq', value: 5 },
  notClicked60: { field: 'clicked', op: 'not_within_days', value: 60 },
  bookedDestination: { field: 'booked_destination', op: 'eq', value: 'ES' },
  bookedTour: { field: 'booked_tour', op: 'eq', value: 'MAD-PRADO' },
  lastTrip365: { field: 'last_trip', op: 'within_days', value: 365 },
  totalSpend: { field: 'total_spend', op: 'gte', value: 20000, currency: 'EUR' },
  vipSpainersNotOpened: {
    all: [
      { field: 'language', op: 'eq', value: 'es' },
      { field: 'tag', op: 'has', value: 'vip' },
      { field: 'opened', op: 'not_within_days', value: 60 },
      { field: 'booked_destination', op: 'eq', value: 'MX' },
    ],
  },
};

// ---------------------------------------------------------------------------------------------
// Data

const COUNTRIES: Array<[string, number, string, number]> = [ // code, weight %, timezone, share speaking Spanish
  ['ES', 25, 'Europe/Madrid', 0.9], ['MX', 18, 'America/Mexico_City', 0.95], ['US', 14, 'America/New_York', 0.2], ['AR', 6, 'America/Argentina/Buenos_Aires', 0.95],
  ['CO', 5, 'America/Bogota', 0.95], ['FR', 5, 'Europe/Paris', 0.1], ['GB', 5, 'Europe/London', 0.05], ['DE', 4, 'Europe/Berlin', 0.05],
  ['IT', 4, 'Europe/Rome', 0.1], ['AE', 4, 'Asia/Dubai', 0.05], ['IL', 4, 'Asia/Jerusalem', 0.05], ['BR', 3, 'America/Sao_Paulo', 0.3], ['CL', 3, 'America/Santiago', 0.95],
];
const TAGS: Array<[string, number]> = [
  ['newsletter', 0.45], ['culture', 0.2], ['family', 0.15], ['adventure', 0.12], ['foodie', 0.1], ['beach', 0.1],
  ['budget', 0.08], ['repeat', 0.06], ['black-friday-2025', 0.05], ['luxury', 0.03], ['vip', 0.02], ['b2b', 0.01],
];

async function timed<T>(label: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  const ms = Math.round(performance.now() - t0);
  say(`  ${label}: ${ms} ms`);
  return { value, ms };
}

async function generate(knex: Knex, o: { contacts: number; customers: number; bookings: number; events: number }) {
  const steps: Record<string, number> = {};
  const countryArray = COUNTRIES.flatMap(([code, w]) => Array(w).fill(code)) as string[];
  const tz = COUNTRIES.map(([code, , zone]) => `when '${code}' then '${zone}'`).join(' ');
  const es = COUNTRIES.map(([code, , , share]) => `when '${code}' then ${share}`).join(' ');
  const tags = TAGS.map(([t, p]) => `case when random() < ${p} then '${t}' end`).join(', ');

  steps.customers = (await timed(`${o.customers} customers`, async () => {
    await knex.raw('drop table if exists bench_customer_ids');
    await knex.raw('create table bench_customer_ids as select i, gen_random_uuid() as id from generate_series(1, ?) i', [o.customers]);
    await knex.raw('alter table bench_customer_ids add primary key (i)');
    await knex.raw(`insert into customers (id, first_name, last_name, email, language, country, consent_email_marketing, created_at, updated_at)
      select b.id, 'Cust' || b.i, 'Bench', 'c' || b.i || '@mail' || (b.i % 97) || '.example.com', 'es', 'ES', true, now() - interval '3 years' * random(), now()
      from bench_customer_ids b`);
  })).ms;

  steps.contacts = (await timed(`${o.contacts} contacts`, async () => {
    await knex.raw(`insert into contacts (email, first_name, last_name, language, country, timezone, birthday, customer_id, source, tags, created_at, updated_at)
      select 'c' || g.i || '@mail' || (g.i % 97) || '.example.com',
        (array['Ana','Luis','María','José','Carmen','John','Emma','Noah','Olivia','Liam','Sofía','Mateo','Valentina','Lucas','Camila','Yosef','Fatima','Omar','Chloé','Hans'])[1 + g.i % 20],
        (array['García','López','Martínez','Smith','Johnson','Cohen','Haddad','Rossi','Müller','Dubois','Silva','Pérez','Gómez','Brown','Levi'])[1 + (g.i / 20) % 15],
        case when random() < (case g.country ${es} else 0.5 end) then 'es' else 'en' end,
        g.country, case g.country ${tz} end,
        case when random() < 0.7 then date '1950-01-01' + floor(random() * 20000)::int end,
        b.id,
        case when b.id is not null then 'customer' else (array['lead','lead','lead','lead','import','import','import','import','api','partner'])[1 + floor(random() * 10)::int] end,
        array_remove(array[${tags}], null),
        g.created, g.created
      from (select i, (?::text[])[1 + floor(random() * 100)::int] as country, now() - interval '3 years' * power(random(), 1.3) as created
            from generate_series(1, ?) i) g
      left join bench_customer_ids b on b.i = g.i`, [countryArray, o.contacts]);
  })).ms;

  steps.consents = (await timed('consents (80% email granted, 5% withdrawn, 30% WhatsApp)', async () => {
    await knex.raw(`insert into contact_consents (contact_id, channel, status, source, recorded_at)
      select id, 'email', case when r < 0.8 then 'granted' else 'withdrawn' end, 'bench', created_at
      from (select id, created_at, random() as r from contacts) x where r < 0.85`);
    await knex.raw(`insert into contact_consents (contact_id, channel, status, source, recorded_at)
      select id, 'whatsapp', 'granted', 'bench', created_at from contacts where random() < 0.3`);
  })).ms;

  steps.suppressions = (await timed('suppressions (2%)', async () => {
    await knex.raw(`insert into suppressions (email, reason, source, created_at)
      select lower(email), (array['bounce','complaint','unsubscribe','manual'])[1 + floor(random() * 4)::int], 'bench', now() - interval '2 years' * random()
      from contacts where random() < 0.02 on conflict do nothing`);
  })).ms;

  steps.events = (await timed(`~${o.events} open/click events`, async () => {
    // Engaged contacts open and click repeatedly: ~1/3 of the events fall on 10% of the contacts.
    const rate = o.events / (3 * o.contacts);
    await knex.raw(`insert into email_events (provider, event_id, send_id, type, email, url, occurred_at)
      select 'sendgrid', 'bench-' || row_number() over (), gen_random_uuid(), t, email,
        case when t = 'click' then 'https://spirit.example/tours/' || (1 + floor(random() * 40)::int) end,
        now() - interval '120 days' * random()
      from (select lower(c.email) as email, case when random() < 0.7 then 'open' else 'click' end as t
            from contacts c cross join generate_series(1, 3) k where random() < ?) x`, [rate]);
  })).ms;

  steps.bookings = (await timed(`${o.bookings} bookings (with past departures)`, async () => {
    // Weekly past departures of every demo tour over two years: trips to have taken.
    await knex.raw(`insert into departures (tour_id, starts_at, timezone, capacity, status)
      select t.id, date_trunc('day', now()) - (w * interval '7 days') + interval '10 hours', 'UTC', 100000, 'completed'
      from tours t cross join generate_series(1, 104) w on conflict do nothing`);
    await knex.raw(`insert into bookings (reference, departure_id, branch_id, customer_id, status, pax_count, currency, total_minor, net_minor,
        amount_paid_minor, contact, language, created_at, updated_at, workflow_started_at)
      select 'BX' || lpad(g.i::text, 10, '0'), d.id, t.branch_id, cust.id,
        case when d.starts_at <= now() then (case when g.r < 0.85 then 'completed' else 'cancelled' end)
             else (case when g.r < 0.6 then 'paid_in_full' else 'confirmed' end) end,
        1 + (g.i % 4), t.currency, (1 + (g.i % 4)) * 5000 * (1 + (g.i % 7)), (1 + (g.i % 4)) * 5000 * (1 + (g.i % 7)),
        case when d.starts_at <= now() or g.r < 0.6 then (1 + (g.i % 4)) * 5000 * (1 + (g.i % 7)) else 0 end,
        '{}'::jsonb, 'es', least(d.starts_at, now()) - interval '30 days' * random(), now(), now()
      from (select i, random() as r, 1 + floor(random() * ?)::int as ci, floor(random() * (select count(*) from departures))::int as di
            from generate_series(1, ?) i) g
      join (select row_number() over (order by id) - 1 as di, id, tour_id, starts_at from departures) d on d.di = g.di
      join tours t on t.id = d.tour_id
      join bench_customer_ids cust on cust.i = g.ci`, [o.customers, o.bookings]);
  })).ms;

  steps.vacuumAnalyze = (await timed('vacuum analyze', async () => {
    await knex.raw('drop table bench_customer_ids');
    for (const t of ['contacts', 'contact_consents', 'suppressions', 'email_events', 'customers', 'bookings', 'departures', 'tours']) await knex.raw(`vacuum analyze ${t}`);
  })).ms;

  const [sizes] = (await knex.raw(`select
      (select count(*) from contacts)::int as contacts, (select count(*) from contacts where customer_id is not null)::int as linked_to_customers,
      (select count(*) from contact_consents where channel = 'email' and status = 'granted')::int as email_consent_granted,
      (select count(*) from suppressions)::int as suppressions, (select count(*) from email_events)::int as email_events,
      (select count(distinct email) from email_events)::int as engaged_emails, (select count(*) from bookings)::int as bookings,
      (select count(*) from departures)::int as departures,
      pg_size_pretty(pg_total_relation_size('contacts')) as contacts_size, pg_size_pretty(pg_total_relation_size('email_events')) as email_events_size`)).rows;
  return { steps, sizes };
}

// ---------------------------------------------------------------------------------------------
// Plans

interface PlanNode { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; 'Parent Relationship'?: string; Strategy?: string; 'Workers Launched'?: number; 'Actual Rows'?: number; 'Actual Loops'?: number; 'Actual Total Time'?: number; 'Subplan Name'?: string; Plans?: PlanNode[]; 'Shared Hit Blocks'?: number; 'Shared Read Blocks'?: number; 'Temp Written Blocks'?: number }

function summarizePlan(explain: { Plan: PlanNode; 'Execution Time': number; 'Planning Time': number }) {
  const indexes = new Set<string>();
  const seqScans: string[] = [];
  let workers = 0;
  const heaviest: Array<{ node: string; ms: number; rows: number; loops: number }> = [];
  const walk = (n: PlanNode) => {
    if (n['Index Name']) indexes.add(`${n['Index Name']} (${n['Node Type']})`);
    if (n['Node Type'].includes('Seq Scan') && n['Relation Name']) seqScans.push(n['Relation Name']);
    workers = Math.max(workers, n['Workers Launched'] ?? 0);
    const label = `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}${n['Subplan Name'] ? ` [${n['Subplan Name']}]` : ''}`;
    heaviest.push({ node: label, ms: round1((n['Actual Total Time'] ?? 0) * (n['Actual Loops'] ?? 1)), rows: Math.round((n['Actual Rows'] ?? 0) * (n['Actual Loops'] ?? 1)), loops: n['Actual Loops'] ?? 1 });
    for (const c of n.Plans ?? []) walk(c);
  };
  walk(explain.Plan);
  const top: string[] = [];
  for (let n: PlanNode | undefined = explain.Plan, i = 0; n && i < 4; n = n.Plans?.[0], i++) top.push(`${n['Node Type']}${n.Strategy && n.Strategy !== 'Plain' ? ` (${n.Strategy})` : ''}`);
  return {
    executionMs: round1(explain['Execution Time']),
    planningMs: round1(explain['Planning Time']),
    top: top.join(' > '),
    indexes: [...indexes],
    seqScans: [...new Set(seqScans)],
    parallelWorkers: workers,
    sharedHit: explain.Plan['Shared Hit Blocks'],
    sharedRead: explain.Plan['Shared Read Blocks'],
    tempWritten: explain.Plan['Temp Written Blocks'] || undefined,
    // Where the time went: the 3 nodes with the most time (inclusive, loops multiplied).
    heaviest: heaviest.slice(1).sort((a, b) => b.ms - a.ms).slice(0, 3),
  };
}

async function explainQuery(knex: Knex, q: Knex.QueryBuilder) {
  const { sql, bindings } = q.toSQL();
  const res = await knex.raw(`explain (analyze, buffers, format json) ${sql}`, bindings as Knex.RawBinding[]);
  return summarizePlan(res.rows[0]['QUERY PLAN'][0]);
}

/** The three queries countSegment runs, explained one after the other. */
async function explainSegment(knex: Knex, node: SegmentNode, which = ['matching', 'sendable', 'sample']) {
  const out: Record<string, ReturnType<typeof summarizePlan>> = {};
  if (which.includes('matching')) out.matching = await explainQuery(knex, applySegment(knex, knex('contacts as c'), node).count('* as count'));
  if (which.includes('sendable')) out.sendable = await explainQuery(knex, sendable(applySegment(knex, knex('contacts as c'), node)).count('* as count'));
  if (which.includes('sample')) out.sample = await explainQuery(knex, sendable(applySegment(knex, knex('contacts as c'), node)).orderBy('c.created_at', 'desc').limit(5).select('c.id', 'c.email', 'c.first_name'));
  return out;
}

// ---------------------------------------------------------------------------------------------

async function measureTrees(knex: Knex, names: string[], runs: number, explain: boolean, goalMs: number) {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const node = TREES[name];
    const first = performance.now();
    const result = await countSegment(knex, node); // warm-up, not counted
    const warmupMs = Math.round(performance.now() - first);
    // A tree far over the goal is timed once more, and only its matching query explained: the bench stays within minutes.
    const verySlow = warmupMs > 5 * goalMs;
    const times: number[] = [];
    for (let i = 0; i < (verySlow ? 1 : runs); i++) {
      const t0 = performance.now();
      await countSegment(knex, node);
      times.push(performance.now() - t0);
    }
    const sorted = [...times].sort((a, b) => a - b);
    const medianMs = Math.round(sorted[Math.floor(sorted.length / 2)]);
    const maxMs = Math.round(sorted.at(-1)!);
    const entry: Record<string, unknown> = { matching: result.matching, sendable: result.sendable, warmupMs, medianMs, maxMs, runsMs: times.map(Math.round), met: maxMs < goalMs };
    if (verySlow) entry.note = `over 5x the goal on the warm-up: timed ${times.length} time(s), only the matching query explained`;
    if (explain) entry.plans = verySlow ? { matching: (await explainSegment(knex, node, ['matching'])).matching } : await explainSegment(knex, node);
    say(`${name.padEnd(22)} matching ${String(result.matching).padStart(7)}, sendable ${String(result.sendable).padStart(7)}: median ${medianMs} ms, max ${maxMs} ms${maxMs >= goalMs ? '  <-- over the goal' : ''}`);
    if (explain) {
      for (const [q, p] of Object.entries(entry.plans as Record<string, ReturnType<typeof summarizePlan>>)) {
        say(`    ${q.padEnd(8)} ${String(p.executionMs).padStart(7)} ms  ${p.top}; indexes: ${p.indexes.join(', ') || '-'}; seq scans: ${p.seqScans.join(', ') || '-'}${p.parallelWorkers ? `; ${p.parallelWorkers} parallel workers` : ''}${p.tempWritten ? `; temp ${p.tempWritten} blocks` : ''}`);
      }
    }
    out[name] = entry;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What-ifs: other SQL for the same answers (checked equal), timed like countSegment

const LIVE = `b.status in ('confirmed', 'paid_in_full', 'in_progress', 'completed')`;

/**
 * last_trip and total_spend as one semi-join over bookings (hashed once) instead of a subquery
 * per contact. Same answers: max(starts_at of past live trips) >= now - N days  <=>  some past live
 * trip starts within N days; coalesce(sum, 0) >= V (V > 0)  <=>  the customer's sum is >= V.
 */
const REWRITES: Record<string, { sql: string; bindings: Knex.RawBinding[] }> = {
  lastTrip365: {
    sql: `c.customer_id in (select b.customer_id from bookings b join departures d on d.id = b.departure_id
      where ${LIVE} and d.starts_at <= now() and d.starts_at >= now() - make_interval(days => ?))`,
    bindings: [365],
  },
  totalSpend: {
    sql: `c.customer_id in (select b.customer_id from bookings b where b.currency = ? and b.customer_id is not null
      group by b.customer_id having sum(b.amount_paid_minor - b.amount_refunded_minor) >= ?)`,
    bindings: ['EUR', 20000],
  },
};

async function timeRuns(runs: number, fn: () => Promise<{ matching: number; sendable: number }>) {
  const first = await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { ...first, medianMs: Math.round(sorted[Math.floor(sorted.length / 2)]), maxMs: Math.round(sorted.at(-1)!) };
}

async function whatIfs(knex: Knex, names: string[], baseline: Record<string, unknown>, runs: number, goalMs: number) {
  const out: Record<string, unknown> = {};
  const sample = (q: Knex.QueryBuilder) => sendable(q).orderBy('c.created_at', 'desc').limit(5).select('c.id', 'c.email', 'c.first_name');
  const check = (name: string, r: { matching: number; sendable: number }) => {
    const b = baseline[name] as { matching: number; sendable: number; medianMs: number; maxMs: number };
    // Trees relative to now() (created, opened, clicked, last_trip) drift by a row or two between runs.
    const off = (x: number, y: number) => Math.abs(x - y) > Math.max(2, y * 0.0005);
    if (off(r.matching, b.matching) || off(r.sendable, b.sendable)) throw new Error(`what-if for ${name} answered ${r.matching}/${r.sendable}, countSegment ${b.matching}/${b.sendable}`);
    return b;
  };
  // 1. matching and sendable from ONE scan (left joins to the granted consent and the suppression,
  //    count(*) filter (...)), the sample beside it: two queries instead of three.
  const oneScan: Record<string, unknown> = {};
  for (const name of names) {
    const b = baseline[name] as { note?: string };
    if (b.note) continue; // very slow trees: see the rewrites
    const node = TREES[name];
    const r = await timeRuns(runs, async () => {
      const [[counts]] = await Promise.all([
        applySegment(knex, knex('contacts as c')
          .joinRaw(`left join contact_consents cc on cc.contact_id = c.id and cc.channel = 'email' and cc.status = 'granted'`)
          .joinRaw('left join suppressions s on s.email = lower(c.email)'), node)
          .select(knex.raw('count(*)::int as matching'), knex.raw('count(*) filter (where cc.contact_id is not null and s.email is null)::int as sendable')),
        sample(applySegment(knex, knex('contacts as c'), node)),
      ]);
      return counts as { matching: number; sendable: number };
    });
    const before = check(name, r);
    oneScan[name] = { medianMs: r.medianMs, maxMs: r.maxMs, countSegmentMedianMs: before.medianMs, met: r.maxMs < goalMs };
    say(`what-if one scan   ${name.padEnd(22)} median ${r.medianMs} ms, max ${r.maxMs} ms (countSegment: median ${before.medianMs} ms)`);
  }
  out.oneScan = oneScan;
  // 2. booking conditions as semi-joins.
  const rewrites: Record<string, unknown> = {};
  for (const name of names.filter((n) => REWRITES[n])) {
    const { sql, bindings } = REWRITES[name];
    const where = () => knex('contacts as c').whereRaw(sql, bindings);
    const r = await timeRuns(runs, async () => {
      const [m, ok] = await Promise.all([where().count<{ count: number }[]>('* as count'), sendable(where()).count<{ count: number }[]>('* as count'), sample(where())]);
      return { matching: Number(m[0].count), sendable: Number(ok[0].count) };
    });
    const before = check(name, r);
    const plan = await explainQuery(knex, where().count('* as count'));
    rewrites[name] = { where: sql.replace(/\s+/g, ' '), bindings, medianMs: r.medianMs, maxMs: r.maxMs, countSegmentMedianMs: before.medianMs, met: r.maxMs < goalMs, matchingPlan: plan };
    say(`what-if semi-join  ${name.padEnd(22)} median ${r.medianMs} ms, max ${r.maxMs} ms (countSegment: median ${before.medianMs} ms); matching: ${plan.executionMs} ms ${plan.top}`);
  }
  out.bookingSemiJoins = rewrites;
  return out;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      contacts: { type: 'string', default: '1000000' },
      'customers-share': { type: 'string', default: '0.2' },
      bookings: { type: 'string', default: '150000' },
      events: { type: 'string', default: '300000' },
      runs: { type: 'string', default: '5' },
      only: { type: 'string' },
      index: { type: 'string', multiple: true },
      after: { type: 'string', multiple: true },
      'no-what-if': { type: 'boolean', default: false },
      'goal-ms': { type: 'string', default: '1000' },
      fast: { type: 'boolean', default: false },
      'no-explain': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const contacts = Number(o.contacts);
  const customers = Math.round(contacts * Number(o['customers-share']));
  const runs = Number(o.runs);
  const goalMs = Number(o['goal-ms']);
  const names = o.only ? o.only.split(',').map((s) => s.trim()) : Object.keys(TREES);
  for (const n of names) if (!TREES[n]) throw new Error(`unknown tree "${n}" (known: ${Object.keys(TREES).join(', ')})`);
  for (const n of names) segmentNodeSchema.parse(TREES[n]); // each is a tree the API would accept

  const stack = await startStack({ fast: o.fast });
  try {
    const { knex } = stack;
    say(`generating ${contacts} contacts (${customers} linked to customers), ${o.bookings} bookings, ~${o.events} events`);
    const t0 = Date.now();
    const data = await generate(knex, { contacts, customers, bookings: Number(o.bookings), events: Number(o.events) });
    say(`data ready in ${Math.round((Date.now() - t0) / 1000)} s: ${JSON.stringify(data.sizes)}`);
    const settings = Object.fromEntries((await knex.raw(`select name, setting, unit from pg_settings where name in
      ('shared_buffers','work_mem','effective_cache_size','max_parallel_workers_per_gather','random_page_cost','jit','server_version')`)).rows
      .map((r: { name: string; setting: string; unit: string | null }) => [r.name, r.unit ? `${r.setting} ${r.unit}` : r.setting]));

    say(`baseline: ${names.length} trees, ${runs} runs each after a warm-up (goal: every run < ${goalMs} ms)`);
    const a = cpuSnapshot(stack);
    const baseline = await measureTrees(knex, names, runs, !o['no-explain'], goalMs);
    const cpu = cpuPercent(a, cpuSnapshot(stack));
    say(`CPU during the baseline (% of one core): ${JSON.stringify(cpu)}`);

    let withIndexes: Record<string, unknown> | undefined;
    let indexCpu: unknown;
    const created: Array<{ ddl: string; ms: number; size?: string }> = [];
    const whatIf = o['no-what-if'] ? undefined : await whatIfs(knex, names, baseline, runs, goalMs);

    const afterStatements = [...(o.index ?? []), ...(o.after ?? [])].map((x) => x.replaceAll('{db}', `"${new URL(stack.databaseUrl).pathname.slice(1)}"`));
    if (afterStatements.length) {
      for (const ddl of afterStatements) {
        const t = Date.now();
        await knex.raw(ddl);
        const name = /create\s+(?:unique\s+)?index\s+(?:concurrently\s+)?(?:if\s+not\s+exists\s+)?("?[\w]+"?)/i.exec(ddl)?.[1];
        const size = name ? (await knex.raw('select pg_size_pretty(pg_relation_size(?::regclass)) as s', [name])).rows[0]?.s : undefined;
        created.push({ ddl, ms: Date.now() - t, size });
        say(`ran in ${Date.now() - t} ms${size ? ` (index size ${size})` : ''}: ${ddl}`);
      }
      await knex.raw('analyze');
      const fresh = createKnex(stack.databaseUrl, 4); // new sessions: database-level settings (--after "alter database {db} set ...") apply
      try {
        const b = cpuSnapshot(stack);
        withIndexes = await measureTrees(fresh, names, runs, !o['no-explain'], goalMs);
        indexCpu = cpuPercent(b, cpuSnapshot(stack));
      } finally {
        await fresh.destroy();
      }
      say(`CPU after --index/--after (% of one core): ${JSON.stringify(indexCpu)}`);
    }

    const brief = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).map(([k, v]) => {
      const e = v as { medianMs: number; maxMs: number; matching: number; met: boolean };
      return [k, { medianMs: e.medianMs, maxMs: e.maxMs, matching: e.matching, met: e.met }];
    }));
    const over = (m: Record<string, unknown>) => Object.entries(m).filter(([, v]) => !(v as { met: boolean }).met).map(([k]) => k);
    return {
      contacts,
      postgres: process.env.DATABASE_URL ? 'external' : o.fast ? 'embedded-fast' : 'embedded-durable',
      postgresSettings: settings,
      data,
      runsPerTree: runs,
      trees: Object.fromEntries(names.map((n) => [n, TREES[n]])),
      summary: {
        baseline: brief(baseline),
        overGoal: over(baseline),
        ...(withIndexes ? { withIndexes: brief(withIndexes), overGoalWithIndexes: over(withIndexes) } : {}),
      },
      baseline,
      cpuPercentOfOneCore: cpu,
      ...(whatIf ? { whatIf } : {}),
      ...(withIndexes ? { indexes: created, withIndexes, cpuPercentOfOneCoreWithIndexes: indexCpu } : {}),
      goal: { ms: goalMs, met: over(baseline).length === 0, metWithIndexes: withIndexes ? over(withIndexes).length === 0 : undefined },
      note: 'medianMs/maxMs: countSegment (3 queries in parallel on a pool of 4) over `runsPerTree` runs after one warm-up; plans: EXPLAIN (ANALYZE, BUFFERS) of each query on its own.',
    };
  } finally {
    await stack.stop();
  }
}
