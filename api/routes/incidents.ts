/**
 * Incidents: a supplier that cannot operate, or a crisis at a place and time. Reporting one
 * starts the agent that handles it (services/incidents.ts); reading one shows the runs it started.
 * Admins and operators only.
 */
import { z } from 'zod';
import { auditActor, recordAudit } from '../../models/audit';
import { incidentOccasion, incidentOf, reportIncident } from '../../services/incidents';
import { decodeCursor, page } from '../http/cursor';
import { Problem } from '../http/problem';
import { route } from '../http/routes';
import { cursor, idParams, isoDateTime, limit, listOf } from '../schemas';

const ROLES = ['admin', 'operator'] as const;
const iso = (v: Date | string | null | undefined) => (v ? new Date(v).toISOString() : null);

const window = { from: isoDateTime, to: isoDateTime };
export const incidentReport = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('supplier'), supplier: z.string().trim().min(1).max(64), ...window, message: z.string().max(2000).optional() }).strict(),
  z.object({
    kind: z.literal('crisis'), lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180), radiusKm: z.number().gt(0).max(2000),
    ...window, message: z.string().trim().min(1).max(2000),
  }).strict(),
]).refine((r) => Date.parse(r.to) > Date.parse(r.from), { message: 'to must be after from', path: ['to'] });

const incidentSchema = z.object({
  object: z.literal('incident'), id: z.string(), kind: z.enum(['supplier', 'crisis']), supplier: z.string().nullable(), lat: z.number().nullable(), lng: z.number().nullable(),
  radiusKm: z.number().nullable(), from: z.string(), to: z.string(), message: z.string().nullable(), status: z.string(), reportedBy: z.string().nullable(), createdAt: z.string(),
});
const runSchema = z.object({ id: z.string(), agent: z.string(), status: z.string(), startedAt: z.string(), endedAt: z.string().nullable() });

export const incidentRoutes = [
  route({
    method: 'POST', path: '/api/v1/incidents', operationId: 'reportIncident', tag: 'Incidents', auth: ROLES,
    summary: 'Report a supplier failure or a crisis; the agent that handles it starts at once',
    description: 'Body: `{kind: "supplier", supplier, from, to}` (SupplyChain finds and rebooks the affected bookings) or '
      + '`{kind: "crisis", lat, lng, radiusKm, from, to, message}` (CrisisManager, when available, finds and notifies the travellers there). '
      + 'Answers 202 with the incident and the run it started; an invalid incident answers 422 with the field.',
    idempotent: true,
    // Checked in the handler, so a malformed incident is a 422 naming the field.
    body: z.record(z.string(), z.unknown()),
    responses: {
      202: { description: 'Recorded; the run it started (or a note that its agent is not available yet)', schema: incidentSchema.extend({ runs: z.array(runSchema), note: z.string().nullable() }) },
      422: { description: 'Not a valid incident' },
    },
    handler: async (ctx, { body, principal }) => {
      const parsed = incidentReport.safeParse(body);
      if (!parsed.success) {
        const errors = parsed.error.issues.map((i) => ({ location: 'body' as const, param: i.path.join('.') || 'body', message: i.message }));
        throw new Problem(422, 'invalid_incident', `The incident is invalid: ${errors.slice(0, 3).map((e) => `${e.param}: ${e.message}`).join('; ')}`, { param: errors[0].param, errors });
      }
      const { incident, runId, note } = await reportIncident(await ctx.temporalClient(), ctx.knex, parsed.data, principal!.userId);
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'incident.report', entityType: 'incident', entityId: incident.id, data: { kind: incident.kind, runId, note } });
      const runs = runId ? await ctx.knex('agent_runs').where({ id: runId }).select('id', 'agent', 'status', 'started_at', 'ended_at') : [];
      return {
        status: 202, headers: { Location: `/api/v1/incidents/${incident.id}` },
        body: { object: 'incident', ...incident, runs: runs.map((r) => ({ id: r.id, agent: r.agent, status: r.status, startedAt: iso(r.started_at), endedAt: iso(r.ended_at) })), note },
      };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/incidents', operationId: 'listIncidents', tag: 'Incidents', auth: ROLES,
    summary: 'Incidents, newest first',
    query: z.object({ kind: z.enum(['supplier', 'crisis']).optional(), limit, cursor }),
    responses: { 200: { description: 'Incidents', schema: listOf(incidentSchema) } },
    handler: async (ctx, { query }) => {
      const q = ctx.knex('incidents').orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(query.limit + 1);
      if (query.kind) q.where({ kind: query.kind });
      if (query.cursor) {
        const [at, id] = decodeCursor(query.cursor, ['timestamp', 'string']);
        q.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [at as string, id as string]);
      }
      const rows = await q;
      return { body: page(rows, query.limit, (r) => ({ object: 'incident', ...incidentOf(r) }), (r) => [iso(r.created_at), r.id]) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/incidents/{id}', operationId: 'getIncident', tag: 'Incidents', auth: ROLES,
    summary: 'One incident with the agent runs it started',
    params: idParams,
    responses: { 200: { description: 'The incident', schema: incidentSchema.extend({ runs: z.array(runSchema) }) }, 404: { description: 'No such incident' } },
    handler: async (ctx, { params }) => {
      const row = await ctx.knex('incidents').where({ id: params.id }).first();
      if (!row) throw new Problem(404, 'not_found', `There is no incident ${params.id}.`, { param: 'id' });
      const runs = await ctx.knex('agent_runs').where({ occasion: incidentOccasion(row.id) }).orderBy('started_at').select('id', 'agent', 'status', 'started_at', 'ended_at');
      return {
        body: { object: 'incident', ...incidentOf(row), runs: runs.map((r) => ({ id: r.id, agent: r.agent, status: r.status, startedAt: iso(r.started_at), endedAt: iso(r.ended_at) })) },
      };
    },
  }),
];
