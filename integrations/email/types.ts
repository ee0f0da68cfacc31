/**
 * One interface for every email provider (SendGrid, SMTP, the development outbox). Campaign and
 * transactional activities call `send` with up to `maxBatch` messages and get one result per
 * message, in the same order; they never see a provider's wire format.
 *
 * A message is one recipient's copy, identified by our `sendId`, which the provider carries back
 * in its events (SendGrid: custom_args.send_id; SMTP: the Message-ID `<sendId@domain>` and the
 * X-Spirit-Send-Id header), so an open, a bounce or an unsubscribe finds its send.
 *
 * Per-recipient values go in `substitutions` and are written in subject, html and text as
 * `{{key}}` tokens: SendGrid substitutes them server-side (so one request carries up to 1,000
 * recipients of the same content), SMTP and the outbox substitute locally. Values are RAW (a
 * contact's name as it is, `O'Neil&Co`): every provider HTML-escapes them in the HTML part only,
 * puts them unchanged in the text part, and in the subject with CR/LF replaced by a space (a
 * header line). The caller never escapes.
 *
 * Results: `accepted` (the provider took it), `rejected` (retrying cannot help: a bad address,
 * a malformed request; `error` says why), `retry` (NOT handed over: throttled, a 5xx answer, the
 * connection refused, DNS, a reset before the request was written; send again, after
 * `retryAfterMs` when given), `unknown` (the hand-over was ambiguous: a timeout or a connection
 * reset after the request was written; the provider may have taken it, so it must never be
 * sent again; its events settle it).
 *
 * `send` throws only (a) EmailConfigurationError: retrying the call cannot succeed, nothing was
 * handed over; or (b) when NOTHING in the call was handed over and nothing is ambiguous (every
 * request refused before the write, or answered 5xx): the thrown error then means "not sent,
 * all of it", so a caller may release its claims and try again later. A provider never throws
 * after an ambiguous hand-over.
 */

export type EmailProviderName = 'sendgrid' | 'smtp' | 'outbox';

export interface EmailAddress {
  email: string;
  name?: string;
}

/**
 * `marketing` messages must carry `unsubscribeUrl` and show it in the body (the literal URL or the
 * `{{unsubscribe_url}}` token); providers reject them otherwise. `transactional` ones may carry it.
 */
export type EmailKind = 'marketing' | 'transactional';

export interface EmailMessage {
  /** Our id for this recipient's send; unique, [A-Za-z0-9._-], at most 100 characters. */
  sendId: string;
  kind: EmailKind;
  to: EmailAddress;
  from: EmailAddress;
  replyTo?: EmailAddress;
  subject: string;
  html: string;
  text: string;
  /**
   * Extra headers. List-Unsubscribe and List-Unsubscribe-Post are added from `unsubscribeUrl`
   * unless given here. Headers providers own (To, From, Subject, Content-Type, ...) are refused.
   */
  headers?: Record<string, string>;
  /** Provider categories / tags for reporting, e.g. ['campaign', 'campaign-42']. */
  categories?: string[];
  /** `{{key}}` → value for this recipient. `unsubscribe_url` is filled from `unsubscribeUrl`. */
  substitutions?: Record<string, string>;
  /** This recipient's one-click unsubscribe URL (https in production, RFC 8058). */
  unsubscribeUrl?: string;
}

export type SendStatus = 'accepted' | 'rejected' | 'retry' | 'unknown';

export interface SendResult {
  sendId: string;
  status: SendStatus;
  /** The provider's id for the message or request (SendGrid's X-Message-Id, the SMTP Message-ID). */
  providerMessageId?: string;
  /** Why it was rejected, must be retried or is unknown, in the provider's words where it gave any. */
  error?: string;
  /** For `retry`: how long to wait before sending again, when the provider said. */
  retryAfterMs?: number;
}

export interface EmailProvider {
  readonly name: EmailProviderName;
  /** The most messages one `send` call should carry (SendGrid: 1,000 personalizations per request). */
  readonly maxBatch: number;
  /** One result per message, in order. Throws only as described at the top of this file. */
  send(messages: EmailMessage[]): Promise<SendResult[]>;
  /** Releases connections (the SMTP pool); safe to call twice. */
  close(): Promise<void>;
}

export type EmailEventType = 'delivered' | 'open' | 'click' | 'bounce' | 'dropped' | 'spamreport' | 'unsubscribe' | 'deferred';

/** A verified, provider-neutral delivery or engagement event. */
export interface EmailEvent {
  provider: EmailProviderName;
  /** The provider's event id, for deduplication (SendGrid's sg_event_id). */
  eventId: string;
  type: EmailEventType;
  /** Our send id, from custom_args / the signed link; null when the provider lost it. */
  sendId: string | null;
  email: string;
  at: Date;
  /** For clicks: the link's target. */
  url?: string;
  /** For bounces, drops and deferrals: the provider's or the remote server's reason. */
  reason?: string;
  /** For bounces: 'bounce' (permanent) or 'blocked' (temporary), as SendGrid reports it. */
  bounceType?: string;
  providerMessageId?: string;
}

/** A webhook or tracking link we refuse: bad or missing signature, stale timestamp, bad body. */
export class EmailWebhookRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmailWebhookRejected';
  }
}

/**
 * The provider refused our credentials or configuration (401/403, SMTP auth): retrying the same
 * call cannot succeed, so an activity should fail it as non-retryable.
 */
export class EmailConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmailConfigurationError';
  }
}

/** Nothing of the call was handed over (e.g. the provider is closed): safe to send again later. */
export class EmailNotSent extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmailNotSent';
  }
}
