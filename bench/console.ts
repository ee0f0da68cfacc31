/**
 * The operator console in a real Chromium (Debian's, by path) against a stack with the issue's
 * data (10,000 bookings over 1,000 departures, seeded by bench/console-data.ts's seed()):
 *
 *   npm run bench -- console [--bookings 10000] [--departures 1000] [--runs 20] [--fast] [--json FILE] [--only js,bookings,calendar,manifest,timeline]
 *
 * 1. First screen's JavaScript: the console is built (scripts/console-build.ts) and served by the
 *    API, which gzips it; an operator signs in through the form, then the browser's cache is
 *    cleared and /console/ reloaded: the JS files that load until Today is on screen (and the
 *    network has been quiet for 2 s). Today's own code (the entry, its route chunk and their
 *    static imports) is the first screen's JS; what React.lazy loads inside it (the revenue
 *    chart) is reported apart and in the total. Sizes are what went over the wire (the API's
 *    gzip), checked against zlib.gzipSync of the file in console/dist. Goal < 250 KB gzipped.
 *    Every other chunk in console/dist is listed with its size.
 * 2. With the data, signed in as the admin (who sees all 10,000 bookings; an operator sees one
 *    branch's): the bookings list from the search box's input event to the expected rows on
 *    screen (the references the API answers for that query), p50/p95 over ~20 queries (goal
 *    < 300 ms); a month of the calendar from navigation to its cells (goal < 500 ms); the
 *    manifest of the full 60-seat departure from navigation to its 60 passengers (goal < 300 ms).
 *    Each navigation starts from a freshly reloaded console on a screen without data (empty
 *    query cache, chunks in the browser's cache, as for an operator who has used the console
 *    before); calendar and manifest are measured again with the screen opened before in the
 *    session (on other data), which takes React.lazy's suspension out, and the calendar also
 *    by its "next month" button. Each sample is split into: request sent, answer arrived, the
 *    API's own time (Server-Timing), from the page's Resource Timing entries.
 * 3. A timeline event written to booking_events (as an activity writes it: one INSERT, whose
 *    trigger NOTIFYs console_events) until its row shows on the open booking page: SSE →
 *    query invalidated → refetch → render. No worker runs: a real payment's workflow is not
 *    part of this measure. p50/p95 over `runs` events (goal < 1 s). Both clocks
 *    are the machine's wall clock (Date.now() here and in the page).
 *
 * Times in the page are taken in the page (performance.now() at the input event or the
 * navigation; a MutationObserver notices the expected content and the next animation frame,
 * i.e. the frame that paints it, ends the measurement), so Playwright's own round trips are not
 * counted. Results: a table on stderr, the JSON line on stdout, and the same JSON in --json
 * (default test-artifacts/bench/console.json). Not part of `npm test`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ensureConsoleBuilt } from '../scripts/console-build';
import { DEMO_PASSWORD } from '../scripts/demo-seed';
import { login, round1, sleep } from './booking-support';
import { seed } from './console-data';
import { repoRoot, say, startStack, type BenchStack } from './stack';

const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DIST = path.join(repoRoot, 'console', 'dist');
const GOALS = { firstScreenJsGzipKb: 250, bookingsFilterMs: 300, calendarMonthMs: 500, manifestMs: 300, timelineMs: 1000 };

type Stats = { n: number; p50: number; p95: number; max: number; min: number };
function stats(values: number[]): Stats | undefined {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { n: s.length, p50: round1(at(0.5)), p95: round1(at(0.95)), min: round1(s[0]), max: round1(s[s.length - 1]) };
}
const kb = (bytes: number) => Math.round(bytes / 102.4) / 10;

// ---------------------------------------------------------------------------------------------
// Browser

async function launch(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`Chromium is not at ${CHROMIUM_PATH}: apt-get install -y chromium, or set CHROMIUM_PATH.`);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1366, height: 900 } });
  await context.addInitScript(`if (!localStorage.getItem('spirit.lang')) localStorage.setItem('spirit.lang', 'en');`);
  await context.addInitScript(PAGE_SCRIPT);
  return context;
}

async function signIn(page: Page, baseUrl: string, email: string): Promise<void> {
  await page.goto(`${baseUrl}/console/`);
  await page.getByLabel(/^Email/).fill(email);
  await page.getByLabel(/^Password/).fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: /^Sign in$/ }).click();
  await page.getByTestId('live-status').waitFor();
}

/** Reloads the console at `at` (query cache empty, chunks cached) and waits until the shell is up. */
async function freshConsole(page: Page, baseUrl: string, at = '/'): Promise<void> {
  await page.goto(`${baseUrl}/console${at}`);
  await page.getByTestId('live-status').waitFor();
}

