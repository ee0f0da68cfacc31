/**
 * Any SMTP relay, through nodemailer's pooled transport: up to `maxConnections` connections kept
 * open, each sending up to `maxMessages` messages before it is replaced. A `send` call hands all
 * its messages to the pool at once, so they go out in parallel over the pool's connections.
 *
 * Each message gets Message-ID `<sendId@domain>` (domain: `messageIdDomain`, else the sender's)
 * and an X-Spirit-Send-Id header, so bounces and replies that quote it find their send. With
 * `tracking`, http(s) links are rewritten to our signed click URLs and an open pixel is added
 * (the relay does not track for us); the unsubscribe link is never rewritten.
 *
 * Outcomes per message: 2xx → accepted; a permanent SMTP reply (5xx) → rejected with the
 * server's words; a transient one (4xx) → retry; a lost connection or timeout BEFORE the whole
 * message was written (refused, DNS, greeting, MAIL/RCPT, mid-body: a server never takes a
 * message without its final dot) → retry, or thrown when no message of the call went through
 * and none is ambiguous; lost AFTER the whole message was written (waiting for the final reply)
 * → unknown, never sent again; failed authentication → EmailConfigurationError.
 * "Written" is seen by a stream plugin on each message's body: nodemailer reads the body only
 * after the server's 354, and to its end only when all of it went to the socket.
 */
import { Transform } from 'node:stream';
import nodemailer from 'nodemailer';
import type { NodemailerError } from 'nodemailer';
import { rewriteLinks } from './links';
import { messageProblem, renderMessage } from './message';
import { EmailConfigurationError, EmailNotSent, type EmailAddress, type EmailMessage, type EmailProvider, type SendResult } from './types';

export interface SmtpTracking {
  /** Base of our public URLs (PUBLIC_URL), where /e/o and /e/c are served. */
  publicUrl: string;
  secret: string;
}

export interface SmtpProviderOptions {
  /** SMTP_URL, e.g. smtp://user:pass@smtp.example.com:587 or smtps://...:465 */
  url: string;
  /** Open connections (default 5). */
  maxConnections?: number;
  /** Messages per connection before it is replaced (default 100). */
  maxMessages?: number;
  /** At most this many messages per second over all connections (default: unlimited). */
  rateLimit?: number;
  /** Domain part of our Message-IDs (default: the sender's domain). */
  messageIdDomain?: string;
  /** How many messages one `send` call should carry (default 500). */
  maxBatch?: number;
  tracking?: SmtpTracking;
  /** Body transfer encoding (SMTP_TRANSFER_ENCODING; default quoted-printable). */
  transferEncoding?: 'quoted-printable' | 'base64';
  /** To connect and to get the greeting (default 15 s). */
  connectionTimeoutMs?: number;
  /** Silence on an open connection, e.g. waiting for the final reply (default 60 s). */
  socketTimeoutMs?: number;
}

function address(value: EmailAddress): { name: string; address: string } | string {
  return value.name ? { name: value.name, address: value.email } : value.email;
}

export function smtpMessageId(sendId: string, domain: string): string {
  return `<${sendId}@${domain}>`;
}

/** The server's own words for a failure, e.g. "550 5.1.1 No such user". */
function smtpError(err: NodemailerError): string {
  return err.response || err.message;
}

