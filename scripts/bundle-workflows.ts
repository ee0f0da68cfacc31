/**
 * `tsx scripts/bundle-workflows.ts <out.js>`: bundles the workflow code once, in a short-lived
 * process, for workers started with WORKFLOW_BUNDLE_PATH (npm start does this; `npm run build`
 * writes dist/workflow-bundle.js for the production image).
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflows } from '../workers/worker';

async function main() {
  const out = process.argv[2];
  if (!out) throw new Error('usage: bundle-workflows <out.js>');
  const started = Date.now();
  const { code } = await bundleWorkflows();
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(`${out}.tmp`, code);
  fs.renameSync(`${out}.tmp`, out); // never a half-written bundle
  console.log(`[spirit] workflow bundle ${out} (${Math.round(code.length / 1024)} KiB, ${Date.now() - started} ms)`);
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
