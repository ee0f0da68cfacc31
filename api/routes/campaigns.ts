/**
 * Campaigns: written as drafts, scheduled into their workflow, steered with updates (pause,
 * resume, cancel), watched through the recipients' rows (the truth) and the workflow's progress.
 * Provider events (SendGrid's signed webhook, our own open pixel and click redirect) become
 * statistics and suppressions.
 */
import type Koa from 'koa';
import type Router from '@koa/router';
import { z } from 'zod';
import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, WorkflowNotFoundError, ApplicationFailure } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { config } from '../../platform/config';
import { auditActor, recordAudit } from '../../models/audit';
import { emailLinkVerifyKeys } from '../../platform/secrets';
import { campaignCounts, reconcileUnknownSends } from '../../models/campaigns';
import { emailProviderName } from '../../integrations/email';
import { parseSendGridEvents } from '../../integrations/email/sendgrid';
import { verifyLink } from '../../integrations/email/links';
import { EmailWebhookRejected, type EmailEvent } from '../../integrations/email/types';
import { cancelCampaignUpdate, campaignWorkflowId, pauseUpdate, progressQuery, resumeUpdate } from '../../workflows/campaign-messages';
import { taskQueue, taskQueues } from '../../temporal.config';
import { notFound, Problem } from '../http/problem';
import { route } from '../http/routes';
import { idParams, isoDateTime, uuid, webhookReceipt } from '../schemas';

const MARKETING = ['marketer', 'admin'] as const;

