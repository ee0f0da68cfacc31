/**
 * The console's reads at the scale: 10,000 bookings over 1,000 departures (on top of the
 * demo seed) in a fresh database, then the server's own time (the API's Server-Timing header) and
 * the client's for the desk's bookings search (`q`), a month of the calendar, the manifest of a
 * full 60-seat departure and the Today board. Goal (the issue, in the browser): list filter
 * < 300 ms, calendar month < 500 ms, manifest < 300 ms; the server's share should be < 100 ms.
 *
 *   npm run bench -- console-data [--bookings 10000] [--departures 1000] [--runs 40] [--fast] [--explain]
 *
 * --explain: after the timings, each SQL statement of the in-process reads with PostgreSQL's execution time.
 *
 * Data (SQL, no API): departures of the demo tours every ~43 minutes over the next 30 days
 * (capacity 60), bookings spread over them (1-4 passengers, names with and without accents, 70%
 * confirmed with a captured payment, 10% held, the rest cancelled or paid in full), one departure
 * filled to its 60 seats for the manifest. VACUUM ANALYZE after.
 */
import { parseArgs } from 'node:util';
import { login } from './booking-support';
import { say, startStack } from './stack';
import { DEMO_PASSWORD } from '../scripts/demo-seed';
import { calendar, manifest, todayBoard, visibleDeparture } from '../models/console';

const FIRST = ['José', 'María', 'Lucía', 'Ana', 'Jürgen', 'Zoë', 'Chloé', 'Noah', 'Liam', 'Olivia', 'Emma', 'Sofía', 'Mateo', 'Hugo', 'Björn', 'Aisha', 'Omar', 'Yuki', 'Chen', 'Priya'];
const LAST = ['García', 'Núñez', 'Martínez', 'López', 'Müller', 'Smith', 'Johnson', 'Brown', 'Dubois', 'Rossi', 'Fernández', 'Peña', 'O\'Brien', 'Kowalski', 'Nakamura', 'Singh', 'Haddad', 'Cohen', 'Silva', 'Ibáñez'];

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, i)] * 10) / 10;
}

