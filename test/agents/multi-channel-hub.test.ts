/**
 * MultiChannelHub end to end on the real stack: a web chat message through the public inbound
 * endpoint starts one run, whose decision (language, intent, entities, route) and reply are
 * stored and answered in the same request; the human queue for operators and their reply; one
 * run and one stored message per messageId; refusals (422) and the rate limit (429).
 */
import { expect } from 'chai';
import crypto from 'node:crypto';
import { config } from '../../platform/config';
import { conversationRoute } from '../../agents/multi-channel-hub/tools';
import { receiveInbound, waitForDecision } from '../../services/conversations';
import { api, loginAs } from '../support/http';
import { eventually } from '../support/bookings';
import { stack } from '../support/stack';

const post = (body: unknown) => api('POST', '/api/v1/conversations/inbound', { body });
/**
 * A message whose decision the test needs: on a loaded machine the run may take longer than the
 * ~2 s the endpoint waits (202); the client then asks again with the same messageId, as documented.
 */
async function inbound(body: unknown) {
  const first = await post(body);
  if (first.status !== 202) return first;
  const again = await eventually(async () => { const r = await post(body); return r.status !== 202 && r; }, 30_000, 300);
  return { ...again, body: { ...again.body, duplicate: first.body.duplicate } };
}
const handle = () => `visitor-${crypto.randomUUID()}@chat.test`;

