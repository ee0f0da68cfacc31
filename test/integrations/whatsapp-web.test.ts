/**
 * The whatsapp-web.js adapter against a fake client object that emits the library's events with
 * the library's shapes ('qr' string, 'authenticated', 'ready', 'message' Message, 'message_ack',
 * 'disconnected' reason): the session state in whatsapp_sessions (with the QR), customers'
 * messages into their conversation through the same path as webhooks, choices sent as numbered
 * text and "2" coming back as that choice, and a reconnection after a disconnection.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { expect } from 'chai';
import { WebChannel, type WebClient, type WebClientSettings, type WebMessage } from '../../integrations/whatsapp/web';
import { WhatsAppSendError } from '../../integrations/whatsapp/types';
import { readWhatsAppSession } from '../../models/whatsapp';
import { receiveWhatsApp } from '../../services/whatsapp';
import { stack } from '../support/stack';
import { eventually } from '../support/bookings';

class FakeClient extends EventEmitter implements WebClient {
  initialized = 0;
  destroyed = 0;
  sent: Array<{ chatId: string; content: string; id: string }> = [];
  constructor(readonly settings: WebClientSettings) { super(); }
  async initialize() { this.initialized++; }
  async sendMessage(chatId: string, content: string) {
    const id = `true_${chatId}_3EB0${this.sent.length}${Date.now()}`;
    this.sent.push({ chatId, content, id });
    return { id: { _serialized: id } };
  }
  async destroy() { this.destroyed++; }
}

function message(from: string, body: string, extra: Partial<WebMessage> = {}): WebMessage {
  const n = Math.random().toString(16).slice(2, 14).toUpperCase();
  return { from, body, id: { _serialized: `false_${from}_3EB0${n}`, fromMe: false }, timestamp: Math.floor(Date.now() / 1000), type: 'chat', hasMedia: false, _data: { notifyName: 'Jordi' }, ...extra };
}


describe('whatsapp-web.js channel (fake client)', () => {
  let clients: FakeClient[];
  let qrs: string[];
  let channel: WebChannel;
  const number = `3463${String(Date.now()).slice(-7)}`;

  beforeEach(async () => {
    clients = [];
    qrs = [];
    await stack().knex('whatsapp_sessions').where({ id: 'web' }).del();
    channel = new WebChannel({
      knex: stack().knex, dataDir: '/srv/spirit/.data', chromiumPath: '/usr/bin/chromium', businessId: 'simulator',
      clientFactory: (settings) => { const c = new FakeClient(settings); clients.push(c); return c; },
      printQr: (qr) => qrs.push(qr),
      onInbound: (m) => receiveWhatsApp(stack().temporal, stack().knex, m),
      // Long enough that the state written at a disconnection is read before the reconnection overwrites it, even on a loaded machine.
      reconnect: { initialMs: 1000, maxMs: 2000 },
      sendTimeoutMs: 1000,
    });
    await channel.start();
  });
  afterEach(async () => {
    await channel.close();
    await stack().knex('whatsapp_sessions').where({ id: 'web' }).del();
  });

  it('builds the client with LocalAuth under the data dir and the system Chromium, and starts it', () => {
    expect(clients).to.have.length(1);
    expect(clients[0].settings).to.deep.equal({ dataPath: path.join('/srv/spirit/.data', '.wwebjs'), chromiumPath: '/usr/bin/chromium' });
    expect(clients[0].initialized).to.equal(1);
    expect(channel.businessId).to.equal('web');
  });

  it('qr → the session is "qr" with the code (and it is printed); ready → "ready", the QR gone', async () => {
    clients[0].emit('qr', '2@Xy12abc,Q9zz,AbCdEf==');
    await channel.flushed();
    expect(await readWhatsAppSession(stack().knex, 'web')).to.include({ state: 'qr', qr: '2@Xy12abc,Q9zz,AbCdEf==' });
    expect(qrs).to.deep.equal(['2@Xy12abc,Q9zz,AbCdEf==']);
    expect(channel.health().state).to.equal('qr');
    clients[0].emit('authenticated');
    clients[0].emit('ready');
    await channel.flushed();
    expect(await readWhatsAppSession(stack().knex, 'web')).to.include({ state: 'ready', qr: null });
    expect(channel.health()).to.include({ channel: 'web', state: 'ready' });
  });

  it('a customer\'s message → stored in their conversation (groups, statuses and our own are not)', async () => {
    clients[0].emit('ready');
    const m = message(`${number}@c.us`, 'Hola, quiero reservar');
    clients[0].emit('message', m);
    clients[0].emit('message', message('120363025246125486@g.us', 'group chatter'));
    clients[0].emit('message', message('status@broadcast', 'a status'));
    clients[0].emit('message', { ...message(`${number}@c.us`, 'sent from the phone'), fromMe: true });
    const row = await eventually(() => stack().knex('conversation_messages').where({ channel_message_id: m.id._serialized }).first());
    expect(row).to.include({ direction: 'in', text: 'Hola, quiero reservar', kind: 'text' });
    const conversation = await stack().knex('conversations').where({ id: row.conversation_id }).first();
    expect(conversation).to.include({ channel: 'whatsapp', customer_handle: `+${number}`, business_handle: 'web', customer_name: 'Jordi' });
    await new Promise((r) => setTimeout(r, 200));
    expect(await stack().knex('conversation_messages').where({ conversation_id: row.conversation_id, direction: 'in' })).to.have.length(1);
    const image = message(`${number}@c.us`, 'mira', { type: 'image', hasMedia: true });
    clients[0].emit('message', image);
    const img = await eventually(() => stack().knex('conversation_messages').where({ channel_message_id: image.id._serialized }).first());
    expect(img).to.deep.include({ kind: 'unsupported', text: '[image] mira', payload: { type: 'image' } });
  });

  it('sends text; a list as numbered options, and "2" comes back as the second option', async () => {
    const early = await channel.send(`+${number}`, { kind: 'text', text: 'x' }, 'early').then(() => null, (err: unknown) => err);
    expect(early).to.be.instanceOf(WhatsAppSendError);
    expect((early as WhatsAppSendError).kind).to.equal('unavailable');
    expect(clients[0].sent).to.have.length(0);
    clients[0].emit('ready');
    const sent = await channel.send(`+${number}`, { kind: 'text', text: 'Hola' }, 'k1');
    expect(clients[0].sent[0]).to.include({ chatId: `${number}@c.us`, content: 'Hola' });
    expect(sent.providerMessageId).to.equal(clients[0].sent[0].id);
    expect(await channel.send(`+${number}`, { kind: 'text', text: 'Hola' }, 'k1')).to.deep.equal(sent); // a retry: not sent twice
    expect(clients[0].sent).to.have.length(1);
    await channel.send(`+${number}`, { kind: 'list', text: 'Nuestros tours:', button: 'Ver', rows: [{ id: 'tour-1', title: 'Prado', description: 'Arte' }, { id: 'tour-2', title: 'Toledo' }] }, 'k2');
    expect(clients[0].sent[1].content).to.equal('Nuestros tours:\n\n1. Prado — Arte\n2. Toledo');
    await channel.send(`+${number}`, { kind: 'template', name: 'booking_confirmation', language: 'en', parameters: ['Ann', 'ST-9', 'Prado', '2027-01-02'] }, 'k3');
    expect(clients[0].sent[2].content).to.equal('Hi Ann, your booking ST-9 for Prado on 2027-01-02 is confirmed. Thank you for travelling with Spirit Tours!');
    const two = message(`${number}@c.us`, ' 2 ');
    clients[0].emit('message', two);
    const row = await eventually(() => stack().knex('conversation_messages').where({ channel_message_id: two.id._serialized }).first());
    expect(row).to.deep.include({ kind: 'interactive', text: 'Toledo', payload: { replyId: 'tour-2' } });
  });

  it('disconnected → state "disconnected", then a new client is built and initialized (backoff)', async () => {
    clients[0].emit('ready');
    clients[0].emit('disconnected', 'NAVIGATION');
    await channel.flushed();
    const session = await readWhatsAppSession(stack().knex, 'web');
    expect(session).to.include({ state: 'disconnected' });
    expect(session!.detail).to.match(/NAVIGATION/);
    expect(clients[0].destroyed).to.equal(1);
    await eventually(async () => clients.length === 2 && clients[1].initialized === 1);
    expect(channel.health().state).to.equal('starting');
    clients[1].emit('ready');
    expect(channel.health().state).to.equal('ready');
    // The old client's events no longer count.
    clients[0].emit('disconnected', 'LATE');
    expect(channel.health().state).to.equal('ready');
  });

  it('applies acks to the message sent (delivered, then read)', async () => {
    clients[0].emit('ready');
    const [c] = await stack().knex('conversations').insert({ channel: 'whatsapp', customer_handle: `+${number}9`, business_handle: 'web' }).returning('id');
    const sent = await channel.send(`+${number}9`, { kind: 'text', text: 'ack me' }, 'k-ack');
    const [m] = await stack().knex('conversation_messages').insert({ conversation_id: c.id, direction: 'out', author: 'bot', text: 'ack me', delivery_status: 'sent', provider_message_id: sent.providerMessageId }).returning('id');
    clients[0].emit('message_ack', { id: { _serialized: sent.providerMessageId } }, 3);
    await eventually(async () => (await stack().knex('conversation_messages').where({ id: m.id }).first()).delivery_status === 'read');
    clients[0].emit('message_ack', { id: { _serialized: sent.providerMessageId } }, 2);
    await new Promise((r) => setTimeout(r, 200));
    expect((await stack().knex('conversation_messages').where({ id: m.id }).first()).delivery_status).to.equal('read');
  });
});