export async function seed(knex: import('knex').Knex, o: { bookings: number; departures: number }) {
  const started = Date.now();
  await knex.raw(`create table bench_names (i int, first text, last text)`);
  await knex('bench_names').insert(FIRST.flatMap((f, i) => LAST.map((l, j) => ({ i: i * LAST.length + j, first: f, last: l }))));
  // 1,000 departures of the demo tours in the next 30 days, at distinct times per tour.
  await knex.raw(`
    insert into departures (tour_id, starts_at, timezone, capacity)
    select t.id, date_trunc('hour', now()) + interval '1 day' + (g * interval '43 minutes'), br.timezone, 60
      from generate_series(0, ? - 1) g
      join lateral (select id, branch_id from tours where status = 'active' order by code offset (g % (select count(*) from tours where status = 'active')) limit 1) t on true
      join branches br on br.id = t.branch_id
    on conflict (tour_id, starts_at) do nothing`, [o.departures]);
  const customer = await knex('customers').where({ email: 'customer@demo.test' }).first('id');
  // Bookings: the first departure gets 60 passengers (20 bookings of 3), the rest spread at random.
  await knex.raw(`
    create table bench_departures as
      select d.id, row_number() over (order by d.starts_at, d.id) - 1 as n, t.branch_id, t.currency, d.starts_at
        from departures d join tours t on t.id = d.tour_id
       where d.capacity = 60 and d.starts_at > now() and d.starts_at < now() + interval '32 days'`);
  const { rows: [{ count }] } = await knex.raw('select count(*)::int as count from bench_departures');
  await knex.raw(`
    insert into bookings (reference, departure_id, branch_id, customer_id, status, pax_count, currency, total_minor, net_minor, deposit_minor, amount_paid_minor,
                          hold_expires_at, contact, language, payment_plan, created_at)
    select 'ST-' || upper(substr(md5(g::text || random()::text), 1, 8)),
           d.id, d.branch_id, ?,
           case when g < 20 then 'confirmed' when g % 10 = 0 then 'held' when g % 10 = 1 then 'cancelled' when g % 10 = 2 then 'paid_in_full' else 'confirmed' end,
           case when g < 20 then 3 else 1 + (g % 4) end, d.currency,
           (case when g < 20 then 3 else 1 + (g % 4) end) * 7500, (case when g < 20 then 3 else 1 + (g % 4) end) * 7500, 0, 0,
           case when g % 10 = 0 and g >= 20 then now() + interval '10 minutes' else null end,
           jsonb_build_object('name', nm.first || ' ' || nm.last, 'email', lower(translate(nm.first || '.' || nm.last, 'áéíóúñüöëçÁÉÍÓÚÑ''', 'aeiounuoecAEIOUN')) || g || '@example.com', 'phone', '+3460' || lpad(g::text, 7, '0')),
           'es', 'full', now() - (g || ' minutes')::interval
      from generate_series(0, ? - 1) g
      join bench_departures d on d.n = case when g < 20 then 0 else 1 + (hashint4(g) & 2147483647) % (? - 1) end
      join bench_names nm on nm.i = (hashint4(g + 7) & 2147483647) % ${FIRST.length * LAST.length}`, [customer.id, o.bookings, count]);
  await knex.raw(`
    insert into passengers (booking_id, pax_type, first_name, last_name)
    select b.id, case when p = 2 then 'child' else 'adult' end, split_part(b.contact->>'name', ' ', 1), split_part(b.contact->>'name', ' ', 2)
      from bookings b cross join lateral generate_series(1, b.pax_count) p
     where b.reference like 'ST-%' and b.customer_id = ? and not exists (select 1 from passengers x where x.booking_id = b.id)`, [customer.id]);
  await knex.raw(`
    insert into payments (booking_id, provider, purpose, status, amount_minor, currency, idempotency_key, created_at)
    select b.id, 'sandbox', 'full', 'captured', b.total_minor, b.currency, 'bench-' || b.id, b.created_at
      from bookings b where b.status in ('confirmed', 'paid_in_full', 'cancelled') and b.departure_id in (select id from bench_departures)`);
  await knex.raw(`update bookings b set amount_paid_minor = b.total_minor where b.status in ('confirmed', 'paid_in_full', 'cancelled') and b.departure_id in (select id from bench_departures)`);
  await knex.raw(`
    insert into refunds (payment_id, booking_id, amount_minor, currency, status, reason, idempotency_key, created_at)
    select p.id, p.booking_id, p.amount_minor, p.currency, 'succeeded', 'bench', 'bench-r-' || p.id, p.created_at + interval '1 hour'
      from payments p join bookings b on b.id = p.booking_id where b.status = 'cancelled' and p.idempotency_key like 'bench-%'`);
  await knex.raw(`update bookings b set amount_refunded_minor = b.amount_paid_minor where b.status = 'cancelled' and b.departure_id in (select id from bench_departures)`);
  await knex.raw(`
    update departures d set seats_held = s.held, seats_sold = s.sold
      from (select departure_id, coalesce(sum(pax_count) filter (where status = 'held'), 0)::int as held,
                   coalesce(sum(pax_count) filter (where status in ('confirmed', 'paid_in_full')), 0)::int as sold
              from bookings group by departure_id) s
     where s.departure_id = d.id and d.id in (select id from bench_departures)`);
  await knex.raw('vacuum analyze');
  const counts = await knex.raw(`select (select count(*) from bookings)::int as bookings, (select count(*) from departures)::int as departures,
    (select count(*) from passengers)::int as passengers, (select count(*) from payments)::int as payments`);
  const full = await knex('bench_departures').where({ n: 0 }).first('id');
  return { ...counts.rows[0], benchDepartures: count, fullDepartureId: full.id as string, seedSeconds: Math.round((Date.now() - started) / 100) / 10 };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args,
    options: { bookings: { type: 'string', default: '10000' }, departures: { type: 'string', default: '1000' }, runs: { type: 'string', default: '40' }, fast: { type: 'boolean', default: false }, explain: { type: 'boolean', default: false } },
  });
  const o = { bookings: Number(values.bookings), departures: Number(values.departures), runs: Number(values.runs), fast: values.fast!, explain: values.explain! };
  const stack = await startStack({ fast: o.fast, env: { LOG_LEVEL: 'warn' } });
  try {
    say(`seeding ${o.bookings} bookings over ${o.departures} departures...`);
    const data = await seed(stack.knex, o);
    say(`seeded: ${JSON.stringify(data)}`);
    const admin = await login(stack.baseUrl, 'admin@demo.test', DEMO_PASSWORD);
    const operator = await login(stack.baseUrl, 'operator@demo.test', DEMO_PASSWORD);
    const sample = await stack.knex('bookings').whereNotNull('contact').orderBy('created_at', 'desc').offset(137).first('reference');
    const from = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const to = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);

    const cases: Array<{ name: string; path: string; token: string }> = [
      { name: 'baseline: GET /api/v1/me (auth only)', path: '/api/v1/me', token: admin.token },
      { name: 'bookings q=name (accent-free "nunez")', path: '/api/v1/bookings?q=nunez', token: admin.token },
      { name: 'bookings q=full name "jose garcia"', path: '/api/v1/bookings?q=jos%C3%A9%20garc%C3%ADa', token: admin.token },
      { name: 'bookings q=email part', path: '/api/v1/bookings?q=olivia.silva', token: admin.token },
      { name: 'bookings q=reference prefix', path: `/api/v1/bookings?q=${sample.reference.slice(0, 6)}`, token: admin.token },
      { name: 'bookings q=no match', path: '/api/v1/bookings?q=zzzzqqq', token: admin.token },
      { name: 'bookings q=name, operator (MAD)', path: '/api/v1/bookings?q=lopez', token: operator.token },
      { name: 'calendar month (all branches)', path: `/api/v1/console/calendar?from=${from}&to=${to}`, token: admin.token },
      { name: 'calendar month (MAD, operator)', path: `/api/v1/console/calendar?from=${from}&to=${to}`, token: operator.token },
      { name: 'manifest 60 seats', path: `/api/v1/departures/${data.fullDepartureId}/manifest`, token: admin.token },
      { name: 'manifest 60 seats CSV', path: `/api/v1/departures/${data.fullDepartureId}/manifest.csv`, token: admin.token },
      { name: 'today (all branches)', path: '/api/v1/console/today', token: admin.token },
      { name: 'today (MAD, operator)', path: '/api/v1/console/today', token: operator.token },
    ];
    const results: Record<string, unknown>[] = [];
    for (const c of cases) {
      const server: number[] = [];
      const client: number[] = [];
      let rows = 0;
      let bytes = 0;
      for (let i = -3; i < o.runs; i++) { // three unmeasured warm-ups
        const t0 = performance.now();
        const res = await fetch(`${stack.baseUrl}${c.path}`, { headers: { authorization: `Bearer ${c.token}` } });
        const text = await res.text();
        const t1 = performance.now();
        if (res.status !== 200) throw new Error(`${c.path} answered ${res.status}: ${text.slice(0, 300)}`);
        if (i < 0) continue;
        const dur = /app;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
        server.push(dur ? Number(dur[1]) : NaN);
        client.push(t1 - t0);
        bytes = text.length;
        if (i === 0) {
          const body = res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null;
          rows = body?.data?.length ?? body?.days?.reduce((s: number, d: { departures: unknown[] }) => s + d.departures.length, 0)
            ?? body?.bookings?.reduce((s: number, b: { passengers: unknown[] }) => s + b.passengers.length, 0)
            ?? body?.departures?.length ?? text.split('\r\n').length - 2;
        }
      }
      server.sort((a, b) => a - b);
      client.sort((a, b) => a - b);
      const r = { name: c.name, rows, bytes, serverMs: { p50: percentile(server, 50), p95: percentile(server, 95) }, clientMs: { p50: percentile(client, 50), p95: percentile(client, 95) } };
      say(`${c.name.padEnd(42)} rows ${String(rows).padStart(4)}  server p50 ${r.serverMs.p50} ms p95 ${r.serverMs.p95} ms  (client p50 ${r.clientMs.p50} p95 ${r.clientMs.p95})`);
      results.push(r);
    }
    // The same reads in this process straight on the database (no HTTP, no auth): what the SQL costs.
    const direct: Record<string, unknown>[] = [];
    const full = await visibleDeparture(stack.knex, { all: true }, data.fullDepartureId);
    const madId = (await stack.knex('branches').where({ code: 'MAD' }).first('id')).id as string;
    const reads: Array<[string, () => Promise<unknown>]> = [
      ['calendar month (all branches)', () => calendar(stack.knex, { all: true }, { from, to, language: 'en' })],
      ['calendar month (MAD)', () => calendar(stack.knex, { branchId: madId }, { from, to, language: 'en' })],
      ['manifest 60 seats', () => manifest(stack.knex, full!)],
      ['today (all branches)', () => todayBoard(stack.knex, { all: true }, { language: 'en', approvalsVisible: (q) => q })],
    ];
    for (const [name, read] of reads) {
      const times: number[] = [];
      for (let i = -3; i < o.runs; i++) {
        const t0 = performance.now();
        await read();
        if (i >= 0) times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const r = { name, ms: { p50: percentile(times, 50), p95: percentile(times, 95) } };
      say(`in-process ${name.padEnd(32)} p50 ${r.ms.p50} ms p95 ${r.ms.p95} ms`);
      direct.push(r);
    }
    if (o.explain) {
      // Each SQL statement one call of each read runs, with PostgreSQL's own execution time.
      for (const [name, read] of reads) {
        const seen: Array<{ sql: string; bindings: unknown[] }> = [];
        const listen = (q: { sql: string; bindings?: unknown[] }) => seen.push({ sql: q.sql, bindings: q.bindings ?? [] });
        stack.knex.on('query', listen);
        await read();
        stack.knex.off('query', listen);
        for (const q of seen) {
          if (!/^\s*(with|select)/i.test(q.sql)) continue;
          const { rows } = await stack.knex.raw(`explain (analyze, format json) ${q.sql.replace(/\$\d+/g, '?')}`, q.bindings as never);
          const plan = rows[0]['QUERY PLAN'][0];
          say(`explain ${name}: ${plan['Execution Time'].toFixed(1)} ms  ${q.sql.replace(/\s+/g, ' ').slice(0, 110)}`);
          if (plan['Execution Time'] > 20) { // the plan of a slow one, for whoever tunes it
            const text = await stack.knex.raw(`explain (analyze) ${q.sql.replace(/\$\d+/g, '?')}`, q.bindings as never);
            for (const line of text.rows.slice(0, 30)) say(`    ${line['QUERY PLAN']}`);
          }
        }
      }
    }
    const load = (await import('node:os')).loadavg().map((x) => Math.round(x * 10) / 10);
    say(`load average during the run: ${load.join(' ')}`);
    return { data, runs: o.runs, results, inProcess: direct, loadAverage: load };
  } finally {
    await stack.stop();
  }
}
