/**
 * The agent runtime (workflows/agent-run.ts, activities/agents/run.ts) with probe agents: core
 * mode's gather → core → actions, approvals through the inbox (approve, reject with a reason,
 * expiry with the agent's default), delayed actions, and what the run records.
 */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { eventually } from '../support/bookings';
import { stack } from '../support/stack';
import { startProbeWorker, startProbeWorkerProcess, type ProbeWorker } from '../support/probe-worker';

describe('agent runtime (core mode)', function () {
  this.timeout(90_000);
  let probe: ProbeWorker;
  let operator: string;
  let admin: string;
  let marketer: string;

  before(async () => {
    probe = await startProbeWorker();
    [operator, admin, marketer] = await Promise.all([loginAs('operator'), loginAs('admin'), loginAs('marketer')]);
  });
  after(() => probe.stop());

  const run = (id: string) => api('GET', `/api/v1/agent-runs/${encodeURIComponent(id)}`, { token: operator });
  const finished = (id: string) => eventually(async () => {
    const r = await run(id);
    return ['completed', 'failed'].includes(r.body.status) && r.body;
  }, 30_000);
  const effects = (id: string) => stack().knex('probe_effects').where({ run_id: id }).orderBy('at');

  it('gathers, computes and finishes, recording each step, when nothing needs a person', async () => {
    const id = await probe.start('ProbeAgent', { note: 'hello' });
    const done = await finished(id);
    expect(done.status).to.equal('completed');
    expect(done.mode).to.equal('core');
    expect(done.steps.map((s: { kind: string; name: string }) => `${s.kind}:${s.name}`)).to.deep.equal(['tool:probe.count', 'core:ProbeAgent', 'tool:probe.note']);
    expect(done.output).to.deep.include({ effectsBefore: 0, charge: 0 });
    expect(done.output.actions).to.deep.equal([{ tool: 'probe.note', status: 'done', result: { noted: 'hello' } }]);
    expect(done.narrative).to.equal('The probe had 0 effects; it proposes a charge of 0.');
    const rows = await effects(id);
    expect(rows.map((r) => [r.tool, r.executions])).to.deep.equal([['probe.note', 1]]);
  });

  it('puts a money action in the inbox saying what will happen, and runs it once when an operator approves', async () => {
    const id = await probe.start('ProbeAgent', { charge: 12_345 });
    const approval = await eventually(async () => {
      const list = await api('GET', '/api/v1/approvals?status=pending&kind=agent_action', { token: operator });
      return list.body.data.find((a: { agentRunId: string }) => a.agentRunId === id);
    });
    expect(approval.what).to.equal('Charge 123.45 EUR to the probe account');
    expect(approval.requestedBy).to.deep.equal({ kind: 'agent', id: 'ProbeAgent' });
    expect(approval.onExpiry).to.equal('reject');
    expect(Date.parse(approval.expiresAt) - Date.parse(approval.requestedAt)).to.be.closeTo(24 * 3_600_000, 60_000);
    expect((await run(id)).body.status).to.equal('waiting_approval');
    expect(await effects(id)).to.have.length(0);

    // An accountant decides refunds, not agents' actions; a marketer sees no inbox at all.
    const accountant = await loginAs('accountant');
    expect((await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: accountant, body: {} })).status).to.be.oneOf([403, 404]);
    expect((await api('GET', '/api/v1/approvals', { token: marketer })).status).to.equal(403);

    const approved = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: operator, body: { note: 'fine' } });
    expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
    expect(approved.body.status).to.equal('approved');
    const again = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: admin, body: {} });
    expect(again.status).to.equal(409);

    const done = await finished(id);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    expect(done.output.actions).to.deep.equal([{ tool: 'probe.charge', status: 'done', result: { charged: 12_345 } }]);
    const approvalStep = done.steps.find((s: { kind: string }) => s.kind === 'approval');
    expect(approvalStep.output).to.deep.equal({ decision: 'approved', note: 'fine', runs: true });
    expect((await effects(id)).map((r) => [r.tool, r.executions])).to.deep.equal([['probe.charge', 1]]);
    const audit = await stack().knex('audit_log').where({ action: 'approval.approve', entity_id: approval.id });
    expect(audit).to.have.length(1);
    expect(audit[0].data).to.include({ kind: 'agent_action', agentRunId: id, tool: 'probe.charge' });
  });

  it('refuses a rejection without a reason; a rejected action never runs', async () => {
    const id = await probe.start('ProbeAgent', { charge: 500 });
    const approval = await eventually(async () => (await stack().knex('approvals').where({ agent_run_id: id }).first()));
    const bare = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: operator, body: {} });
    expect(bare.status).to.equal(422);
    expect(bare.body.code).to.equal('reason_required');
    const rejected = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: operator, body: { reason: 'not this month' } });
    expect(rejected.status).to.equal(200);
    const done = await finished(id);
    expect(done.output.actions).to.deep.equal([{ tool: 'probe.charge', status: 'rejected' }]);
    expect(await effects(id)).to.have.length(0);
    const row = await stack().knex('approvals').where({ id: approval.id }).first();
    expect(row).to.include({ status: 'rejected', decision_note: 'not this month' });
  });

  it('runs an approved action at once, while an action proposed before it still waits for a person', async () => {
    const id = await probe.start('ProbeAgent', { charge: 100, charges: [200], note: 'after both' });
    const approvals = await eventually(async () => {
      const rows = await stack().knex('approvals').where({ agent_run_id: id }).orderBy('requested_at');
      return rows.length === 2 && rows;
    });
    const second = approvals.find((a: { data: { input: { amountMinor: number } } }) => a.data.input.amountMinor === 200) ?? approvals[1];
    const first = approvals.find((a: { id: string }) => a.id !== second.id);
    expect((await api('POST', `/api/v1/approvals/${second.id}/approve`, { token: operator, body: {} })).status).to.equal(200);
    // The second charge runs although the first is still pending; the note (no approval) keeps its place after both.
    const charged = await eventually(async () => {
      const rows = await effects(id);
      return rows.length > 0 && rows;
    });
    expect(charged.map((r) => [r.tool, r.value])).to.deep.equal([['probe.charge', { amountMinor: 200 }]]);
    expect((await run(id)).body.status).to.equal('waiting_approval');
    expect((await api('POST', `/api/v1/approvals/${first.id}/reject`, { token: operator, body: { reason: 'only the second' } })).status).to.equal(200);
    const done = await finished(id);
    expect(done.output.actions).to.deep.equal([
      { tool: 'probe.charge', status: 'rejected' },
      { tool: 'probe.charge', status: 'done', result: { charged: 200 } },
      { tool: 'probe.note', status: 'done', result: { noted: 'after both' } },
    ]);
    expect((await effects(id)).map((r) => [r.tool, r.executions])).to.deep.equal([['probe.charge', 1], ['probe.note', 1]]);
  });

  it('an approval nobody decides takes the agent\'s default at its deadline', async () => {
    // ProbeQuickExpiry: 2 seconds, then approve.
    const id = await probe.start('ProbeQuickExpiry', { charge: 700 });
    const done = await finished(id);
    expect(done.status).to.equal('completed');
    const approval = await stack().knex('approvals').where({ agent_run_id: id }).first();
    expect(approval.status).to.equal('expired');
    expect(done.output.actions).to.deep.equal([{ tool: 'probe.charge', status: 'done', result: { charged: 700 } }]);
    const late = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: operator, body: { reason: 'too late' } });
    expect(late.status).to.equal(409);
  });

  it('a delayed action waits on a durable timer', async () => {
    const started = Date.now();
    const id = await probe.start('ProbeAgent', { note: 'later', noteAfterMs: 1500 });
    const done = await finished(id);
    expect(done.steps.map((s: { kind: string }) => s.kind)).to.deep.equal(['tool', 'core', 'wait', 'tool']);
    const note = (await effects(id))[0];
    expect(+new Date(note.at) - started).to.be.greaterThan(1400);
  });

  it('a run whose input its schema refuses fails with the reason', async () => {
    const id = await probe.start('ProbeAgent', { charge: -5 });
    const done = await finished(id);
    expect(done.status).to.equal('failed');
    expect(done.error).to.match(/input of ProbeAgent is invalid: charge/);
  });
});

