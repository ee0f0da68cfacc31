/**
 * SendGrid, through the official `@sendgrid/mail` client, on its v3 /mail/send API.
 *
 * Batching: messages that share sender, reply-to, subject, html, text and categories go out as
 * one request with up to 1,000 personalizations, one per recipient, each carrying its own `to`,
 * `custom_args.send_id` (which SendGrid copies into every event), `headers` (List-Unsubscribe is
 * per recipient) and `substitutions` (`{{unsubscribe_url}}` and the caller's own values).
 * SendGrid refuses a request that names the same address twice, so a repeated address goes in
 * another request.
 *
 * Substitution values are raw (see types.ts): SendGrid substitutes one value for a token in
 * every part, so the HTML part's tokens are renamed `{{key|html}}` and carry the HTML-escaped
 * value, and the subject's `{{key|subject}}` (only when a value has a line break) the value
 * without CR/LF; the text part keeps `{{key}}` with the raw value.
 *
 * Outcomes per request: 2xx → accepted (providerMessageId = X-Message-Id); 429 → retry, after
 * X-RateLimit-Reset (unix seconds) or Retry-After, and the requests of this call not yet made
 * are not made; 400 → rejected with SendGrid's error messages, except that when every error
 * names a personalization, only those recipients are rejected and the rest is sent again once;
 * 401/403 → EmailConfigurationError; 5xx and network errors before the request was written
 * (connection refused, DNS) → not handed over: thrown when nothing in the call was accepted or
 * ambiguous, else `retry` for those requests; a timeout or a reset AFTER the request was written
 * → `unknown` (SendGrid may have taken it; never sent again).
 *
 * Also `parseSendGridEvents`: the Signed Event Webhook (ECDSA P-256 / SHA-256 over timestamp +
 * raw body), mapped to EmailEvent.
 */
import crypto from 'node:crypto';
import { MailService } from '@sendgrid/mail';
import { encodeFor, headersOf, messageProblem, substitutionsOf, UNSUBSCRIBE_TOKEN } from './message';
import {
  EmailConfigurationError, EmailWebhookRejected,
  type EmailEvent, type EmailEventType, type EmailMessage, type EmailProvider, type SendResult,
} from './types';

export const SENDGRID_DEFAULT_BASE_URL = 'https://api.sendgrid.com';
export const SENDGRID_MAX_PERSONALIZATIONS = 1000;

export interface SendGridProviderOptions {
  apiKey: string;
  /** Another API host, e.g. a local test server (SENDGRID_BASE_URL); default SendGrid's own. */
  baseUrl?: string;
  /** Requests of one `send` call in flight at once (default 4). */
  concurrency?: number;
  /** Per request (default 30 s). */
  timeoutMs?: number;
  /** Ask SendGrid to track opens and clicks (default true): the events come back on the webhook. */
  tracking?: boolean;
}

/** The part of @sendgrid/client we reach through MailService (its constructor makes one `client`). */
interface SendGridClient {
  setDefaultRequest(key: 'baseUrl', value: string): unknown;
}

interface SendGridHttpError extends Error {
  code: number;
  response?: { headers?: Record<string, unknown>; body?: unknown };
}

function isHttpError(err: unknown): err is SendGridHttpError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'response' in err;
}

interface SendGridErrorItem { message?: string; field?: string | null; help?: string | null }

function errorItems(body: unknown): SendGridErrorItem[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(errors) ? errors.filter((e): e is SendGridErrorItem => typeof e === 'object' && e !== null) : [];
}

function describeErrors(items: SendGridErrorItem[], fallback: string): string {
  if (items.length === 0) return fallback;
  return items.map((e) => (e.field ? `${e.message} (${e.field})` : String(e.message))).join('; ');
}

/**
 * Whether a request that failed without an answer had been written out completely (axios keeps
 * the Node request, behind follow-redirects' wrapper): then SendGrid may have taken it.
 */
function requestWritten(err: unknown): boolean {
  const request = (err as { request?: { _currentRequest?: { writableFinished?: boolean }; writableFinished?: boolean } }).request;
  return Boolean(request?._currentRequest?.writableFinished ?? request?.writableFinished);
}

/** Thrown inside a chunk when the request was written but no answer came: ambiguous. */
class AmbiguousHandOver extends Error {}

