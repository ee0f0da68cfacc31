/**
 * WhatsApp over HTTP:
 * - the Cloud API webhook: GET answers Meta's verification handshake; POST verifies
 *   X-Hub-Signature-256 on the raw body (constant time), stores the delivery once per body and
 *   answers 200 at once; the delivery is processed after the answer (services/whatsapp.ts), and
 *   the API's sweep picks up any delivery left unprocessed;
 * - the local simulator (development, or WHATSAPP_SIMULATOR_IN_PRODUCTION=1; WHATSAPP_CHANNEL=
 *   simulator): a simulated customer's message enters through the same function as a webhook
 *   message, and what the platform sent them is read back (`npm run chat` uses both);
 * - the whatsapp-web.js session's state (QR to scan) for admins.
 */
import type Koa from 'koa';
import type Router from '@koa/router';
import crypto from 'node:crypto';
import { z } from 'zod';
import { config } from '../../platform/config';
import { storeWhatsAppEvent, readWhatsAppSession } from '../../models/whatsapp';
import { isCloudWebhookBody, verifySignature } from '../../integrations/whatsapp/webhook';
import { simulatorOutbox } from '../../integrations/whatsapp/simulator';
import { whatsAppHealth } from '../../integrations/whatsapp';
import type { InboundWhatsApp } from '../../integrations/whatsapp/types';
import { processWhatsAppEvent, receiveWhatsApp } from '../../services/whatsapp';
import { Problem } from '../http/problem';
import { route } from '../http/routes';

const WEBHOOK_PATH = '/api/v1/webhooks/whatsapp';

/**
 * Meta's verification handshake, mounted on the router directly: anything but the right token
 * (a missing parameter, an extra one, another mode) is a 403, never a validation 400.
 */
export function mountWhatsAppHandshake(router: Router): void {
  router.get(WEBHOOK_PATH, (ctx: Koa.Context) => {
    ctx.state.route = WEBHOOK_PATH;
    const token = config.whatsapp.verifyToken;
    const given = ctx.query['hub.verify_token'];
    const challenge = ctx.query['hub.challenge'];
    const ok = !!token && ctx.query['hub.mode'] === 'subscribe' && typeof given === 'string' && typeof challenge === 'string'
      && given.length === token.length && crypto.timingSafeEqual(Buffer.from(given), Buffer.from(token));
    if (!ok) throw new Problem(403, 'verification_failed', token ? 'hub.mode must be "subscribe" and hub.verify_token must equal WHATSAPP_VERIFY_TOKEN.' : 'The WhatsApp webhook is not configured here (WHATSAPP_VERIFY_TOKEN).');
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/plain';
    ctx.body = challenge;
  });
}

const simulatorEnabled = () => config.whatsapp.channel === 'simulator' && (!config.isProduction || config.whatsapp.simulatorInProduction);
function requireSimulator(): void {
  if (!simulatorEnabled()) throw new Problem(404, 'resource_missing', 'The WhatsApp simulator is not available here (WHATSAPP_CHANNEL=simulator, outside production unless WHATSAPP_SIMULATOR_IN_PRODUCTION=1).');
}

const e164 = z.string().trim().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number, e.g. +34600111222');

const simulatedMessage = z.object({
  from: e164.describe("The simulated customer's number"),
  text: z.string().trim().min(1).max(4096).optional(),
  replyId: z.string().trim().min(1).max(256).optional().describe('The id of a button or list row chosen (an interactive reply)'),
  replyTitle: z.string().trim().min(1).max(256).optional(),
  type: z.string().trim().regex(/^[a-z_]{2,20}$/).optional().describe('A WhatsApp message type other than text (image, sticker, location, audio...): arrives as unsupported'),
  name: z.string().trim().min(1).max(100).optional().describe('The profile name WhatsApp would show'),
  messageId: z.string().trim().min(1).max(200).optional().describe('The message id (wamid); a repeat with the same one is the same message'),
}).strict().refine((b) => b.text || b.replyId || (b.type && b.type !== 'text'), { message: 'give text, replyId, or a type other than text' });

