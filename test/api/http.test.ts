import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { config } from '../../platform/config';
import { createApp } from '../../api/app';
import { logger } from '../../platform/logger';
import { lazyTemporal } from '../../platform/temporal';
import { freePort } from '../../platform/dev-services';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';

describe('HTTP behaviour', () => {
  it('health checks PostgreSQL and Temporal for real', async () => {
    const res = await api('GET', '/health');
    expect(res.status).to.equal(200);
    expect(res.body.status).to.equal('ok');
    expect(res.body.checks.postgres.ok).to.equal(true);
    expect(res.body.checks.temporal.ok).to.equal(true);
  });

  it('health answers 503 and names Temporal when Temporal does not answer', async () => {
    const deadTemporal = lazyTemporal(`127.0.0.1:${await freePort()}`);
    const app = createApp({ knex: stack().knex, temporalConnection: deadTemporal.connection, temporalClient: deadTemporal.client, logger });
    const server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/health`);
      const body: any = await res.json();
      expect(res.status).to.equal(503);
      expect(body.checks.postgres.ok).to.equal(true);
      expect(body.checks.temporal.ok).to.equal(false);
      expect(body.checks.temporal.error).to.be.a('string');
    } finally {
      server.closeAllConnections();
      server.close();
      await deadTemporal.close();
    }
  });

  it('answers unknown routes, wrong methods, bad JSON, wrong media types and huge bodies with problem+json', async () => {
    const unknown = await api('GET', '/api/v1/nothing-here');
    expect(unknown.status).to.equal(404);
    expect(unknown.body.code).to.equal('route_not_found');
    const method = await api('DELETE', '/api/v1/tours');
    expect(method.status).to.equal(405);
    expect(method.headers.get('allow')).to.contain('GET');
    const json = await api('POST', '/api/v1/auth/login', { raw: '{"email":', headers: { 'content-type': 'application/json' } });
    expect(json.status).to.equal(400);
    expect(json.body.code).to.equal('invalid_json');
    const form = await api('POST', '/api/v1/auth/login', { raw: 'email=a@b.c', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).to.equal(415);
    const huge = await api('POST', '/api/v1/auth/login', { raw: JSON.stringify({ email: 'a'.repeat(2_000_000) }), headers: { 'content-type': 'application/json' } });
    expect(huge.status).to.equal(413);
    for (const res of [unknown, method, json, form, huge]) {
      expect(res.headers.get('content-type')).to.contain('application/problem+json');
      expect(res.body.requestId).to.equal(res.headers.get('x-request-id'));
    }
  });

  it('keeps a well-formed X-Request-Id from the caller', async () => {
    const res = await api('GET', '/api/v1/tours?limit=1', { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(res.headers.get('x-request-id')).to.equal('trace-abc.123');
    const bad = await api('GET', '/api/v1/tours?limit=1', { headers: { 'x-request-id': 'spaces are not allowed' } });
    expect(bad.headers.get('x-request-id')).to.not.equal('spaces are not allowed');
  });

  it('exposes Prometheus metrics with request latency by route template', async () => {
    await api('GET', '/api/v1/tours?limit=1');
    const res = await api('GET', '/metrics');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.contain('text/plain');
    expect(res.body).to.match(/spirit_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/tours",status="200"\} \d+/);
    expect(res.body).to.contain('spirit_api_process_resident_memory_bytes');
  });

  it('asks for METRICS_TOKEN on /metrics when one is configured', async () => {
    config.metricsToken = 'scrape-me-please';
    try {
      const anonymous = await api('GET', '/metrics');
      expect(anonymous.status).to.equal(401);
      expect(anonymous.body.detail).to.contain('METRICS_TOKEN');
      expect((await api('GET', '/metrics', { headers: { authorization: 'Bearer wrong' } })).status).to.equal(401);
      expect((await api('GET', '/metrics', { headers: { authorization: 'Bearer scrape-me-please' } })).status).to.equal(200);
    } finally {
      config.metricsToken = undefined;
    }
  });

  it('publishes an OpenAPI 3.1 document that covers every route, and a docs page', async () => {
    const res = await api('GET', '/api/v1/openapi.json');
    expect(res.status).to.equal(200);
    expect(res.body.openapi).to.equal('3.1.0');
    for (const path of ['/health', '/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/tours', '/api/v1/tours/{id}', '/api/v1/departures', '/api/v1/departures/{id}', '/api/v1/tours/{id}/departures']) {
      expect(res.body.paths, path).to.have.property(path);
    }
    const list = res.body.paths['/api/v1/departures'].get;
    expect(list.parameters.map((p: any) => p.name)).to.include.members(['from', 'to', 'destination', 'minSeats', 'cursor', 'limit']);
    const create = res.body.paths['/api/v1/tours/{id}/departures'].post;
    expect(create['x-roles']).to.deep.equal(['admin', 'operator']);
    expect(create.requestBody.content['application/json'].schema.required).to.include.members(['startsAt', 'capacity']);
    const docs = await api('GET', '/api/docs');
    expect(docs.status).to.equal(200);
    expect(docs.body).to.contain('swagger-ui-bundle.js');
    const asset = await api('GET', '/api/docs/swagger-ui-bundle.js');
    expect(asset.status).to.equal(200);
    expect((asset.body as string).length).to.be.greaterThan(100_000);
    const traversal = await api('GET', '/api/docs/..%2Fpackage.json');
    expect(traversal.status).to.equal(404);
  });

  it('replays a mutation retried with the same Idempotency-Key, and refuses the key for another body', async () => {
    const token = await loginAs('admin');
    const tour = await stack().knex('tours').where({ code: 'DXB-OLD' }).first();
    const body = { startsAt: '2031-05-05T06:00:00Z', capacity: 12 };
    const key = `key-${Date.now()}`;
    const first = await api('POST', `/api/v1/tours/${tour.id}/departures`, { token, body, headers: { 'idempotency-key': key } });
    const retry = await api('POST', `/api/v1/tours/${tour.id}/departures`, { token, body, headers: { 'idempotency-key': key } });
    expect(first.status).to.equal(201);
    expect(retry.status).to.equal(201);
    expect(retry.body.id).to.equal(first.body.id);
    expect(retry.headers.get('idempotent-replayed')).to.equal('true');
    const rows = await stack().knex('departures').where({ tour_id: tour.id, starts_at: new Date(body.startsAt) });
    expect(rows).to.have.length(1);

    const other = await api('POST', `/api/v1/tours/${tour.id}/departures`, { token, body: { ...body, capacity: 13 }, headers: { 'idempotency-key': key } });
    expect(other.status).to.equal(422);
    expect(other.body.code).to.equal('idempotency_key_reused');

    // A refusal is stored too: the retry of a refused request gets the same refusal.
    const refusedKey = `${key}-refused`;
    const refused = await api('POST', `/api/v1/tours/${tour.id}/departures`, { token, body, headers: { 'idempotency-key': refusedKey } });
    expect(refused.status).to.equal(409);
    const refusedAgain = await api('POST', `/api/v1/tours/${tour.id}/departures`, { token, body, headers: { 'idempotency-key': refusedKey } });
    expect(refusedAgain.status).to.equal(409);
    expect(refusedAgain.headers.get('content-type')).to.contain('application/problem+json');
    expect(refusedAgain.body.code).to.equal('departure_exists');
    // The stored refusal, not a second run that happens to refuse too: replayed, word for word
    // (the first request's id included), and the key row holds the 409.
    expect(refused.headers.get('idempotent-replayed')).to.equal(null);
    expect(refusedAgain.headers.get('idempotent-replayed')).to.equal('true');
    expect(refusedAgain.body).to.deep.equal(refused.body);
    const stored = await stack().knex('idempotency_keys').where({ key: refusedKey }).first();
    expect(stored).to.include({ status_code: 409 });
    expect(stored.completed_at).to.not.equal(null);
  });
});