describe('agent runtime (a worker killed mid-run)', function () {
  this.timeout(120_000);

  it('resumes on another worker without repeating a completed tool call', async () => {
    const { temporal, knex } = stack();
    const queue = `probe-crash-${Math.random().toString(36).slice(2)}`;
    const first = await startProbeWorkerProcess(queue);
    const id = `agent-ProbeAgent-crash-${Math.random().toString(36).slice(2)}`;
    // A slow gather call that completes, then a note that waits 4 s on a durable timer: the worker dies in between.
    await temporal.workflow.start('agentRunWorkflow', { workflowId: id, taskQueue: queue, args: [{ agent: 'ProbeAgent', input: { slow: [{ ms: 300, label: 'gathered' }], note: 'after the crash', noteAfterMs: 4000 }, occasion: 'crash', trigger: 'request' }] });
    await eventually(async () => (await knex('probe_effects').where({ run_id: id, tool: 'probe.slow' })).length === 1, 30_000);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const second = await startProbeWorkerProcess(queue);
    try {
      const result = await temporal.workflow.getHandle(id).result();
      expect(result.status).to.equal('completed');
      const rows = await knex('probe_effects').where({ run_id: id }).orderBy('at');
      expect(rows.map((r) => [r.tool, r.executions])).to.deep.equal([['probe.slow', 1], ['probe.note', 1]]);
      const run = await knex('agent_runs').where({ id }).first();
      expect(run.steps.map((s: { kind: string; name: string }) => `${s.kind}:${s.name}`)).to.deep.equal(['tool:probe.count', 'tool:probe.slow', 'core:ProbeAgent', 'wait:probe.note', 'tool:probe.note']);
    } finally {
      second.kill('SIGKILL');
    }
  });
});
