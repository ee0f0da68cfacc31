/**
 * The email provider this process uses, from its environment:
 *
 *   EMAIL_PROVIDER      outbox (default) | sendgrid | smtp
 *   SENDGRID_API_KEY    required for sendgrid
 *   SENDGRID_BASE_URL   another API host, e.g. a local test server (default https://api.sendgrid.com)
 *   SENDGRID_WEBHOOK_PUBLIC_KEY  the Signed Event Webhook verification key (for parseSendGridEvents)
 *   SMTP_URL            required for smtp: smtp[s]://user:pass@host:port[?maxConnections=5&maxMessages=100]
 *
 * Exactly one provider, chosen on purpose: asking for sendgrid or smtp without its setting fails
 * at startup, naming the missing setting, instead of quietly falling back to the outbox.
 * The caller passes the environment (process.env at startup), so tests can pass their own.
 */
import { createOutboxProvider } from './outbox';
import { createSendGridProvider, SENDGRID_DEFAULT_BASE_URL } from './sendgrid';
import { createSmtpProvider } from './smtp';
import type { EmailProvider, EmailProviderName } from './types';

export type EmailEnv = Record<string, string | undefined>;

export interface CreateEmailProviderOptions {
  env: EmailEnv;
  /** SPIRIT_DATA_DIR: where the development outbox stores messages. */
  dataDir: string;
  /**
   * With both, SMTP and the outbox rewrite links to signed click URLs and add an open pixel
   * (SendGrid tracks by itself). `linkSecret` must be the one the /e/o and /e/c routes verify with.
   */
  publicUrl?: string;
  linkSecret?: string;
  logger?: { info(details: object, message: string): void };
}

const PROVIDERS: EmailProviderName[] = ['outbox', 'sendgrid', 'smtp'];

export function emailProviderName(env: EmailEnv): EmailProviderName {
  const name = (env.EMAIL_PROVIDER || 'outbox').trim().toLowerCase();
  if (!PROVIDERS.includes(name as EmailProviderName)) {
    throw new Error(`EMAIL_PROVIDER must be one of ${PROVIDERS.join(', ')}, got "${env.EMAIL_PROVIDER}"`);
  }
  return name as EmailProviderName;
}

function positiveInt(value: string | null, name: string): number | undefined {
  if (value === null || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`SMTP_URL's ${name} must be a positive integer, got "${value}"`);
  return n;
}

function transferEncoding(value: string | undefined): 'quoted-printable' | 'base64' {
  const v = (value || 'quoted-printable').trim().toLowerCase();
  if (v !== 'quoted-printable' && v !== 'base64') throw new Error(`SMTP_TRANSFER_ENCODING must be quoted-printable or base64, got "${value}"`);
  return v;
}

export function createEmailProvider({ env, dataDir, publicUrl, linkSecret, logger }: CreateEmailProviderOptions): EmailProvider {
  const tracking = publicUrl && linkSecret ? { publicUrl, secret: linkSecret } : undefined;
  switch (emailProviderName(env)) {
    case 'sendgrid':
      if (!env.SENDGRID_API_KEY) throw new Error('EMAIL_PROVIDER=sendgrid needs SENDGRID_API_KEY');
      return createSendGridProvider({ apiKey: env.SENDGRID_API_KEY, baseUrl: env.SENDGRID_BASE_URL || undefined });
    case 'smtp': {
      if (!env.SMTP_URL) throw new Error('EMAIL_PROVIDER=smtp needs SMTP_URL (smtp://user:pass@host:587)');
      let query: URLSearchParams;
      try {
        query = new URL(env.SMTP_URL).searchParams;
      } catch {
        throw new Error('SMTP_URL is not a valid URL (smtp://user:pass@host:587)');
      }
      return createSmtpProvider({
        url: env.SMTP_URL,
        maxConnections: positiveInt(query.get('maxConnections'), 'maxConnections'),
        maxMessages: positiveInt(query.get('maxMessages'), 'maxMessages'),
        rateLimit: positiveInt(query.get('rateLimit'), 'rateLimit'),
        tracking,
        transferEncoding: transferEncoding(env.SMTP_TRANSFER_ENCODING),
      });
    }
    case 'outbox':
      return createOutboxProvider({ dataDir, tracking, logger });
  }
}

/** One line for the startup log; never shows a key or password. */
export function describeEmailProvider(env: EmailEnv): string {
  let name: EmailProviderName;
  try {
    name = emailProviderName(env);
  } catch (err) {
    return `email: misconfigured (${(err as Error).message})`;
  }
  if (name === 'sendgrid') {
    if (!env.SENDGRID_API_KEY) return 'email: sendgrid, not configured (set SENDGRID_API_KEY)';
    const webhooks = env.SENDGRID_WEBHOOK_PUBLIC_KEY ? 'event webhook verified' : 'event webhook rejected (set SENDGRID_WEBHOOK_PUBLIC_KEY)';
    return `email: sendgrid via ${env.SENDGRID_BASE_URL || SENDGRID_DEFAULT_BASE_URL}, ${webhooks}`;
  }
  if (name === 'smtp') {
    if (!env.SMTP_URL) return 'email: smtp, not configured (set SMTP_URL)';
    try {
      const url = new URL(env.SMTP_URL);
      const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
      return `email: smtp via ${url.protocol}//${user}${url.host} (pooled, ${url.searchParams.get('maxConnections') || 5} connections), own open/click tracking`;
    } catch {
      return 'email: smtp, misconfigured (SMTP_URL is not a valid URL)';
    }
  }
  return 'email: development outbox: messages are stored under <data dir>/outbox and NOT sent (set EMAIL_PROVIDER=sendgrid or smtp to send)';
}

export type { EmailEvent, EmailMessage, EmailProvider, SendResult } from './types';
