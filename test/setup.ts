/** Root hooks: one real stack for the whole run (see test/support/stack.ts). */
import './support/env';
import fs from 'node:fs';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startStack, stopStack } from './support/stack';
import { testDataDir } from './support/env';

// The SDK's own worker logs only when something is wrong.
Runtime.install({ logger: new DefaultLogger((process.env.TEST_LOG_LEVEL?.toUpperCase() as 'WARN') || 'WARN') });

before(async function () {
  this.timeout(240_000);
  const started = Date.now();
  await startStack();
  if (process.env.TEST_LOG_LEVEL) console.log(`stack up in ${Date.now() - started} ms`);
});

after(async function () {
  this.timeout(60_000);
  await stopStack();
  fs.rmSync(testDataDir, { recursive: true, force: true });
});
