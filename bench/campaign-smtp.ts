/**
 * A campaign to a local SMTP sink over pooled connections, end to end: the campaign workflow on a
 * worker CHILD process (workers/main.ts, EMAIL_PROVIDER=smtp, SMTP_URL=the sink?maxConnections=N)
 * sending to the smtp-server sink (test/support/smtp-sink.ts, raw messages not kept) running in
 * this process. Goals (the issue): >= 500 messages/s; worker RSS < 300 MB.
 *
 *   npm run bench -- campaign-smtp [--count 20000] [--connections 5[,10]] [--batch 1000] [--max-messages N]
 *     [--rate 100000] [--slow-ms 10] [--timeout 240] [--fast] [--cpu-prof] [--node-options=<flags>]
 *     [--worker-entry <file>] [--setup-sql "<SQL>" ...]
 *
 * As campaign-sendgrid: one audience of --count contacts and its segment, a marketing template;
 * for each --connections value a fresh worker process and a fresh campaign, measured from the
 * workflow's start to its end (status 'sent'). --max-messages adds maxMessages= to SMTP_URL
 * (messages per pooled connection before nodemailer replaces it; its default is 100).
 * Exactly once: the sink's recorded Message-IDs (<send_id@domain>) against the recipients' rows.
 * The sink parses every message in this process: its CPU is in benchInclServer.
 * --cpu-prof: the worker runs under node --cpu-prof; a summary of where its CPU went is reported.
 * What-ifs: --node-options=<flags> (NODE_OPTIONS of the worker, e.g. --node-options=--max-old-space-size=160),
 * --worker-entry <file> (run that instead of workers/main.ts), --setup-sql "<SQL>" (run on the bench
 * database before the campaigns, e.g. an index a migration would add).
 */
import { parseArgs } from 'node:util';
import { startSmtpSink } from '../test/support/smtp-sink';
import { createAudience, createCampaign, createTemplate, logRun, measureCampaign, numberList, startCampaignBench } from './campaign-common';
import { say } from './stack';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      count: { type: 'string', default: '20000' },
      connections: { type: 'string', default: '5' },
      batch: { type: 'string', default: '1000' },
      'max-messages': { type: 'string' },
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
  const pools = numberList(o.connections, 'connections');
  const batchSize = Number(o.batch);

  const sink = await startSmtpSink({ keepRaw: false });
  const bench = await startCampaignBench({ fast: o.fast });
  try {
    const { knex } = bench.stack;
    const audience = await createAudience(knex, count);
    const templateId = await createTemplate(knex);
    for (const sql of o['setup-sql'] ?? []) {
      await knex.raw(sql);
      say(`setup: ${sql}`);
    }
    say(`${count} contacts with consent, tag ${audience.tag}, in ${audience.ms} ms; SMTP sink on ${sink.url}`);

    const runs = [];
    for (const connections of pools) {
      sink.reset();
      const smtpUrl = `${sink.url}?maxConnections=${connections}${o['max-messages'] ? `&maxMessages=${Number(o['max-messages'])}` : ''}`;
      const campaignId = await createCampaign(knex, { segmentId: audience.segmentId, templateId, provider: 'smtp', ratePerSecond: Number(o.rate), name: `bench smtp ${connections}` });
      say(`[${connections} connections] campaign ${campaignId}: ${count} recipients via ${smtpUrl}`);
      const r = await measureCampaign(bench, {
        runName: `c${connections}`, campaignId, expected: count, timeoutSeconds: Number(o.timeout), slowMs: Number(o['slow-ms']), cpuProf: o['cpu-prof'], workerEntry: o['worker-entry'],
        workerEnv: { EMAIL_PROVIDER: 'smtp', SMTP_URL: smtpUrl, CAMPAIGN_BATCH_SIZE: String(batchSize), ...nodeOptions },
      });
      // Exactly once: each recipient's Message-ID <send_id@domain> arrived once, and nothing else did.
      const sendIds: string[] = await knex('campaign_recipients').where({ campaign_id: campaignId }).pluck('send_id');
      const seen = new Map<string, number>();
      let withoutId = 0;
      for (const m of sink.messages) {
        const id = /^<([^@>]+)@/.exec(m.messageId ?? '')?.[1];
        if (!id) withoutId++;
        else seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      const missing = sendIds.filter((id) => !seen.has(id)).length;
      const twice = [...seen.values()].filter((n) => n !== 1).length;
      const exactlyOnce = {
        recipientsInDatabase: sendIds.length, sinkMessages: sink.count, distinctMessageIds: seen.size, withoutMessageId: withoutId, missing, seenMoreThanOnce: twice,
        smtpSessions: sink.connections.size,
        ok: sendIds.length === count && sink.count === count && seen.size === count && missing === 0 && twice === 0 && withoutId === 0,
      };
      if (!exactlyOnce.ok) throw new Error(`[${connections} connections] not exactly once: ${JSON.stringify(exactlyOnce)}`);
      logRun(`${connections} connections`, r);
      say(`[${connections} connections] exactly once: ${JSON.stringify(exactlyOnce)}`);
      runs.push({
        connections, smtpUrl: smtpUrl.replace(/^smtp:\/\/[^/?]+/, 'smtp://<sink>'), batchSize, ...r, exactlyOnce,
        goal: { messagesPerSecond: 500, met: r.messagesPerSecond >= 500, workerRssMb: 300, rssMet: (r.worker.rssHighWaterMb ?? r.worker.rssPeakSampledMb) < 300 },
      });
    }
    return {
      count,
      ...(o['node-options'] ? { workerNodeOptions: o['node-options'] } : {}),
      ...(o['worker-entry'] ? { workerEntry: o['worker-entry'] } : {}),
      ...(o['setup-sql'] ? { setupSql: o['setup-sql'] } : {}),
      batchSize,
      ratePerSecond: Number(o.rate),
      postgres: process.env.DATABASE_URL ? 'external' : o.fast ? 'embedded-fast' : 'embedded-durable',
      audienceSetupMs: audience.ms,
      summary: runs.map((r) => ({ connections: r.connections, messagesPerSecond: r.messagesPerSecond, seconds: r.seconds, workerRssPeakMb: r.worker.rssPeakSampledMb, workerRssHwmMb: r.worker.rssHighWaterMb, otherProcessesCpu: r.cpuPercentOfOneCore.otherProcesses, exactlyOnce: r.exactlyOnce.ok })),
      runs,
      note: 'CPU % of one core (200 = both cores); benchInclServer = this process incl. the SMTP sink. seconds: workflow start to its end (status sent); sendPhase: campaigns.started_at (after resolveAudience) to finished_at.',
    };
  } finally {
    await bench.stop();
    await sink.close();
  }
}