/** Per-recipient substitutions for the three parts (see the top of this file). */
function tokenizeParts(html: string, subject: string, messages: EmailMessage[]) {
  const keys = new Set<string>();
  for (const m of messages) for (const k of Object.keys(m.substitutions ?? {})) if (k !== 'unsubscribe_url') keys.add(k);
  const inSubject = [...keys].filter((k) => messages.some((m) => /[\r\n]/.test(m.substitutions?.[k] ?? '')) && subject.includes(`{{${k}}}`));
  const rename = (body: string, names: Iterable<string>, suffix: string) => {
    let out = body;
    for (const k of names) out = out.split(`{{${k}}}`).join(`{{${k}|${suffix}}}`);
    return out;
  };
  const htmlKeys = [...keys].filter((k) => html.includes(`{{${k}}}`));
  return {
    html: rename(html, htmlKeys, 'html'),
    subject: rename(subject, inSubject, 'subject'),
    substitutions(message: EmailMessage): Record<string, string> {
      const values = substitutionsOf(message);
      const own = message.substitutions ?? {};
      // A recipient without the value keeps the token as written (as SendGrid leaves unknown tokens).
      for (const k of htmlKeys) values[`${k}|html`] = k in own ? encodeFor.html(own[k], k) : `{{${k}}}`;
      for (const k of inSubject) values[`${k}|subject`] = k in own ? encodeFor.subject(own[k]) : `{{${k}}}`;
      return values;
    },
  };
}

function header(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = headers?.[name] ?? headers?.[name.toLowerCase()];
  return value === undefined || value === null ? undefined : String(value);
}

/** How long SendGrid asked us to wait: X-RateLimit-Reset (unix seconds), else Retry-After, else 1 s. */
export function retryAfterMs(headers: Record<string, unknown> | undefined, now = Date.now()): number {
  const reset = Number(header(headers, 'x-ratelimit-reset'));
  if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - now);
  const retryAfter = header(headers, 'retry-after');
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  return 1000;
}

/** Per-recipient unsubscribe URL in the body → the `{{unsubscribe_url}}` token, so recipients can share one request. */
function tokenizeUnsubscribe(body: string, url: string | undefined): string {
  if (!url || !body) return body;
  return body.split(url.replace(/&/g, '&amp;')).join(UNSUBSCRIBE_TOKEN).split(url).join(UNSUBSCRIBE_TOKEN);
}