const outboxItem = z.object({ id: z.int(), wamid: z.string(), message: z.unknown(), createdAt: z.string() });

/**
 * Deliveries are processed after their answer, a few at a time per API process: a burst of
 * deliveries then cannot take every database connection from the answers Meta waits for (its
 * partners are asked to answer within 200 ms). Work beyond the limit waits in order, in memory;
 * a process that dies with work waiting leaves it to the sweep (the deliveries are stored).
 */
class Lanes {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** Deliveries being answered now: processing waits for them (up to `yieldMs`), so a burst is answered first. */
  answering = 0;
  constructor(private readonly width: number, private readonly yieldMs = 1000) {}
  private async answersFirst(): Promise<void> {
    const until = Date.now() + this.yieldMs;
    while (this.answering > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.answersFirst();
    // A finishing task hands its lane straight to the next in line, so the width is never exceeded.
    if (this.active >= this.width) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
const processing = new Lanes(4);

/** A delivery, checked and stored, then answered; its processing comes after (in `processing`'s lanes). */
async function answerDelivery(ctx: Koa.Context): Promise<{ body: { received: true; duplicate: boolean } }> {
  const secret = config.whatsapp.appSecret;
  if (!secret) throw new Problem(503, 'webhook_not_configured', 'The WhatsApp webhook cannot verify deliveries here: WHATSAPP_APP_SECRET is not set, so nothing is accepted.');
  const raw = ctx.request.rawBody ?? Buffer.alloc(0);
  const signature = ctx.get('x-hub-signature-256');
  if (!signature) throw new Problem(401, 'signature_missing', 'X-Hub-Signature-256 is missing: WhatsApp deliveries are signed with the app secret.');
  if (!verifySignature(raw, signature, secret)) throw new Problem(401, 'invalid_signature', 'X-Hub-Signature-256 does not match the body.');
  let body: unknown = ctx.request.body;
  if (body === undefined) {
    try { body = JSON.parse(raw.toString('utf8')); } catch { throw new Problem(400, 'invalid_json', 'The delivery is not JSON.'); }
  }
  if (!isCloudWebhookBody(body)) throw new Problem(400, 'not_whatsapp_business_account', 'The delivery is not a WhatsApp Business Account event (object "whatsapp_business_account" with an entry array).');
  const stored = await storeWhatsAppEvent(ctx.knex, raw, body);
  if (!stored.duplicate || !stored.processed) {
    // After the answer: Meta wants a quick 200; the sweep catches a delivery this process never finishes.
    const { knex, temporalClient } = ctx;
    const log = ctx.state.log;
    processing.run(() => temporalClient().then((client) => processWhatsAppEvent(client, knex, stored.id)))
      .catch((err: Error) => log?.warn({ eventId: stored.id, err: err.message }, 'whatsapp event not processed yet (the sweep tries again)'));
  }
  return { body: { received: true, duplicate: stored.duplicate } };
}

export const whatsappRoutes = [
  route({
    method: 'POST', path: WEBHOOK_PATH, operationId: 'whatsappWebhook', tag: 'Webhooks', auth: 'public',
    summary: 'WhatsApp Cloud API events, verified with X-Hub-Signature-256 on the raw body; stored, answered, then processed',
    description: 'A delivery is stored once per body (a redelivery is acknowledged and changes nothing) and answered 200 before its messages and status events are processed. Unsigned or forged: 401; not JSON or not a whatsapp_business_account delivery: 400; no WHATSAPP_APP_SECRET here: 503. Nothing is stored on any of these.',
    responses: {
      200: { description: 'Stored (or a duplicate, acknowledged)', schema: z.object({ received: z.literal(true), duplicate: z.boolean() }) },
      400: { description: 'Not JSON, or not a WhatsApp Business Account delivery' }, 401: { description: 'Signature missing or wrong' }, 503: { description: 'WHATSAPP_APP_SECRET is not set: deliveries cannot be verified' },
    },
    handler: async (ctx) => {
      processing.answering++;
      try {
        return await answerDelivery(ctx);
      } finally {
        processing.answering--;
      }
    },
  }),
  route({
    method: 'POST', path: '/api/v1/simulator/whatsapp/messages', operationId: 'simulateWhatsAppMessage', tag: 'WhatsApp', auth: 'public',
    summary: 'The local simulator: a simulated customer writes (development only); it is processed as a webhook message is',
    description: 'text: typed; replyId (+ replyTitle): a button or list row chosen; type (image, sticker, location...): a message the platform does not understand. 404 where the simulator is not enabled (production, or another WHATSAPP_CHANNEL).',
    body: simulatedMessage,
    responses: {
      202: { description: 'Stored; the reply arrives in GET /api/v1/simulator/whatsapp/messages', schema: z.object({ object: z.literal('simulated_message'), conversationId: z.string(), messageId: z.string(), channelMessageId: z.string(), duplicate: z.boolean(), stale: z.boolean() }) },
      404: { description: 'The simulator is not enabled here' },
    },
    handler: async (ctx, { body }) => {
      requireSimulator();
      const channelMessageId = body.messageId ?? `wamid.SIM.IN.${crypto.randomUUID()}`;
      const base = { businessId: config.whatsapp.phoneNumberId, from: body.from, messageId: channelMessageId, at: new Date(), ...(body.name ? { profileName: body.name } : {}) };
      const inbound: InboundWhatsApp = body.replyId
        ? { ...base, kind: 'interactive', replyId: body.replyId, text: body.replyTitle ?? body.text ?? body.replyId }
        : body.type && body.type !== 'text'
          ? { ...base, kind: 'unsupported', type: body.type, text: `[${body.type}]${body.text ? ` ${body.text}` : ''}` }
          : { ...base, kind: 'text', text: body.text! };
      const r = await receiveWhatsApp(await ctx.temporalClient(), ctx.knex, inbound);
      const result = r.stale ? { conversationId: r.conversationId, messageId: r.messageId, duplicate: r.duplicate } : r.result;
      return { status: 202, body: { object: 'simulated_message', conversationId: result.conversationId, messageId: result.messageId, channelMessageId, duplicate: result.duplicate, stale: r.stale } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/simulator/whatsapp/messages', operationId: 'simulatorOutbox', tag: 'WhatsApp', auth: 'public',
    summary: 'The local simulator: what the platform sent to a simulated customer, after a given id (development only)',
    query: z.object({ to: e164, after: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(200).default(50) }),
    responses: { 200: { description: 'Messages, oldest first', schema: z.object({ object: z.literal('list'), data: z.array(outboxItem), lastId: z.int() }) }, 404: { description: 'The simulator is not enabled here' } },
    handler: async (ctx, { query }) => {
      requireSimulator();
      const data = await simulatorOutbox(ctx.knex, query.to, query.after, query.limit);
      return { body: { object: 'list', data, lastId: data.at(-1)?.id ?? query.after }, headers: { 'Cache-Control': 'no-store' } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/whatsapp/session', operationId: 'whatsappSession', tag: 'WhatsApp', auth: ['admin'],
    summary: 'The WhatsApp channel\'s state; with whatsapp-web.js, the QR code to scan with the business phone (Linked devices)',
    responses: {
      200: {
        description: 'The channel and its state',
        schema: z.object({ object: z.literal('whatsapp_session'), channel: z.string(), state: z.string(), detail: z.string().nullable(), qr: z.string().nullable(), updatedAt: z.string().nullable() }),
      },
    },
    handler: async (ctx) => {
      const health = await whatsAppHealth(ctx.knex);
      const session = config.whatsapp.channel === 'web' ? await readWhatsAppSession(ctx.knex, 'web') : null;
      return {
        body: { object: 'whatsapp_session', channel: health.channel, state: health.state, detail: health.detail ?? null, qr: session?.state === 'qr' ? session.qr : null, updatedAt: session?.updatedAt ?? null },
        headers: { 'Cache-Control': 'no-store' },
      };
    },
  }),
];
