/**
 * Every operation declares the shape of its 2xx answers (the OpenAPI document, and so the
 * console's types, come from these declarations), and the suite holds the API to them: with
 * API_CHECK_RESPONSES=1 (test/support/env.ts) an answer that does not match is a 500
 * response_schema_mismatch, so every test that touches the operation fails loudly.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import Router from '@koa/router';
import { expect } from 'chai';
import { z } from 'zod';
import { allRoutes } from '../../api/app';
import { buildOpenApi } from '../../api/openapi';
import { mountRoutes, route, type AnyRoute } from '../../api/http/routes';
import { problemRenderer, requestContext } from '../../api/http/middleware';
import { logger } from '../../platform/logger';
import { api, loginAs } from '../support/http';
import { hold, scenario } from '../support/bookings';

function declared(operationId: string, status: number): z.ZodType {
  const def = allRoutes().find((r) => r.operationId === operationId);
  const schema = def?.responses[status]?.schema;
  if (!schema) throw new Error(`${operationId} declares no schema for ${status}`);
  return schema;
}

/** A tiny app with the given routes, mounted as the API mounts them. */
async function tinyApp(routes: AnyRoute[]): Promise<{ url: string; close: () => void }> {
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  mountRoutes(router, routes);
  app.use(requestContext(logger));
  app.use(problemRenderer());
  app.use(router.routes());
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('Response schemas', () => {
  it('every operation declares a schema for each 2xx answer (unless 204, a redirect or declared non-JSON)', () => {
    const offenders: string[] = [];
    for (const r of allRoutes()) {
      const success = Object.entries(r.responses).filter(([status]) => Number(status) >= 200 && Number(status) < 300);
      if (!success.length) offenders.push(`${r.operationId} (declares no 2xx answer)`);
      for (const [status, res] of success) {
        if (status === '204' || res.contentType) continue;
        if (!res.schema) offenders.push(`${r.operationId} ${status}`);
      }
    }
    expect(offenders, `operations whose 2xx answers declare no schema: ${offenders.join(', ')}`).to.deep.equal([]);
    // ... and the OpenAPI document says them.
    const doc = buildOpenApi(allRoutes());
    const operations = Object.values(doc.paths).flatMap((p) => Object.values(p)) as Array<{ operationId: string; responses: Record<string, { content?: Record<string, unknown> }> }>;
    const undocumented = operations.flatMap((op) => Object.entries(op.responses)
      .filter(([status, res]) => /^2\d\d$/.test(status) && status !== '204' && !res.content).map(([status]) => `${op.operationId} ${status}`));
    expect(undocumented, `2xx answers without content in the OpenAPI document: ${undocumented.join(', ')}`).to.deep.equal([]);
  });

  it('answers 500 response_schema_mismatch, naming the operation, when a handler strays from its declaration', async () => {
    const routes = [
      route({
        method: 'GET', path: '/wrong-shape', operationId: 'wrongShape', tag: 'Test', auth: 'public', summary: 'Answers a number where a string is declared',
        responses: { 200: { description: 'ok', schema: z.object({ name: z.string(), count: z.int() }) } },
        handler: async () => ({ body: { name: 42, count: 1 } }),
      }),
      route({
        method: 'GET', path: '/undeclared-status', operationId: 'undeclaredStatus', tag: 'Test', auth: 'public', summary: 'Answers 201 where only 200 is declared',
        responses: { 200: { description: 'ok', schema: z.object({ ok: z.boolean() }) } },
        handler: async () => ({ status: 201, body: { ok: true } }),
      }),
      route({
        method: 'GET', path: '/right-shape', operationId: 'rightShape', tag: 'Test', auth: 'public', summary: 'Answers as declared (a Date is an ISO string on the wire)',
        responses: { 200: { description: 'ok', schema: z.object({ at: z.iso.datetime() }) } },
        handler: async () => ({ body: { at: new Date() } }),
      }),
      route({
        method: 'GET', path: '/csv', operationId: 'csvExport', tag: 'Test', auth: 'public', summary: 'A non-JSON answer',
        responses: { 200: { description: 'CSV', contentType: 'text/csv' } },
        handler: async () => ({ body: 'a,b\n1,2\n', headers: { 'Content-Type': 'text/csv' } }),
      }),
    ];
    const app = await tinyApp(routes);
    try {
      const wrong = await fetch(`${app.url}/wrong-shape`);
      const wrongBody: any = await wrong.json();
      expect(wrong.status).to.equal(500);
      expect(wrongBody.code).to.equal('response_schema_mismatch');
      expect(wrongBody.detail).to.contain('wrongShape').and.to.contain('name');
      const undeclared = await fetch(`${app.url}/undeclared-status`);
      const undeclaredBody: any = await undeclared.json();
      expect(undeclared.status).to.equal(500);
      expect(undeclaredBody.code).to.equal('response_schema_mismatch');
      expect(undeclaredBody.detail).to.contain('undeclaredStatus').and.to.contain('201');
      expect((await fetch(`${app.url}/right-shape`)).status).to.equal(200);
      const csv = await fetch(`${app.url}/csv`);
      expect(csv.status).to.equal(200);
      expect(await csv.text()).to.equal('a,b\n1,2\n');
      // Without API_CHECK_RESPONSES (production) the answer goes out as the handler made it.
      process.env.API_CHECK_RESPONSES = '0';
      try {
        expect((await fetch(`${app.url}/wrong-shape`)).status).to.equal(200);
      } finally {
        process.env.API_CHECK_RESPONSES = '1';
      }
    } finally {
      app.close();
    }
    const doc = buildOpenApi(routes);
    expect(Object.keys((doc.paths['/csv'].get as any).responses[200].content)).to.deep.equal(['text/csv']);
  });

  it('real answers parse with their declared schemas', async () => {
    const admin = await loginAs('admin');
    const customer = await loginAs('customer');
    const marketer = await loginAs('marketer');
    const s = await scenario({ daysAhead: 30 });
    const booking = await hold(customer, s.departureId, 2);
    expect(declared('createBooking', 201).safeParse(booking).error).to.equal(undefined);
    const calls: Array<[string, string, string, number?]> = [
      ['listTours', '/api/v1/tours', admin],
      ['getTour', `/api/v1/tours/${s.tourId}`, admin],
      ['listDepartures', `/api/v1/departures?tourId=${s.tourId}`, admin],
      ['getDeparture', `/api/v1/departures/${s.departureId}`, admin],
      ['getBooking', `/api/v1/bookings/${booking.id}`, customer],
      ['listBookings', '/api/v1/bookings?limit=5', admin],
      ['me', '/api/v1/me', marketer],
      ['listUsers', '/api/v1/users?limit=5', admin],
      ['listTemplates', '/api/v1/templates?limit=5', marketer],
      ['listContacts', '/api/v1/contacts?limit=5', marketer],
      ['listAgents', '/api/v1/agents', admin],
      ['listApprovals', '/api/v1/approvals', admin],
      ['verifyAuditLog', '/api/v1/audit/verification', admin],
    ];
    for (const [operationId, path, token] of calls) {
      const res = await api('GET', path, { token });
      expect(res.status, `${operationId}: ${JSON.stringify(res.body)}`).to.equal(200);
      const parsed = declared(operationId, 200).safeParse(res.body);
      expect(parsed.error?.issues ?? [], operationId).to.deep.equal([]);
    }
  });
});
