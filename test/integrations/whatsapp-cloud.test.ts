/**
 * The Cloud API channel against a local server speaking the Graph API: what is sent (URL,
 * token, body field by field for text, reply buttons, lists and templates), the wamid answered,
 * and how each failure is classified for the claim-send rules.
 */
import { expect } from 'chai';
import { CloudChannel, cloudMessageBody } from '../../integrations/whatsapp/cloud';
import { WhatsAppSendError } from '../../integrations/whatsapp/types';
import { stack } from '../support/stack';
import { cloudChannelFor } from '../support/whatsapp';
import { freePort } from '../../platform/dev-services';

async function failure(p: Promise<unknown>): Promise<WhatsAppSendError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(WhatsAppSendError);
    return err as WhatsAppSendError;
  }
  throw new Error('the send did not fail');
}

describe('WhatsApp Cloud API channel', () => {
  beforeEach(() => stack().graph.reset());

  it('sends text to /v21.0/<phone number id>/messages with the token, in Meta\'s format, and answers the wamid', async () => {
    const graph = stack().graph;
    const channel = cloudChannelFor(graph);
    const sent = await channel.send('+34600111222', { kind: 'text', text: 'Hola 👋 https://example.com' }, 'k-text');
    expect(graph.requests).to.have.length(1);
    const r = graph.requests[0];
    expect(r.method).to.equal('POST');
    expect(r.path).to.equal('/v21.0/109876543210/messages');
    expect(r.headers.authorization).to.equal(`Bearer ${graph.token}`);
    expect(r.headers['content-type']).to.match(/^application\/json/);
    expect(r.body).to.deep.equal({ messaging_product: 'whatsapp', recipient_type: 'individual', to: '34600111222', type: 'text', text: { body: 'Hola 👋 https://example.com', preview_url: false } });
    expect(sent.providerMessageId).to.equal(r.wamid).and.to.match(/^wamid\./);
    expect(channel.health()).to.include({ channel: 'cloud', state: 'ready' });
  });

  it('sends reply buttons, a list and a template field by field', async () => {
    const graph = stack().graph;
    const channel = cloudChannelFor(graph);
    await channel.send('+34600111222', { kind: 'buttons', text: '¿Confirmas?', buttons: [{ id: 'yes', title: 'Sí' }, { id: 'no', title: 'No' }] }, 'k-b');
    await channel.send('+447700900123', { kind: 'list', text: 'Our tours', button: 'See tours', rows: [{ id: 'tour-1', title: 'Prado', description: 'Art walk' }, { id: 'tour-2', title: 'Toledo' }] }, 'k-l');
    await channel.send('+34600111222', { kind: 'template', name: 'booking_confirmation', language: 'es', parameters: ['Ana', 'ST-1', 'Prado', '2027-01-02'] }, 'k-t');
    const [buttons, list, template] = graph.requests.map((r) => r.body);
    expect(buttons).to.deep.equal({
      messaging_product: 'whatsapp', recipient_type: 'individual', to: '34600111222', type: 'interactive',
      interactive: { type: 'button', body: { text: '¿Confirmas?' }, action: { buttons: [{ type: 'reply', reply: { id: 'yes', title: 'Sí' } }, { type: 'reply', reply: { id: 'no', title: 'No' } }] } },
    });
    expect(list).to.deep.equal({
      messaging_product: 'whatsapp', recipient_type: 'individual', to: '447700900123', type: 'interactive',
      interactive: { type: 'list', body: { text: 'Our tours' }, action: { button: 'See tours', sections: [{ rows: [{ id: 'tour-1', title: 'Prado', description: 'Art walk' }, { id: 'tour-2', title: 'Toledo' }] }] } },
    });
    expect(template).to.deep.equal({
      messaging_product: 'whatsapp', recipient_type: 'individual', to: '34600111222', type: 'template',
      template: { name: 'booking_confirmation', language: { code: 'es' }, components: [{ type: 'body', parameters: ['Ana', 'ST-1', 'Prado', '2027-01-02'].map((text) => ({ type: 'text', text })) }] },
    });
    expect(graph.requests.every((r) => r.status === 200)).to.equal(true);
  });

  it('classifies throttling: HTTP 429 with Retry-After, and Meta\'s 130429 / 131056 / 80007 / 4', async () => {
    const graph = stack().graph;
    const channel = cloudChannelFor(graph);
    graph.answerNext({ kind: 'error', status: 429, code: 130429, message: 'Rate limit hit', retryAfter: '3' });
    const first = await failure(channel.send('+34600111222', { kind: 'text', text: 'x' }, 'k1'));
    expect(first.kind).to.equal('throttled');
    expect(first.details).to.include({ httpStatus: 429, code: 130429, retryAfterMs: 3000 });
    for (const code of [130429, 131056, 80007, 4]) {
      graph.answerNext({ kind: 'error', status: 400, code });
      const err = await failure(channel.send('+34600111222', { kind: 'text', text: 'x' }, `k-${code}`));
      expect(err.kind, `code ${code}`).to.equal('throttled');
      expect(err.details.code).to.equal(code);
    }
  });

  it('classifies 5xx and a refused connection as unavailable (nothing handed over)', async () => {
    const graph = stack().graph;
    graph.answerNext({ kind: 'error', status: 500, code: 131000, message: 'Something went wrong' });
    const err = await failure(cloudChannelFor(graph).send('+34600111222', { kind: 'text', text: 'x' }, 'k'));
    expect(err.kind).to.equal('unavailable');
    expect(err.details.httpStatus).to.equal(500);
    const closed = await freePort();
    const refused = await failure(cloudChannelFor(graph, { graphApiBase: `http://127.0.0.1:${closed}` }).send('+34600111222', { kind: 'text', text: 'x' }, 'k'));
    expect(refused.kind).to.equal('unavailable');
    expect(refused.message).to.match(/ECONNREFUSED/);
  });

  it('classifies 4xx as refused: outside the window (131047), a bad number (131026), a template problem (132001), a bad token (190)', async () => {
    const graph = stack().graph;
    for (const code of [131047, 131026, 132001]) {
      graph.answerNext({ kind: 'error', status: 400, code, message: `problem ${code}` });
      const err = await failure(cloudChannelFor(graph).send('+34600111222', { kind: 'text', text: 'x' }, 'k'));
      expect(err.kind, `code ${code}`).to.equal('refused');
      expect(err.details).to.include({ code, httpStatus: 400 });
      expect(err.message).to.include(`problem ${code}`);
    }
    const badToken = await failure(cloudChannelFor(graph, { accessToken: 'wrong' }).send('+34600111222', { kind: 'text', text: 'x' }, 'k'));
    expect(badToken.kind).to.equal('refused');
    expect(badToken.details).to.include({ code: 190, httpStatus: 401 });
  });

  it('classifies a timeout and a reset after the request was written as ambiguous', async () => {
    const graph = stack().graph;
    graph.answerNext({ kind: 'hang' });
    const started = Date.now();
    const hung = await failure(cloudChannelFor(graph, { sendTimeoutMs: 300 }).send('+34600111222', { kind: 'text', text: 'x' }, 'k'));
    expect(hung.kind).to.equal('ambiguous');
    expect(Date.now() - started).to.be.below(5_000);
    expect(graph.requests.at(-1)!.body.text.body).to.equal('x'); // the server had the whole request
    graph.answerNext({ kind: 'reset' });
    const reset = await failure(cloudChannelFor(graph).send('+34600111222', { kind: 'text', text: 'y' }, 'k'));
    expect(reset.kind).to.equal('ambiguous');
  });

  it('refuses to send without a token and says it is misconfigured', async () => {
    const channel = new CloudChannel({ phoneNumberId: 'simulator', graphApiBase: stack().graph.url, graphApiVersion: 'v21.0', sendTimeoutMs: 1000, messagesPerSecond: 0 });
    expect(channel.health().state).to.equal('misconfigured');
    const err = await failure(channel.send('+34600111222', { kind: 'text', text: 'x' }, 'k'));
    expect(err.kind).to.equal('unavailable');
    expect(stack().graph.requests).to.have.length(0);
  });

  it('leaves out an empty template component list and a row without description', () => {
    expect(cloudMessageBody('+1555', { kind: 'template', name: 'n', language: 'en', parameters: [] })).to.deep.include({ template: { name: 'n', language: { code: 'en' }, components: [] } });
  });
});
