/**
 * A local SMTP server (smtp-server) on a free port that accepts everything and records what it
 * got: envelope recipients, Message-ID and the parsed header block of each message, and the raw
 * message when asked. No TLS, no auth: point SMTP_URL at `smtp://127.0.0.1:<port>`.
 *
 * Recipients can be refused to exercise the provider's error paths: an address matching
 * `refuse` gets a permanent 550, one matching `defer` a transient 451.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface SinkMessage {
  from: string;
  recipients: string[];
  messageId: string | undefined;
  /** Header names lower-cased, folded lines joined; a repeated header keeps its last value. */
  headers: Record<string, string>;
  raw?: string;
  connection: string;
}

export interface SmtpSinkOptions {
  /** Keep each raw message (default true; turn off for large runs). */
  keepRaw?: boolean;
  refuse?: RegExp;
  defer?: RegExp;
}

export interface SmtpSink {
  url: string;
  port: number;
  messages: SinkMessage[];
  count: number;
  /** Distinct client connections seen (the pool's size in practice). */
  connections: Set<string>;
  byMessageId(messageId: string): SinkMessage | undefined;
  reset(): void;
  close(): Promise<void>;
}

/** The header block of a raw message, unfolded. */
export function parseHeaders(raw: string): Record<string, string> {
  const end = raw.indexOf('\r\n\r\n');
  const block = (end === -1 ? raw : raw.slice(0, end)).replace(/\r\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

class SmtpReply extends Error {
  constructor(readonly responseCode: number, message: string) {
    super(message);
  }
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const keepRaw = options.keepRaw ?? true;
  const index = new Map<string, SinkMessage>();
  const sink: SmtpSink = {
    url: '',
    port: 0,
    messages: [],
    count: 0,
    connections: new Set(),
    byMessageId: (messageId) => index.get(messageId),
    reset() {
      sink.messages.length = 0;
      sink.count = 0;
      sink.connections.clear();
      index.clear();
    },
    close: async () => undefined,
  };

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 500,
    size: 10 * 1024 * 1024,
    onConnect(session, callback) {
      sink.connections.add(session.id);
      callback();
    },
    onRcptTo(address, _session, callback) {
      if (options.refuse?.test(address.address)) return callback(new SmtpReply(550, `5.1.1 <${address.address}>: Recipient address rejected: User unknown`));
      if (options.defer?.test(address.address)) return callback(new SmtpReply(451, `4.7.1 <${address.address}>: Greylisted, try again later`));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const headers = parseHeaders(raw);
        const message: SinkMessage = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          recipients: session.envelope.rcptTo.map((r) => r.address),
          messageId: headers['message-id'],
          headers,
          ...(keepRaw ? { raw } : {}),
          connection: session.id,
        };
        sink.messages.push(message);
        sink.count++;
        if (message.messageId) index.set(message.messageId, message);
        callback(null, `2.0.0 Ok: queued as ${sink.count}`);
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  sink.port = (server.server.address() as AddressInfo).port;
  sink.url = `smtp://127.0.0.1:${sink.port}`;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