/**
 * Runs in every page of the bench's contexts (plain JavaScript: the bench is compiled without the
 * DOM's types). `watch(done, arg, start, timeoutMs)` waits until `done` (a function body over
 * `main`, the <main> element, and `arg`) first holds after a DOM change, and keeps the
 * milliseconds from the start (the last input event, or `navigate(path)` pushing the address:
 * wouter follows pushState) to the next animation frame, i.e. the frame that paints it; null
 * after timeoutMs. `stampWhen(done, arg, timeoutMs)` keeps instead the wall clock (Date.now())
 * of that frame, for events written outside the page.
 */
const PAGE_SCRIPT = `window.__bench = (() => {

  let state = { t0: null, ms: undefined, at: undefined, stop() {} };
  const observe = (done, arg, timeoutMs, onDone) => {
    const check = new Function('main', 'arg', done);
    let finished = false;
    const test = () => {
      if (finished || (state.wantsStart && state.t0 === null)) return;
      const main = document.querySelector('main');
      if (main && check(main, arg)) {
        finished = true;
        observer.disconnect();
        clearTimeout(timer);
        requestAnimationFrame(onDone);
      }
    };
    const observer = new MutationObserver(test);
    observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    const timer = setTimeout(() => { if (!finished) { finished = true; observer.disconnect(); state.ms = null; state.at = null; } }, timeoutMs);
    return () => { if (!finished) { finished = true; observer.disconnect(); clearTimeout(timer); } };
  };
  // The API requests that started after t0 (not the live stream): when their answers ended, relative
  // to t0, and the server's own time (its Server-Timing app;dur).
  const apiSince = (t0) => performance.getEntriesByType('resource')
    .filter((e) => e.startTime >= t0 - 1 && e.name.includes('/api/v1/') && !e.name.includes('/api/v1/events'))
    .map((e) => ({ path: new URL(e.name).pathname, startMs: e.startTime - t0, endMs: e.responseEnd - t0, serverMs: (e.serverTiming.find((x) => x.name === 'app') || {}).duration }));
  const chunksSince = (t0) => performance.getEntriesByType('resource')
    .filter((e) => e.startTime >= t0 - 1 && e.name.includes('/console/assets/'))
    .map((e) => ({ path: new URL(e.name).pathname, startMs: e.startTime - t0, endMs: e.responseEnd - t0 }));
  return {
    watch(done, arg, start, timeoutMs) {
      state.stop();
      const s = { t0: null, ms: undefined, at: undefined, wantsStart: true, stop() {} };
      state = s;
      // The last input event (a keystroke) or click starts the clock: its timeStamp is performance.now()'s.
      const onEvent = (e) => { s.t0 = e.timeStamp; };
      const listens = start === 'input' || start === 'click';
      if (listens) document.addEventListener(start, onEvent, true);
      const forget = () => { if (listens) document.removeEventListener(start, onEvent, true); };
      performance.clearResourceTimings();
      const stopObserving = observe(done, arg, timeoutMs, () => { s.ms = performance.now() - s.t0; s.api = apiSince(s.t0); s.chunks = chunksSince(s.t0); forget(); });
      s.stop = () => { stopObserving(); forget(); };
    },
    navigate(to) { state.t0 = performance.now(); history.pushState(null, '', to); },
    stampWhen(done, arg, timeoutMs) {
      state.stop();
      const s = { t0: 0, ms: undefined, at: undefined, wantsStart: false, stop() {} };
      state = s;
      s.stop = observe(done, arg, timeoutMs, () => { s.at = Date.now(); });
    },
    check(done, arg) { return !!new Function('main', 'arg', done)(document.querySelector('main'), arg); },
    result() { return { ms: state.ms, at: state.at, api: state.api || [], chunks: state.chunks || [] }; },
  };
})();`;