export function createSmtpProvider(options: SmtpProviderOptions): EmailProvider {
  const url = new URL(options.url); // fails early on a malformed SMTP_URL
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error(`SMTP_URL must start with smtp:// or smtps://, got "${url.protocol}//"`);
  const maxConnections = options.maxConnections ?? 5;
  const transferEncoding = options.transferEncoding ?? 'quoted-printable';
  const transport = nodemailer.createTransport({
    url: options.url,
    pool: true,
    maxConnections,
    maxMessages: options.maxMessages ?? 100,
    ...(options.rateLimit ? { rateLimit: options.rateLimit, rateDelta: 1000 } : {}),
    // Bounded waits (nodemailer's default socket timeout is 10 minutes, longer than any activity).
    connectionTimeout: options.connectionTimeoutMs ?? 15_000,
    greetingTimeout: options.connectionTimeoutMs ?? 15_000,
    socketTimeout: options.socketTimeoutMs ?? 60_000,
  });
  let closed = false;
  /** Message-IDs whose whole body nodemailer has read (so wrote out): a loss after that is ambiguous. */
  const written = new Set<string>();
  transport.use('stream', (mail, done) => {
    const id = (mail.data as { messageId?: string }).messageId;
    if (id) {
      mail.message.transform(() => new Transform({
        transform(chunk, _encoding, callback) { callback(null, chunk); },
        flush(callback) { written.add(id); callback(); },
      }));
    }
    done();
  });

  async function sendOne(message: EmailMessage): Promise<SendResult | { failed: NodemailerError; sendId: string }> {
    const rendered = renderMessage(message);
    const domain = options.messageIdDomain ?? message.from.email.split('@').pop()!;
    const html = rendered.html && options.tracking
      ? rewriteLinks(rendered.html, { ...options.tracking, sendId: message.sendId, unsubscribeUrl: message.unsubscribeUrl })
      : rendered.html;
    const messageId = smtpMessageId(message.sendId, domain);
    try {
      const info = await transport.sendMail({
        from: address(message.from),
        to: address(message.to),
        ...(message.replyTo ? { replyTo: address(message.replyTo) } : {}),
        subject: rendered.subject,
        // The transfer encoding given, so nodemailer does not scan every body twice to choose one
        // (the biggest share of a campaign worker's CPU, measured with bench/campaign-smtp.ts --cpu-prof).
        ...(rendered.text ? { text: { content: rendered.text, contentTransferEncoding: transferEncoding } } : {}),
        ...(html ? { html: { content: html, contentTransferEncoding: transferEncoding } } : {}),
        messageId,
        headers: { ...rendered.headers, 'X-Spirit-Send-Id': message.sendId },
      });
      if (info.rejected.length > 0) {
        return { sendId: message.sendId, status: 'rejected', providerMessageId: info.messageId, error: `recipient refused: ${info.response}` };
      }
      return { sendId: message.sendId, status: 'accepted', providerMessageId: info.messageId };
    } catch (err) {
      const error = err as NodemailerError;
      if (error.code === 'EAUTH' || error.code === 'ENOAUTH') throw new EmailConfigurationError(`the SMTP server refused our credentials: ${smtpError(error)}`);
      if (error.responseCode !== undefined) {
        return error.permanent
          ? { sendId: message.sendId, status: 'rejected', error: smtpError(error) }
          : { sendId: message.sendId, status: 'retry', error: smtpError(error) };
      }
      if (written.has(messageId)) {
        return { sendId: message.sendId, status: 'unknown', error: `the connection was lost after the message was written (${error.message}): it may have been accepted, so it is not sent again` };
      }
      return { failed: error, sendId: message.sendId };
    } finally {
      written.delete(messageId);
    }
  }

  return {
    name: 'smtp',
    maxBatch: options.maxBatch ?? 500,
    async send(messages) {
      if (closed) throw new EmailNotSent('the SMTP provider is closed');
      // A few messages per pooled connection in flight, not the whole batch: nodemailer queues the
      // rest anyway, and 500 rendered messages waiting in its queue only cost memory.
      const outcomes: Array<SendResult | { failed: NodemailerError; sendId: string }> = new Array(messages.length);
      let next = 0;
      const lane = async () => {
        while (next < messages.length) {
          const i = next++;
          const problem = messageProblem(messages[i]);
          outcomes[i] = problem ? { sendId: messages[i].sendId, status: 'rejected', error: problem } : await sendOne(messages[i]);
        }
      };
      await Promise.all(Array.from({ length: Math.min(messages.length, maxConnections * 4) }, lane));
      const lost = outcomes.filter((o): o is { failed: NodemailerError; sendId: string } => 'failed' in o);
      // Connections failed before anything was handed over, nothing accepted or ambiguous: throw,
      // so the caller knows none of it left (otherwise the rest is marked `retry`).
      if (lost.length > 0 && !outcomes.some((o) => 'status' in o && (o.status === 'accepted' || o.status === 'unknown'))) throw lost[0].failed;
      return outcomes.map((o) => ('failed' in o ? { sendId: o.sendId, status: 'retry', error: `not sent: ${o.failed.message}` } : o));
    },
    async close() {
      if (closed) return;
      closed = true;
      transport.close();
    },
  };
}
