/**
 * What the providers say when a hand-over goes wrong, against local servers: "not handed over"
 * (refused, a connection lost before the whole request was written: thrown or `retry`) versus
 * "ambiguous" (the request was written, then a reset or a timeout: `unknown`, never thrown);
 * and personalisation values, raw in subject and text, HTML-escaped only in the HTML part.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createSendGridProvider } from '../../integrations/email/sendgrid';
import { createSmtpProvider } from '../../integrations/email/smtp';
import type { EmailMessage } from '../../integrations/email/types';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid';
import { startSmtpSink } from '../support/smtp-sink';

function message(n: number, overrides: Partial<EmailMessage> = {}): EmailMessage {
  return {
    sendId: `h-${n}`, kind: 'transactional', to: { email: `guest${n}@example.com` }, from: { email: 'news@spirit-tours.example' },
    subject: 'Hello {{first_name}}', html: '<p>Hola {{first_name}} ({{email}})</p>', text: 'Hola {{first_name}} ({{email}})',
    substitutions: { first_name: `Guest${n}`, email: `guest${n}@example.com` }, ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  return expect.fail('expected the promise to reject');
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A bare SMTP server that drops the connection at a chosen moment: right after the RCPT reply
 * (before anything of the message was written) or after reading the whole message and its
 * final dot, without answering it.
 */
