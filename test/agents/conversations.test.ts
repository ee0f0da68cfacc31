/**
 * Conversations as durable processes, through the WhatsApp simulator channel: one workflow per
 * customer and business number; each stored message handled once, replies handed to the channel
 * once; a person takes over (the bot stays quiet), answers, hands back; outside the 24-hour
 * window a person's reply goes as the approved template; idle conversations close and open
 * again; a worker SIGKILLed mid-conversation loses no message and sends no reply twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { config, projectRoot } from '../../platform/config';
import { receiveInbound } from '../../services/conversations';
import { openConversation, recordInbound } from '../../models/conversations';
import { conversationWorkflowId } from '../../workflows/conversation-messages';
import { temporalConfig } from '../../temporal.config';
import { api, loginAs } from '../support/http';
import { eventually } from '../support/bookings';
import { runId } from '../support/env';
import { stack } from '../support/stack';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { BaseMessage } from '@langchain/core/messages';
import { createActivities } from '../../activities';
import { callModel } from '../../agents/runtime/model';
import { ScriptedChatModel, callsTools, says, toolResultsIn } from '../support/scripted-model';

let seq = 0;
/** A fresh Spanish mobile number per conversation. */
const phone = () => `+3466${String(Date.now() % 100000).padStart(5, '0')}${String(seq++ % 100).padStart(2, '0')}`;
const business = () => config.whatsapp.phoneNumberId;

async function say(from: string, text: string, id: string, extra: Record<string, unknown> = {}) {
  const { knex, temporal } = stack();
  return receiveInbound(temporal, knex, { channel: 'whatsapp', from, to: business(), text, messageId: id, verified: true, ...extra });
}

/** What the simulated customer received, oldest first. */
async function received(to: string) {
  return stack().knex('whatsapp_simulator_messages').where({ to_number: to }).orderBy('id').select('wamid', 'message', 'sends');
}

const exited = (child: ChildProcess) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));

