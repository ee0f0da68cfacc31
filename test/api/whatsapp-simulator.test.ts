/**
 * The local WhatsApp simulator's HTTP endpoint (what `npm run chat` uses): a simulated customer's
 * message enters the same inbound path as a webhook's, the platform's answer is read back from
 * the simulator's outbox, and the endpoint is not there in production (unless enabled) or with
 * another channel. Also: /health and the admin session endpoint name the channel and its state.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { config } from '../../platform/config';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually } from '../support/bookings';
import { renderOutbound } from '../../scripts/chat';

const PATH = '/api/v1/simulator/whatsapp/messages';


describe('WhatsApp simulator endpoint', () => {
  it('a simulated customer writes and reads the platform\'s reply; a repeat of the same message id is one message', async function () {
    this.timeout(60_000);
    const from = `+3461${String(Date.now()).slice(-7)}`;
    const res = await api('POST', PATH, { body: { from, text: 'Hola, ¿qué tours tenéis?', name: 'Pepa', messageId: 'wamid.SIM.test-1' } });
    expect(res.status).to.equal(202);
    expect(res.body).to.include({ object: 'simulated_message', channelMessageId: 'wamid.SIM.test-1', duplicate: false, stale: false });
    const again = await api('POST', PATH, { body: { from, text: 'Hola, ¿qué tours tenéis?', messageId: 'wamid.SIM.test-1' } });
    expect(again.body).to.include({ duplicate: true, messageId: res.body.messageId });
    const out = await eventually(async () => {
      const r = await api('GET', `${PATH}?to=${encodeURIComponent(from)}`);
      return r.body.data.length ? r : null;
    }, 30_000);
    expect(out.status).to.equal(200);
    const first = out.body.data[0];
    expect(first.message.kind).to.be.oneOf(['text', 'buttons', 'list', 'template']);
    expect(out.body.lastId).to.equal(out.body.data.at(-1).id);
    // The same conversation as a webhook message from that number would use, with the profile name.
    const conversation = await stack().knex('conversations').where({ id: res.body.conversationId }).first();
    expect(conversation).to.include({ channel: 'whatsapp', customer_handle: from, business_handle: config.whatsapp.phoneNumberId, customer_name: 'Pepa' });
    const after = await api('GET', `${PATH}?to=${encodeURIComponent(from)}&after=${out.body.lastId}`);
    expect(after.body.data).to.deep.equal([]);
    const replyRow = await stack().knex('conversation_messages').where({ conversation_id: res.body.conversationId, direction: 'out' }).first();
    expect(replyRow.delivery_status).to.be.oneOf(['sent', 'delivered', 'read']);
    expect(replyRow.provider_message_id).to.equal(first.wamid);
  });

  it('npm run chat shows lists and buttons as numbered options whose number picks the id', () => {
    const list = renderOutbound({ kind: 'list', text: 'Tours', button: 'See', rows: [{ id: 'tour-1', title: 'Prado', description: 'Art' }, { id: 'tour-2', title: 'Toledo' }] });
    expect(list.text).to.equal('Tours\n  (See)\n  [1] Prado — Art\n  [2] Toledo');
    expect(list.options.map((o) => o.id)).to.deep.equal(['tour-1', 'tour-2']);
    const buttons = renderOutbound({ kind: 'buttons', text: 'OK?', buttons: [{ id: 'y', title: 'Yes' }, { id: 'n', title: 'No' }] });
    expect(buttons.text).to.equal('OK?\n  [1] Yes\n  [2] No');
    expect(renderOutbound({ kind: 'text', text: 'hi' })).to.deep.equal({ text: 'hi', options: [] });
  });

  it('npm run chat talks to the running API: a line typed is a message, the reply is printed', async function () {
    this.timeout(60_000);
    const from = `+3464${String(Date.now()).slice(-7)}`;
    const root = path.resolve(__dirname, '../..');
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(root, 'scripts/chat.ts'), '--from', from, '--name', 'Chat'], {
      cwd: root, env: { ...process.env, CHAT_URL: stack().baseUrl }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    try {
      await eventually(async () => out.includes('WhatsApp simulator at'), 30_000);
      child.stdin.write('Hello, which tours do you have?\n');
      await eventually(async () => /spirit> \S/.test(out), 45_000);
      const stored = await stack().knex('conversations').where({ channel: 'whatsapp', customer_handle: from }).first();
      expect(stored).to.include({ customer_name: 'Chat' });
      child.stdin.write('/quit\n');
      await new Promise((resolve) => child.once('exit', resolve));
    } finally {
      if (child.exitCode === null) child.kill();
    }
  });

  it('takes an interactive choice and an unsupported type', async () => {
    const from = `+3462${String(Date.now()).slice(-7)}`;
    const choice = await api('POST', PATH, { body: { from, replyId: 'tour-7', replyTitle: 'Toledo' } });
    expect(choice.status).to.equal(202);
    expect(await stack().knex('conversation_messages').where({ id: choice.body.messageId }).first()).to.deep.include({ kind: 'interactive', text: 'Toledo', payload: { replyId: 'tour-7' } });
    const sticker = await api('POST', PATH, { body: { from, type: 'sticker' } });
    expect(await stack().knex('conversation_messages').where({ id: sticker.body.messageId }).first()).to.deep.include({ kind: 'unsupported', text: '[sticker]', payload: { type: 'sticker' } });
    expect((await api('POST', PATH, { body: { from } })).status).to.equal(400);
    expect((await api('POST', PATH, { body: { from: '600111222', text: 'x' } })).status).to.equal(400);
  });

  it('is not there in production (unless WHATSAPP_SIMULATOR_IN_PRODUCTION=1) nor with another channel', async () => {
    const saved = { isProduction: config.isProduction, channel: config.whatsapp.channel, inProd: config.whatsapp.simulatorInProduction };
    try {
      (config as { isProduction: boolean }).isProduction = true;
      expect((await api('POST', PATH, { body: { from: '+34600999888', text: 'x' } })).status).to.equal(404);
      expect((await api('GET', `${PATH}?to=%2B34600999888`)).status).to.equal(404);
      config.whatsapp.simulatorInProduction = true;
      expect((await api('GET', `${PATH}?to=%2B34600999888`)).status).to.equal(200);
      (config as { isProduction: boolean }).isProduction = false;
      config.whatsapp.channel = 'cloud';
      expect((await api('GET', `${PATH}?to=%2B34600999888`)).status).to.equal(404);
    } finally {
      (config as { isProduction: boolean }).isProduction = saved.isProduction;
      config.whatsapp.channel = saved.channel;
      config.whatsapp.simulatorInProduction = saved.inProd;
    }
  });

  it('/health and the admin session endpoint name the channel and its state', async () => {
    const health = await api('GET', '/health');
    expect(health.body.whatsapp).to.include({ channel: 'simulator', state: 'ready' });
    const saved = { ...config.whatsapp };
    try {
      Object.assign(config.whatsapp, { channel: 'cloud', accessToken: undefined });
      expect((await api('GET', '/health')).body.whatsapp).to.include({ channel: 'cloud', state: 'misconfigured' });
      Object.assign(config.whatsapp, { accessToken: 'token', phoneNumberId: '1098', appSecret: 's', verifyToken: 'v' });
      expect((await api('GET', '/health')).body.whatsapp).to.include({ channel: 'cloud', state: 'ready' });
      Object.assign(config.whatsapp, { channel: 'web' });
      await stack().knex('whatsapp_sessions').insert({ id: 'web', state: 'qr', qr: '2@abc,def,ghi' }).onConflict('id').merge();
      expect((await api('GET', '/health')).body.whatsapp).to.include({ channel: 'web', state: 'qr' });
      expect((await api('GET', '/api/v1/whatsapp/session')).status).to.equal(401);
      const session = await api('GET', '/api/v1/whatsapp/session', { token: await loginAs('admin') });
      expect(session.status).to.equal(200);
      expect(session.body).to.include({ object: 'whatsapp_session', channel: 'web', state: 'qr', qr: '2@abc,def,ghi' });
      expect((await api('GET', '/api/v1/whatsapp/session', { token: await loginAs('operator') })).status).to.equal(403);
    } finally {
      Object.assign(config.whatsapp, saved);
      await stack().knex('whatsapp_sessions').where({ id: 'web' }).del();
    }
  });
});
