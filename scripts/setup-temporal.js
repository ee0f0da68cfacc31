#!/usr/bin/env node
// `npm install` (postinstall) and `npm run setup`: make sure a Temporal CLI dev server is at hand.
// Skipped where an external Temporal is used (TEMPORAL_ADDRESS set, or SPIRIT_SKIP_TEMPORAL_SETUP=1),
// e.g. in the production Docker image.
'use strict';
const { ensureTemporalCli } = require('./temporal-cli');

if (process.env.SPIRIT_SKIP_TEMPORAL_SETUP === '1' || process.env.TEMPORAL_ADDRESS) {
  console.log('[temporal-setup] skipped: an external Temporal server is configured');
  process.exit(0);
}
ensureTemporalCli().catch((err) => {
  console.error(`[temporal-setup] ${err.message}`);
  process.exit(1);
});
