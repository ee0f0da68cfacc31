/**
 * CyberSentinel: its core on seeded event counts (exact), and end to end through a second API
 * instance that trusts X-Forwarded-For (the suite itself speaks from loopback, which is trusted
 * and never blocked): failed logins → run → the address (or account) refused → lifted → allowed.
 */
import { expect } from 'chai';
import { analyseSecurityEvents, type EventCount } from '../../agents/cyber-sentinel/core';
import { securityBlock } from '../../agents/cyber-sentinel/tools';
import type { ToolContext } from '../../agents/types';
import { api, loginAs } from '../support/http';
import { eventually } from '../support/bookings';
import { stack } from '../support/stack';
import { address, createUser, login, request, startInstance } from '../api/account-support';

describe('CyberSentinel core', () => {
  const events: EventCount[] = [
    // brute force on one account from one address
    { kind: 'login_failed', ip: '198.51.100.7', account: 'ana@x.test', count: 12 },
    { kind: 'login_failed', ip: '198.51.100.8', account: 'ana@x.test', count: 1 },
    // distributed brute force: 3 addresses, 4 failures each
    { kind: 'login_failed', ip: '198.51.100.20', account: 'bob@x.test', count: 4 },
    { kind: 'login_failed', ip: '198.51.100.21', account: 'bob@x.test', count: 4 },
    { kind: 'login_failed', ip: '198.51.100.22', account: 'bob@x.test', count: 4 },
    // credential stuffing: one address, 5 accounts
    ...['a', 'b', 'c', 'd', 'e'].map((n) => ({ kind: 'login_failed' as const, ip: '198.51.100.30', account: `${n}@y.test`, count: 1 })),
    // a burst of 401/403 answers
    { kind: 'http_401', ip: '198.51.100.40', account: null, count: 30 },
    { kind: 'http_403', ip: '198.51.100.40', account: 'user:u1', count: 25 },
    { kind: 'http_401', ip: '198.51.100.41', account: null, count: 10 },
    // refresh-token reuse
    { kind: 'refresh_reused', ip: '198.51.100.50', account: 'user:u2', count: 1 },
    // the trusted address is never counted; an active block is not proposed again
    { kind: 'login_failed', ip: '127.0.0.1', account: 'ana@x.test', count: 40 },
    { kind: 'http_401', ip: '198.51.100.60', account: null, count: 80 },
  ];

  it('finds brute force, distributed brute force, stuffing, bursts and reuse, and proposes exactly these blocks and one alert', () => {
    const result = analyseSecurityEvents({ events, activeBlocks: [{ scope: 'ip', value: '198.51.100.60' }], trustedAddresses: ['127.0.0.1'], windowMinutes: 15 });
    expect(result.output.findings).to.deep.equal([
      { kind: 'brute_force', account: 'ana@x.test', failures: 13, addresses: ['198.51.100.7', '198.51.100.8'] },
      { kind: 'brute_force', account: 'bob@x.test', failures: 12, addresses: ['198.51.100.20', '198.51.100.21', '198.51.100.22'] },
      { kind: 'credential_stuffing', ip: '198.51.100.30', accounts: 5, failures: 5 },
      { kind: 'response_burst', ip: '198.51.100.40', responses: 55 },
      { kind: 'response_burst', ip: '198.51.100.60', responses: 80 },
      { kind: 'refresh_reuse', account: 'user:u2', reuses: 1, addresses: ['198.51.100.50'] },
    ]);
    expect(result.output.blocks.map((b) => [b.scope, b.value, b.minutes])).to.deep.equal([
      ['ip', '198.51.100.7', 60], ['account', 'bob@x.test', 60], ['ip', '198.51.100.30', 60], ['ip', '198.51.100.40', 60],
    ]);
    expect(result.output.alert).to.deep.equal({ severity: 'critical', summary: '2 brute force, 1 credential stuffing, 2 response burst, 1 refresh reuse in the last 15 min; 4 new block(s)' });
    expect(result.actions.map((a) => a.tool)).to.deep.equal(['security.block', 'security.block', 'security.block', 'security.block', 'security.alert']);
    expect(result.output.events).to.equal(12 + 1 + 12 + 5 + 55 + 10 + 1 + 80);

    // a minute later, the same findings: alerted already, so only what is new is alerted
    const next = analyseSecurityEvents({
      events, activeBlocks: [{ scope: 'ip', value: '198.51.100.60' }, ...result.output.blocks], trustedAddresses: ['127.0.0.1'], windowMinutes: 15,
      alerted: ['brute_force:ana@x.test', 'brute_force:bob@x.test', 'credential_stuffing:198.51.100.30', 'response_burst:198.51.100.40', 'response_burst:198.51.100.60'],
    });
    expect(next.output.blocks).to.deep.equal([]);
    expect(next.actions).to.deep.equal([{
      tool: 'security.alert', reason: 'admins see every new finding in the security inbox',
      input: { severity: 'critical', summary: '1 refresh reuse in the last 15 min; 0 new block(s)', findings: [{ kind: 'refresh_reuse', account: 'user:u2', reuses: 1, addresses: ['198.51.100.50'] }] },
    }]);
  });

  it('proposes nothing below the thresholds', () => {
    const result = analyseSecurityEvents({ events: [{ kind: 'login_failed', ip: '198.51.100.7', account: 'ana@x.test', count: 9 }], activeBlocks: [], trustedAddresses: [], windowMinutes: 15 });
    expect(result.output.findings).to.deep.equal([]);
    expect(result.actions).to.deep.equal([]);
    expect(result.narrative).to.equal('Nothing suspicious in the last 15 minutes (9 events from untrusted addresses).');
  });
});

