/**
 * Throughput of the email providers against local stand-ins (no stack needed):
 *
 *   SendGrid adapter → the SendGrid-format test server (test/support/fake-sendgrid.ts), a campaign
 *   of --recipients (default 100,000), sent in calls of maxBatch (1,000) as campaign activities
 *   would: first one call at a time, then --parallel calls at once (default 4).
 *   SMTP adapter → the smtp-server sink (test/support/smtp-sink.ts) over a pool of --connections
 *   (default 5), --smtp-messages (default 10,000) in calls of maxBatch (500).
 *
 *   npm run bench -- email-providers [--recipients 100000] [--smtp-messages 10000] [--connections 5] [--parallel 4]
 *
 * Both servers run in this process, so their own parsing shares the CPU with the adapter: the
 * rates are a floor. Every run checks that each recipient arrived exactly once.
 */
import { parseArgs } from 'node:util';
import { createSendGridProvider } from '../integrations/email/sendgrid';
import { createSmtpProvider } from '../integrations/email/smtp';
import type { EmailMessage, EmailProvider } from '../integrations/email/types';
import { startFakeSendGrid } from '../test/support/fake-sendgrid';
import { startSmtpSink } from '../test/support/smtp-sink';
import { say } from './stack';

const HTML = `<html><body><h1>Autumn in Andalusia, {{first_name}}</h1>${'<p>Alhambra at sunset, tapas in the Albaicín, a day in the Alpujarras. '.repeat(30)}</p>`
  + '<p><a href="https://spirit.example/tours/granada">See the tours</a></p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p></body></html>';
const TEXT = 'Autumn in Andalusia, {{first_name}}: https://spirit.example/tours/granada\nUnsubscribe: {{unsubscribe_url}}';

function campaign(count: number, prefix: string): EmailMessage[] {
  return Array.from({ length: count }, (_, n) => ({
    sendId: `${prefix}-${n}`,
    kind: 'marketing' as const,
    to: { email: `guest${n}@example.com`, name: `Guest ${n}` },
    from: { email: 'news@spirit-tours.example', name: 'Spirit Tours' },
    subject: 'Autumn in Andalusia',
    html: HTML,
    text: TEXT,
    categories: ['campaign'],
    substitutions: { first_name: `Guest${n}` },
    unsubscribeUrl: `https://spirit.example/unsubscribe/${prefix}-${n}-token`,
  }));
}

/** Sends in calls of maxBatch, `parallel` calls at a time; returns messages per second. */
async function sendAll(provider: EmailProvider, messages: EmailMessage[], parallel: number): Promise<{ seconds: number; perSecond: number; accepted: number }> {
  const batches: EmailMessage[][] = [];
  for (let i = 0; i < messages.length; i += provider.maxBatch) batches.push(messages.slice(i, i + provider.maxBatch));
  let next = 0;
  let accepted = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < batches.length) {
      const results = await provider.send(batches[next++]);
      const notAccepted = results.find((r) => r.status !== 'accepted');
      if (notAccepted) throw new Error(`${provider.name}: ${notAccepted.sendId} ${notAccepted.status}: ${notAccepted.error}`);
      accepted += results.length;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return { seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(messages.length / seconds), accepted };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args,
    options: {
      recipients: { type: 'string', default: '100000' },
      'smtp-messages': { type: 'string', default: '10000' },
      connections: { type: 'string', default: '5' },
      parallel: { type: 'string', default: '4' },
    },
  });
  const recipients = Number(values.recipients);
  const smtpMessages = Number(values['smtp-messages']);
  const connections = Number(values.connections);
  const parallel = Number(values.parallel);

  const fake = await startFakeSendGrid({ record: false });
  const sendgrid: Record<string, unknown> = { recipients };
  try {
    const provider = createSendGridProvider({ apiKey: fake.apiKey, baseUrl: fake.url });
    await provider.send(campaign(1000, 'warmup'));
    for (const calls of [1, parallel]) {
      fake.reset();
      say(`sendgrid: ${recipients} recipients, ${calls} call(s) of ${provider.maxBatch} at a time`);
      const result = await sendAll(provider, campaign(recipients, `sg${calls}`), calls);
      const once = fake.acceptedRecipients === recipients && fake.acceptedSendIds.size === recipients && [...fake.acceptedSendIds.values()].every((n) => n === 1);
      if (!once) throw new Error(`sendgrid: the server got ${fake.acceptedRecipients} recipients (${fake.acceptedSendIds.size} distinct) for ${recipients}`);
      sendgrid[`calls${calls}`] = { ...result, requests: fake.requests.length };
      say(`  ${result.perSecond} messages/s (${result.seconds} s, ${fake.requests.length} requests)`);
    }
  } finally {
    await fake.close();
  }

  const sink = await startSmtpSink({ keepRaw: false });
  const smtp: Record<string, unknown> = { messages: smtpMessages, connections };
  try {
    const provider = createSmtpProvider({ url: sink.url, maxConnections: connections });
    try {
      await provider.send(campaign(100, 'warmup'));
      for (const calls of [1, parallel]) {
        sink.reset();
        say(`smtp: ${smtpMessages} messages over ${connections} pooled connections, ${calls} call(s) of ${provider.maxBatch} at a time`);
        const result = await sendAll(provider, campaign(smtpMessages, `smtp${calls}`), calls);
        const ids = new Set(sink.messages.map((m) => m.messageId));
        if (sink.count !== smtpMessages || ids.size !== smtpMessages) throw new Error(`smtp: the sink got ${sink.count} messages (${ids.size} distinct) for ${smtpMessages}`);
        smtp[`calls${calls}`] = { ...result, connectionsUsed: sink.connections.size };
        say(`  ${result.perSecond} messages/s (${result.seconds} s, ${sink.connections.size} connections)`);
      }
    } finally {
      await provider.close();
    }
  } finally {
    await sink.close();
  }
  return { sendgrid, smtp, targets: { sendgridPerSecond: 2000, smtpPerSecond: 500 } };
}
