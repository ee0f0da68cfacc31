import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Worker } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { projectRoot } from '../../platform/config';
import { bookingWorkflowId } from '../../workflows/booking-messages';
import { campaignWorkflowId } from '../../workflows/campaign-messages';
import { stack } from '../support/stack';

/**
 * Recorded histories of finished booking, campaign and automation workflows, replayed against
 * the current workflow code: a change that breaks determinism (without `patched`) fails here.
 * After an intended, patched change, add a generation with `RECORD_HISTORIES=<change-name> npm test`
 * (this file runs last, so the run's workflows have finished by then).
 */
const HISTORIES = path.join(projectRoot, 'test', 'fixtures', 'histories');

describe('workflow replay', function () {
  this.timeout(60_000);

  it('replays recorded booking histories with the current workflow code (determinism)', async function () {
    this.timeout(60_000);
    const { temporal, bundle, knex } = stack();
    const record = process.env.RECORD_HISTORIES;
    if (record) {
      // Add this run's finished workflows to the fixtures: a booking per final status, a campaign
      // and an automation enrollment. RECORD_HISTORIES=<name> keeps earlier generations beside
      // them (so histories recorded before a patch keep being replayed); RECORD_HISTORIES=1 replaces them.
      const suffix = record === '1' ? '' : `.${record.replace(/[^a-z0-9-]/gi, '-')}`;
      fs.mkdirSync(HISTORIES, { recursive: true });
      // Some tests insert bookings as rows only (no workflow): those are skipped.
      const save = async (name: string, workflowId: string): Promise<boolean> => {
        const history = await temporal.workflow.getHandle(workflowId).fetchHistory().catch(() => undefined);
        if (history) fs.writeFileSync(path.join(HISTORIES, `${name}${suffix}.json`), historyToJSON(history));
        return !!history;
      };
      for (const status of ['completed', 'cancelled', 'failed', 'expired']) {
        const rows = await knex('bookings').where({ status }).whereNotNull('workflow_started_at').orderBy('updated_at', 'desc').limit(50).pluck('id');
        for (const id of rows) if (await save(`booking-${status}`, bookingWorkflowId(id))) break;
      }
      // The paths that change most, each from a booking that took it: a customer action (3-D Secure),
      // an approval decided or expired, a balance payment, and the first run of an amended booking
      // (it continued as new). Then a housekeeping run.
      const withEvent = async (types: string[]) => (await knex('booking_events as e').join('bookings as b', 'b.id', 'e.booking_id')
        .whereIn('e.type', types).whereNotNull('b.workflow_started_at').whereIn('b.status', ['completed', 'cancelled', 'failed', 'expired', 'paid_in_full', 'confirmed'])
        .orderBy('e.id', 'desc').first('b.id'))?.id as string | undefined;
      const closedRun = async (workflowId: string, status: string) => {
        for await (const wf of temporal.workflow.list({ query: `WorkflowId = '${workflowId}' AND ExecutionStatus = '${status}'` })) return wf.runId;
        return undefined;
      };
      const saveRun = async (name: string, workflowId: string, runId?: string) => {
        const history = await temporal.workflow.getHandle(workflowId, runId).fetchHistory();
        fs.writeFileSync(path.join(HISTORIES, `${name}${suffix}.json`), historyToJSON(history));
      };
      const threeDs = await withEvent(['payment_requires_action']);
      if (threeDs) await save('booking-3ds', bookingWorkflowId(threeDs));
      const approval = await withEvent(['approval_approved', 'approval_rejected', 'approval_expired']);
      if (approval) await save('booking-approval', bookingWorkflowId(approval));
      const balance = (await knex('payments as p').join('bookings as b', 'b.id', 'p.booking_id').where({ 'p.purpose': 'balance', 'p.status': 'captured' })
        .whereIn('b.status', ['completed', 'paid_in_full', 'cancelled']).orderBy('p.created_at', 'desc').first('b.id'))?.id;
      if (balance) await save('booking-balance', bookingWorkflowId(balance));
      const amended = await withEvent(['amended']);
      const amendedRun = amended ? await closedRun(bookingWorkflowId(amended), 'ContinuedAsNew') : undefined;
      if (amended && amendedRun) await saveRun('booking-amended', bookingWorkflowId(amended), amendedRun);
      for (const [type, name] of [['housekeepingWorkflow', 'housekeeping-run'], ['messageDispatchWorkflow', 'message-dispatch']]) {
        for await (const wf of temporal.workflow.list({ query: `WorkflowType = '${type}' AND ExecutionStatus = 'Completed'` })) {
          await saveRun(name, wf.workflowId, wf.runId);
          break;
        }
      }
      // Conversations: one closed for being idle (the whole life of a run), and the longest still open (handoff, replies).
      for await (const wf of temporal.workflow.list({ query: `WorkflowType = 'conversationWorkflow' AND ExecutionStatus = 'Completed'` })) {
        await saveRun('conversation-closed', wf.workflowId, wf.runId);
        break;
      }
      // ... and one whose hub ran as a child workflow (model mode).
      let longest: { id: string; runId: string; events: number } | undefined;
      let withChild: { id: string; runId: string } | undefined;
      for await (const wf of temporal.workflow.list({ query: `WorkflowType = 'conversationWorkflow' AND ExecutionStatus = 'Running'` })) {
        const history = await temporal.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
        const events = history.events?.length ?? 0;
        if (!longest || events > longest.events) longest = { id: wf.workflowId, runId: wf.runId, events };
        if (!withChild && history.events?.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)) withChild = { id: wf.workflowId, runId: wf.runId };
      }
      if (longest) await saveRun('conversation-open', longest.id, longest.runId);
      if (withChild) await saveRun('conversation-model', withChild.id, withChild.runId);
      const campaign = await knex('campaigns').where({ status: 'sent' }).orderBy('updated_at', 'desc').first('id');
      if (campaign) await save('campaign-sent', campaignWorkflowId(campaign.id));
      const enrollment = await knex('automation_enrollments').where({ status: 'completed' }).orderBy('updated_at', 'desc').first('workflow_id');
      if (enrollment) await save('automation-completed', enrollment.workflow_id);
      // Agent runs: one that waited for an approval, one in model mode, and the last of each real agent.
      // (FraudGuardian's checks inside the booking saga are recorded as runs but are not workflows: skipped.)
      const picked = new Set<string>();
      for (const r of await knex('agent_runs').whereIn('status', ['completed', 'failed']).orderBy('ended_at', 'desc')) {
        const waited = (r.steps as Array<{ kind: string }>).some((s) => s.kind === 'approval');
        const name = r.mode === 'model' ? 'agent-model' : r.agent.startsWith('Probe') ? (waited ? 'agent-approval' : null) : `agent-${r.agent}`;
        if (!name || picked.has(name)) continue;
        const history = await temporal.workflow.getHandle(r.id).fetchHistory().catch(() => undefined);
        if (!history) continue;
        fs.writeFileSync(path.join(HISTORIES, `${name}${suffix}.json`), historyToJSON(history));
        picked.add(name);
      }
    }
    const files = fs.readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));
    expect(files.length).to.be.at.least(3);
    const histories = files.map((f) => ({ workflowId: f.replace('.json', ''), history: JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8')) }));
    // Booking, campaign and automation workflows each run for days: each must be covered.
    for (const kind of ['booking-', 'campaign-', 'automation-']) expect(files.some((f) => f.startsWith(kind)), `a ${kind}* history`).to.equal(true);
    const replayed: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      expect(result.error, `${result.workflowId}: ${result.error?.message}`).to.equal(undefined);
      replayed.push(result.workflowId);
    }
    expect(replayed).to.have.length(files.length);
  });
});
