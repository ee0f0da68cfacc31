/**
 * `npm run bench -- <name> [options]`: runs bench/<name>.ts, whose
 * `export async function run(args: string[]): Promise<Record<string, unknown>>` does the work.
 * Progress goes to stderr; the LAST line on stdout is exactly one JSON object:
 * {"bench":"<name>", ...what run() returned, "machine": {...}}.
 *
 * A bench is any top-level bench/*.ts file (other than this one) that exports `async function run`,
 * so adding a bench is adding a file. Exit codes: 0 done, 1 the bench failed, 2 unknown bench.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stopAllStacks } from './stack';

const NAME = /^[a-z0-9-]+$/;
const BENCH_EXPORT = /export\s+async\s+function\s+run\s*\(/;

export function availableBenches(dir = __dirname): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'run.ts' && NAME.test(f.slice(0, -3)))
    .filter((f) => BENCH_EXPORT.test(fs.readFileSync(path.join(dir, f), 'utf8')))
    .map((f) => f.slice(0, -3))
    .sort();
}

function usage(stream: NodeJS.WriteStream, message?: string) {
  if (message) stream.write(`${message}\n`);
  stream.write(`usage: npm run bench -- <name> [options]\navailable benches: ${availableBenches().join(', ') || '(none)'}\n`);
}

function machine() {
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  return { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, commit };
}

async function main(): Promise<number> {
  const [name, ...args] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h') {
    usage(process.stderr);
    return 2;
  }
  if (!NAME.test(name) || name === 'run' || !availableBenches().includes(name)) {
    usage(process.stderr, `unknown bench "${name}"`);
    return 2;
  }

  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      process.stderr.write(`\n[bench] ${signal}: stopping the stack...\n`);
      void stopAllStacks().finally(() => process.exit(130));
    });
  }

  const started = Date.now();
  const mod = (await import(pathToFileURL(path.join(__dirname, `${name}.ts`)).href)) as {
    run?: (args: string[]) => Promise<Record<string, unknown>>;
    default?: { run?: (args: string[]) => Promise<Record<string, unknown>> };
  };
  const run = mod.run ?? mod.default?.run;
  if (typeof run !== 'function') {
    usage(process.stderr, `bench/${name}.ts does not export run(args)`);
    return 2;
  }
  try {
    const result = await run(args);
    const line = JSON.stringify({ bench: name, ...result, totalSeconds: Math.round((Date.now() - started) / 100) / 10, machine: machine() });
    process.stdout.write(`${line}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`[bench] ${name} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.stdout.write(`${JSON.stringify({ bench: name, error: err instanceof Error ? err.message : String(err) })}\n`);
    return 1;
  } finally {
    await stopAllStacks(); // a bench that forgot to stop its stack, or threw before it could
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`[bench] ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
