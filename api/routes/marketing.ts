/** Marketing: segments (and, as they land, contacts, templates, campaigns). Marketers and admins. */
import { z } from 'zod';
import { checkSegmentSize, countSegment, segmentNodeSchema, type SegmentNode } from '../../models/segments';
import { notFound, Problem } from '../http/problem';
import { route } from '../http/routes';
import { idParams, uuid } from '../schemas';

const segmentCounts = {
  matching: z.int().describe('Contacts the rules match'),
  sendable: z.int().describe('Of those, the ones with email consent and not suppressed'),
  sample: z.array(z.object({ id: uuid, email: z.string(), firstName: z.string().nullable() })).describe('Up to 5 sendable contacts, newest first'),
};

const MARKETING = ['marketer', 'admin'] as const;

export const marketingRoutes = [
  route({
    method: 'POST', path: '/api/v1/segments', operationId: 'createSegment', tag: 'Marketing', auth: MARKETING,
    summary: 'Define a segment: an AND/OR/NOT tree of conditions on contacts, bookings and engagement',
    description: 'Conditions: language/country/source/timezone eq|neq|in; tag has|lacks; created within_days|older_than_days; birthday_month eq; booked_tour eq; booked_destination eq; last_trip within_days|older_than_days; total_spend gte|lte (with currency); opened/clicked within_days|not_within_days.',
    idempotent: true,
    body: z.object({ name: z.string().trim().min(1).max(120), rules: segmentNodeSchema }).strict(),
    responses: { 201: { description: 'The segment, with its live count', schema: z.object({ object: z.literal('segment'), id: uuid, name: z.string(), rules: segmentNodeSchema, ...segmentCounts }) } },
    handler: async (ctx, { body, principal }) => {
      const tooBig = checkSegmentSize(body.rules as SegmentNode);
      if (tooBig) throw new Problem(400, 'validation_failed', `The segment is refused: ${tooBig}.`, { param: 'rules' });
      const [row] = await ctx.knex('segments').insert({ name: body.name, rules: JSON.stringify(body.rules), created_by_user_id: principal!.userId }).returning('*');
      const counts = await countSegment(ctx.knex, body.rules as SegmentNode);
      return { status: 201, body: { object: 'segment', id: row.id, name: row.name, rules: row.rules, ...counts } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/segments/{id}/count', operationId: 'countSegment', tag: 'Marketing', auth: MARKETING,
    summary: 'Live count of a segment (all matching, and sendable: consented and not suppressed) with a sample',
    params: idParams,
    responses: {
      200: { description: 'Counts and up to 5 sample contacts', schema: z.object({ object: z.literal('segment_count'), segmentId: uuid, ...segmentCounts, ms: z.int().describe('How long the count took') }) },
      404: { description: 'No such segment' } },
    handler: async (ctx, { params }) => {
      const row = await ctx.knex('segments').where({ id: params.id }).first();
      if (!row) throw notFound('segment', params.id);
      const started = performance.now();
      const counts = await countSegment(ctx.knex, row.rules as SegmentNode);
      return { body: { object: 'segment_count', segmentId: row.id, ...counts, ms: Math.round(performance.now() - started) } };
    },
  }),
];