type Start = 'input' | 'click' | 'navigate';
type ApiTiming = { path: string; startMs: number; endMs: number; serverMs?: number };
type PageResult = { ms: number | null | undefined; at: number | null | undefined; api: ApiTiming[]; chunks: ApiTiming[] };
/** One measurement: total ms, and of it how long until the last API answer had arrived (the rest is the browser's work). */
type Sample = { ms: number; chunksMs: number | null; requestMs: number | null; dataMs: number | null; serverMs: number | null; requests: number } | null;
/** PAGE_SCRIPT's global, named in the callbacks Playwright runs in the page (never called here). */
declare const __bench: {
  watch(done: string, arg: unknown, start: Start, timeoutMs: number): void;
  navigate(to: string): void;
  stampWhen(done: string, arg: unknown, timeoutMs: number): void;
  check(done: string, arg: unknown): boolean;
  result(): PageResult;
};

async function pageResult(page: Page, key: 'ms' | 'at', timeoutMs: number): Promise<number | null> {
  await page.waitForFunction((k) => __bench.result()[k] !== undefined, key, { timeout: timeoutMs + 5_000, polling: 50 });
  return (await page.evaluate(() => __bench.result()))[key] ?? null;
}

/** From the start (input event, click or navigation) to the frame that shows `done`, measured in the page. */
async function measureInPage(page: Page, o: { done: string; arg: unknown; start: Start; navigate?: string; timeoutMs?: number }, act?: () => Promise<void>): Promise<Sample> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  await page.evaluate(([done, arg, start, t]) => __bench.watch(done, arg, start, t), [o.done, o.arg, o.start, timeoutMs] as const);
  if (o.start === 'navigate') await page.evaluate((to) => __bench.navigate(to), o.navigate!);
  if (act) await act();
  const ms = await pageResult(page, 'ms', timeoutMs);
  if (ms === null) return null;
  const got = await page.evaluate(() => __bench.result());
  const api = got.api.filter((x) => x.endMs <= ms);
  // The screen's code, when it had to be fetched (or read from the browser's cache) for this navigation.
  const chunks = got.chunks.filter((x) => x.endMs <= ms);
  const chunksMs = chunks.length ? round1(Math.max(...chunks.map((x) => x.endMs))) : null;
  const dataMs = api.length ? Math.max(...api.map((x) => x.endMs)) : null;
  const server = api.map((x) => x.serverMs).filter((x): x is number => typeof x === 'number');
  const requestMs = api.length ? Math.min(...api.map((x) => x.startMs)) : null;
  return { ms: round1(ms), chunksMs, requestMs: requestMs === null ? null : round1(requestMs), dataMs: dataMs === null ? null : round1(dataMs), serverMs: server.length ? round1(Math.max(...server)) : null, requests: api.length };
}

/** p50/p95 of the totals, and of the part spent waiting for the API's answers. */
function summarize(samples: Sample[]) {
  const ok = samples.filter((s): s is NonNullable<Sample> => s !== null);
  return {
    timedOut: samples.filter((s) => s === null).length,
    ms: stats(ok.map((s) => s.ms)),
    untilRequestMs: stats(ok.filter((s) => s.requestMs !== null).map((s) => s.requestMs!)),
    untilDataMs: stats(ok.filter((s) => s.dataMs !== null).map((s) => s.dataMs!)),
    serverMs: stats(ok.filter((s) => s.serverMs !== null).map((s) => s.serverMs!)),
    afterDataMs: stats(ok.filter((s) => s.dataMs !== null).map((s) => s.ms - s.dataMs!)),
  };
}

// ---------------------------------------------------------------------------------------------
// 1. JavaScript of the first screen

interface JsFile { file: string; wireBytes: number | null; rawBytes: number; gzipBytes: number }