describe('MultiChannelHub (web chat, end to end)', function () {
  this.timeout(90_000);
  let operator: string;
  const limits = { ...config.rateLimits };
  // Every test speaks from 127.0.0.1 and may ask again after a 202: the limits are off except where tested.
  before(async () => {
    Object.assign(config.rateLimits, { inboundMessagesPerAddressPerMinute: 0, inboundMessagesPerSenderPerMinute: 0 });
    operator = await loginAs('operator');
  });
  after(() => { Object.assign(config.rateLimits, limits); });

  it('answers a Spanish availability question with real departures of the seeded tour, and stores the decision', async () => {
    const from = handle();
    const res = await inbound({ channel: 'web', from, text: 'Hola, ¿hay plazas para Toledo mañana? Somos 2', messageId: 'm-1' });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const { knex } = stack();
    const { rows: [{ today }] } = await knex.raw(`select to_char((now() at time zone 'UTC')::date + 1, 'YYYY-MM-DD') as today`);
    const d = res.body.decision;
    expect(d).to.deep.include({ language: 'es', intent: 'availability', routedTo: 'availability', conversationStatus: 'bot' });
    expect(d.entities).to.deep.equal({
      dates: { from: today, to: today, text: 'manana' }, partySize: 2, destination: { name: 'Toledo', kind: 'city', tourCodes: ['MAD-TOLEDO'] },
    });

    // The reply names departures that exist: the run's output lists them, each a real open MAD-TOLEDO departure with 2 seats.
    const run = await eventually(async () => {
      const r = await api('GET', `/api/v1/agent-runs/${encodeURIComponent(res.body.runId)}`, { token: operator });
      return r.body.status === 'completed' && r.body;
    });
    expect(run.mode).to.equal('core');
    expect(run.steps.map((s: { kind: string; name: string }) => `${s.kind}:${s.name}`)).to.deep.equal(
      ['tool:conversations.context', 'tool:conversations.offer', 'core:MultiChannelHub', 'tool:conversations.route']);
    const ids: string[] = run.output.departureIds;
    expect(ids.length).to.be.within(1, 5);
    const deps = await knex('departures as d').join('tours as t', 't.id', 'd.tour_id').whereIn('d.id', ids)
      .select('d.id', 't.code', 'd.starts_at', 'd.timezone', knex.raw('d.capacity - d.seats_held - d.seats_sold as seats_left'));
    expect(deps).to.have.length(ids.length);
    for (const dep of deps) {
      expect(dep.code).to.equal('MAD-TOLEDO');
      expect(Number(dep.seats_left)).to.be.at.least(2);
      const time = new Intl.DateTimeFormat('es-ES', { timeZone: dep.timezone, hour: '2-digit', minute: '2-digit', hour12: false }).format(new Date(dep.starts_at));
      const day = new Intl.DateTimeFormat('es-ES', { timeZone: dep.timezone, day: 'numeric', month: 'short' }).format(new Date(dep.starts_at));
      expect(d.reply).to.include(`${day}, ${time} — quedan ${dep.seats_left} plazas`);
    }
    expect(d.reply).to.include('Excursión a Toledo');
    expect(d.reply).to.include('89,00 €');

    // Stored: the inbound message with what was understood and where it went, the bot's reply after it.
    const messages = await knex('conversation_messages').where({ conversation_id: res.body.conversationId }).orderBy('created_at');
    expect(messages.map((m) => [m.direction, m.author])).to.deep.equal([['in', 'customer'], ['out', 'bot']]);
    expect(messages[0]).to.deep.include({ channel_message_id: 'm-1', language: 'es', intent: 'availability', routed_to: 'availability', agent_run_id: res.body.runId });
    expect(messages[0].entities.destination.tourCodes).to.deep.equal(['MAD-TOLEDO']);
    expect(messages[1]).to.deep.include({ reply_to_id: messages[0].id, text: d.reply, language: 'es' });
    const conversation = await knex('conversations').where({ id: res.body.conversationId }).first();
    expect(conversation).to.deep.include({ channel: 'web', customer_handle: from, status: 'bot', language: 'es', last_intent: 'availability' });
  });

  it('"quiero hablar con una persona" goes to the human queue; an operator sees it, answers and takes over; the bot then stays quiet', async () => {
    const from = handle();
    const res = await inbound({ channel: 'web', from, text: 'quiero hablar con una persona', messageId: 'h-1' });
    expect(res.status).to.equal(200);
    expect(res.body.decision).to.deep.include({
      language: 'es', intent: 'human', routedTo: 'human', conversationStatus: 'waiting_human', reply: 'Te paso con una persona de nuestro equipo; te responderá aquí en breve.',
    });
    const id = res.body.conversationId;

    const queue = await api('GET', '/api/v1/conversations?queue=human&limit=100', { token: operator });
    expect(queue.status).to.equal(200);
    const item = queue.body.data.find((c: { id: string }) => c.id === id);
    expect(item).to.deep.include({ customerHandle: from, status: 'waiting_human', language: 'es', lastIntent: 'human' });
    expect(item.waitingSince).to.be.a('string');
    expect((await api('GET', '/api/v1/conversations?queue=human')).status).to.equal(401);
    expect((await api('GET', '/api/v1/conversations?queue=human', { token: await loginAs('customer') })).status).to.equal(403);
    expect((await api('GET', '/api/v1/conversations?queue=human', { token: await loginAs('marketer') })).status).to.equal(403);

    const reply = await api('POST', `/api/v1/conversations/${id}/reply`, { token: operator, body: { text: 'Hola, soy Marta. ¿En qué te ayudo?' } });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
    expect(reply.body).to.deep.include({ direction: 'out', author: 'operator', text: 'Hola, soy Marta. ¿En qué te ayudo?', conversationStatus: 'with_human' });

    const later = await inbound({ channel: 'web', from, text: '¿Hay plazas para Toledo mañana?', messageId: 'h-2' });
    expect(later.status).to.equal(200);
    expect(later.body.decision).to.deep.include({ intent: 'availability', routedTo: 'human', conversationStatus: 'with_human', reply: null });

    const detail = await api('GET', `/api/v1/conversations/${id}`, { token: operator });
    expect(detail.status).to.equal(200);
    expect(detail.body).to.deep.include({ status: 'with_human', waitingSince: null });
    expect(detail.body.messages.map((m: { author: string; routedTo: string | null }) => `${m.author}:${m.routedTo ?? '-'}`)).to.deep.equal(
      ['customer:human', 'bot:-', 'operator:-', 'customer:human']);
    const audit = await stack().knex('audit_log').where({ action: 'conversation.reply', entity_id: id });
    expect(audit).to.have.length(1);
  });

  it('a second message in a row that is not understood goes to a person', async () => {
    const from = handle();
    const first = await inbound({ channel: 'web', from, text: 'asdfgh', messageId: 'o-1' });
    expect(first.body.decision).to.deep.include({ intent: 'other', routedTo: 'other', conversationStatus: 'bot' });
    const second = await inbound({ channel: 'web', from, text: 'qwerty zxcv', messageId: 'o-2' });
    expect(second.body.decision).to.deep.include({ intent: 'other', routedTo: 'human', conversationStatus: 'waiting_human' });
  });

  it('the same messageId twice: one run, one stored message, one reply, the same answer', async () => {
    const from = handle();
    const body = { channel: 'web', from, text: 'What tours do you have in Spain?', messageId: 'dup-1' };
    // Both deliveries at once: whichever is second finds the first's message and run.
    const [a, b] = await Promise.all([inbound(body), inbound(body)]);
    const c = await inbound(body);
    for (const r of [a, b, c]) expect(r.status, JSON.stringify(r.body)).to.equal(200);
    expect(new Set([a.body.runId, b.body.runId, c.body.runId]).size).to.equal(1);
    expect([a.body.duplicate, b.body.duplicate].sort()).to.deep.equal([false, true]);
    expect(c.body.duplicate).to.equal(true);
    expect(c.body.decision).to.deep.equal(a.body.decision);
    expect(a.body.decision).to.deep.include({ language: 'en', intent: 'browse', routedTo: 'browse' });
    expect(a.body.decision.reply).to.match(/^Our tours in Spain:\n1\. Prado Masterpieces \(Madrid\)/);
    const { knex } = stack();
    expect(await knex('conversation_messages').where({ conversation_id: a.body.conversationId })).to.have.length(2);
    expect(await knex('agent_runs').where({ agent: 'MultiChannelHub' }).where('occasion', 'like', `message-${a.body.conversationId}-%`)).to.have.length(1);
  });

  it('the acting tool answers once per step key: a retried call stores nothing more', async () => {
    const first = await inbound({ channel: 'web', from: handle(), text: 'hola', messageId: 'once-1' });
    const { knex } = stack();
    const ctx = { knex, runId: first.body.runId, agent: 'MultiChannelHub' as const, stepKey: `${first.body.runId}/action-0`, actor: 'agent:MultiChannelHub', temporal: () => stack().temporal as never, publicUrl: '', now: () => new Date() };
    const input = conversationRoute.input.parse({
      conversationId: first.body.conversationId, messageId: first.body.messageId, language: 'en', intent: 'other', confidence: 0.9,
      entities: { dates: null, partySize: null, destination: null }, route: 'other', status: 'bot', reply: 'a different reply',
    });
    const again = await conversationRoute.run(ctx, input);
    expect(again).to.deep.equal({ conversationId: first.body.conversationId, messageId: first.body.messageId, route: 'other', status: 'bot', replyId: first.body.decision.replyId });
    const rows = await knex('conversation_messages').where({ conversation_id: first.body.conversationId });
    expect(rows.map((r) => r.text).sort()).to.deep.equal(['hola', first.body.decision.reply].sort());
  });

  it('a channel that does not wait gets the run id at once, and the decision follows (what WhatsApp calls)', async () => {
    const { knex, temporal } = stack();
    const msg = { channel: 'whatsapp' as const, from: '+34600111222', to: '+34910000000', text: 'Any seats on the Prado tour next week for 2?', messageId: 'wamid.test-1', verified: true, timeZone: 'Europe/Madrid' };
    const started = await receiveInbound(temporal, knex, msg);
    expect(started).to.deep.include({ duplicate: false, decision: null });
    const decision = await waitForDecision(knex, started.messageId, 30_000);
    expect(decision).to.deep.include({ language: 'en', intent: 'availability', routedTo: 'availability', conversationStatus: 'bot' });
    expect((decision!.entities as { partySize: number }).partySize).to.equal(2);
    expect(decision!.reply).to.match(/^Departures of Prado Masterpieces \(Madrid\)/);
    const again = await receiveInbound(temporal, knex, msg);
    expect(again).to.deep.include({ duplicate: true, runId: started.runId, messageId: started.messageId });
    expect(again.decision).to.deep.equal(decision);
  });

  it('refuses a bad body with a 422 problem naming the field', async () => {
    for (const body of [{ channel: 'web', from: handle(), text: '' }, { channel: 'sms', from: handle(), text: 'hola' }, { from: handle(), text: 'hola', extra: 1 }, undefined]) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).to.equal(422);
      expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect(res.body).to.include({ status: 422, code: 'message_invalid' });
      expect(res.body.errors[0]).to.have.keys(['location', 'param', 'message']);
    }
    const empty = await post({ channel: 'web', from: handle(), text: '   ' });
    expect(empty.body.param).to.equal('text');
  });

  describe('rate limit', () => {
    beforeEach(() => { config.rateLimits.inboundMessagesPerSenderPerMinute = 2; });
    afterEach(() => { config.rateLimits.inboundMessagesPerSenderPerMinute = 0; });

    it('per sender: past the allowance a message is refused with 429 and Retry-After before anything is stored', async () => {
      const from = handle();
      expect((await post({ channel: 'web', from, text: '' })).status).to.equal(422);
      expect((await post({ channel: 'web', from, text: '' })).status).to.equal(422);
      const refused = await post({ channel: 'web', from, text: 'hola', messageId: 'rl-1' });
      expect(refused.status).to.equal(429);
      expect(refused.body).to.include({ code: 'rate_limited', limit: 'inbound_sender' });
      expect(Number(refused.headers.get('retry-after'))).to.be.within(1, 60);
      expect(await stack().knex('conversations').where({ customer_handle: from })).to.have.length(0);
      // Another sender is not affected.
      expect((await post({ channel: 'web', from: handle(), text: 'hola' })).status).to.be.oneOf([200, 202]);
    });
  });
});
