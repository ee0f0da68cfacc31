import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { projectRoot } from '../../platform/config';
import { campaignWorkflowId } from '../../workflows/campaign-messages';
import { stack } from '../support/stack';
import { runId, sendgridWebhookKeys } from '../support/env';
import { signSendGridWebhook } from '../support/fake-sendgrid';
import { eventually } from '../support/bookings';
import { audience, marketingTemplate } from '../support/campaigns';
import { api } from '../support/http';

function worker(prefix: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers', 'main.ts')], {
    cwd: projectRoot,
    env: {
      ...process.env, DATABASE_URL: stack().databaseUrl, TEMPORAL_ADDRESS: stack().temporalAddress, TEMPORAL_TASK_QUEUE_PREFIX: prefix,
      WORKER_TASK_QUEUES: 'marketing', EMAIL_PROVIDER: 'sendgrid', SENDGRID_API_KEY: stack().sendgrid.apiKey, SENDGRID_BASE_URL: stack().sendgrid.url,
      CAMPAIGN_BATCH_SIZE: '25', CAMPAIGN_STALE_CLAIM_SECONDS: '3', LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
}

const exited = (child: ChildProcess) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));

describe('campaign durability', function () {
  this.timeout(180_000);

  it('never mails anyone twice when its worker is SIGKILLed again and again, and settles every recipient', async () => {
    const { knex, temporal, sendgrid } = stack();
    const prefix = `crash-${runId}-`;
    const { segmentId } = await audience(600);
    const templateId = await marketingTemplate();
    const [campaign] = await knex('campaigns').insert({
      name: 'Crashy', segment_id: segmentId, variants: JSON.stringify([{ name: 'A', templateId }]), provider: 'sendgrid', rate_per_second: 250,
      status: 'scheduled', scheduled_at: new Date(),
    }).returning('id');
    let child = worker(prefix);
    await temporal.workflow.start('campaignWorkflow', { workflowId: campaignWorkflowId(campaign.id), taskQueue: `${prefix}marketing`, args: [{ campaignId: campaign.id }] });

    // Kill it at random moments while it sends, three times, restarting each time.
    for (let kill = 0; kill < 3; kill++) {
      await eventually(async () => (await knex('campaign_recipients').where({ campaign_id: campaign.id, status: 'sent' })).length > (kill + 1) * 60, 60_000, 20);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)));
      child.kill('SIGKILL');
      await exited(child);
      child = worker(prefix);
    }
    try {
      await eventually(async () => (await knex('campaigns').where({ id: campaign.id }).first()).status === 'sent', 120_000, 250);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }

    const rows = await knex('campaign_recipients').where({ campaign_id: campaign.id }).select('send_id', 'status', 'email');
    expect(rows).to.have.length(600);
    for (const r of rows) {
      // Never twice: the provider saw each send id at most once.
      expect(sendgrid.acceptedSendIds.get(r.send_id) ?? 0, r.send_id).to.be.at.most(1);
      expect(['sent', 'failed', 'suppressed', 'unknown']).to.include(r.status);
      if (r.status === 'sent') expect(sendgrid.acceptedSendIds.get(r.send_id)).to.equal(1);
    }
    // The unknown ones (a call in flight at a kill) are settled by the provider's events, not resent.
    const unknown = rows.filter((r) => r.status === 'unknown');
    const delivered = unknown.filter((r) => sendgrid.acceptedSendIds.has(r.send_id));
    if (delivered.length) {
      const body = JSON.stringify(delivered.map((r, i) => ({ email: r.email, event: 'delivered', sg_event_id: `d-${campaign.id}-${i}`, timestamp: Math.floor(Date.now() / 1000), send_id: r.send_id })));
      const { signature, timestamp } = signSendGridWebhook(body, sendgridWebhookKeys.privateKey);
      const res = await api('POST', '/api/v1/webhooks/sendgrid', { raw: body, headers: { 'content-type': 'application/json', 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': timestamp } });
      expect(res.status).to.equal(200);
    }
    const after = await knex('campaign_recipients').where({ campaign_id: campaign.id }).select('send_id', 'status');
    const stillUnknown = after.filter((r) => r.status === 'unknown');
    // What stays unknown never reached the provider; everything else is sent, exactly once.
    for (const r of stillUnknown) expect(sendgrid.acceptedSendIds.has(r.send_id)).to.equal(false);
    const sent = after.filter((r) => r.status === 'sent').length;
    const accepted = after.filter((r) => sendgrid.acceptedSendIds.has(r.send_id)).length;
    expect(sent).to.equal(accepted);
    expect(sent + stillUnknown.length).to.equal(600);
    console.log(`      (kills: 3, unknown after kills: ${unknown.length}, settled by events: ${delivered.length}, never reached the provider: ${stillUnknown.length})`);
  });
});
