// Finds or provides the Temporal CLI (which contains the dev server), without any npm dependency:
// it runs from `npm install`'s postinstall, before anything else is known to work.
// Order: TEMPORAL_CLI_PATH, `temporal` on PATH, the per-user cache, a Go build into that cache,
// the official archive download (needs internet). See README "Temporal server".
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const CLI_VERSION = '1.5.1';

function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'spirit-tours', `temporal-${CLI_VERSION}`);
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The CLI that is already here, or undefined. Never builds or downloads. */
function findTemporalCli() {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file`);
    return { path: fromEnv, source: 'TEMPORAL_CLI_PATH' };
  }
  const found = onPath('temporal');
  if (found) return { path: found, source: 'PATH' };
  const cached = path.join(cacheDir(), 'temporal');
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  return undefined;
}

function run(cmd, args, options, log) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const ticker = setInterval(() => {
      log(`  ... still working (${Math.round((Date.now() - started) / 1000)} s)`);
    }, 15000);
    child.on('error', (err) => {
      clearInterval(ticker);
      reject(err);
    });
    child.on('close', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve(output);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${output.slice(-4000)}`));
    });
  });
}

async function buildWithGo(dir, log) {
  const go = onPath('go') || (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) return undefined;
  log(`Building the Temporal CLI ${CLI_VERSION} with ${go} into ${dir}`);
  log('  (first time only: about 3 minutes and 250 MB; every clone on this machine reuses it)');
  fs.mkdirSync(dir, { recursive: true });
  await run(go, ['install', `github.com/temporalio/cli/cmd/temporal@v${CLI_VERSION}`], {
    env: { ...process.env, CGO_ENABLED: '0', GOBIN: dir, GOFLAGS: '-mod=mod' },
  }, log);
  return path.join(dir, 'temporal');
}

async function download(dir, log) {
  const platform = { linux: 'linux', darwin: 'darwin', win32: 'windows' }[process.platform];
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch];
  if (!platform || !arch) return undefined;
  const url = `https://temporal.download/cli/archive/v${CLI_VERSION}?platform=${platform}&arch=${arch}`;
  log(`Downloading the Temporal CLI ${CLI_VERSION} from ${url}`);
  const res = await fetch(url, { signal: AbortSignal.timeout(120000) });
  if (!res.ok) throw new Error(`download answered HTTP ${res.status}`);
  fs.mkdirSync(dir, { recursive: true });
  const archive = path.join(dir, 'temporal.tar.gz');
  fs.writeFileSync(archive, Buffer.from(await res.arrayBuffer()));
  const tar = spawnSync('tar', ['-xzf', archive, '-C', dir, 'temporal'], { encoding: 'utf8' });
  fs.rmSync(archive, { force: true });
  if (tar.status !== 0) throw new Error(`could not unpack the archive: ${tar.stderr}`);
  return path.join(dir, 'temporal');
}

/** Finds the CLI, or provides it (Go build, then download). Throws a readable error when nothing works. */
async function ensureTemporalCli(log = (m) => console.log(`[temporal-setup] ${m}`)) {
  const existing = findTemporalCli();
  if (existing) {
    log(`Using the Temporal CLI from ${existing.source}: ${existing.path}`);
    return existing.path;
  }
  const dir = cacheDir();
  const failures = [];
  for (const [what, attempt] of [['Go build', buildWithGo], ['download', download]]) {
    try {
      const built = await attempt(dir, log);
      if (built && isExecutable(built)) {
        log(`Temporal CLI ready (${what}): ${built}`);
        return built;
      }
      if (!built) failures.push(`${what}: not available on this machine`);
    } catch (err) {
      failures.push(`${what}: ${err.message.split('\n')[0]}`);
    }
  }
  throw new Error(
    'No Temporal CLI could be found or provided.\n' +
      failures.map((f) => `  - ${f}`).join('\n') +
      '\nFix one of: set TEMPORAL_CLI_PATH to a temporal binary; put `temporal` on PATH; install Go ' +
      `(then run \`npm run setup\`); or point TEMPORAL_ADDRESS at an existing Temporal server.`,
  );
}

module.exports = { CLI_VERSION, cacheDir, findTemporalCli, ensureTemporalCli };