describe('conversations (WhatsApp simulator, end to end)', function () {
  this.timeout(120_000);
  let operator: string;
  before(async () => { operator = await loginAs('operator'); });

  it('answers each message once through the channel, whatever the repeats; the reply is marked sent with its wamid', async () => {
    const from = phone();
    const first = await say(from, 'Hola, ¿qué tours tenéis en España?', 'wamid.in-1');
    await say(from, 'Hola, ¿qué tours tenéis en España?', 'wamid.in-1'); // WhatsApp retries a delivery
    const out = await eventually(async () => { const r = await received(from); return r.length >= 1 && r; }, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(await received(from)).to.have.length(1);
    expect(out[0].sends).to.equal(1);
    const { knex } = stack();
    const reply = await eventually(async () => {
      const m = await knex('conversation_messages').where({ conversation_id: first.conversationId, direction: 'out' }).first();
      return m?.delivery_status === 'sent' && m;
    });
    expect(reply.provider_message_id).to.equal(out[0].wamid);
    expect(reply.sent_at).to.be.instanceOf(Date);
    expect(await knex('conversation_messages').where({ conversation_id: first.conversationId, direction: 'in' })).to.have.length(1);
    const c = await knex('conversations').where({ id: first.conversationId }).first();
    expect(c).to.deep.include({ channel: 'whatsapp', customer_handle: from, business_handle: business(), language: 'es' });
    // The 24-hour window runs from the customer's message.
    expect(new Date(c.window_expires_at).getTime() - Date.now()).to.be.within(23.9 * 3_600_000, 24 * 3_600_000 + 1000);
  });

  it('handoff: the customer asks for a person, an operator takes over (the bot stays quiet), answers through the channel, hands back; the bot answers again', async () => {
    const from = phone();
    const { knex } = stack();
    const asked = await say(from, 'quiero hablar con una persona', 'wamid.h-1');
    const id = asked.conversationId;
    await eventually(async () => (await received(from)).length === 1, 30_000);
    expect((await received(from))[0].message).to.deep.equal({ kind: 'text', text: 'Te paso con una persona de nuestro equipo; te responderá aquí en breve.' });

    const take = await api('POST', `/api/v1/conversations/${id}/takeover`, { token: operator });
    expect(take.status, JSON.stringify(take.body)).to.equal(200);
    expect(take.body).to.deep.include({ status: 'with_human', waitingSince: null });
    expect(take.body.window).to.deep.include({ open: true });
    // Taking it again is harmless; another operator may not take it from them.
    expect((await api('POST', `/api/v1/conversations/${id}/takeover`, { token: operator })).status).to.equal(200);
    const admin = await loginAs('admin');
    const stolen = await api('POST', `/api/v1/conversations/${id}/takeover`, { token: admin });
    expect(stolen.status).to.equal(409);
    expect(stolen.body.code).to.equal('conversation_taken');

    await say(from, '¿Hay plazas para Toledo mañana?', 'wamid.h-2');
    await eventually(async () => (await knex('conversation_messages').where({ conversation_id: id, channel_message_id: 'wamid.h-2' }).first())?.decided_at, 30_000);
    const reply = await api('POST', `/api/v1/conversations/${id}/reply`, { token: operator, body: { text: 'Hola, soy Marta: sí, hay plazas a las 9:00.' } });
    expect(reply.status).to.equal(201);
    await eventually(async () => (await received(from)).length === 2, 30_000);
    // The bot said nothing about the second message; the operator's words went out as written.
    expect((await received(from))[1].message).to.deep.equal({ kind: 'text', text: 'Hola, soy Marta: sí, hay plazas a las 9:00.' });

    const back = await api('POST', `/api/v1/conversations/${id}/handback`, { token: operator, body: { note: 'resolved: seats confirmed' } });
    expect(back.status, JSON.stringify(back.body)).to.equal(200);
    expect(back.body.status).to.equal('bot');
    expect(back.body.resolvedAt).to.be.a('string');
    expect((await api('POST', `/api/v1/conversations/${id}/handback`, { token: operator })).status).to.equal(409);

    await say(from, 'What tours do you have in Spain?', 'wamid.h-3');
    await eventually(async () => (await received(from)).length === 3, 30_000);
    expect((await received(from))[2].message.kind).to.be.oneOf(['text', 'list']);

    const detail = await api('GET', `/api/v1/conversations/${id}`, { token: operator });
    expect(detail.body.events.map((e: { type: string }) => e.type)).to.deep.equal(['waiting_human', 'taken_over', 'handed_back']);
    expect(detail.body.messages.map((m: { author: string }) => m.author)).to.deep.equal(['customer', 'bot', 'customer', 'operator', 'customer', 'bot']);
    const operatorMessage = detail.body.messages[3];
    expect(operatorMessage.delivery).to.deep.include({ status: 'sent', viaTemplate: null });
    const audit = await knex('audit_log').where({ entity_id: id }).whereIn('action', ['conversation.takeover', 'conversation.handback', 'conversation.reply']).orderBy('id').pluck('action');
    expect(audit).to.deep.equal(['conversation.takeover', 'conversation.takeover', 'conversation.reply', 'conversation.handback']);
  });

  it('outside the 24-hour window a person\'s reply goes as the approved operator_reply template, and the operator view says so', async () => {
    const from = phone();
    const { knex } = stack();
    const first = await say(from, 'quiero hablar con una persona', 'wamid.w-1', { profileName: 'Lucía' });
    await eventually(async () => (await received(from)).length === 1, 30_000);
    // A day later: the window has closed.
    await knex('conversations').where({ id: first.conversationId }).update({ window_expires_at: new Date(Date.now() - 60_000) });
    const view = await api('GET', `/api/v1/conversations/${first.conversationId}`, { token: operator });
    expect(view.body.window).to.deep.include({ open: false });
    expect(view.body.window.note).to.match(/operator_reply template/);
    const reply = await api('POST', `/api/v1/conversations/${first.conversationId}/reply`, { token: operator, body: { text: 'Ya tenemos tu reembolso listo.' } });
    expect(reply.status).to.equal(201);
    await eventually(async () => (await received(from)).length === 2, 30_000);
    expect((await received(from))[1].message).to.deep.equal({ kind: 'template', name: 'operator_reply', language: 'es', parameters: ['Lucía', 'Ya tenemos tu reembolso listo.'] });
    const row = await knex('conversation_messages').where({ id: reply.body.id }).first();
    expect(row).to.deep.include({ delivery_status: 'sent', via_template: 'operator_reply' });
  });

  it('web chat: the customer reads a person\'s later answer with the chat token of the inbound answer; a wrong token finds nothing', async () => {
    const from = `visitor-${Date.now()}-${seq++}@chat.test`;
    const post = (body: unknown) => api('POST', '/api/v1/conversations/inbound', { body });
    let res = await post({ channel: 'web', from, text: 'I want to talk to a person', messageId: 'web-1' });
    if (res.status === 202) res = await eventually(async () => { const r = await post({ channel: 'web', from, text: 'I want to talk to a person', messageId: 'web-1' }); return r.status === 200 && r; }, 30_000, 300);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const { conversationId, chatToken } = res.body;
    expect(chatToken).to.be.a('string');
    const answered = await api('POST', `/api/v1/conversations/${conversationId}/reply`, { token: operator, body: { text: 'Hi, I am Marta. How can I help?' } });
    expect(answered.status).to.equal(201);
    const read = await api('GET', `/api/v1/conversations/${conversationId}/answers?token=${encodeURIComponent(chatToken)}`);
    expect(read.status, JSON.stringify(read.body)).to.equal(200);
    expect(read.body.data.map((m: { author: string; text: string }) => [m.author, m.text])).to.deep.equal([
      ['bot', res.body.decision.reply], ['operator', 'Hi, I am Marta. How can I help?'],
    ]);
    expect(read.body.status).to.equal('with_human');
    const after = await api('GET', `/api/v1/conversations/${conversationId}/answers?token=${encodeURIComponent(chatToken)}&after=${read.body.data[0].id}`);
    expect(after.body.data.map((m: { author: string }) => m.author)).to.deep.equal(['operator']);
    expect((await api('GET', `/api/v1/conversations/${conversationId}/answers?token=${'x'.repeat(32)}`)).status).to.equal(404);
    // Web chat has no channel to hand over to: nothing is queued for delivery.
    expect((await stack().knex('conversation_messages').where({ conversation_id: conversationId }).whereNotNull('delivery_status'))).to.have.length(0);
  });

  it('closes an idle conversation and ends its workflow; the next message opens it again', async () => {
    const { knex, temporal } = stack();
    const before = config.whatsapp.idleCloseMinutes;
    config.whatsapp.idleCloseMinutes = 2 / 60; // 2 s, for conversations that start now
    const from = phone();
    let id: string;
    try {
      id = (await say(from, 'hola', 'wamid.i-1')).conversationId;
      await eventually(async () => (await received(from)).length === 1, 30_000);
    } finally {
      config.whatsapp.idleCloseMinutes = before;
    }
    const result = await temporal.workflow.getHandle(conversationWorkflowId(id, temporalConfig.taskQueuePrefix)).result();
    expect(result).to.deep.include({ closed: true });
    expect((await knex('conversations').where({ id }).first()).status).to.equal('closed');
    await say(from, 'What tours do you have in Spain?', 'wamid.i-2');
    await eventually(async () => (await received(from)).length === 2, 30_000);
    const c = await knex('conversations').where({ id }).first();
    expect(c.status).to.equal('bot');
    expect((await knex('conversation_events').where({ conversation_id: id }).orderBy('id').pluck('type'))).to.deep.equal(['closed', 'reopened']);
  });

  it('with a model for MultiChannelHub, each message is its own agentRunWorkflow (model mode), child of the conversation; the model\'s route is delivered', async () => {
    const { knex, temporal, temporalAddress, bundle } = stack();
    const queue = `conv-model-${runId}-agents`;
    // The model asks the core, then routes with the core's proposed decision (its wording kept).
    const model = new ScriptedChatModel((messages: BaseMessage[]) => {
      const results = toolResultsIn(messages);
      if (results.length === 0) return callsTools([{ name: 'core_analysis', args: {} }]);
      if (results.length === 1) {
        const core = JSON.parse(String(results[0].content)) as { proposedActions: Array<{ tool: string; input: Record<string, unknown> }> };
        return callsTools([{ name: 'conversations_route', args: core.proposedActions[0].input }]);
      }
      return says('Routed.');
    });
    const connection = await NativeConnection.connect({ address: temporalAddress });
    const activities = createActivities({ knex, temporal: async () => temporal, publicUrl: 'http://127.0.0.1', agentModelFor: (agent) => (agent === 'MultiChannelHub' ? model : undefined), callModel });
    const worker = await Worker.create({ connection, taskQueue: queue, workflowBundle: bundle, activities: activities.forQueue('agents') });
    const running = worker.run();
    try {
      const from = phone();
      const conversation = await openConversation(knex, { channel: 'whatsapp', customerHandle: from, businessHandle: business() });
      const { message } = await recordInbound(knex, { conversationId: conversation.id, channelMessageId: 'wamid.model-1', text: 'What tours do you have in Spain?' });
      await temporal.workflow.signalWithStart('conversationWorkflow', {
        workflowId: conversationWorkflowId(conversation.id, `model-${runId}-`), taskQueue: queue, args: [{ conversationId: conversation.id }], signal: 'inbound', signalArgs: [{ messageId: message.id }],
      });
      await eventually(async () => (await received(from)).length === 1, 45_000);
      const out = (await received(from))[0];
      expect(out.message.kind).to.equal('list');
      const decided = await knex('conversation_messages').where({ id: message.id }).first();
      expect(decided).to.deep.include({ intent: 'browse', routed_to: 'browse' });
      const run = await knex('agent_runs').where({ id: decided.agent_run_id }).first();
      expect(run).to.deep.include({ agent: 'MultiChannelHub', mode: 'model', status: 'completed' });
      expect(run.steps.map((x: { kind: string; name: string }) => `${x.kind}:${x.name}`)).to.deep.equal([
        'model:turn 1', 'tool:conversations.context', 'tool:conversations.offer', 'core:MultiChannelHub', 'model:turn 2', 'tool:conversations.route', 'model:turn 3',
      ]);
      // The run is a workflow of its own (the child), unlike core mode's inline runs.
      const described = await temporal.workflow.getHandle(decided.agent_run_id).describe();
      expect(described.type).to.equal('agentRunWorkflow');
    } finally {
      worker.shutdown();
      await running;
      await connection.close();
    }
  });

  it('in core mode the hub runs inside the turn: its run is recorded with its steps, and is no workflow', async () => {
    const { knex, temporal } = stack();
    const from = phone();
    const r = await say(from, 'What tours do you have in Spain?', 'wamid.inline-1');
    await eventually(async () => (await received(from)).length === 1, 30_000);
    const run = await knex('agent_runs').where({ id: r.runId }).first();
    expect(run).to.deep.include({ agent: 'MultiChannelHub', mode: 'core', status: 'completed' });
    expect(run.steps.map((x: { kind: string; name: string }) => `${x.kind}:${x.name}`)).to.deep.equal(['tool:conversations.context', 'tool:conversations.offer', 'core:MultiChannelHub', 'tool:conversations.route']);
    let found = true;
    await temporal.workflow.getHandle(r.runId).describe().catch(() => { found = false; });
    expect(found).to.equal(false);
  });

  it('a worker SIGKILLed mid-conversation loses no message and sends no reply twice', async () => {
    const { knex, temporal, databaseUrl, temporalAddress } = stack();
    const prefix = `conv-crash-${runId}-`;
    const worker = () => spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers', 'main.ts')], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_TASK_QUEUE_PREFIX: prefix, WORKER_TASK_QUEUES: 'agents', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const from = phone();
    // The conversation and its messages are stored as the inbound path stores them; the workflow runs on the child worker's queue.
    const conversation = await openConversation(knex, { channel: 'whatsapp', customerHandle: from, businessHandle: business() });
    const texts = ['hola', 'What tours do you have in Spain?', '¿Hay plazas para Toledo mañana? Somos 2', 'quiero ver mis reservas', 'gracias', 'What tours do you have in Madrid?'];
    const messageIds: string[] = [];
    for (const [i, text] of texts.entries()) {
      const { message } = await recordInbound(knex, { conversationId: conversation.id, channelMessageId: `wamid.k-${i}`, text });
      messageIds.push(message.id);
    }
    let child = worker();
    const signal = (messageId: string) => temporal.workflow.signalWithStart('conversationWorkflow', {
      workflowId: conversationWorkflowId(conversation.id, prefix), taskQueue: `${prefix}agents`, args: [{ conversationId: conversation.id }], signal: 'inbound', signalArgs: [{ messageId }],
    });
    try {
      for (const id of messageIds) await signal(id);
      // Kill it as soon as the first replies went out, twice, restarting each time (signals repeated, as a retrying channel would).
      for (let kill = 1; kill <= 2; kill++) {
        await eventually(async () => (await received(from)).length >= kill * 2, 90_000, 20);
        child.kill('SIGKILL');
        await exited(child);
        for (const id of messageIds) await signal(id);
        child = worker();
      }
      await eventually(async () => (await knex('conversation_messages').where({ conversation_id: conversation.id, direction: 'in' }).whereNull('decided_at')).length === 0, 90_000, 200);
      await eventually(async () => (await knex('conversation_messages').where({ conversation_id: conversation.id, direction: 'out' }).whereIn('delivery_status', ['pending', 'claimed'])).length === 0, 90_000, 200);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
    const replies = await knex('conversation_messages').where({ conversation_id: conversation.id, direction: 'out' }).select('reply_to_id', 'delivery_status', 'provider_message_id');
    // Every message was decided and answered exactly once (no lost message, no second reply).
    expect(replies.map((r) => r.reply_to_id).sort()).to.deep.equal([...messageIds].sort());
    const sent = await received(from);
    for (const r of replies) {
      // A reply whose hand-over was cut by the kill is `unknown` and was never sent again; every other one is sent, once.
      expect(r.delivery_status).to.be.oneOf(['sent', 'unknown']);
      if (r.delivery_status === 'sent') expect(sent.find((s) => s.wamid === r.provider_message_id)?.sends).to.equal(1);
    }
    for (const s of sent) expect(s.sends).to.equal(1);
    expect(sent.length).to.be.within(replies.filter((r) => r.delivery_status === 'sent').length, replies.length);
  });
});