describe('CyberSentinel end to end', function () {
  this.timeout(120_000);
  let instance: Awaited<ReturnType<typeof startInstance>>;
  let admin: string;

  before(async () => {
    instance = await startInstance({ trustProxy: true });
    admin = await loginAs('admin');
  });
  after(async () => {
    await instance.app.context.security.close();
    await instance.close();
  });

  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  const runSentinel = async (input: Record<string, unknown>) => {
    const started = await api('POST', '/api/v1/agents/CyberSentinel/runs', { token: admin, body: { input } });
    expect(started.status, JSON.stringify(started.body)).to.equal(202);
    return eventually(async () => {
      const r = await api('GET', `/api/v1/agent-runs/${encodeURIComponent(started.body.id)}`, { token: admin });
      return ['completed', 'failed'].includes(r.body.status) && r.body;
    }, 30_000);
  };
  const eventsFrom = (ip: string) => stack().knex('security_events').where({ ip }).count({ n: '*' }).first().then((r) => Number(r!.n));

  it('blocks the address of a brute force (429, only that address), shows it to admins, and lets it in again once lifted', async () => {
    const victim = await createUser('customer');
    const attacker = address();
    const bystander = address();
    for (let i = 0; i < 6; i++) {
      const r = await login(victim.email, 'wrong password', instance.baseUrl, from(attacker));
      expect(r.status).to.equal(401);
    }
    await eventually(async () => (await eventsFrom(attacker)) === 6);
    const events = await api('GET', `/api/v1/security/events?ip=${attacker}`, { token: admin });
    expect(events.body.data.map((e: { kind: string; account: string }) => [e.kind, e.account])).to.deep.equal(Array(6).fill(['login_failed', victim.email]));

    const done = await runSentinel({ windowMinutes: 5, bruteForceFailures: 6 });
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    expect(done.output.findings).to.deep.include({ kind: 'brute_force', account: victim.email, failures: 6, addresses: [attacker] });
    const placed = done.output.actions.find((a: { tool: string; result: { value: string } }) => a.tool === 'security.block' && a.result.value === attacker);
    expect(placed.status).to.equal('done');
    const alert = done.output.actions.find((a: { tool: string }) => a.tool === 'security.alert');
    expect(alert.status).to.equal('done');
    const alerts = await api('GET', '/api/v1/security/alerts', { token: admin });
    expect(alerts.body.data.find((a: { id: string }) => a.id === alert.result.alertId).agentRunId).to.equal(done.id);

    const blocked = await eventually(async () => {
      const r = await request(instance.baseUrl, 'GET', '/api/v1/tours', { headers: from(attacker) });
      return r.status === 429 && r;
    }, 10_000);
    expect(blocked.headers.get('content-type')).to.contain('application/problem+json');
    expect(blocked.body.code).to.equal('address_blocked');
    expect(Number(blocked.headers.get('retry-after'))).to.be.within(3500, 3600);
    // the right password from the blocked address is refused too; another address and loopback are not
    expect((await login(victim.email, undefined, instance.baseUrl, from(attacker))).status).to.equal(429);
    expect((await request(instance.baseUrl, 'GET', '/api/v1/tours', { headers: from(bystander) })).status).to.equal(200);
    expect((await api('GET', '/api/v1/tours')).status).to.equal(200);

    const list = await api('GET', '/api/v1/security/blocks', { token: admin });
    const block = list.body.data.find((b: { value: string }) => b.value === attacker);
    expect(block).to.deep.include({ scope: 'ip', createdBy: 'agent:CyberSentinel', liftedAt: null });
    expect((await api('GET', '/api/v1/security/blocks', { token: await loginAs('operator') })).status).to.equal(403);

    const lifted = await api('DELETE', `/api/v1/security/blocks/${block.id}`, { token: admin });
    expect(lifted.status, JSON.stringify(lifted.body)).to.equal(200);
    expect(lifted.body.liftedAt).to.be.a('string');
    await eventually(async () => (await request(instance.baseUrl, 'GET', '/api/v1/tours', { headers: from(attacker) })).status === 200, 10_000);
    expect((await api('GET', '/api/v1/security/blocks', { token: admin })).body.data.map((b: { id: string }) => b.id)).to.not.include(block.id);
    expect(await stack().knex('audit_log').where({ action: 'security.unblock', entity_id: block.id })).to.have.length(1);
    // the next run sees the same events but an admin decided: the address is not blocked again
    const again = await runSentinel({ windowMinutes: 5, bruteForceFailures: 6 });
    expect(again.output.findings).to.deep.include({ kind: 'brute_force', account: victim.email, failures: 6, addresses: [attacker] });
    expect(again.output.blocks.map((b: { value: string }) => b.value)).to.not.include(attacker);
    expect((again.output.actions ?? []).filter((a: { tool: string }) => a.tool === 'security.alert')).to.have.length(0);
  });

  it('blocks an account under a brute force from several addresses (403 for its logins and its tokens)', async () => {
    const victim = await createUser('customer');
    const token = (await login(victim.email, undefined, instance.baseUrl, from(address()))).body.accessToken;
    const attackers = [address(), address(), address()];
    for (const ip of attackers) {
      for (let i = 0; i < 2; i++) expect((await login(victim.email, 'wrong', instance.baseUrl, from(ip))).status).to.equal(401);
    }
    await eventually(async () => Number((await stack().knex('security_events').where({ account: victim.email }).count({ n: '*' }).first())!.n) === 6);
    const done = await runSentinel({ windowMinutes: 5, bruteForceFailures: 6 });
    expect(done.output.blocks).to.deep.include({ scope: 'account', value: victim.email, minutes: 60, reason: 'distributed brute force: 6 failed logins from 3 addresses' });
    for (const ip of attackers) expect(done.output.blocks.map((b: { value: string }) => b.value)).to.not.include(ip);

    const refused = await eventually(async () => {
      const r = await login(victim.email, undefined, instance.baseUrl, from(address()));
      return r.status === 403 && r;
    }, 10_000);
    expect(refused.body.code).to.equal('account_blocked');
    expect((await request(instance.baseUrl, 'GET', '/api/v1/me', { token, headers: from(address()) })).status).to.equal(403);
    const block = (await api('GET', '/api/v1/security/blocks', { token: admin })).body.data.find((b: { value: string }) => b.value === victim.email);
    expect(block.userId).to.equal(victim.id);
    await api('DELETE', `/api/v1/security/blocks/${block.id}`, { token: admin });
    await eventually(async () => (await request(instance.baseUrl, 'GET', '/api/v1/me', { token, headers: from(address()) })).status === 200, 10_000);
  });

  it('records a reused refresh token and refused requests (401, 403) by address and account', async () => {
    const user = await createUser('customer');
    const ip = address();
    const first = await login(user.email, undefined, instance.baseUrl, from(ip));
    const refresh = first.body.refreshToken;
    expect((await request(instance.baseUrl, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: refresh }, headers: from(ip) })).status).to.equal(200);
    const reused = await request(instance.baseUrl, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: refresh }, headers: from(ip) });
    expect(reused.body.code).to.equal('refresh_token_reused');
    expect((await request(instance.baseUrl, 'GET', '/api/v1/me', { headers: from(ip) })).status).to.equal(401);
    expect((await request(instance.baseUrl, 'GET', '/api/v1/security/blocks', { token: first.body.accessToken, headers: from(ip) })).status).to.equal(403);
    const rows = await eventually(async () => {
      const r = await stack().knex('security_events').where({ ip }).orderBy('id').select('kind', 'account', 'path');
      return r.length === 3 && r;
    });
    expect(rows).to.deep.equal([
      { kind: 'refresh_reused', account: `user:${user.id}`, path: '/api/v1/auth/refresh' },
      { kind: 'http_401', account: null, path: '/api/v1/me' },
      { kind: 'http_403', account: `user:${user.id}`, path: '/api/v1/security/blocks' },
    ]);
  });

  it('places a block once per step key however often the tool is called', async () => {
    const ctx: ToolContext = {
      knex: stack().knex, runId: 'agent-CyberSentinel-test-once', agent: 'CyberSentinel', stepKey: `agent-CyberSentinel-test-once/action-0-${Date.now()}`, actor: 'agent:CyberSentinel',
      temporal: async () => stack().temporal, publicUrl: 'http://127.0.0.1', now: () => new Date(),
    };
    const ip = address();
    const input = { scope: 'ip' as const, value: ip, minutes: 1, reason: 'test' };
    const first = await securityBlock.run(ctx, input);
    const second = await securityBlock.run(ctx, input);
    expect(second).to.deep.equal(first);
    expect(await stack().knex('security_blocks').where({ value: ip })).to.have.length(1);
    expect(await stack().knex('audit_log').where({ action: 'security.block', entity_id: first.blockId })).to.have.length(1);
  });
});
