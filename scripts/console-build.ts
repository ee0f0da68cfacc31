/**
 * Builds the operator console (console/ → console/dist) when its sources changed since the last
 * build: `npm start` and the browser tests call ensureConsoleBuilt(), so the README's two
 * commands still do all the set-up. The build goes to a temporary folder and is swapped in, so
 * an API serving the old build (an `npm start` beside `npm test`) never reads half a build.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../platform/config';

const consoleRoot = path.join(projectRoot, 'console');
const execFileAsync = promisify(execFile);
const HASH_FILE = '.source-hash';

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(full) : [full];
  });
}

/** Everything the build's output depends on: the console's sources and the locked dependencies. */
export function consoleSourceHash(): string {
  const hash = crypto.createHash('sha256');
  const inputs = [
    path.join(consoleRoot, 'index.html'),
    path.join(consoleRoot, 'vite.config.mts'),
    path.join(projectRoot, 'package-lock.json'),
    ...filesUnder(path.join(consoleRoot, 'src')).sort(),
  ];
  for (const file of inputs) {
    hash.update(path.relative(projectRoot, file));
    hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex');
}

export function consoleIsBuilt(dist = path.join(consoleRoot, 'dist')): boolean {
  try {
    return fs.readFileSync(path.join(dist, HASH_FILE), 'utf8') === consoleSourceHash();
  } catch {
    return false;
  }
}

/** Builds unless the current build is of these very sources. Answers whether it built. */
export async function ensureConsoleBuilt(log: (m: string) => void = () => undefined): Promise<boolean> {
  const dist = path.join(consoleRoot, 'dist');
  const sourceHash = consoleSourceHash();
  if (consoleIsBuilt(dist)) return false;
  log('building the operator console (console/ → console/dist)...');
  const started = Date.now();
  const tmp = path.join(consoleRoot, `.dist-${process.pid}-${Date.now()}`);
  // A child process with NODE_ENV=production: inside mocha NODE_ENV is 'test', and Vite then
  // builds React's development runtime (jsxDEV, dev checks), several times slower and larger.
  // Setting NODE_ENV here instead would change it for the API running in this same process.
  await execFileAsync(process.execPath, [
    path.join(projectRoot, 'node_modules', 'vite', 'bin', 'vite.js'), 'build',
    '--config', path.join(consoleRoot, 'vite.config.mts'), '--logLevel', 'warn', '--outDir', tmp, '--emptyOutDir',
  ], { cwd: projectRoot, env: { ...process.env, NODE_ENV: 'production' }, maxBuffer: 16 * 1024 * 1024 });
  fs.writeFileSync(path.join(tmp, HASH_FILE), sourceHash);
  const old = path.join(consoleRoot, `.dist-old-${process.pid}-${Date.now()}`);
  if (fs.existsSync(dist)) fs.renameSync(dist, old);
  fs.renameSync(tmp, dist);
  fs.rmSync(old, { recursive: true, force: true });
  log(`console built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

if (require.main === module) {
  ensureConsoleBuilt((m) => console.log(`[console] ${m}`))
    .then((built) => { if (!built) console.log('[console] up to date'); })
    .catch((err) => { console.error(err); process.exit(1); });
}
