/**
 * The Cloud API webhook: Meta's verification handshake; signed deliveries stored once and
 * processed after the answer (messages into their conversation once, status events forward
 * only); forged, unsigned, malformed and unconfigured deliveries change nothing; stale
 * messages are recorded and not answered; the sweep finishes what was left; and the whole loop —
 * a signed customer message, the conversation workflow, the reply reaching the Graph API server.
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import { config } from '../../platform/config';
import { signBody, cloudMessageEvent, parseCloudWebhook } from '../../integrations/whatsapp/webhook';
import { sweepWhatsAppEvents, processWhatsAppEvent, applyStatus } from '../../services/whatsapp';
import { conversationWorkflowId } from '../../workflows/conversation-messages';
import { temporalConfig } from '../../temporal.config';
import { api } from '../support/http';
import { stack } from '../support/stack';
import { eventually } from '../support/bookings';
import { cloudChannelFor } from '../support/whatsapp';

const SECRET = 'whatsapp-app-secret-for-tests';
const VERIFY = 'verify-token-for-tests';
const PHONE_ID = '109876543210';
const PATH = '/api/v1/webhooks/whatsapp';

let seq = 0;
/** A fresh customer number per test, so conversations do not mix. */
const newNumber = () => `+3460${String(Date.now() % 1_000_000).padStart(6, '0')}${String(++seq % 10)}`;
const wamid = () => `wamid.HBgL${crypto.randomBytes(10).toString('hex').toUpperCase()}`;

async function post(body: unknown, options: { sign?: string | null; raw?: string } = {}) {
  const raw = options.raw ?? JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const signature = options.sign === undefined ? signBody(raw, SECRET) : options.sign;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const res = await api('POST', PATH, { raw, headers });
  return Object.assign(res, { sha: crypto.createHash('sha256').update(raw).digest('hex') });
}

/** Waits until these deliveries are processed (they are, after the 200). */
async function processed(...shas: string[]) {
  await eventually(async () => {
    const rows = await stack().knex('whatsapp_events').whereIn('body_sha256', shas).select('processed_at', 'error');
    if (rows.length === shas.length && rows.every((r) => r.processed_at)) return true;
    const failed = rows.find((r) => r.error);
    if (failed) throw new Error(`a delivery failed: ${failed.error}`);
    return false;
  });
}


const eventCount = async () => Number((await stack().knex('whatsapp_events').count({ n: '*' }).first())!.n);
const inboundByWamid = (id: string) => stack().knex('conversation_messages').where({ channel_message_id: id });

function statusEvent(statuses: Array<Record<string, unknown>>) {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: 'WABA', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '34910000000', phone_number_id: PHONE_ID }, statuses } }] }],
  };
}