function distFile(url: string): string | undefined {
  const m = /\/console\/(assets\/[^?#]+\.js)/.exec(url);
  return m ? m[1] : undefined;
}

function fileSizes(rel: string): { rawBytes: number; gzipBytes: number } {
  const body = fs.readFileSync(path.join(DIST, rel));
  return { rawBytes: body.length, gzipBytes: zlib.gzipSync(body).length }; // as api/console.ts gzips
}

/** The chunks `roots` import statically (import ... from "./x.js"), transitively; import("./x.js") is not followed. */
function staticClosure(roots: string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = fs.readFileSync(path.join(DIST, file), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*["'`]\.\/([^"'`]+\.js)["'`]/g)) queue.push(`assets/${m[1]}`);
  }
  return seen;
}

async function loadedScripts(page: Page, load: () => Promise<void>, quietMs = 1000): Promise<JsFile[]> {
  const seen = new Map<string, JsFile>();
  let last = Date.now();
  const onFinished = async (req: import('playwright-core').Request) => {
    const rel = distFile(req.url());
    if (!rel) return;
    last = Date.now();
    const sizes = await req.sizes().catch(() => null);
    seen.set(rel, { file: rel, wireBytes: sizes ? sizes.responseBodySize : null, ...fileSizes(rel) });
  };
  page.on('requestfinished', onFinished);
  await load();
  while (Date.now() - last < quietMs) await sleep(100);
  page.off('requestfinished', onFinished);
  return [...seen.values()].sort((a, b) => b.gzipBytes - a.gzipBytes);
}

async function measureJs(browser: Browser, baseUrl: string) {
  const context = await newContext(browser);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  try {
    const loginScreen = await loadedScripts(page, async () => {
      await page.goto(`${baseUrl}/console/`);
      await page.getByLabel(/^Email/).waitFor();
    });
    await page.getByLabel(/^Email/).fill('operator@demo.test');
    await page.getByLabel(/^Password/).fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: /^Sign in$/ }).click();
    await page.getByTestId('live-status').waitFor();
    await sleep(1500);
    // Signed in (the refresh cookie); an empty HTTP cache: a returning operator on a new machine.
    await cdp.send('Network.clearBrowserCache');
    const firstScreen = await loadedScripts(page, async () => {
      await page.goto(`${baseUrl}/console/`);
      await page.getByTestId('live-status').waitFor();
      await page.getByRole('heading', { level: 1 }).first().waitFor();
    }, 2000);
    // The screen's own code: the entry, the route's chunk (Today, React.lazy in screens.ts) and what
    // they import statically. The rest was loaded by React.lazy inside the screen (Today's chart),
    // in the same render that first shows the screen's content: reported apart, and in the total.
    const entry = /src="\/console\/(assets\/[^"]+\.js)"/.exec(fs.readFileSync(path.join(DIST, 'index.html'), 'utf8'))?.[1];
    const route = firstScreen.find((f) => /^assets\/Today-[\w-]+\.js$/.test(f.file))?.file;
    const own = staticClosure([entry, route].filter((x): x is string => !!x));
    const lateFiles = new Set(firstScreen.filter((f) => !own.has(f.file)).map((f) => f.file));
    const afterShown = firstScreen.filter((f) => lateFiles.has(f.file));
    const critical = firstScreen.filter((f) => !lateFiles.has(f.file));
    const h1 = await page.getByRole('heading', { level: 1 }).first().textContent();
    const all = fs.readdirSync(path.join(DIST, 'assets')).filter((f) => f.endsWith('.js')).map((f) => `assets/${f}`);
    const loaded = new Set(firstScreen.map((f) => f.file));
    const later = all.filter((f) => !loaded.has(f)).map((f) => ({ file: f, ...fileSizes(f) })).sort((a, b) => b.gzipBytes - a.gzipBytes);
    const sum = (xs: JsFile[], k: 'gzipBytes' | 'rawBytes') => xs.reduce((s, x) => s + x[k], 0);
    const wire = firstScreen.every((f) => f.wireBytes !== null) ? firstScreen.reduce((s, x) => s + x.wireBytes!, 0) : null;
    return {
      firstScreen: {
        screen: h1, files: firstScreen.map((f) => ({ ...f, afterShown: lateFiles.has(f.file) })),
        gzipKb: kb(sum(critical, 'gzipBytes')), rawKb: kb(sum(critical, 'rawBytes')),
        wireKb: wire === null ? null : kb(wire), // every file, the lazily loaded ones too
        goalKb: GOALS.firstScreenJsGzipKb, met: kb(sum(critical, 'gzipBytes')) < GOALS.firstScreenJsGzipKb,
        lazyAfterShownGzipKb: kb(sum(afterShown, 'gzipBytes')), lazyAfterShown: afterShown.map((f) => f.file),
        withLazyGzipKb: kb(sum(firstScreen, 'gzipBytes')),
      },
      loginScreen: { files: loginScreen.map((f) => f.file), gzipKb: kb(sum(loginScreen, 'gzipBytes')) },
      laterChunks: later.map((f) => ({ file: f.file, gzipKb: kb(f.gzipBytes), rawKb: kb(f.rawBytes) })),
      laterGzipKb: kb(later.reduce((s, x) => s + x.gzipBytes, 0)),
    };
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Screens with the data

/** ~20 different searches a desk would type: references, surnames, full names, email parts. */
async function searchQueries(knex: BenchStack['knex'], count: number): Promise<string[]> {
  const rows: Array<{ reference: string; name: string; email: string }> = (await knex.raw(`
    select reference, contact->>'name' as name, contact->>'email' as email
      from bookings where reference like 'ST-%' and contact is not null
     order by hashint4(abs(hashtext(reference))) limit ?`, [count * 3])).rows;
  const unaccent = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
  const out = new Set<string>();
  for (let i = 0; out.size < count && i < rows.length; i++) {
    const r = rows[i];
    const [first, last] = r.name.split(' ');
    switch (i % 5) {
      case 0: out.add(r.reference); break; // a reference read over the phone
      case 1: out.add(last); break; // a surname as written
      case 2: out.add(unaccent(`${first} ${last}`).toLowerCase()); break; // a full name without accents
      case 3: out.add(r.email.split('@')[0]); break; // the email's local part
      case 4: out.add(r.reference.slice(0, 6)); break; // a reference's first characters
    }
  }
  return [...out];
}

interface Screens {
  bookings: { path: string; search: (page: Page) => import('playwright-core').Locator };
  /** Function bodies over (main, arg) run in the page. */
  bookingsShown: string;
  calendar: { path: (month: string) => string; nextMonth: (page: Page) => import('playwright-core').Locator; cellsShown: string };
  manifest: { path: (departureId: string) => string; shown: string };
  booking: { path: (id: string) => string; timelineCount: string };
}

/**
 * How this bench recognises each screen's content. The screens' owners chose these (see their
 * code): change here when a screen changes.
 */
const SCREENS: Screens = {
  bookings: { path: '/bookings', search: (page) => page.getByRole('searchbox').or(page.getByLabel(/^Search/)).first() },
  // Bookings.tsx (search debounced 150 ms, 50 rows a page): every expected reference in the table, and none of the previous query's others.
  bookingsShown: `const table = main.querySelector('[data-testid="bookings-table"]');
    if (!table) return false;
    const t = table.textContent || '';
    return arg.expect.every((r) => t.includes(r)) && !arg.gone.some((r) => t.includes(r));`,
  // Calendar.tsx: one button per departure (cal-dep-<id>) in the day cells of the month asked for,
  // at most 6 a day (7 when that is all; the rest on request), the grid saying its month.
  calendar: {
    path: (month) => `/calendar?month=${month}`,
    nextMonth: (page) => page.getByRole('button', { name: 'Next month' }),
    cellsShown: `return !!main.querySelector('[data-testid="calendar-grid"][data-month="' + arg.month + '"] [data-date="' + arg.month + '-15"]')
      && main.querySelectorAll('[data-testid="calendar-grid"] [data-testid^="cal-dep-"]').length >= arg.buttons;`,
  },
  // Manifest.tsx: one table row per passenger (passenger-<id>), grouped by pax type.
  manifest: {
    path: (id) => `/departures/${id}/manifest`,
    shown: `return main.querySelectorAll('tr[data-testid^="passenger-"]').length >= arg.passengers;`,
  },
  booking: {
    path: (id) => `/bookings/${id}`,
    timelineCount: `return main.querySelectorAll('[data-testid="timeline-event"]').length >= arg.count;`,
  },
};

async function measureBookings(page: Page, stack: BenchStack, token: string, runs: number) {
  await freshConsole(page, stack.baseUrl, SCREENS.bookings.path);
  const box = SCREENS.bookings.search(page);
  if (!(await box.waitFor({ timeout: 15_000 }).then(() => true, () => false))) return { notMeasured: 'the bookings screen has no search box (not built yet on this commit)' };
  const queries = await searchQueries(stack.knex, runs + 1);
  const samples: Array<{ q: string; results: number; sample: Sample }> = [];
  // What the table shows (its first page of 50, newest first), as the API answers it.
  const answer = async (q?: string) => {
    const res = await fetch(`${stack.baseUrl}/api/v1/bookings?limit=50${q ? `&q=${encodeURIComponent(q)}` : ''}`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.json()) as { data: Array<{ reference: string }> }).data.map((b) => b.reference);
  };
  let previous = await answer(); // the unfiltered list on screen before the first keystroke
  for (const q of queries) {
    const refs = await answer(q);
    const expect = refs.slice(0, 3);
    const gone = previous.filter((r) => !refs.includes(r)).slice(0, 10);
    if (!expect.length || !gone.length) continue; // could not be told apart from what is on screen: not typed
    const sample = await measureInPage(page, { done: SCREENS.bookingsShown, arg: { expect, gone }, start: 'input' }, () => box.fill(q));
    samples.push({ q, results: refs.length, sample });
    previous = refs;
    if (samples.length === 1 && sample === null) break; // the list never showed the rows: no use waiting 20 times
  }
  return { goalMs: GOALS.bookingsFilterMs, ...summarize(samples.map((s) => s.sample)), queries: samples };
}

/**
 * From a freshly loaded console showing a screen with no data of its own (the not-found page:
 * nothing else in flight) to `to`, `runs` times. The screen's chunk comes from the browser's
 * cache after the first run, as for anyone who has opened it before.
 */
async function measureNavigation(page: Page, baseUrl: string, o: { to: string; done: string; arg: unknown; runs: number; openedBefore?: string }) {
  const samples: Sample[] = [];
  for (let i = 0; i < o.runs; i++) {
    await freshConsole(page, baseUrl, '/bench-start');
    if (o.openedBefore) {
      // The same screen opened earlier in this session (on other data): its code is loaded, and
      // React.lazy no longer suspends on the way in.
      await page.evaluate((to) => __bench.navigate(to), `/console${o.openedBefore}`);
      await page.locator('main h1').first().waitFor();
      await sleep(800);
      await page.evaluate((to) => __bench.navigate(to), '/console/bench-start');
      await page.getByRole('heading', { level: 1, name: 'There is no such page.' }).waitFor();
    }
    await sleep(200);
    const sample = await measureInPage(page, { done: o.done, arg: o.arg, start: 'navigate', navigate: `/console${o.to}` });
    samples.push(sample);
    if (i === 0 && sample === null) break; // the screen does not show it at all: no use waiting 20 times
  }
  return { ...summarize(samples), first: samples[0], samples };
}

function previousMonth(month: string): string {
  const [y, m] = month.split('-').map(Number);
  const d = new Date(Date.UTC(y, m - 2, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The month with the most departures: from another screen to its cells, and from the month before by its "next month" button. */
async function measureCalendar(page: Page, stack: BenchStack, token: string, runs: number) {
  const { rows: [busiest] } = await stack.knex.raw(`select to_char(starts_at, 'YYYY-MM') as month from departures group by 1 order by count(*) desc limit 1`);
  const month: string = busiest.month;
  const [y, m] = month.split('-').map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const res = await fetch(`${stack.baseUrl}/api/v1/console/calendar?from=${month}-01&to=${month}-${last}&lang=en`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`calendar answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { days: Array<{ departures: unknown[] }> };
  const count = body.days.reduce((n, d) => n + d.departures.length, 0);
  const DAY_LIMIT = 6; // Calendar.tsx's
  const buttons = body.days.reduce((n, d) => n + (d.departures.length <= DAY_LIMIT + 1 ? d.departures.length : DAY_LIMIT), 0);
  const arg = { month, buttons };
  const fromAnotherScreen = await measureNavigation(page, stack.baseUrl, { to: SCREENS.calendar.path(month), done: SCREENS.calendar.cellsShown, arg, runs });
  const openedBefore = await measureNavigation(page, stack.baseUrl, { to: SCREENS.calendar.path(month), done: SCREENS.calendar.cellsShown, arg, runs, openedBefore: SCREENS.calendar.path(previousMonth(month)) });
  const previous = previousMonth(month);
  const clicks: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    await freshConsole(page, stack.baseUrl, SCREENS.calendar.path(previous));
    await page.getByTestId('calendar-grid').waitFor();
    await sleep(200);
    const sample = await measureInPage(page, { done: SCREENS.calendar.cellsShown, arg, start: 'click' }, () => SCREENS.calendar.nextMonth(page).click());
    clicks.push(sample);
    if (i === 0 && sample === null) break;
  }
  return { month, departures: count, buttonsShown: buttons, goalMs: GOALS.calendarMonthMs, ...fromAnotherScreen, openedBefore, nextMonthClick: { from: previous, ...summarize(clicks), samples: clicks } };
}

// ---------------------------------------------------------------------------------------------
// 3. Timeline events reaching an open booking page

async function measureTimeline(page: Page, stack: BenchStack, bookingId: string, runs: number) {
  await freshConsole(page, stack.baseUrl, SCREENS.booking.path(bookingId));
  await page.getByTestId('live-status').and(page.locator('[data-status="open"]')).waitFor({ timeout: 10_000 });
  const count = (await stack.knex('booking_events').where({ booking_id: bookingId }).count<{ count: string }[]>('* as count'))[0].count;
  let have = Number(count);
  const shownNow = await page.evaluate(([done, count]) => __bench.check(done, { count }), [SCREENS.booking.timelineCount, have] as const);
  if (!shownNow) return { notMeasured: `the booking page does not show its ${have} timeline events as [data-testid="timeline-event"] (not built yet on this commit)` };
  const samples: Array<number | null> = [];
  for (let i = 0; i < runs; i++) {
    have += 1;
    await page.evaluate(([done, count]) => __bench.stampWhen(done, { count }, 10_000), [SCREENS.booking.timelineCount, have] as const);
    const written = Date.now();
    await stack.knex('booking_events').insert({ booking_id: bookingId, type: 'note_added', actor: 'system', data: { note: `bench ${i}` } });
    const at = await pageResult(page, 'at', 10_000);
    samples.push(at === null ? null : at - written);
    if (i === 0 && at === null) break;
    await sleep(300 + Math.random() * 400); // not in step with anything
  }
  const ok = samples.filter((s): s is number => s !== null);
  return { samples, timedOut: samples.filter((s) => s === null).length, ms: stats(ok), goalMs: GOALS.timelineMs };
}

// ---------------------------------------------------------------------------------------------

function loadAverage() {
  const [one, five] = os.loadavg();
  return { one: round1(one), five: round1(five), cpus: os.cpus().length };
}

function table(result: Record<string, any>): string { // eslint-disable-line @typescript-eslint/no-explicit-any
  const rows: string[][] = [['measure', 'goal', 'measured', 'met?']];
  const js = result.js?.firstScreen;
  if (js) {
    rows.push([`first screen JS (${js.screen}), gzipped`, `< ${js.goalKb} KB`, `${js.gzipKb} KB (${js.files.length - js.lazyAfterShown.length} files; raw ${js.rawKb} KB)`, js.met ? 'yes' : 'NO']);
    rows.push(['  + loaded by React.lazy in the screen', '-', `${js.lazyAfterShownGzipKb} KB (${js.lazyAfterShown.join(', ') || 'none'}); all: ${js.withLazyGzipKb} KB, on the wire ${js.wireKb} KB`, '-']);
  }
  const line = (name: string, r: any, goal: number) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (!r) return;
    if (r.notMeasured) rows.push([name, `< ${goal} ms`, `not measured: ${r.notMeasured}`, '-']);
    else if (!r.ms) rows.push([name, `< ${goal} ms`, `no sample (timed out ${r.timedOut})`, 'NO']);
    else {
      const split = r.untilDataMs ? `; API answered by p50 ${r.untilDataMs.p50} / p95 ${r.untilDataMs.p95}, server p50 ${r.serverMs?.p50 ?? '?'}` : '';
      rows.push([name, `< ${goal} ms`, `p50 ${r.ms.p50} ms, p95 ${r.ms.p95} ms (n ${r.ms.n}${r.timedOut ? `, ${r.timedOut} timed out` : ''}${split})`, r.ms.p95 < goal && !r.timedOut ? 'yes' : 'NO']);
    }
  };
  line('bookings list: keystroke → rows', result.bookings, GOALS.bookingsFilterMs);
  line('calendar month: navigation → cells', result.calendar, GOALS.calendarMonthMs);
  line('calendar, screen opened before: navigation → cells', result.calendar?.openedBefore, GOALS.calendarMonthMs);
  line('calendar: "next month" click → cells', result.calendar?.nextMonthClick, GOALS.calendarMonthMs);
  line('manifest 60 seats: navigation → rows', result.manifest, GOALS.manifestMs);
  line('manifest, screen opened before: navigation → rows', result.manifest?.openedBefore, GOALS.manifestMs);
  line('timeline event: INSERT → row on the page', result.timeline, GOALS.timelineMs);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i])).join(' | ')).join('\n');
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args,
    options: {
      bookings: { type: 'string', default: '10000' }, departures: { type: 'string', default: '1000' }, runs: { type: 'string', default: '20' },
      fast: { type: 'boolean', default: false }, json: { type: 'string', default: path.join(repoRoot, 'test-artifacts', 'bench', 'console.json') },
      only: { type: 'string', default: 'js,bookings,calendar,manifest,timeline' },
    },
  });
  const only = new Set(values.only!.split(','));
  const runs = Number(values.runs);
  // Vite's build sets NODE_ENV=production in this process; the stack's demo seed refuses that.
  const nodeEnv = process.env.NODE_ENV;
  await ensureConsoleBuilt(say);
  if (nodeEnv === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = nodeEnv;
  const stack = await startStack({ fast: values.fast, env: { LOG_LEVEL: 'warn' } });
  const browser = await launch();
  const result: Record<string, unknown> = { loadBefore: loadAverage() };
  try {
    // The data first, also for the first screen: Today then has loads, balances and its revenue chart to show.
    say(`seeding ${values.bookings} bookings over ${values.departures} departures...`);
    const data = await seed(stack.knex, { bookings: Number(values.bookings), departures: Number(values.departures) });
    say(`seeded: ${JSON.stringify(data)}`);
    result.data = data;
    if (only.has('js')) {
      result.js = await measureJs(browser, stack.baseUrl);
      say(`first screen JS: ${JSON.stringify((result.js as { firstScreen: unknown }).firstScreen)}`);
    }
    const needPage = ['bookings', 'calendar', 'manifest', 'timeline'].some((m) => only.has(m));
    if (needPage) {
      const admin = await login(stack.baseUrl, 'admin@demo.test', DEMO_PASSWORD);
      const context = await newContext(browser);
      const page = await context.newPage();
      await signIn(page, stack.baseUrl, 'admin@demo.test');
      try {
        if (only.has('bookings')) {
          result.bookings = await measureBookings(page, stack, admin.token, runs);
          say(`bookings: ${JSON.stringify(result.bookings)}`);
        }
        if (only.has('calendar')) {
          result.calendar = await measureCalendar(page, stack, admin.token, runs);
          say(`calendar: ${JSON.stringify(result.calendar)}`);
        }
        if (only.has('manifest')) {
          const passengers = (await stack.knex('passengers as p').join('bookings as b', 'b.id', 'p.booking_id').where('b.departure_id', data.fullDepartureId).count<{ count: string }[]>('* as count'))[0].count;
          const to = SCREENS.manifest.path(data.fullDepartureId);
          const other = await stack.knex('bench_departures').where({ n: 1 }).first('id');
          result.manifest = {
            departureId: data.fullDepartureId, passengers: Number(passengers), goalMs: GOALS.manifestMs,
            ...(await measureNavigation(page, stack.baseUrl, { to, done: SCREENS.manifest.shown, arg: { passengers: Number(passengers) }, runs })),
            openedBefore: await measureNavigation(page, stack.baseUrl, { to, done: SCREENS.manifest.shown, arg: { passengers: Number(passengers) }, runs, openedBefore: SCREENS.manifest.path(other.id) }),
          };
          say(`manifest: ${JSON.stringify(result.manifest)}`);
        }
        if (only.has('timeline')) {
          const b = await stack.knex('bookings').where({ reference: (await stack.knex('bookings').where('reference', 'like', 'ST-%').first('reference')).reference }).first('id');
          result.timeline = { bookingId: b.id, ...(await measureTimeline(page, stack, b.id, runs)) };
          say(`timeline: ${JSON.stringify(result.timeline)}`);
        }
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
    await stack.stop();
  }
  for (const k of ['calendar', 'manifest'] as const) {
    const r = result[k] as { samples?: unknown; notMeasured?: string; ms?: Stats } | undefined;
    if (r && !r.notMeasured && !r.ms) r.notMeasured = 'no sample rendered the expected content (the screen may not be built yet on this commit, or its test ids differ)';
  }
  result.loadAfter = loadAverage();
  say(`\n${table(result)}`);
  fs.mkdirSync(path.dirname(values.json!), { recursive: true });
  fs.writeFileSync(values.json!, JSON.stringify(result, null, 2));
  say(`wrote ${values.json}`);
  return result;
}