async function droppingSmtpServer(dropAt: 'after-rcpt' | 'after-dot') {
  const seen = { messages: 0 };
  const server = net.createServer((socket) => {
    let buffer = '';
    let inData = false;
    socket.write('220 drop.test ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end === -1) return;
          seen.messages++;
          socket.destroy(); // the whole message is here: no reply, ever
          return;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol === -1) return;
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        const verb = line.split(/[ :]/)[0].toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250 drop.test\r\n');
        else if (verb === 'MAIL') socket.write('250 2.1.0 Ok\r\n');
        else if (verb === 'RCPT') {
          if (dropAt === 'after-rcpt') {
            socket.write('250 2.1.5 Ok\r\n', () => socket.destroy());
            return;
          }
          socket.write('250 2.1.5 Ok\r\n');
        } else if (verb === 'DATA') {
          inData = true;
          socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else if (verb === 'QUIT') socket.end('221 Bye\r\n');
        else if (verb === 'RSET' || verb === 'NOOP') socket.write('250 Ok\r\n');
        else socket.write('502 Command not implemented\r\n');
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `smtp://127.0.0.1:${port}`, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The decoded body of the first MIME part of this type in a raw message. */
function mimePart(raw: string, type: 'text/plain' | 'text/html'): string {
  const at = raw.search(new RegExp(`Content-Type: ${type.replace('/', '\\/')}`, 'i'));
  expect(at, `no ${type} part`).to.be.greaterThan(-1);
  const rest = raw.slice(at);
  const headerEnd = rest.indexOf('\r\n\r\n');
  const headers = rest.slice(0, headerEnd);
  const body = rest.slice(headerEnd + 4).split(/\r\n--/)[0];
  if (/Content-Transfer-Encoding:\s*base64/i.test(headers)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (/Content-Transfer-Encoding:\s*quoted-printable/i.test(headers)) {
    const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

describe('email hand-over: not handed over versus ambiguous', function () {
  this.timeout(30_000);

  describe('SendGrid', () => {
    let fake: FakeSendGrid;
    before(async () => {
      fake = await startFakeSendGrid();
    });
    beforeEach(() => fake.reset());
    after(() => fake.close());

    it('answers unknown (and does not throw) when the connection is reset after the request was read', async () => {
      fake.dropNext(1);
      const results = await createSendGridProvider({ apiKey: fake.apiKey, baseUrl: fake.url }).send([message(1), message(2)]);
      expect(results.map((r) => r.status)).to.deep.equal(['unknown', 'unknown']);
      expect(results[0].error).to.match(/after the request was written/);
      expect(fake.droppedSendIds.get('h-1')).to.equal(1);
      expect(fake.acceptedRecipients).to.equal(0);
    });

    it('answers unknown for the dropped request only, accepted for the others of the call', async () => {
      fake.dropNext(1);
      const many = Array.from({ length: 1500 }, (_, i) => message(i));
      const results = await createSendGridProvider({ apiKey: fake.apiKey, baseUrl: fake.url, concurrency: 1 }).send(many);
      expect(results.slice(0, 1000).every((r) => r.status === 'unknown')).to.equal(true);
      expect(results.slice(1000).every((r) => r.status === 'accepted')).to.equal(true);
    });

    it('answers unknown when no answer comes in time after the request was written', async () => {
      const silent = http.createServer((req) => req.resume()); // reads, never answers
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
        const results = await createSendGridProvider({ apiKey: 'SG.x', baseUrl: url, timeoutMs: 300 }).send([message(1)]);
        expect(results[0].status).to.equal('unknown');
        expect(results[0].error).to.match(/timeout/);
      } finally {
        silent.closeAllConnections();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });

    it('throws (nothing handed over) when the connection is refused, and again after down()', async () => {
      const refused = await rejection(createSendGridProvider({ apiKey: 'SG.x', baseUrl: `http://127.0.0.1:${await closedPort()}` }).send([message(1)]));
      expect((refused as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
      await fake.down();
      // Let this process see the kept-alive sockets close: a request written on one that the
      // server already closed is (rightly) ambiguous, not refused.
      await new Promise((r) => setTimeout(r, 200));
      try {
        const err = await rejection(createSendGridProvider({ apiKey: fake.apiKey, baseUrl: fake.url }).send([message(1)]));
        expect((err as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
      } finally {
        await fake.up();
      }
      const back = await createSendGridProvider({ apiKey: fake.apiKey, baseUrl: fake.url }).send([message(1)]);
      expect(back[0].status).to.equal('accepted');
    });

    it("sends O'Neil&Co raw in subject and text, escaped in HTML; CR/LF never reaches the subject", async () => {
      const results = await createSendGridProvider({ apiKey: fake.apiKey, baseUrl: fake.url }).send([
        message(1, { substitutions: { first_name: "O'Neil&Co", email: 'a<b>@example.com' } }),
        message(2, { substitutions: { first_name: 'Ana\r\nBcc: x@evil.example', email: 'ana@example.com' } }),
      ]);
      expect(results.map((r) => r.status)).to.deep.equal(['accepted', 'accepted']);
      const [one, two] = fake.accepted.map((p) => fake.render(p));
      expect(one.subject).to.equal("Hello O'Neil&Co");
      expect(one.text).to.equal("Hola O'Neil&Co (a<b>@example.com)");
      expect(one.html).to.equal('<p>Hola O&#39;Neil&amp;Co (a&lt;b&gt;@example.com)</p>');
      expect(two.subject).to.equal('Hello Ana Bcc: x@evil.example');
      expect(two.text).to.equal('Hola Ana\r\nBcc: x@evil.example (ana@example.com)');
    });
  });

  describe('SMTP', () => {
    it('answers unknown when the connection drops after the whole message was written', async () => {
      const server = await droppingSmtpServer('after-dot');
      const smtp = createSmtpProvider({ url: server.url, maxConnections: 1 });
      try {
        const results = await smtp.send([message(1)]);
        expect(server.seen.messages).to.equal(1);
        expect(results[0].status).to.equal('unknown');
        expect(results[0].error).to.match(/after the message was written/);
      } finally {
        await smtp.close();
        await server.close();
      }
    });

    it('throws (nothing handed over) when the connection drops before the message, or is refused', async () => {
      const server = await droppingSmtpServer('after-rcpt');
      const smtp = createSmtpProvider({ url: server.url, maxConnections: 1 });
      try {
        const err = await rejection(smtp.send([message(1)]));
        expect(err.message).to.match(/Connection closed|ECONNRESET|socket/i);
        expect(server.seen.messages).to.equal(0);
      } finally {
        await smtp.close();
        await server.close();
      }
      const refused = createSmtpProvider({ url: `smtp://127.0.0.1:${await closedPort()}`, maxConnections: 1 });
      try {
        const err = await rejection(refused.send([message(1)]));
        expect(err.message).to.match(/ECONNREFUSED/);
      } finally {
        await refused.close();
      }
    });

    it("sends O'Neil&Co raw in subject and text, escaped in HTML (quoted-printable and base64)", async () => {
      const sink = await startSmtpSink();
      try {
        for (const transferEncoding of ['quoted-printable', 'base64'] as const) {
          sink.reset();
          const smtp = createSmtpProvider({ url: sink.url, maxConnections: 1, transferEncoding });
          const results = await smtp.send([message(1, { substitutions: { first_name: "O'Neil&Co", email: 'a<b>@example.com' } })]);
          await smtp.close();
          expect(results[0].status).to.equal('accepted');
          const [received] = sink.messages;
          expect(received.headers.subject).to.equal("Hello O'Neil&Co");
          expect(mimePart(received.raw!, 'text/plain')).to.equal("Hola O'Neil&Co (a<b>@example.com)");
          expect(mimePart(received.raw!, 'text/html')).to.equal('<p>Hola O&#39;Neil&amp;Co (a&lt;b&gt;@example.com)</p>');
        }
      } finally {
        await sink.close();
      }
    });
  });
});