describe('WhatsApp Cloud API webhook', () => {
  const saved = { appSecret: config.whatsapp.appSecret, verifyToken: config.whatsapp.verifyToken };
  before(() => Object.assign(config.whatsapp, { appSecret: SECRET, verifyToken: VERIFY }));
  after(() => Object.assign(config.whatsapp, saved));

  describe('verification handshake', () => {
    it('answers hub.challenge as text/plain for the right token', async () => {
      const res = await api('GET', `${PATH}?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=1158201444`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/plain/);
      expect(res.body).to.equal('1158201444');
      // Described in the OpenAPI document beside the POST, though mounted outside the route table.
      const doc = await api('GET', '/api/v1/openapi.json');
      expect(Object.keys(doc.body.paths[PATH]).sort()).to.deep.equal(['get', 'post']);
      expect(doc.body.paths[PATH].get.parameters.map((p: { name: string }) => p.name)).to.deep.equal(['hub.mode', 'hub.verify_token', 'hub.challenge']);
    });

    it('answers 403 to a wrong token, another mode, a missing parameter, or no token configured', async () => {
      for (const query of [`hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1`, `hub.mode=unsubscribe&hub.verify_token=${VERIFY}&hub.challenge=1`,
        `hub.mode=subscribe&hub.challenge=1`, '', `hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=1&extra=1&hub.verify_token=x`]) {
        const res = await api('GET', `${PATH}?${query}`);
        expect(res.status, query).to.equal(403);
        expect(res.body).to.not.equal('1');
      }
      config.whatsapp.verifyToken = undefined;
      try {
        expect((await api('GET', `${PATH}?hub.mode=subscribe&hub.verify_token=&hub.challenge=1`)).status).to.equal(403);
      } finally {
        config.whatsapp.verifyToken = VERIFY;
      }
    });
  });

  describe('deliveries', () => {
    it('stores a signed delivery once, answers 200, and puts its message into the conversation once', async () => {
      const from = newNumber();
      const id = wamid();
      const body = cloudMessageEvent({ businessId: PHONE_ID, from, messageId: id, profileName: 'Lucía', message: { type: 'text', text: { body: 'Hola, ¿qué tours tenéis?' } } });
      const before = await eventCount();
      const first = await post(body);
      expect(first.status).to.equal(200);
      expect(first.body).to.deep.equal({ received: true, duplicate: false });
      const second = await post(body); // Meta's retry: the same bytes
      expect(second.status).to.equal(200);
      expect(second.body.duplicate).to.equal(true);
      expect(await eventCount()).to.equal(before + 1);
      const [m] = await eventually(async () => (await inboundByWamid(id)).length ? inboundByWamid(id) : null);
      // The same message in another envelope (a batch): still one message.
      const batch = cloudMessageEvent({ businessId: PHONE_ID, from, messageId: id, message: { type: 'text', text: { body: 'Hola, ¿qué tours tenéis?' } } });
      (batch.entry[0].changes![0].value as any).statuses = [];
      const third = await post(batch);
      expect(third.status).to.equal(200);
      expect(third.body.duplicate).to.equal(false);
      await processed(first.sha, third.sha);
      expect(await inboundByWamid(id)).to.have.length(1);
      expect(m).to.include({ direction: 'in', text: 'Hola, ¿qué tours tenéis?', kind: 'text' });
      const conversation = await stack().knex('conversations').where({ id: m.conversation_id }).first();
      expect(conversation).to.include({ channel: 'whatsapp', customer_handle: from, business_handle: PHONE_ID, customer_name: 'Lucía' });
      const stored = await stack().knex('whatsapp_events').where({ body_sha256: crypto.createHash('sha256').update(JSON.stringify(body)).digest('hex') }).first();
      expect(stored.body).to.deep.equal(body);
      expect(stored.processed_at).to.not.equal(null);
    });

    it('maps button and list replies to their id and title, and images or stickers to unsupported', async () => {
      const from = newNumber();
      const [b, l, img, sticker] = [wamid(), wamid(), wamid(), wamid()];
      await post(cloudMessageEvent({ businessId: PHONE_ID, from, messageId: b, message: { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'confirm-yes', title: 'Sí' } } } }));
      await post(cloudMessageEvent({ businessId: PHONE_ID, from, messageId: l, message: { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'tour-42', title: 'Prado', description: 'Art walk' } } } }));
      await post(cloudMessageEvent({ businessId: PHONE_ID, from, messageId: img, message: { type: 'image', image: { id: 'media-1', mime_type: 'image/jpeg', caption: 'mi pasaporte' } } }));
      await post(cloudMessageEvent({ businessId: PHONE_ID, from, messageId: sticker, message: { type: 'sticker', sticker: { id: 'media-2' } } }));
      const get = async (id: string) => eventually(async () => (await inboundByWamid(id))[0]);
      expect(await get(b)).to.deep.include({ kind: 'interactive', text: 'Sí', payload: { replyId: 'confirm-yes' } });
      expect(await get(l)).to.deep.include({ kind: 'interactive', text: 'Prado', payload: { replyId: 'tour-42' } });
      expect(await get(img)).to.deep.include({ kind: 'unsupported', text: '[image] mi pasaporte', payload: { type: 'image' } });
      expect(await get(sticker)).to.deep.include({ kind: 'unsupported', text: '[sticker]', payload: { type: 'sticker' } });
    });

    it('refuses unsigned and forged deliveries with 401 and stores nothing', async () => {
      const id = wamid();
      const body = cloudMessageEvent({ businessId: PHONE_ID, from: newNumber(), messageId: id, message: { type: 'text', text: { body: 'forged' } } });
      const before = await eventCount();
      const unsigned = await post(body, { sign: null });
      expect(unsigned.status).to.equal(401);
      expect(unsigned.headers.get('content-type')).to.match(/problem\+json/);
      expect((await post(body, { sign: signBody(JSON.stringify(body), 'another-secret') })).status).to.equal(401);
      expect((await post(body, { sign: 'sha256=zz' })).status).to.equal(401);
      // Signed for other bytes: the body was changed on the way.
      expect((await post(body, { sign: signBody(JSON.stringify({ ...body, object: 'page' }), SECRET) })).status).to.equal(401);
      await new Promise((r) => setTimeout(r, 300));
      expect(await eventCount()).to.equal(before);
      expect(await inboundByWamid(id)).to.have.length(0);
    });

    it('refuses malformed JSON and deliveries that are not whatsapp_business_account with 400', async () => {
      const before = await eventCount();
      const bad = await post(undefined, { raw: '{"object": "whatsapp_business_account", "entry": [' });
      expect(bad.status).to.equal(400);
      const page = await post({ object: 'page', entry: [] });
      expect(page.status).to.equal(400);
      expect(page.body.code ?? page.body.type).to.match(/not_whatsapp_business_account/);
      expect((await post({ object: 'whatsapp_business_account' })).status).to.equal(400);
      expect(await eventCount()).to.equal(before);
    });

    it('answers 503 and stores nothing where no app secret is configured (never accepts unsigned)', async () => {
      const body = cloudMessageEvent({ businessId: PHONE_ID, from: newNumber(), messageId: wamid(), message: { type: 'text', text: { body: 'x' } } });
      const before = await eventCount();
      config.whatsapp.appSecret = undefined;
      try {
        const res = await post(body, { sign: null });
        expect(res.status).to.equal(503);
        expect(res.body.detail).to.match(/WHATSAPP_APP_SECRET/);
      } finally {
        config.whatsapp.appSecret = SECRET;
      }
      expect(await eventCount()).to.equal(before);
    });

    it('records a stale message (sent over 24 hours ago) without answering it or waking the conversation', async () => {
      const from = newNumber();
      const id = wamid();
      const at = new Date(Date.now() - 30 * 3_600_000);
      expect((await post(cloudMessageEvent({ businessId: PHONE_ID, from, messageId: id, at, message: { type: 'text', text: { body: 'hola, sigue en pie lo de ayer?' } } }))).status).to.equal(200);
      const m = await eventually(async () => (await inboundByWamid(id)).find((r) => r.decided_at));
      expect(m).to.include({ intent: null, routed_to: null });
      expect(m.payload).to.deep.equal({ stale: true, sentAt: at.toISOString().replace(/\.\d{3}Z$/, '.000Z') });
      expect(m.decided_at).to.not.equal(null);
      expect(m.agent_run_id).to.equal(null);
      const c = await stack().knex('conversations').where({ id: m.conversation_id }).first();
      expect(c.window_expires_at === null || new Date(c.window_expires_at).getTime() < Date.now()).to.equal(true);
      const handle = stack().temporal.workflow.getHandle(conversationWorkflowId(c.id, temporalConfig.taskQueuePrefix));
      const described = await handle.describe().then(() => 'running', (err: Error) => err.name);
      expect(described).to.equal('WorkflowNotFoundError');
      expect(await stack().knex('conversation_messages').where({ reply_to_id: m.id })).to.have.length(0);
    });
  });

  describe('status events', () => {
    async function outbound(providerMessageId: string, status = 'sent') {
      const [c] = await stack().knex('conversations').insert({ channel: 'whatsapp', customer_handle: newNumber(), business_handle: PHONE_ID }).returning('id');
      const [m] = await stack().knex('conversation_messages').insert({
        conversation_id: c.id, direction: 'out', author: 'bot', text: 'hi', delivery_status: status, provider_message_id: providerMessageId, sent_at: status === 'sent' ? new Date() : null,
      }).returning('id');
      return m.id as string;
    }
    const row = (id: string) => stack().knex('conversation_messages').where({ id }).first();
    const ts = (secondsAgo: number) => String(Math.floor(Date.now() / 1000) - secondsAgo);

    it('applies sent → delivered → read and never goes backwards (read before delivered stays read)', async () => {
      const id = wamid();
      const messageId = await outbound(id);
      await post(statusEvent([{ id, status: 'read', timestamp: ts(10), recipient_id: '34600000000' }]));
      await eventually(async () => (await row(messageId)).delivery_status === 'read');
      const read = await row(messageId);
      expect(read.read_at).to.not.equal(null);
      expect(read.delivered_at).to.not.equal(null); // read implies delivered
      const late = [
        await post(statusEvent([{ id, status: 'delivered', timestamp: ts(20), recipient_id: '34600000000' }])),
        await post(statusEvent([{ id, status: 'failed', timestamp: ts(5), errors: [{ code: 131050, title: 'User stopped marketing messages' }] }])),
        await post(statusEvent([{ id, status: 'sent', timestamp: ts(30) }])),
      ];
      expect(late.map((r) => r.status)).to.deep.equal([200, 200, 200]);
      await processed(...late.map((r) => r.sha));
      const after = await row(messageId);
      expect(after.delivery_status).to.equal('read');
      expect(new Date(after.read_at).getTime()).to.equal(new Date(read.read_at).getTime());
      expect(new Date(after.delivered_at).getTime()).to.equal(new Date(read.delivered_at).getTime());
      expect(after.delivery_error).to.equal(null);
    });

    it('applies failed (with Meta\'s code and title) to a sent message, and nothing after it', async () => {
      const id = wamid();
      const messageId = await outbound(id);
      await post(statusEvent([{ id, status: 'failed', timestamp: ts(5), errors: [{ code: 131047, title: 'Re-engagement message' }] }]));
      await eventually(async () => (await row(messageId)).delivery_status === 'failed');
      expect((await row(messageId)).delivery_error).to.match(/131047 Re-engagement message/);
      await processed((await post(statusEvent([{ id, status: 'delivered', timestamp: ts(1) }]))).sha);
      expect((await row(messageId)).delivery_status).to.equal('failed');
    });

    it('keeps a status for an id not known yet for the sweep, and applies it once our send wrote the id', async () => {
      const id = wamid();
      const res = await post(statusEvent([{ id, status: 'delivered', timestamp: ts(1) }]));
      expect(res.status).to.equal(200);
      const event = await eventually(async () => stack().knex('whatsapp_events').whereRaw("body::text like ?", [`%${id}%`]).whereNotNull('error').first());
      expect(event.processed_at).to.equal(null);
      const messageId = await outbound(id);
      const outcome = await processWhatsAppEvent(stack().temporal, stack().knex, String(event.id));
      expect(outcome.processed).to.equal(true);
      expect(outcome.statuses.applied).to.equal(1);
      expect((await row(messageId)).delivery_status).to.equal('delivered');
    });
  });

  it('reads each kind of message: text, a list or button choice, an image as unsupported; a reaction is no message to answer', () => {
    const value = (messages: unknown[]) => ({ object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: '123' }, messages } }] }] });
    const { messages } = parseCloudWebhook(value([
      { from: '34600111222', id: 'wamid.t', timestamp: '1700000000', type: 'text', text: { body: 'hola' } },
      { from: '34600111222', id: 'wamid.l', timestamp: '1700000001', type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'tour:MAD-TOLEDO', title: 'Excursión a Toledo' } } },
      { from: '34600111222', id: 'wamid.i', timestamp: '1700000002', type: 'image', image: { id: 'media-1', caption: 'mira' } },
      { from: '34600111222', id: 'wamid.r', timestamp: '1700000003', type: 'reaction', reaction: { message_id: 'wamid.ours', emoji: '👍' } },
    ]) as never);
    expect(messages.map((m) => [m.messageId, m.kind, m.text, m.replyId ?? null, m.from])).to.deep.equal([
      ['wamid.t', 'text', 'hola', null, '+34600111222'],
      ['wamid.l', 'interactive', 'Excursión a Toledo', 'tour:MAD-TOLEDO', '+34600111222'],
      ['wamid.i', 'unsupported', '[image] mira', null, '+34600111222'],
    ]);
  });

  it('a status for a booking message with no conversation thread finds its outbox row: delivered changes nothing, a later failure is recorded', async () => {
    const { knex } = stack();
    const wamid = `wamid.outbox-${crypto.randomUUID()}`;
    const [row] = await knex('outbox_messages').insert({
      channel: 'whatsapp', recipient: '+34600999888', template: 'booking_confirmation', language: 'es', dedupe_key: `test-${wamid}`, status: 'sent', provider_message_id: wamid,
    }).returning('id');
    expect(await applyStatus(knex, { providerMessageId: wamid, status: 'delivered', at: new Date() })).to.equal('ignored');
    expect(await applyStatus(knex, { providerMessageId: wamid, status: 'failed', at: new Date(), error: { code: 131026, title: 'Message undeliverable' } })).to.equal('applied');
    const after = await knex('outbox_messages').where({ id: row.id }).first();
    expect(after).to.deep.include({ status: 'failed', error: '131026 Message undeliverable (reported by WhatsApp after it was sent)' });
    expect(await applyStatus(knex, { providerMessageId: 'wamid.nobody', status: 'read', at: new Date() })).to.equal('unmatched');
  });

  it('the sweep processes deliveries left unprocessed after 30 s', async () => {
    const from = newNumber();
    const id = wamid();
    const body = cloudMessageEvent({ businessId: PHONE_ID, from, messageId: id, message: { type: 'text', text: { body: 'left behind' } } });
    // As if an API process stored it and died before processing it.
    const [e] = await stack().knex('whatsapp_events').insert({ body_sha256: crypto.createHash('sha256').update(JSON.stringify(body)).digest('hex'), body: JSON.stringify(body), received_at: new Date(Date.now() - 60_000) }).returning('id');
    const fresh = await stack().knex('whatsapp_events').insert({ body_sha256: crypto.randomBytes(32).toString('hex'), body: JSON.stringify(statusEvent([])) }).returning('id');
    const result = await sweepWhatsAppEvents(stack().temporal, stack().knex);
    expect(result.processed).to.be.at.least(1);
    expect((await stack().knex('whatsapp_events').where({ id: e.id }).first()).processed_at).to.not.equal(null);
    expect((await stack().knex('whatsapp_events').where({ id: fresh[0].id }).first()).processed_at).to.equal(null); // not yet 30 s old
    expect(await inboundByWamid(id)).to.have.length(1);
    await stack().knex('whatsapp_events').where({ id: fresh[0].id }).del();
  });

  it('the full loop: a signed message → the conversation workflow → the reply reaches the Graph API, then its status is applied', async function () {
    this.timeout(90_000);
    const { graph, whatsapp } = stack();
    graph.reset();
    whatsapp.use(cloudChannelFor(graph, { phoneNumberId: PHONE_ID }));
    try {
      const from = newNumber();
      const id = wamid();
      const res = await post(cloudMessageEvent({ businessId: PHONE_ID, from, messageId: id, profileName: 'Ann', message: { type: 'text', text: { body: 'Hi! Which tours do you have?' } } }));
      expect(res.status).to.equal(200);
      const waId = from.slice(1);
      const [sent] = await eventually(async () => (graph.sentTo(waId).length ? graph.sentTo(waId) : null), 60_000);
      expect(sent.path).to.equal(`/v21.0/${PHONE_ID}/messages`);
      expect(sent.headers.authorization).to.equal(`Bearer ${graph.token}`);
      expect(sent.body).to.include({ messaging_product: 'whatsapp', recipient_type: 'individual', to: waId });
      expect(['text', 'interactive']).to.include(sent.body.type);
      if (sent.body.type === 'text') expect(sent.body.text.body).to.be.a('string').and.not.equal('');
      else expect(sent.body.interactive.body.text).to.be.a('string').and.not.equal('');
      const reply = await eventually(async () => stack().knex('conversation_messages').where({ provider_message_id: sent.wamid }).first());
      expect(reply).to.include({ direction: 'out', delivery_status: 'sent' });
      const inbound = (await inboundByWamid(id))[0];
      expect(reply.conversation_id).to.equal(inbound.conversation_id);
      // Meta then says it was delivered.
      await post(statusEvent([{ id: sent.wamid, status: 'delivered', timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: waId }]));
      await eventually(async () => (await stack().knex('conversation_messages').where({ id: reply.id }).first()).delivery_status === 'delivered');
      // One inbound message, answered once (however long we wait for a second send).
      await new Promise((r) => setTimeout(r, 1000));
      const replies = await stack().knex('conversation_messages').where({ reply_to_id: inbound.id, direction: 'out' });
      expect(graph.sentTo(waId)).to.have.length(replies.length);
    } finally {
      whatsapp.use();
    }
  });
});
