/**
 * How a campaign sends: only inside each recipient's send window (their time zone), no faster
 * than its rate, stopped by a cancel while sending, and a long campaign continuing as new every
 * 200 batches with its counters carried.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { projectRoot } from '../../platform/config';
import { campaignWorkflowId } from '../../workflows/campaign-messages';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { runId } from '../support/env';
import { eventually } from '../support/bookings';
import { audience, marketingTemplate } from '../support/campaigns';

/** An Etc/GMT zone where the local hour is `hour` now (POSIX signs: Etc/GMT-5 is UTC+5). */
function zoneAt(hour: number): string {
  let offset = hour - new Date().getUTCHours();
  if (offset < -12) offset += 24;
  if (offset > 14) offset -= 24;
  return offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

async function statuses(campaignId: string): Promise<Record<string, number>> {
  const rows = await stack().knex('campaign_recipients').where({ campaign_id: campaignId }).groupBy('status').select('status', stack().knex.raw('count(*)::int as n'));
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

function received(campaignId: string) {
  return stack().knex('campaign_recipients').where({ campaign_id: campaignId }).pluck('send_id').then((ids: string[]) => {
    const set = new Set(ids);
    return stack().sendgrid.accepted.filter((p) => set.has(p.sendId!));
  });
}

describe('campaign sending', function () {
  this.timeout(120_000);

  it('sends only inside the recipient\'s own send window; the others wait (pending, never mailed) until cancelled', async () => {
    const { knex } = stack();
    const { segmentId, contacts } = await audience(6);
    const inside = contacts.slice(0, 3);
    const outside = contacts.slice(3);
    // Local noon for some, local midnight for the others; the window is 10:00-14:00 local.
    await knex('contacts').whereIn('id', inside.map((c) => c.id)).update({ timezone: zoneAt(12) });
    await knex('contacts').whereIn('id', outside.map((c) => c.id)).update({ timezone: zoneAt(0) });
    const token = await loginAs('marketer');
    const c = await api('POST', '/api/v1/campaigns', { token, body: { name: 'Windowed', segmentId, variants: [{ name: 'A', templateId: await marketingTemplate() }], sendWindow: { startHour: 10, endHour: 14 } } });
    expect(c.status, JSON.stringify(c.body)).to.equal(201);
    await api('POST', `/api/v1/campaigns/${c.body.id}/schedule`, { token, body: {} });
    await eventually(async () => (await api('GET', `/api/v1/campaigns/${c.body.id}`, { token })).body.progress.phase === 'waiting_for_window', 30_000, 200);
    const view = (await api('GET', `/api/v1/campaigns/${c.body.id}`, { token })).body;
    expect(view.status).to.equal('sending');
    expect(view.progress).to.include({ audience: 6, sent: 3, remaining: 3 });
    const rows = await knex('campaign_recipients').where({ campaign_id: c.body.id }).select('contact_id', 'status');
    const by = Object.fromEntries(rows.map((r) => [r.contact_id, r.status]));
    for (const x of inside) expect(by[x.id], x.email).to.equal('sent');
    for (const x of outside) expect(by[x.id], x.email).to.equal('pending');
    expect((await received(c.body.id)).map((p) => p.email).sort()).to.deep.equal(inside.map((x) => x.email).sort());

    const cancelled = await api('POST', `/api/v1/campaigns/${c.body.id}/cancel`, { token });
    expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
    await eventually(async () => (await knex('campaigns').where({ id: c.body.id }).first()).status === 'cancelled', 20_000, 100);
    expect(await statuses(c.body.id)).to.deep.equal({ sent: 3, pending: 3 });
    expect(await received(c.body.id)).to.have.length(3);
  });

  it('keeps the campaign\'s rate: 100 recipients at 25 per second go out in batches at least ~2 s apart', async () => {
    const { sendgrid } = stack();
    const { segmentId } = await audience(100);
    const token = await loginAs('marketer');
    const c = await api('POST', '/api/v1/campaigns', { token, body: { name: 'Steady', segmentId, variants: [{ name: 'A', templateId: await marketingTemplate() }], ratePerSecond: 25 } });
    await api('POST', `/api/v1/campaigns/${c.body.id}/schedule`, { token, body: {} });
    await eventually(async () => (await api('GET', `/api/v1/campaigns/${c.body.id}`, { token })).body.status === 'sent', 60_000, 250);
    const mine = await received(c.body.id);
    expect(mine).to.have.length(100);
    const requests = [...new Set(mine.map((p) => p.request))].sort((a, b) => a - b).map((i) => sendgrid.requests[i]);
    // The stack's batch is 50: two requests of 50, the second no sooner than 50 / 25 = 2 s after
    // the first batch began (less the first batch's template compile, hence 1.5 s).
    expect(requests.map((r) => r.body.personalizations.length)).to.deep.equal([50, 50]);
    expect(requests[1].at - requests[0].at).to.be.at.least(1500);
  });

  it('cancels while sending: nothing more goes out, the rest stays unsent, and a second cancel is refused', async () => {
    const { knex } = stack();
    const { segmentId } = await audience(200);
    const token = await loginAs('marketer');
    const c = await api('POST', '/api/v1/campaigns', { token, body: { name: 'Stopped', segmentId, variants: [{ name: 'A', templateId: await marketingTemplate() }], ratePerSecond: 20 } });
    await api('POST', `/api/v1/campaigns/${c.body.id}/schedule`, { token, body: {} });
    await eventually(async () => ((await statuses(c.body.id)).sent ?? 0) >= 50, 30_000, 50);
    const cancelled = await api('POST', `/api/v1/campaigns/${c.body.id}/cancel`, { token });
    expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
    await eventually(async () => (await knex('campaigns').where({ id: c.body.id }).first()).status === 'cancelled', 20_000, 100);
    const atCancel = await statuses(c.body.id);
    await new Promise((r) => setTimeout(r, 2000)); // at 20/s a batch of 50 would land in this time
    expect(await statuses(c.body.id)).to.deep.equal(atCancel);
    expect(atCancel.sent).to.be.at.least(50).and.below(200);
    expect(atCancel.sent + (atCancel.pending ?? 0)).to.equal(200);
    expect(await received(c.body.id)).to.have.length(atCancel.sent);
    const again = await api('POST', `/api/v1/campaigns/${c.body.id}/cancel`, { token });
    expect(again.status).to.equal(409);
    expect((await api('GET', `/api/v1/campaigns/${c.body.id}`, { token })).body.status).to.equal('cancelled');
  });

  it('continues as new after 200 batches, carrying its counters, and sends each recipient once', async function () {
    this.timeout(240_000);
    const { knex, temporal, sendgrid } = stack();
    const prefix = `can-${runId}-`;
    // A worker of its own with batches of one recipient, so 205 recipients take 205 batches.
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers', 'main.ts')], {
      cwd: projectRoot,
      env: {
        ...process.env, DATABASE_URL: stack().databaseUrl, TEMPORAL_ADDRESS: stack().temporalAddress, TEMPORAL_TASK_QUEUE_PREFIX: prefix,
        WORKER_TASK_QUEUES: 'marketing', EMAIL_PROVIDER: 'sendgrid', SENDGRID_API_KEY: sendgrid.apiKey, SENDGRID_BASE_URL: sendgrid.url,
        CAMPAIGN_BATCH_SIZE: '1', LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    try {
      const { segmentId } = await audience(205);
      const templateId = await marketingTemplate();
      const [campaign] = await knex('campaigns').insert({
        name: 'Long', segment_id: segmentId, variants: JSON.stringify([{ name: 'A', templateId }]), provider: 'sendgrid', rate_per_second: 100000,
        status: 'scheduled', scheduled_at: new Date(),
      }).returning('id');
      const workflowId = campaignWorkflowId(campaign.id);
      const first = await temporal.workflow.start('campaignWorkflow', { workflowId, taskQueue: `${prefix}marketing`, args: [{ campaignId: campaign.id }] });
      const result = await temporal.workflow.getHandle(workflowId).result();
      expect(result).to.include({ status: 'sent', audience: 205, sent: 205, remaining: 0 });

      const runs: Array<{ runId: string; status: string }> = [];
      for await (const wf of temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push({ runId: wf.runId, status: wf.status.name });
      expect(runs).to.have.length(2);
      expect(runs.find((r) => r.runId === first.firstExecutionRunId)!.status).to.equal('CONTINUED_AS_NEW');
      const { events } = await temporal.workflow.getHandle(workflowId, first.firstExecutionRunId).fetchHistory();
      const batches = (events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendBatch');
      expect(batches).to.have.length(200);
      expect((events ?? []).some((e) => e.workflowExecutionContinuedAsNewEventAttributes)).to.equal(true);

      expect(await statuses(campaign.id)).to.deep.equal({ sent: 205 });
      const ids = await knex('campaign_recipients').where({ campaign_id: campaign.id }).pluck('send_id');
      for (const id of ids) expect(sendgrid.acceptedSendIds.get(id), id).to.equal(1);
      expect((await knex('campaigns').where({ id: campaign.id }).first()).status).to.equal('sent');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
    }
  });
});
