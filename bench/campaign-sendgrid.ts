/**
 * A campaign to a local SendGrid-format endpoint, end to end: the campaign workflow on a worker
 * CHILD process (workers/main.ts, EMAIL_PROVIDER=sendgrid, SENDGRID_BASE_URL=the fake) sending
 * to the fake SendGrid (test/support/fake-sendgrid.ts, counts only) running in this process.
 * Goals (the issue): >= 2,000 messages/s for 100,000 recipients; worker RSS < 300 MB.
 *
 *   npm run bench -- campaign-sendgrid [--count 100000] [--batch 1000[,2000,5000]] [--rate 100000]
 *     [--slow-ms 10] [--timeout 240] [--fast] [--cpu-prof] [--node-options=<flags>]
 *     [--worker-entry <file>] [--setup-sql "<SQL>" ...]
 *
 * One audience of --count contacts (generate_series; consent granted, one tag) and its segment,
 * a marketing template (MJML, {{unsubscribe_url}}); then for each --batch value (CAMPAIGN_BATCH_SIZE)
 * a fresh worker process and a fresh campaign (rate_per_second --rate: no artificial limit),
 * measured from the workflow's start to its end (status 'sent'). No API in the loop: the rows
 * are written with knex and the workflow is started with a Temporal client on the worker's
 * queue, as test/marketing/campaign-crash.test.ts does (the stack's API process idles).
 * Every run checks that the fake accepted each recipient exactly once.
 * --cpu-prof: the worker runs under node --cpu-prof; a summary of where its CPU went is reported.
 * What-ifs: --node-options=<flags> (NODE_OPTIONS of the worker, e.g. --node-options=--max-old-space-size=160),
 * --worker-entry <file> (run that instead of workers/main.ts), --setup-sql "<SQL>" (run on the bench
 * database before the campaigns, e.g. an index a migration would add).
 */
import { parseArgs } from 'node:util';
import { startFakeSendGrid } from '../test/support/fake-sendgrid';
import { createAudience, createCampaign, createTemplate, logRun, measureCampaign, numberList, startCampaignBench } from './campaign-common';
import { say } from './stack';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      count: { type: 'string', default: '100000' },
      batch: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '100000' },
      'slow-ms': { type: 'string', default: '10' },
      timeout: { type: 'string', default: '240' },
      fast: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'node-options': { type: 'string' },
      'worker-entry': { type: 'string' },
      'setup-sql': { type: 'string', multiple: true },
    },
    strict: true,
  });
  const count = Number(o.count);
  // What-if: V8 flags for the worker (e.g. --max-old-space-size=160), as NODE_OPTIONS.
  const nodeOptions: Record<string, string> = o['node-options'] ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${o['node-options']}`.trim() } : {};
  const batches = numberList(o.batch, 'batch');

  const fake = await startFakeSendGrid({ record: false });
  const bench = await startCampaignBench({ fast: o.fast });
  try {
    const { knex } = bench.stack;
    const audience = await createAudience(knex, count);
    const templateId = await createTemplate(knex);
    for (const sql of o['setup-sql'] ?? []) {
      await knex.raw(sql);
      say(`setup: ${sql}`);
    }
    say(`${count} contacts with consent, tag ${audience.tag}, in ${audience.ms} ms; fake SendGrid on ${fake.url}`);

    const runs = [];
    for (const batchSize of batches) {
      fake.reset();
      const campaignId = await createCampaign(knex, { segmentId: audience.segmentId, templateId, provider: 'sendgrid', ratePerSecond: Number(o.rate), name: `bench batch ${batchSize}` });
      say(`[batch ${batchSize}] campaign ${campaignId}: ${count} recipients`);
      const r = await measureCampaign(bench, {
        runName: `b${batchSize}`, campaignId, expected: count, timeoutSeconds: Number(o.timeout), slowMs: Number(o['slow-ms']), cpuProf: o['cpu-prof'], workerEntry: o['worker-entry'],
        workerEnv: { EMAIL_PROVIDER: 'sendgrid', SENDGRID_API_KEY: fake.apiKey, SENDGRID_BASE_URL: fake.url, CAMPAIGN_BATCH_SIZE: String(batchSize), ...nodeOptions },
      });
      // Exactly once: every recipient's send id reached the fake once, and nothing else did.
      const sendIds: string[] = await knex('campaign_recipients').where({ campaign_id: campaignId }).pluck('send_id');
      const missing = sendIds.filter((id) => !fake.acceptedSendIds.has(id)).length;
      const twice = [...fake.acceptedSendIds.values()].filter((n) => n !== 1).length;
      const exactlyOnce = {
        recipientsInDatabase: sendIds.length, acceptedRecipients: fake.acceptedRecipients, distinctSendIds: fake.acceptedSendIds.size, missing, seenMoreThanOnce: twice,
        requests: fake.requests.length, non202: fake.requests.filter((q) => q.status !== 202).length,
        ok: sendIds.length === count && fake.acceptedRecipients === count && fake.acceptedSendIds.size === count && missing === 0 && twice === 0,
      };
      if (!exactlyOnce.ok) throw new Error(`[batch ${batchSize}] not exactly once: ${JSON.stringify(exactlyOnce)}`);
      logRun(`batch ${batchSize}`, r);
      say(`[batch ${batchSize}] exactly once: ${JSON.stringify(exactlyOnce)}`);
      runs.push({
        batchSize, ...r, exactlyOnce,
        goal: { messagesPerSecond: 2000, met: r.messagesPerSecond >= 2000, workerRssMb: 300, rssMet: (r.worker.rssHighWaterMb ?? r.worker.rssPeakSampledMb) < 300 },
      });
    }
    return {
      count,
      ...(o['node-options'] ? { workerNodeOptions: o['node-options'] } : {}),
      ...(o['worker-entry'] ? { workerEntry: o['worker-entry'] } : {}),
      ...(o['setup-sql'] ? { setupSql: o['setup-sql'] } : {}),
      ratePerSecond: Number(o.rate),
      postgres: process.env.DATABASE_URL ? 'external' : o.fast ? 'embedded-fast' : 'embedded-durable',
      audienceSetupMs: audience.ms,
      summary: runs.map((r) => ({ batchSize: r.batchSize, messagesPerSecond: r.messagesPerSecond, seconds: r.seconds, workerRssPeakMb: r.worker.rssPeakSampledMb, workerRssHwmMb: r.worker.rssHighWaterMb, otherProcessesCpu: r.cpuPercentOfOneCore.otherProcesses, exactlyOnce: r.exactlyOnce.ok })),
      runs,
      note: 'CPU % of one core (200 = both cores); benchInclServer = this process incl. the fake SendGrid. seconds: workflow start to its end (status sent); sendPhase: campaigns.started_at (after resolveAudience) to finished_at.',
    };
  } finally {
    await bench.stop();
    await fake.close();
  }
}
