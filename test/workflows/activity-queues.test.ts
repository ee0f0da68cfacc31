/**
 * Activities are registered per task queue, by group, and a name may be declared once
 * (activities/registry.ts). Checked against the recorded histories: every activity a workflow
 * scheduled is registered on the queue that workflow ran on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { createActivityGroups } from '../../activities';
import { activityRegistry, ActivityRegistrationError, type ActivityGroup } from '../../activities/registry';
import { projectRoot } from '../../platform/config';
import { taskQueues, type TaskQueueName } from '../../temporal.config';
import { stack } from '../support/stack';

const noop = async () => undefined;
const group = (name: string, queue: TaskQueueName, names: string[], prefix?: string): ActivityGroup =>
  ({ name, queue, prefix, activities: Object.fromEntries(names.map((n) => [n, noop])) });

/** The queue each workflow type is started on (services/, api/routes/campaigns.ts, enroll, the schedule). */
const WORKFLOW_QUEUES: Record<string, TaskQueueName> = {
  bookingWorkflow: taskQueues.bookings,
  campaignWorkflow: taskQueues.marketing,
  automationWorkflow: taskQueues.marketing,
  housekeepingWorkflow: taskQueues.platform,
  messageDispatchWorkflow: taskQueues.marketing,
  agentRunWorkflow: taskQueues.agents,
  conversationWorkflow: taskQueues.agents,
};

describe('activity registry (activities per task queue, names unique across groups)', () => {
  it('refuses a name declared by two groups, on the same queue or not', () => {
    expect(() => activityRegistry([group('campaign', 'marketing', ['loadCampaign']), group('automation', 'marketing', ['loadCampaign'])]))
      .to.throw(ActivityRegistrationError, /"loadCampaign" is declared by both "campaign" and "automation"/);
    expect(() => activityRegistry([group('booking', 'bookings', ['queueMessage']), group('housekeeping', 'platform', ['queueMessage'])]))
      .to.throw(ActivityRegistrationError, /"queueMessage" is declared by both/);
  });

  it('makes a new group use its prefix, so the agents\' tools cannot collide with booking activities', () => {
    expect(() => activityRegistry([group('tools', 'bookings', ['loadBooking'])])).to.throw(ActivityRegistrationError, /needs a prefix/);
    expect(() => activityRegistry([group('tools', 'bookings', ['loadBooking'], 'tool.')])).to.throw(ActivityRegistrationError, /must start with its prefix "tool\."/);
    expect(() => activityRegistry([group('tools', 'bookings', ['tool.x'], 'Tool')])).to.throw(ActivityRegistrationError, /ends with a dot/);
    const registry = activityRegistry([group('booking', 'bookings', ['loadBooking']), group('tools', 'bookings', ['tool.searchTours', 'tool.loadBooking'], 'tool.')]);
    expect(Object.keys(registry.forQueue('bookings')).sort()).to.deep.equal(['loadBooking', 'tool.loadBooking', 'tool.searchTours']);
    expect(registry.groupOf.get('tool.loadBooking')).to.equal('tools');
  });

  it('registers the real groups without a clash, each on its own queue only', () => {
    const registry = activityRegistry(createActivityGroups({ knex: stack().knex }));
    const bookings = Object.keys(registry.forQueue('bookings'));
    const marketing = Object.keys(registry.forQueue('marketing'));
    const platform = Object.keys(registry.forQueue('platform'));
    expect(bookings).to.include.members(['loadBooking', 'authorizePayment', 'enrollBookingContact']);
    expect(marketing).to.include.members(['sendBatch', 'loadAutomation', 'sendAutomationEmail']);
    expect(platform).to.include.members(['purgeIdempotencyKeys', 'startPendingBookingWorkflows', 'enrollDueContacts']);
    expect(bookings.filter((n) => marketing.includes(n) || platform.includes(n))).to.deep.equal([]);
    expect(marketing).to.not.include('loadBooking');
    expect(bookings).to.not.include('sendBatch');
  });

  it('has every activity of each workflow on the queue the workflow runs on', () => {
    const groups = createActivityGroups({ knex: stack().knex });
    const registry = activityRegistry(groups);
    // The type a workflow proxies (proxyActivities<BookingActivities>) names its group.
    for (const file of fs.readdirSync(path.join(projectRoot, 'workflows')).filter((f) => f.endsWith('.ts') && !f.includes('messages') && f !== 'index.ts')) {
      // A workflow split into a folder of its own (workflows/booking/) proxies its activities there.
      const folder = path.join(projectRoot, 'workflows', file.replace(/\.ts$/, ''));
      const parts = fs.existsSync(folder) ? fs.readdirSync(folder).filter((f) => f.endsWith('.ts')).map((f) => path.join(folder, f)) : [];
      const source = [path.join(projectRoot, 'workflows', file), ...parts].map((f) => fs.readFileSync(f, 'utf8')).join('\n');
      const workflows = [...source.matchAll(/export async function (\w+Workflow)\b/g)].map((m) => m[1]);
      const proxied = [...new Set([...source.matchAll(/proxyActivities<(\w+)Activities>/g)].map((m) => m[1].toLowerCase()))];
      expect(workflows, file).to.not.be.empty;
      expect(proxied, file).to.not.be.empty;
      for (const wf of workflows) {
        expect(WORKFLOW_QUEUES, `the queue of ${wf}`).to.have.property(wf);
        for (const name of proxied) expect(groups.find((g) => g.name === name)?.queue, `${file}: ${name} activities for ${wf}`).to.equal(WORKFLOW_QUEUES[wf]);
      }
    }
    // And what the recorded histories scheduled, by name, is registered where they ran.
    const dir = path.join(projectRoot, 'test', 'fixtures', 'histories');
    let checked = 0;
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const { events } = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
      const started = events.find((e: Record<string, unknown>) => e.workflowExecutionStartedEventAttributes).workflowExecutionStartedEventAttributes;
      // The probe agents' runs (test/support/probe-agents.ts: agent-approval, agent-model) ran on a
      // test-only queue with test-only tools: replayed, but not registered in production.
      if (started.taskQueue.name.startsWith('probe-agents-')) continue;
      const queue = WORKFLOW_QUEUES[started.workflowType.name];
      expect(queue, `${file}: ${started.workflowType.name}`).to.be.a('string');
      for (const e of events) {
        const scheduled = e.activityTaskScheduledEventAttributes;
        if (!scheduled) continue;
        expect(scheduled.taskQueue.name.endsWith(`-${queue}`) || scheduled.taskQueue.name === queue, `${file}: ${scheduled.activityType.name} ran on ${scheduled.taskQueue.name}`).to.equal(true);
        expect(registry.forQueue(queue), `${file}: ${scheduled.activityType.name} on ${queue}`).to.have.property(scheduled.activityType.name);
        checked++;
      }
    }
    expect(checked).to.be.greaterThan(50);
  });
});
