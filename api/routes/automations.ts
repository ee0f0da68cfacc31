/** Automations: durable per-contact sequences that marketers define, pause and watch. */
import { z } from 'zod';
import { checkSegmentSize, segmentNodeSchema, type SegmentNode } from '../../models/segments';
import { enroll } from '../../activities/automation';
import { automationResumedSignal } from '../../workflows/automation-messages';
import { taskQueue, taskQueues } from '../../temporal.config';
import { notFound, Problem } from '../http/problem';
import { route } from '../http/routes';
import { idParams, uuid } from '../schemas';

const MARKETING = ['marketer', 'admin'] as const;

const stepSchema = z.union([
  z.object({ wait: z.object({ hours: z.number().positive().max(24 * 365) }).strict() }).strict(),
  z.object({ send: z.object({ templateId: uuid }).strict() }).strict(),
  z.object({ check: z.object({ rules: segmentNodeSchema }).strict() }).strict(),
]);

const TRIGGERS = ['manual', 'contact_created', 'hold_expired', 'booking_confirmed', 'trip_completed', 'inactive', 'birthday'] as const;

const automationSchema = z.object({
  object: z.literal('automation'), id: uuid, name: z.string(), trigger: z.enum(TRIGGERS), status: z.enum(['active', 'paused', 'archived']),
  steps: z.array(stepSchema), goal: segmentNodeSchema.nullable(),
  enrollments: z.array(z.object({ step: z.int().describe('Index of the step the contacts are at'), status: z.enum(['running', 'completed', 'exited']), contacts: z.int() })),
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function view(knex: any, id: string) {
  const a = await knex('automations').where({ id }).first();
  if (!a) return undefined;
  const byStep = await knex('automation_enrollments').where({ automation_id: id }).groupBy('step', 'status').select('step', 'status', knex.raw('count(*)::int as n')).orderBy('step');
  return {
    object: 'automation', id: a.id, name: a.name, trigger: a.trigger, status: a.status, steps: a.steps, goal: a.goal,
    enrollments: byStep.map((r: { step: number; status: string; n: number }) => ({ step: r.step, status: r.status, contacts: r.n })),
  };
}

export const automationRoutes = [
  route({
    method: 'POST', path: '/api/v1/automations', operationId: 'createAutomation', tag: 'Marketing', auth: MARKETING,
    summary: 'Define an automation: a trigger, steps (wait, send, check) and a goal that ends it early',
    description: 'Triggers, each enrolling a contact once per occasion: manual (enroll through the API); hold_expired (abandoned booking), booking_confirmed and trip_completed (per booking, from its workflow); contact_created (welcome: contacts created in the last 7 days, since the automation exists, with email consent, not imported lists); birthday (on the day in the contact\'s time zone, once a year); inactive (no open, click or booking for 180 days, checked hourly, at most once a year). Date and state triggers are looked up every minute by housekeeping and only enroll contacts who may be mailed.',
    idempotent: true,
    body: z.object({
      name: z.string().trim().min(1).max(120),
      trigger: z.enum(TRIGGERS),
      steps: z.array(stepSchema).min(1).max(30),
      goal: segmentNodeSchema.optional().describe('When the contact matches this (e.g. booked), they leave the automation'),
    }).strict(),
    responses: { 201: { description: 'The automation (active)', schema: automationSchema } },
    handler: async (ctx, { body, principal }) => {
      if (body.goal) {
        // Checked every time a contact moves on: bounded like a segment's rules.
        const err = checkSegmentSize(body.goal as SegmentNode);
        if (err) throw new Problem(400, 'validation_failed', `goal: ${err}.`, { param: 'goal' });
      }
      for (const [i, s] of body.steps.entries()) {
        if ('check' in s) {
          const err = checkSegmentSize(s.check.rules as SegmentNode);
          if (err) throw new Problem(400, 'validation_failed', `Step ${i + 1}: ${err}.`, { param: `steps.${i}` });
        }
        if ('send' in s) {
          const t = await ctx.knex('email_templates').where({ id: s.send.templateId }).first('kind');
          if (!t) throw new Problem(400, 'validation_failed', `Step ${i + 1}: no template with that id.`, { param: `steps.${i}.send.templateId` });
          if (t.kind !== 'marketing') throw new Problem(400, 'validation_failed', `Step ${i + 1}: automations send marketing templates (with the unsubscribe link).`, { param: `steps.${i}.send.templateId` });
        }
      }
      const [row] = await ctx.knex('automations').insert({
        name: body.name, trigger: body.trigger, steps: JSON.stringify(body.steps), goal: body.goal ? JSON.stringify(body.goal) : null, created_by_user_id: principal!.userId,
      }).returning('id');
      return { status: 201, body: await view(ctx.knex, row.id) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/automations/{id}', operationId: 'getAutomation', tag: 'Marketing', auth: MARKETING,
    summary: 'An automation and who is at which step',
    params: idParams,
    responses: { 200: { description: 'The automation', schema: automationSchema }, 404: { description: 'No such automation' } },
    handler: async (ctx, { params }) => {
      const v = await view(ctx.knex, params.id);
      if (!v) throw notFound('automation', params.id);
      return { body: v };
    },
  }),
  ...(['pause', 'resume'] as const).map((action) => route({
    method: 'POST', path: `/api/v1/automations/{id}/${action}`, operationId: `${action}Automation`, tag: 'Marketing', auth: MARKETING,
    summary: action === 'pause' ? 'Pause: enrolled contacts wait before their next step' : 'Resume: enrolled contacts carry on',
    params: idParams,
    responses: { 200: { description: 'Done', schema: automationSchema }, 409: { description: 'Already in that state' } },
    handler: async (ctx, { params }) => {
      const [from, to] = action === 'pause' ? ['active', 'paused'] : ['paused', 'active'];
      const changed = await ctx.knex('automations').where({ id: params.id, status: from }).update({ status: to, updated_at: ctx.knex.fn.now() }).returning('id');
      if (!changed.length) {
        if (!(await ctx.knex('automations').where({ id: params.id }).first('id'))) throw notFound('automation', params.id);
        throw new Problem(409, 'automation_state', `The automation is not ${from}.`);
      }
      if (action === 'resume') {
        const client = await ctx.temporalClient();
        const running = await ctx.knex('automation_enrollments').where({ automation_id: params.id, status: 'running' }).pluck('workflow_id');
        await Promise.all(running.map((id: string) => client.workflow.getHandle(id).signal(automationResumedSignal).catch(() => undefined)));
      }
      return { body: await view(ctx.knex, params.id) };
    },
  })),
  route({
    method: 'POST', path: '/api/v1/automations/{id}/enrollments', operationId: 'enrollContacts', tag: 'Marketing', auth: MARKETING,
    summary: 'Enroll contacts by hand (each contact once per automation and occasion)',
    params: idParams,
    idempotent: true,
    body: z.object({ contactIds: z.array(uuid).min(1).max(1000), occasion: z.string().regex(/^[A-Za-z0-9_-]{0,64}$/).default('') }).strict(),
    responses: {
      200: {
        description: 'How many were newly enrolled',
        schema: z.object({ object: z.literal('enrollment'), automationId: uuid, enrolled: z.int(), alreadyEnrolled: z.int().describe('Already in the automation for this occasion') }),
      },
    },
    handler: async (ctx, { params, body }) => {
      const a = await ctx.knex('automations').where({ id: params.id }).first('status');
      if (!a) throw notFound('automation', params.id);
      if (a.status === 'archived') throw new Problem(409, 'automation_state', 'This automation is archived.');
      const known = await ctx.knex('contacts').whereIn('id', body.contactIds).pluck('id');
      const missing = body.contactIds.filter((id) => !known.includes(id));
      if (missing.length) throw new Problem(400, 'validation_failed', `Unknown contacts: ${missing.slice(0, 5).join(', ')}.`, { param: 'contactIds' });
      const client = await ctx.temporalClient();
      let enrolled = 0;
      for (const id of body.contactIds) if (await enroll(ctx.knex, client, taskQueue(taskQueues.marketing), params.id, id, body.occasion)) enrolled++;
      return { body: { object: 'enrollment', automationId: params.id, enrolled, alreadyEnrolled: body.contactIds.length - enrolled } };
    },
  }),
];
