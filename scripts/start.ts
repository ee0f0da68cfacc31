/**
 * `npm start`: the whole platform on one machine with nothing but `npm install` done before.
 * Starts what is not given from outside (Temporal dev server unless TEMPORAL_ADDRESS, embedded
 * PostgreSQL unless DATABASE_URL), migrates, seeds the demo (never in production), then runs
 * the worker and the API as child processes. Ctrl-C stops everything; data stays in .data/.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { config, projectRoot } from '../platform/config';
import { createKnex, migrateLatest } from '../platform/db';
import { portIsFree, startEmbeddedPostgres, startTemporalDevServer, type RunningService } from '../platform/dev-services';
import { temporalConfig } from '../temporal.config';
import { DEMO_PASSWORD, DEMO_USERS, seedDemo } from './demo-seed';
import { seedMarketingDemo } from './demo-marketing';
import { consoleIsBuilt, ensureConsoleBuilt } from './console-build';

const say = (message: string) => console.log(`[spirit] ${message}`);

const services: RunningService[] = [];
const children: ChildProcess[] = [];
let stopping = false;

async function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping...');
  await Promise.all(children.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    const timer = setTimeout(() => c.kill('SIGKILL'), 15000);
    c.once('exit', () => { clearTimeout(timer); resolve(); });
    c.kill('SIGTERM');
  })));
  for (const s of services.reverse()) await s.stop().catch((err) => say(`stop failed: ${err.message}`));
  say('stopped');
  process.exit(code);
}

/** One `npm start` per data folder: two would share PostgreSQL's and Temporal's files. */
function lockDataDir() {
  const lock = path.join(config.dataDir, 'spirit.pid');
  try {
    const pid = Number(fs.readFileSync(lock, 'utf8'));
    if (pid && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new Error(`another \`npm start\` (pid ${pid}) is using ${config.dataDir}; stop it first, or give this one its own SPIRIT_DATA_DIR and PORT`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // ESRCH: a stale lock from a crash
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.writeFileSync(lock, String(process.pid));
  process.on('exit', () => {
    try {
      if (Number(fs.readFileSync(lock, 'utf8')) === process.pid) fs.unlinkSync(lock);
    } catch {
      // already gone
    }
  });
}

async function main() {
  const t0 = Date.now();
  fs.mkdirSync(config.dataDir, { recursive: true });
  lockDataDir();
  if (!(await portIsFree(config.port, config.host === '0.0.0.0' ? '0.0.0.0' : config.host))) {
    throw new Error(`port ${config.port} is taken; stop what uses it or start with another PORT (e.g. PORT=3100 npm start)`);
  }
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  // Temporal, PostgreSQL and the workflow bundle, side by side.
  const bundlePath = path.join(config.dataDir, 'workflow-bundle.js');
  const bundled = new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/bundle-workflows.ts'), bundlePath], { stdio: 'inherit', cwd: projectRoot });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bundling the workflows failed (exit ${code})`))));
  });
  // The operator console's assets, built when missing or older than their sources.
  const consoleReady = ensureConsoleBuilt(say).catch((err: Error) => {
    // A production install without dev dependencies cannot build: it serves the image's build.
    if (consoleIsBuilt()) return;
    say(`the operator console could not be built (${err.message}); /console answers 503 until \`npm run console:build\` succeeds`);
  });
  const [temporal, pg] = await Promise.all([
    temporalConfig.address
      ? undefined
      : (async () => {
        const port = (await portIsFree(7233)) ? 7233 : undefined;
        const uiPort = (await portIsFree(8233)) ? 8233 : undefined;
        const started = await startTemporalDevServer({
          dbFile: path.join(config.dataDir, 'temporal.db'), port, uiPort, log: (line) => process.env.TEMPORAL_LOG && console.log(line),
        });
        services.push(started);
        say(`Temporal dev server on ${started.address} (${Date.now() - t0} ms)`);
        return started;
      })(),
    config.databaseUrl
      ? undefined
      : (async () => {
        const started = await startEmbeddedPostgres({ dataDir: path.join(config.dataDir, 'postgres'), ownedRoot: config.dataDir, log: (line) => process.env.PG_LOG && console.log(line) });
        services.push(started);
        say(`embedded PostgreSQL on 127.0.0.1:${started.port} (${Date.now() - t0} ms)`);
        return started;
      })(),
  ]);
  const temporalAddress = temporal?.address ?? temporalConfig.address!;
  const temporalUi = temporal?.uiUrl;
  if (!temporal) say(`using Temporal at ${temporalAddress}`);
  const databaseUrl = pg?.url ?? config.databaseUrl!;

  await bundled;
  await consoleReady;
  const knex = createKnex(databaseUrl, 2);
  const applied = await migrateLatest(knex);
  say(applied.length ? `migrations applied: ${applied.join(', ')}` : 'schema up to date');
  if (!config.isProduction) {
    const seeded = await seedDemo(knex);
    say(`demo data: +${seeded.branches} branches, +${seeded.tours} tours, +${seeded.departures} departures, +${seeded.users} users`);
    const marketing = await seedMarketingDemo(knex);
    say(`demo marketing: +${marketing.contacts} contacts, +${marketing.templates} templates, +${marketing.segments} segment${marketing.segments === 1 ? '' : 's'}`);
  }
  await knex.destroy();

  const env = { ...process.env, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress, SPIRIT_DATA_DIR: config.dataDir, ...(temporalUi && !process.env.TEMPORAL_UI_URL ? { TEMPORAL_UI_URL: temporalUi } : {}) };
  const launch = (name: string, entry: string, extraEnv: Record<string, string> = {}) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], {
      env: { ...env, ...extraEnv, SPIRIT_SERVICE: name }, stdio: 'inherit', cwd: projectRoot,
    });
    child.on('exit', (code, signal) => {
      if (!stopping) {
        say(`${name} exited unexpectedly (code ${code}, signal ${signal}); stopping everything`);
        void stopAll(1);
      }
    });
    children.push(child);
    return child;
  };
  const workerReady = path.join(config.dataDir, `worker-ready-${process.pid}`);
  fs.rmSync(workerReady, { force: true });
  launch('worker', 'workers/main.ts', { SPIRIT_READY_FILE: workerReady, WORKFLOW_BUNDLE_PATH: bundlePath });
  launch('api', 'api/main.ts');

  const base = `http://localhost:${config.port}`;
  for (;;) {
    if (stopping) return;
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) });
      // Up means the API answers and the worker polls its queues.
      if (res.ok && fs.existsSync(workerReady)) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const lines = [
    '',
    `Spirit Tours Platform is up (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    `  Console      ${base}/console/`,
    `  API docs     ${base}/api/docs   (OpenAPI: ${base}/api/v1/openapi.json)`,
    `  Health       ${base}/health   (metrics: ${base}/metrics)`,
    temporalUi ? `  Temporal UI  ${temporalUi}` : `  Temporal     ${temporalAddress}`,
    `  Data         ${config.dataDir}`,
    ...(config.isProduction ? [] : ['', `  Demo logins (password "${DEMO_PASSWORD}"):`, ...DEMO_USERS.map((u) => `    ${u.role.padEnd(11)} ${u.email}`)]),
    '',
    '  Ctrl-C stops everything; the data stays for the next start.',
    '',
  ];
  console.log(lines.join('\n'));
  fs.rmSync(workerReady, { force: true });
}

main().catch((err) => {
  console.error(`[spirit] failed to start: ${err instanceof Error ? err.message : String(err)}`);
  void stopAll(1);
});