const campaignBody = z.object({
  name: z.string().trim().min(1).max(200),
  segmentId: uuid,
  variants: z.array(z.object({ name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ and - only'), templateId: uuid }).strict()).min(1).max(5),
  abTest: z.object({
    metric: z.enum(['open', 'click']),
    testPercent: z.int().min(1).max(50).describe('Share of the audience that gets the test variants'),
    waitHours: z.number().positive().max(168).describe('How long after the test sends to choose the winner'),
  }).strict().optional(),
  ratePerSecond: z.int().min(1).max(100000).optional(),
  sendWindow: z.object({ startHour: z.int().min(0).max(23), endHour: z.int().min(1).max(24) }).strict()
    .refine((w) => w.startHour < w.endHour, { message: 'startHour must be before endHour' }).optional()
    .describe('Hours of the recipient\'s own day (their timezone) in which they may be sent to'),
}).strict().refine((b) => !b.abTest || b.variants.length >= 2, { message: 'an A/B test needs at least two variants', path: ['variants'] })
  .refine((b) => new Set(b.variants.map((v) => v.name)).size === b.variants.length, { message: 'variant names must differ', path: ['variants'] });

const at = z.string().describe('ISO 8601 date-time');
const campaignSchema = z.object({
  object: z.literal('campaign'), id: uuid, name: z.string(),
  status: z.enum(['draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled']),
  segmentId: uuid, variants: z.array(z.object({ name: z.string(), templateId: uuid })),
  abTest: z.object({ metric: z.enum(['open', 'click']), testPercent: z.int(), waitHours: z.number() }).nullable(),
  winnerVariant: z.string().nullable().describe('The A/B test\'s winner, once chosen'),
  provider: z.string().describe('The email provider it sends through (sendgrid, smtp, outbox)'),
  ratePerSecond: z.int(), sendWindow: z.object({ startHour: z.int(), endHour: z.int() }).nullable(),
  scheduledAt: at.nullable(), startedAt: at.nullable(), finishedAt: at.nullable(),
  progress: z.object({
    audience: z.int(), sent: z.int(), failed: z.int(), suppressed: z.int(),
    unknown: z.int().describe('Handed to the provider with no answer yet; settled by its events'),
    remaining: z.int(), ratePerSecond: z.number(),
    phase: z.enum(['draft', 'waiting_for_start', 'resolving', 'sending', 'testing', 'waiting_for_winner', 'waiting_for_window', 'done']).nullable(),
    pausedBecause: z.string().optional().describe('Why the campaign paused itself'),
  }),
  report: z.record(z.string(), z.record(z.string(), z.int())).describe('Per variant: sent, opens, clicks, bounces, ...'),
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Row = Record<string, any>;
const iso = (v: Date | string | null) => (v ? new Date(v).toISOString() : null);

/** A campaign without a running workflow: its phase from its status. */
const PHASE_BY_STATUS: Record<string, string> = { draft: 'draft', sent: 'done', cancelled: 'done' };

/**
 * The rate a finished campaign ran at: the one its workflow measured, else (finished before it
 * was kept) its sends over the time from the first to the last.
 */
async function finishedRate(ctx: Koa.Context, c: Row): Promise<number> {
  if (!['sent', 'cancelled'].includes(c.status)) return 0;
  if (c.sent_rate_per_second) return c.sent_rate_per_second;
  const row = await ctx.knex('campaign_recipients').where({ campaign_id: c.id, status: 'sent' })
    .first(ctx.knex.raw('count(*)::int as n'), ctx.knex.raw('extract(epoch from max(sent_at) - min(sent_at)) as seconds'));
  if (!row?.n) return 0;
  return Math.round(row.n / Math.max(1, Number(row.seconds ?? 0)));
}

async function report(ctx: Koa.Context, c: Row) {
  const counts = await campaignCounts(ctx.knex, c.id);
  const events = await ctx.knex('campaign_recipients as r').join('email_events as e', 'e.send_id', 'r.send_id').where('r.campaign_id', c.id)
    .groupBy('r.variant', 'e.type').select('r.variant', 'e.type', ctx.knex.raw('count(distinct r.send_id)::int as n'));
  const variants: Record<string, Record<string, number>> = {};
  for (const row of await ctx.knex('campaign_recipients').where({ campaign_id: c.id, status: 'sent' }).groupBy('variant').select('variant', ctx.knex.raw('count(*)::int as n'))) {
    variants[row.variant] = { sent: row.n };
  }
  for (const e of events) (variants[e.variant] ??= { sent: 0 })[e.type === 'open' ? 'opens' : e.type === 'click' ? 'clicks' : `${e.type}s`] = e.n;
  let live = null;
  if (['scheduled', 'sending', 'paused'].includes(c.status)) {
    try {
      live = await (await ctx.temporalClient()).workflow.getHandle(campaignWorkflowId(c.id)).query(progressQuery);
    } catch {
      live = null;
    }
  }
  return {
    object: 'campaign', id: c.id, name: c.name, status: c.status, segmentId: c.segment_id, variants: c.variants, abTest: c.ab_test,
    winnerVariant: c.winner_variant, provider: c.provider, ratePerSecond: c.rate_per_second, sendWindow: c.send_window,
    scheduledAt: iso(c.scheduled_at), startedAt: iso(c.started_at), finishedAt: iso(c.finished_at),
    progress: {
      ...counts, ratePerSecond: live?.ratePerSecond ?? await finishedRate(ctx, c), phase: live?.phase ?? PHASE_BY_STATUS[c.status] ?? null,
      ...(live?.pausedBecause ? { pausedBecause: live.pausedBecause } : {}),
    },
    report: variants,
  };
}

async function steer(ctx: Koa.Context, id: string, update: UpdateDefinition<unknown, []>) {
  const c = await ctx.knex('campaigns').where({ id }).first();
  if (!c) throw notFound('campaign', id);
  try {
    await (await ctx.temporalClient()).workflow.getHandle(campaignWorkflowId(id)).executeUpdate(update);
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) throw new Problem(409, 'campaign_state', err.cause.message);
    if (err instanceof WorkflowNotFoundError) throw new Problem(409, 'campaign_state', `A ${c.status} campaign cannot be steered; schedule it first.`);
    throw err;
  }
  return { body: await report(ctx, await ctx.knex('campaigns').where({ id }).first()) };
}

export const campaignRoutes = [
  route({
    method: 'POST', path: '/api/v1/campaigns', operationId: 'createCampaign', tag: 'Marketing', auth: MARKETING,
    summary: 'Write a campaign (draft): a segment, one or more template variants, optional A/B test and send window',
    idempotent: true,
    body: campaignBody,
    responses: { 201: { description: 'The draft', schema: campaignSchema }, 400: { description: 'Unknown segment or template, or a bad A/B set-up' } },
    handler: async (ctx, { body, principal }) => {
      const segment = await ctx.knex('segments').where({ id: body.segmentId }).first('id');
      if (!segment) throw new Problem(400, 'validation_failed', 'No segment with that id.', { param: 'segmentId' });
      const templates = await ctx.knex('email_templates').whereIn('id', body.variants.map((v) => v.templateId)).select('id', 'kind');
      for (const v of body.variants) {
        const t = templates.find((x) => x.id === v.templateId);
        if (!t) throw new Problem(400, 'validation_failed', `No template with id ${v.templateId}.`, { param: 'variants' });
        if (t.kind !== 'marketing') throw new Problem(400, 'validation_failed', 'Campaigns send marketing templates (they carry the unsubscribe link).', { param: 'variants' });
      }
      const [row] = await ctx.knex('campaigns').insert({
        name: body.name, segment_id: body.segmentId, variants: JSON.stringify(body.variants), ab_test: body.abTest ? JSON.stringify(body.abTest) : null,
        provider: emailProviderName(process.env), rate_per_second: body.ratePerSecond ?? config.email.defaultRatePerSecond,
        send_window: body.sendWindow ? JSON.stringify(body.sendWindow) : null, created_by_user_id: principal!.userId,
      }).returning('*');
      return { status: 201, body: await report(ctx, row), headers: { Location: `/api/v1/campaigns/${row.id}` } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/campaigns/{id}', operationId: 'getCampaign', tag: 'Marketing', auth: MARKETING,
    summary: 'A campaign: state, progress (sent, failed, suppressed, unknown, remaining, rate) and its report by variant',
    params: idParams,
    responses: { 200: { description: 'The campaign', schema: campaignSchema }, 404: { description: 'No such campaign' } },
    handler: async (ctx, { params }) => {
      const c = await ctx.knex('campaigns').where({ id: params.id }).first();
      if (!c) throw notFound('campaign', params.id);
      return { body: await report(ctx, c) };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/campaigns/{id}/schedule', operationId: 'scheduleCampaign', tag: 'Marketing', auth: MARKETING,
    summary: 'Schedule a draft (now, or at `at`); its workflow takes it from there',
    params: idParams,
    idempotent: true,
    body: z.object({ at: isoDateTime.optional() }).strict().optional().default({}),
    responses: { 200: { description: 'Scheduled', schema: campaignSchema }, 409: { description: 'Not a draft' } },
    handler: async (ctx, { params, body }) => {
      const at = body?.at ? new Date(body.at) : new Date();
      const updated = await ctx.knex('campaigns').where({ id: params.id, status: 'draft' }).update({ status: 'scheduled', scheduled_at: at, updated_at: ctx.knex.fn.now() }).returning('*');
      if (!updated.length) {
        const c = await ctx.knex('campaigns').where({ id: params.id }).first('status');
        if (!c) throw notFound('campaign', params.id);
        throw new Problem(409, 'campaign_state', `Only a draft can be scheduled; this campaign is ${c.status}.`);
      }
      try {
        await (await ctx.temporalClient()).workflow.start('campaignWorkflow', {
          workflowId: campaignWorkflowId(params.id), taskQueue: taskQueue(taskQueues.marketing), args: [{ campaignId: params.id }], workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
          await ctx.knex('campaigns').where({ id: params.id }).update({ status: 'draft', scheduled_at: null }); // nothing half-done
          throw err;
        }
      }
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'campaign.schedule', entityType: 'campaign', entityId: params.id, data: { at: at.toISOString() } });
      return { body: await report(ctx, updated[0]) };
    },
  }),
  ...([['pause', pauseUpdate], ['resume', resumeUpdate], ['cancel', cancelCampaignUpdate]] as const).map(([action, update]) => route({
    method: 'POST', path: `/api/v1/campaigns/{id}/${action}`, operationId: `${action}Campaign`, tag: 'Marketing', auth: MARKETING,
    summary: `${action[0].toUpperCase()}${action.slice(1)} a campaign`,
    params: idParams,
    responses: { 200: { description: 'Done', schema: campaignSchema }, 409: { description: 'Not possible in its state' } },
    handler: async (ctx, { params }) => {
      const result = await steer(ctx, params.id, update as UpdateDefinition<unknown, []>);
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: `campaign.${action}`, entityType: 'campaign', entityId: params.id });
      return result;
    },
  })),
  route({
    method: 'POST', path: '/api/v1/webhooks/sendgrid', operationId: 'sendgridWebhook', tag: 'Webhooks', auth: 'public',
    summary: 'SendGrid event webhook, verified with its signed-webhook scheme (ECDSA) on the raw body',
    responses: {
      200: { description: 'Accepted; duplicates are counted and ignored', schema: webhookReceipt },
      400: { description: 'Signature missing, wrong or stale' }, 404: { description: 'Not configured' } },
    handler: async (ctx) => {
      if (!config.email.sendgridWebhookPublicKey) throw new Problem(404, 'provider_not_configured', 'SendGrid events are not configured here (SENDGRID_WEBHOOK_PUBLIC_KEY).');
      let events: EmailEvent[];
      try {
        events = parseSendGridEvents(ctx.request.rawBody ?? Buffer.alloc(0), ctx.get('x-twilio-email-event-webhook-signature') || undefined,
          ctx.get('x-twilio-email-event-webhook-timestamp') || undefined, config.email.sendgridWebhookPublicKey);
      } catch (err) {
        if (err instanceof EmailWebhookRejected) throw new Problem(400, 'invalid_signature', err.message);
        throw err;
      }
      const stored = await recordEmailEvents(ctx, events);
      return { body: { received: events.length, stored, duplicates: events.length - stored } };
    },
  }),
];

/** Events → statistics (email_events), suppressions and consent; unknown sends settled. */
export async function recordEmailEvents(ctx: Koa.Context, events: EmailEvent[]): Promise<number> {
  if (!events.length) return 0;
  let stored = 0;
  await ctx.knex.transaction(async (trx) => {
    const inserted = await trx('email_events').insert(events.map((e) => ({
      provider: e.provider, event_id: e.eventId, send_id: e.sendId && /^[0-9a-f-]{36}$/i.test(e.sendId) ? e.sendId : null, type: e.type,
      email: e.email.toLowerCase(), url: e.url?.slice(0, 250) ?? null, occurred_at: e.at,
    }))).onConflict(['provider', 'event_id']).ignore().returning('type');
    stored = inserted.length;
    const suppress = events.filter((e) => ['bounce', 'spamreport', 'unsubscribe'].includes(e.type) && !(e.type === 'bounce' && e.bounceType === 'blocked'));
    if (suppress.length) {
      await trx('suppressions').insert(suppress.map((e) => ({
        email: e.email.toLowerCase(), reason: e.type === 'bounce' ? 'bounce' : e.type === 'spamreport' ? 'complaint' : 'unsubscribe', source: `${e.provider} event ${e.eventId}`,
      }))).onConflict('email').ignore();
      const unsubscribed = suppress.filter((e) => e.type !== 'bounce').map((e) => e.email.toLowerCase());
      if (unsubscribed.length) {
        await trx.raw(`update contact_consents cc set status = 'withdrawn', source = 'provider event', recorded_at = now()
          from contacts c where c.id = cc.contact_id and cc.channel = 'email' and lower(c.email) = any(?)`, [unsubscribed]);
      }
    }
  });
  await reconcileUnknownSends(ctx.knex);
  return stored;
}

const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** Our own open pixel and click redirect for SMTP and the outbox (signed links; SendGrid tracks by itself). */
export function mountTrackingRoutes(router: Router): void {
  const track = async (ctx: Koa.Context, type: 'open' | 'click') => {
    const link = verifyLink(new URL(ctx.href), emailLinkVerifyKeys());
    if (!link || link.kind !== type) return undefined;
    const recipient = await ctx.knex('campaign_recipients').where({ send_id: link.sendId }).first('email');
    if (recipient) {
      await recordEmailEvents(ctx, [{
        provider: emailProviderName(process.env), eventId: `${type}:${link.sendId}:${Math.floor(Date.now() / 60000)}`, type, sendId: link.sendId,
        email: recipient.email, at: new Date(), url: link.kind === 'click' ? link.targetUrl : undefined,
      }]);
    }
    return link;
  };
  router.get('/e/o/:sendId', async (ctx: Koa.Context) => {
    ctx.state.route = '/e/o/{sendId}';
    await track(ctx, 'open');
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'image/gif';
    ctx.body = PIXEL; // always a pixel: a tampered link shows the same image, it just counts nothing
  });
  router.get('/e/c/:sendId', async (ctx: Koa.Context) => {
    ctx.state.route = '/e/c/{sendId}';
    const link = await track(ctx, 'click');
    if (!link || link.kind !== 'click') throw new Problem(404, 'resource_missing', 'This link is not valid.');
    ctx.redirect(link.targetUrl);
  });
}
