/**
 * The incidents API: validation (422 problem+json naming the field), roles, the crisis incident
 * kept with a note while CrisisManager is not available (or its run started when it is), list and detail.
 */
import { expect } from 'chai';
import { isAvailable } from '../../agents';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';

describe('incidents API', function () {
  this.timeout(60_000);
  let operator: string;
  let admin: string;

  before(async () => {
    [operator, admin] = await Promise.all([loginAs('operator'), loginAs('admin')]);
  });

  const from = '2027-05-01T08:00:00Z';
  const to = '2027-05-02T08:00:00Z';

  it('refuses an invalid incident with 422 problem+json naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ kind: 'flood', from, to }, 'kind'],
      [{ kind: 'supplier', from, to }, 'supplier'],
      [{ kind: 'supplier', supplier: '  ', from, to }, 'supplier'],
      [{ kind: 'supplier', supplier: 'Acme', from: 'tomorrow', to }, 'from'],
      [{ kind: 'supplier', supplier: 'Acme', from: to, to: from }, 'to'],
      [{ kind: 'supplier', supplier: 'Acme', from, to, lat: 1 }, 'body'],
      [{ kind: 'crisis', lat: 91, lng: 0, radiusKm: 5, from, to, message: 'm' }, 'lat'],
      [{ kind: 'crisis', lat: 40, lng: -181, radiusKm: 5, from, to, message: 'm' }, 'lng'],
      [{ kind: 'crisis', lat: 40, lng: -3, radiusKm: 0, from, to, message: 'm' }, 'radiusKm'],
      [{ kind: 'crisis', lat: 40, lng: -3, radiusKm: 5, from, to }, 'message'],
    ];
    for (const [body, param] of cases) {
      const res = await api('POST', '/api/v1/incidents', { token: operator, body });
      expect(res.status, JSON.stringify(body)).to.equal(422);
      expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect(res.body.code).to.equal('invalid_incident');
      expect(res.body.param, JSON.stringify(res.body)).to.equal(param);
    }
    expect(await stack().knex('incidents').where({ from_at: new Date(from) })).to.have.length(0);
  });

  it('is for admins and operators only', async () => {
    for (const role of ['marketer', 'accountant', 'customer'] as const) {
      const token = await loginAs(role);
      expect((await api('POST', '/api/v1/incidents', { token, body: { kind: 'supplier', supplier: 'Acme', from, to } })).status).to.equal(403);
      expect((await api('GET', '/api/v1/incidents', { token })).status).to.equal(403);
    }
    expect((await api('GET', '/api/v1/incidents')).status).to.equal(401);
  });

  it('records a crisis incident; CrisisManager starts only when it is available', async () => {
    const body = { kind: 'crisis', lat: 40.4168, lng: -3.7038, radiusKm: 12.5, from, to, message: 'Transport strike in central Madrid' };
    const res = await api('POST', '/api/v1/incidents', { token: admin, body });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body).to.deep.include({ object: 'incident', kind: 'crisis', supplier: null, lat: 40.4168, lng: -3.7038, radiusKm: 12.5, from: '2027-05-01T08:00:00.000Z', to: '2027-05-02T08:00:00.000Z', message: body.message, status: 'open' });
    const id = res.body.id as string;
    if (isAvailable('CrisisManager')) {
      expect(res.body.note).to.equal(null);
      expect(res.body.runs.map((r: { agent: string }) => r.agent)).to.deep.equal(['CrisisManager']);
      const run = await stack().knex('agent_runs').where({ id: res.body.runs[0].id }).first();
      expect(run.input).to.deep.equal({ incidentId: id, lat: 40.4168, lng: -3.7038, radiusKm: 12.5, from: '2027-05-01T08:00:00.000Z', to: '2027-05-02T08:00:00.000Z', message: body.message });
      expect(run.occasion).to.equal(`incident-${id}`);
    } else {
      expect(res.body.runs).to.deep.equal([]);
      expect(res.body.note).to.match(/CrisisManager\) is not yet available/);
    }
    const read = await api('GET', `/api/v1/incidents/${id}`, { token: operator });
    expect(read.status).to.equal(200);
    expect(read.body).to.deep.include({ id, kind: 'crisis', message: body.message });
    const list = await api('GET', '/api/v1/incidents?kind=crisis&limit=100', { token: operator });
    expect(list.body.data.map((i: { id: string }) => i.id)).to.include(id);
    expect((await api('GET', '/api/v1/incidents/00000000-0000-4000-8000-000000000000', { token: operator })).status).to.equal(404);
    const audit = await stack().knex('audit_log').where({ action: 'incident.report', entity_id: id });
    expect(audit).to.have.length(1);
  });

  it('starts one SupplyChain run per supplier incident, with the incident in its input', async () => {
    const res = await api('POST', '/api/v1/incidents', { token: operator, body: { kind: 'supplier', supplier: ' Nobody Runs This ', from, to } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.supplier).to.equal('Nobody Runs This');
    expect(res.body.runs).to.have.length(1);
    const run = await stack().knex('agent_runs').where({ id: res.body.runs[0].id }).first();
    expect(run).to.include({ agent: 'SupplyChain', occasion: `incident-${res.body.id}`, trigger: 'event' });
    expect(run.input).to.deep.equal({ incidentId: res.body.id, supplier: 'Nobody Runs This', from: '2027-05-01T08:00:00.000Z', to: '2027-05-02T08:00:00.000Z' });
  });
});