/** SendGrid's click tracking must not wrap the unsubscribe link (RFC 8058 clients and humans both follow it). */
function exemptUnsubscribeFromClickTracking(html: string): string {
  return html.replace(/<a\b([^>]*?\shref\s*=\s*["']?\{\{unsubscribe_url\}\}["']?[^>]*)>/gi, (tag, inner: string) =>
    /\bclicktracking\s*=/i.test(inner) ? tag : `<a clicktracking="off"${inner}>`);
}

interface Group {
  messages: EmailMessage[];
  html: string;
  text: string;
  /** Original positions, parallel to messages. */
  positions: number[];
}

interface Chunk { group: Group; indexes: number[] }

/** Groups messages by shared content, then splits each group into requests of ≤ max recipients, each address once. */
function planRequests(messages: EmailMessage[], positions: number[], max: number): Chunk[] {
  const groups = new Map<string, Map<string, Map<string, Group>>>();
  const ordered: Group[] = [];
  messages.forEach((message, i) => {
    const html = tokenizeUnsubscribe(message.html, message.unsubscribeUrl);
    const text = tokenizeUnsubscribe(message.text, message.unsubscribeUrl);
    const head = JSON.stringify([message.from.email, message.from.name ?? '', message.replyTo?.email ?? '', message.replyTo?.name ?? '', message.subject, message.categories ?? []]);
    let byHtml = groups.get(head);
    if (!byHtml) groups.set(head, (byHtml = new Map()));
    let byText = byHtml.get(html);
    if (!byText) byHtml.set(html, (byText = new Map()));
    let group = byText.get(text);
    if (!group) {
      byText.set(text, (group = { messages: [], html, text, positions: [] }));
      ordered.push(group);
    }
    group.messages.push(message);
    group.positions.push(positions[i]);
  });

  const chunks: Chunk[] = [];
  for (const group of ordered) {
    const open: Array<{ chunk: Chunk; emails: Set<string> }> = [];
    let firstWithRoom = 0;
    group.messages.forEach((message, index) => {
      const email = message.to.email.toLowerCase();
      let slot = open.slice(firstWithRoom).find((s) => s.chunk.indexes.length < max && !s.emails.has(email));
      if (!slot) {
        slot = { chunk: { group, indexes: [] }, emails: new Set() };
        open.push(slot);
        chunks.push(slot.chunk);
      }
      slot.chunk.indexes.push(index);
      slot.emails.add(email);
      while (firstWithRoom < open.length && open[firstWithRoom].chunk.indexes.length >= max) firstWithRoom++;
    });
  }
  return chunks;
}

export function createSendGridProvider(options: SendGridProviderOptions): EmailProvider {
  const service = new MailService();
  service.setApiKey(options.apiKey); // also resets the client's base URL to SendGrid's, so set ours after
  if (options.baseUrl) {
    if (!/^https?:\/\//.test(options.baseUrl)) throw new Error(`SENDGRID_BASE_URL must be an http(s) URL, got "${options.baseUrl}"`);
    (service as unknown as { client: SendGridClient }).client.setDefaultRequest('baseUrl', options.baseUrl.replace(/\/*$/, '/'));
  }
  service.setTimeout(options.timeoutMs ?? 30_000);
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const tracking = options.tracking ?? true;
  /** Set by a 429: until then, this provider makes no requests and answers `retry`. */
  let throttledUntil = 0;

  function requestBody(group: Group, messages: EmailMessage[]) {
    const first = group.messages[0];
    const parts = tokenizeParts(group.html, first.subject, messages);
    return {
      from: first.from,
      ...(first.replyTo ? { replyTo: first.replyTo } : {}),
      subject: parts.subject,
      ...(group.text ? { text: group.text } : {}),
      ...(group.html ? { html: exemptUnsubscribeFromClickTracking(parts.html) } : {}),
      ...(first.categories?.length ? { categories: first.categories } : {}),
      trackingSettings: {
        clickTracking: { enable: tracking, enableText: false },
        openTracking: { enable: tracking },
      },
      hideWarnings: true,
      personalizations: messages.map((message) => {
        const headers = headersOf(message);
        const substitutions = parts.substitutions(message);
        return {
          to: [message.to],
          customArgs: { send_id: message.sendId },
          ...(Object.keys(headers).length ? { headers } : {}),
          ...(Object.keys(substitutions).length ? { substitutions } : {}),
        };
      }),
    } as Parameters<MailService['send']>[0];
  }

  type Outcome = { status: 'done'; results: Map<number, SendResult> } | { status: 'failed'; error: unknown };

  async function sendChunk(group: Group, indexes: number[], secondTry = false): Promise<Map<number, SendResult>> {
    const results = new Map<number, SendResult>();
    const messages = indexes.map((i) => group.messages[i]);
    try {
      const [response] = await service.send(requestBody(group, messages));
      const providerMessageId = header(response.headers as Record<string, unknown>, 'x-message-id');
      for (const i of indexes) results.set(group.positions[i], { sendId: group.messages[i].sendId, status: 'accepted', providerMessageId });
      return results;
    } catch (err) {
      if (!isHttpError(err)) {
        // No answer: written out completely, SendGrid may have it (a timeout, a reset while we
        // waited); not written, it never left (refused, DNS, a reset on connect).
        if (requestWritten(err)) throw new AmbiguousHandOver(`no answer from SendGrid after the request was written (${(err as Error).message}): it may have been accepted, so it is not sent again`, { cause: err });
        throw err;
      }
      const body = err.response?.body;
      const items = errorItems(body);
      if (err.code === 429) {
        const wait = retryAfterMs(err.response?.headers);
        throttledUntil = Math.max(throttledUntil, Date.now() + wait);
        const error = `throttled by SendGrid: ${describeErrors(items, 'too many requests')}`;
        for (const i of indexes) results.set(group.positions[i], { sendId: group.messages[i].sendId, status: 'retry', error, retryAfterMs: wait });
        return results;
      }
      if (err.code === 401 || err.code === 403) {
        throw new EmailConfigurationError(`SendGrid refused the API key (${err.code}): ${describeErrors(items, err.message)}`);
      }
      if (err.code === 400 || err.code === 413) {
        // Errors that all name personalizations reject only those recipients; the others go again once.
        const named = items.map((e) => /^personalizations\.(\d+)(?:\.|$)/.exec(e.field ?? '')?.[1]);
        if (!secondTry && err.code === 400 && items.length > 0 && named.every((n) => n !== undefined)) {
          const bad = new Map<number, SendGridErrorItem[]>();
          items.forEach((e, k) => {
            const at = Number(named[k]);
            if (at < indexes.length) bad.set(at, [...(bad.get(at) ?? []), e]);
          });
          if (bad.size > 0 && bad.size < indexes.length) {
            indexes.forEach((i, at) => {
              const errors = bad.get(at);
              if (errors) results.set(group.positions[i], { sendId: group.messages[i].sendId, status: 'rejected', error: describeErrors(errors, 'rejected by SendGrid') });
            });
            const rest = await sendChunk(group, indexes.filter((_, at) => !bad.has(at)), true);
            for (const [position, result] of rest) results.set(position, result);
            return results;
          }
        }
        const error = describeErrors(items, `SendGrid answered ${err.code}: ${err.message}`);
        for (const i of indexes) results.set(group.positions[i], { sendId: group.messages[i].sendId, status: 'rejected', error });
        return results;
      }
      throw new Error(`SendGrid answered ${err.code}: ${describeErrors(items, err.message)}`, { cause: err });
    }
  }

  return {
    name: 'sendgrid',
    maxBatch: SENDGRID_MAX_PERSONALIZATIONS,
    async send(messages) {
      const results: SendResult[] = new Array(messages.length);
      const sendable: EmailMessage[] = [];
      const positions: number[] = [];
      messages.forEach((message, position) => {
        const problem = messageProblem(message);
        if (problem) results[position] = { sendId: message.sendId, status: 'rejected', error: problem };
        else {
          sendable.push(message);
          positions.push(position);
        }
      });

      const chunks = planRequests(sendable, positions, SENDGRID_MAX_PERSONALIZATIONS);
      const outcomes: Outcome[] = new Array(chunks.length);
      let next = 0;
      const worker = async () => {
        while (next < chunks.length) {
          const n = next++;
          const { group, indexes } = chunks[n];
          if (throttledUntil > Date.now()) {
            // Throttled: do not make the remaining requests of this call.
            const wait = throttledUntil - Date.now();
            outcomes[n] = {
              status: 'done',
              results: new Map(indexes.map((i) => [group.positions[i], { sendId: group.messages[i].sendId, status: 'retry', error: 'not sent: SendGrid is throttling this account', retryAfterMs: wait } as SendResult])),
            };
            continue;
          }
          try {
            outcomes[n] = { status: 'done', results: await sendChunk(group, indexes) };
          } catch (error) {
            outcomes[n] = { status: 'failed', error };
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));

      const failed = outcomes.filter((o): o is Extract<Outcome, { status: 'failed' }> => o.status === 'failed');
      const configuration = failed.find((o) => o.error instanceof EmailConfigurationError);
      if (configuration) throw configuration.error;
      // Requests failed before they were handed over and nothing was accepted or ambiguous:
      // throw, so the caller knows none of it left and may send it all again later.
      const accepted = outcomes.some((o) => o.status === 'done' && [...o.results.values()].some((r) => r.status === 'accepted'));
      const ambiguous = failed.some((o) => o.error instanceof AmbiguousHandOver);
      if (failed.length > 0 && !accepted && !ambiguous) throw failed[0].error;
      outcomes.forEach((outcome, n) => {
        if (outcome.status === 'done') {
          for (const [position, result] of outcome.results) results[position] = result;
        } else {
          const { group, indexes } = chunks[n];
          const unknown = outcome.error instanceof AmbiguousHandOver;
          const error = unknown ? (outcome.error as Error).message : `not sent: ${(outcome.error as Error)?.message ?? String(outcome.error)}`;
          for (const i of indexes) results[group.positions[i]] = { sendId: group.messages[i].sendId, status: unknown ? 'unknown' : 'retry', error };
        }
      });
      return results;
    },
    async close() {
      // HTTP keep-alive sockets belong to Node's global agent; nothing of our own to release.
    },
  };
}

/* ------------------------------------------------------------------------------------------ */
/* Signed Event Webhook                                                                        */
/* ------------------------------------------------------------------------------------------ */

export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

const EVENT_TYPES: Record<string, EmailEventType> = {
  delivered: 'delivered', open: 'open', click: 'click', bounce: 'bounce', dropped: 'dropped',
  spamreport: 'spamreport', unsubscribe: 'unsubscribe', group_unsubscribe: 'unsubscribe', deferred: 'deferred',
};

export interface ParseSendGridEventsOptions {
  /** How old (or how far in the future) a signed timestamp may be, in seconds (default 600). */
  toleranceSeconds?: number;
  now?: Date;
}

/** The verification key from SendGrid's settings (base64 DER SubjectPublicKeyInfo, or PEM). */
export function sendGridPublicKey(publicKey: string): crypto.KeyObject {
  try {
    const trimmed = publicKey.trim();
    const key = trimmed.includes('BEGIN PUBLIC KEY')
      ? crypto.createPublicKey(trimmed)
      : crypto.createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec') throw new Error(`an EC key is expected, got ${key.asymmetricKeyType}`);
    return key;
  } catch (err) {
    throw new EmailConfigurationError(`the SendGrid webhook verification key is not a valid public key: ${(err as Error).message}`);
  }
}

/**
 * Verifies a Signed Event Webhook delivery and maps its events. `rawBody` must be the bytes as
 * received (not re-serialized JSON). Throws EmailWebhookRejected when a header is missing, the
 * timestamp is stale, the signature does not verify or the body is not a JSON array. Events we
 * do not track (processed, group_resubscribe, ...) are left out.
 */
export function parseSendGridEvents(
  rawBody: string | Buffer,
  signatureHeader: string | undefined,
  timestampHeader: string | undefined,
  publicKeyBase64: string | crypto.KeyObject,
  options: ParseSendGridEventsOptions = {},
): EmailEvent[] {
  if (!signatureHeader) throw new EmailWebhookRejected('missing X-Twilio-Email-Event-Webhook-Signature header');
  if (!timestampHeader) throw new EmailWebhookRejected('missing X-Twilio-Email-Event-Webhook-Timestamp header');
  if (!/^\d{1,12}$/.test(timestampHeader)) throw new EmailWebhookRejected(`bad webhook timestamp "${timestampHeader}"`);
  const tolerance = options.toleranceSeconds ?? 600;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const age = now - Number(timestampHeader);
  if (Math.abs(age) > tolerance) throw new EmailWebhookRejected(`stale webhook: signed ${age} s ago, more than the ${tolerance} s allowed`);

  const key = typeof publicKeyBase64 === 'string' ? sendGridPublicKey(publicKeyBase64) : publicKeyBase64;
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  const signed = Buffer.concat([Buffer.from(timestampHeader, 'utf8'), body]);
  let valid = false;
  try {
    valid = crypto.verify('sha256', signed, key, Buffer.from(signatureHeader, 'base64'));
  } catch {
    valid = false; // a malformed DER signature
  }
  if (!valid) throw new EmailWebhookRejected('the SendGrid webhook signature does not verify');

  let events: unknown;
  try {
    events = JSON.parse(body.toString('utf8'));
  } catch {
    throw new EmailWebhookRejected('the SendGrid webhook body is not JSON');
  }
  if (!Array.isArray(events)) throw new EmailWebhookRejected('the SendGrid webhook body is not an array of events');

  const mapped: EmailEvent[] = [];
  for (const raw of events) {
    if (typeof raw !== 'object' || raw === null) continue;
    const event = raw as Record<string, unknown>;
    const type = EVENT_TYPES[String(event.event)];
    if (!type) continue;
    const str = (name: string) => (typeof event[name] === 'string' && event[name] !== '' ? (event[name] as string) : undefined);
    const timestamp = Number(event.timestamp);
    // Older dropped events have no sg_event_id: a digest of the event deduplicates its redeliveries.
    const eventId = str('sg_event_id') ?? `sha256:${crypto.createHash('sha256').update(JSON.stringify(event)).digest('base64url')}`;
    mapped.push({
      provider: 'sendgrid',
      eventId,
      type,
      sendId: str('send_id') ?? null,
      email: str('email') ?? '',
      at: new Date(Number.isFinite(timestamp) ? timestamp * 1000 : Date.now()),
      ...(str('url') ? { url: str('url') } : {}),
      ...(str('reason') ?? str('response') ? { reason: str('reason') ?? str('response') } : {}),
      ...(type === 'bounce' && str('type') ? { bounceType: str('type') } : {}),
      ...(str('sg_message_id') ? { providerMessageId: str('sg_message_id') } : {}),
    });
  }
  return mapped;
}
