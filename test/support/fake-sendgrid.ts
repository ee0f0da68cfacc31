/**
 * A local stand-in for SendGrid's v3 Mail Send endpoint, speaking its wire format so the real
 * `@sendgrid/mail` client can talk to it: POST /v3/mail/send with `Authorization: Bearer <key>`
 * and a JSON body; 202 with an `X-Message-Id` when the body is valid; 400 with SendGrid's error
 * envelope `{ errors: [{ message, field, help }] }` naming each offending field
 * (`personalizations.3.to.0.email`) when it is not; 401 for a wrong key; 413 past 30 MB; 429
 * with X-RateLimit-Limit/Remaining/Reset when a configured throttle is exceeded. For the
 * hand-over's failure modes: `dropNext` reads a request and resets the connection unanswered
 * (ambiguous), `down`/`up` refuse connections and take them again (not handed over).
 *
 * It records every request, and the personalizations of accepted ones, so a test can count
 * every recipient exactly; `render` applies a personalization's substitutions the way SendGrid
 * does, to show what that recipient would receive.
 *
 * Also: a P-256 key pair and signer for SendGrid's Signed Event Webhook, for webhook tests.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';
const MAX_BODY_BYTES = 30 * 1024 * 1024;
const RESERVED_HEADERS = ['x-sg-id', 'x-sg-eid', 'received', 'dkim-signature', 'content-type', 'content-transfer-encoding', 'to', 'from', 'subject', 'reply-to', 'cc', 'bcc'];
// Stricter than our own check on purpose (a dot in the domain), like the real service.
const VALID_EMAIL = /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+\.[^\s@<>()",;:\\[\].]{2,}$/;

export interface SendGridError { message: string; field: string | null; help: string | null }

export interface FakeSendGridRequest {
  at: number;
  headers: http.IncomingHttpHeaders;
  /** The parsed body (undefined when it was not JSON, or when recording is off). */
  body?: any;
  status: number;
  messageId?: string;
  errors?: SendGridError[];
}

export interface ReceivedPersonalization {
  /** Index into `requests`. */
  request: number;
  index: number;
  email: string;
  name?: string;
  sendId?: string;
  customArgs: Record<string, string>;
  headers: Record<string, string>;
  substitutions: Record<string, string>;
  messageId: string;
}

export interface FakeSendGridOptions {
  /** The only key accepted (default SG.test-key). */
  apiKey?: string;
  /** Keep request bodies and personalizations (default true); counts are kept regardless. */
  record?: boolean;
}

export interface FakeSendGrid {
  /** e.g. http://127.0.0.1:54321, for SENDGRID_BASE_URL. */
  url: string;
  apiKey: string;
  requests: FakeSendGridRequest[];
  /** Personalizations of accepted (202) requests, in arrival order. */
  accepted: ReceivedPersonalization[];
  /** Recipients in accepted requests, counted even when recording is off. */
  acceptedRecipients: number;
  /** send_id custom args seen in accepted requests, with how often each was seen. */
  acceptedSendIds: Map<string, number>;
  /** After `limit` requests in a window of `windowMs`, answer 429 until the window ends; null to stop. */
  setThrottle(throttle: { limit: number; windowMs: number } | null): void;
  /** Answer the next `times` requests with this status (e.g. 500, 503) and SendGrid's error body. */
  failNext(status: number, times?: number): void;
  /**
   * Read the next `times` requests to the end (recorded, and their send ids in `droppedSendIds`),
   * then reset the connection without answering: the ambiguous hand-over.
   */
  dropNext(times?: number): void;
  /** Send ids of requests read and then dropped (see dropNext). */
  droppedSendIds: Map<string, number>;
  /** Stop listening (connections refused) until `up()`, on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Subject, bodies and headers as this personalization's recipient would receive them. */
  render(personalization: ReceivedPersonalization): { subject: string; html?: string; text?: string; headers: Record<string, string> };
  reset(): void;
  close(): Promise<void>;
}

function error(message: string, field: string | null, anchor?: string): SendGridError {
  return { message, field, help: anchor ? `${HELP}#${anchor}` : null };
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** SendGrid's validation of a mail/send body, as far as our adapter can get it wrong. */
export function validateMailSend(body: any): SendGridError[] {
  const errors: SendGridError[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [error('Bad Request', null)];

  const personalizations = body.personalizations;
  if (!Array.isArray(personalizations) || personalizations.length === 0) {
    errors.push(error('The personalizations field is required and must have at least one personalization.', 'personalizations', 'message.personalizations'));
  } else if (personalizations.length > 1000) {
    errors.push(error(`The personalization block is limited to 1000 personalizations per API request. You have provided ${personalizations.length} personalizations. Please consider splitting this into multiple requests and resending your request.`, 'personalizations', 'message.personalizations'));
  } else {
    let recipients = 0;
    const seen = new Set<string>();
    personalizations.forEach((p: any, i: number) => {
      const at = `personalizations.${i}`;
      if (typeof p !== 'object' || p === null) {
        errors.push(error('Each personalization must be an object.', at, 'message.personalizations'));
        return;
      }
      if (!Array.isArray(p.to) || p.to.length === 0) {
        errors.push(error('The to array is required for all personalization objects, and must have at least one email object with a valid email address.', `${at}.to`, 'message.personalizations.to'));
      } else {
        p.to.forEach((to: any, j: number) => {
          recipients++;
          if (typeof to?.email !== 'string' || !VALID_EMAIL.test(to.email)) {
            errors.push(error('Does not contain a valid address.', `${at}.to.${j}.email`, 'message.personalizations.to'));
            return;
          }
          const email = to.email.toLowerCase();
          if (seen.has(email)) {
            errors.push(error(`Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [${to.email}] in the ${at}.to field.`, at, 'message.recipient_errors'));
          }
          seen.add(email);
        });
      }
      if (p.custom_args !== undefined && !isStringMap(p.custom_args)) {
        errors.push(error('The custom_args parameter must be an object of string values.', `${at}.custom_args`, 'message.custom_args'));
      }
      if (p.substitutions !== undefined && !isStringMap(p.substitutions)) {
        errors.push(error('The substitutions parameter must be an object of string values.', `${at}.substitutions`, 'message.personalizations.substitutions'));
      }
      if (p.headers !== undefined) {
        if (!isStringMap(p.headers)) errors.push(error('The headers parameter must be an object of string values.', `${at}.headers`, 'message.headers'));
        else {
          const reserved = Object.keys(p.headers).filter((h) => RESERVED_HEADERS.includes(h.toLowerCase()));
          if (reserved.length) errors.push(error(`The headers parameter may not contain reserved headers: ${reserved.join(', ')}.`, `${at}.headers`, 'message.headers'));
        }
      }
    });
    if (recipients > 1000) errors.push(error('There is a limit of 1000 total recipients (to + cc + bcc) per request.', 'personalizations', 'message.personalizations'));
  }

  if (typeof body.from?.email !== 'string' || !VALID_EMAIL.test(body.from.email)) {
    errors.push(error('The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.', 'from.email', 'message.from'));
  }
  const everyHasSubject = Array.isArray(personalizations) && personalizations.length > 0 && personalizations.every((p: any) => typeof p?.subject === 'string' && p.subject);
  if (!body.template_id && !everyHasSubject && (typeof body.subject !== 'string' || body.subject === '')) {
    errors.push(error('The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.', 'subject', 'message.subject'));
  }
  if (!body.template_id) {
    if (!Array.isArray(body.content) || body.content.length === 0) {
      errors.push(error('Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.', 'content', 'message.content'));
    } else {
      body.content.forEach((c: any, k: number) => {
        if (typeof c?.type !== 'string' || c.type === '') errors.push(error('The content type must be a string at least one character in length.', `content.${k}.type`, 'message.content.type'));
        if (typeof c?.value !== 'string' || c.value === '') errors.push(error('The content value must be a string at least one character in length.', `content.${k}.value`, 'message.content.value'));
      });
      const plain = body.content.findIndex((c: any) => c?.type === 'text/plain');
      if (plain > 0) errors.push(error('If present, text/plain content must be first, followed by text/html, followed by any other content.', 'content', 'message.content'));
    }
  }
  return errors;
}

export async function startFakeSendGrid(options: FakeSendGridOptions = {}): Promise<FakeSendGrid> {
  const apiKey = options.apiKey ?? 'SG.test-key';
  const record = options.record ?? true;
  let throttle: { limit: number; windowMs: number } | null = null;
  let windowStart = 0;
  let windowCount = 0;
  let failures: { status: number; times: number } | null = null;
  let drops = 0;

  const fake: Omit<FakeSendGrid, 'url'> & { url: string } = {
    url: '',
    apiKey,
    requests: [],
    accepted: [],
    acceptedRecipients: 0,
    acceptedSendIds: new Map(),
    setThrottle(value) {
      throttle = value;
      windowStart = 0;
      windowCount = 0;
    },
    failNext(status, times = 1) {
      failures = { status, times };
    },
    dropNext(times = 1) {
      drops = times;
    },
    droppedSendIds: new Map(),
    down: async () => undefined,
    up: async () => undefined,
    render(p) {
      const body = fake.requests[p.request].body;
      const apply = (value: string) => Object.entries(p.substitutions).reduce((s, [token, v]) => s.split(token).join(v), value);
      const content = (type: string) => body.content?.find((c: any) => c.type === type)?.value as string | undefined;
      const html = content('text/html');
      const text = content('text/plain');
      return {
        subject: apply(body.personalizations[p.index].subject ?? body.subject),
        ...(html !== undefined ? { html: apply(html) } : {}),
        ...(text !== undefined ? { text: apply(text) } : {}),
        headers: { ...body.headers, ...p.headers },
      };
    },
    reset() {
      fake.requests.length = 0;
      fake.accepted.length = 0;
      fake.acceptedRecipients = 0;
      fake.acceptedSendIds.clear();
      fake.setThrottle(null);
      failures = null;
      drops = 0;
      fake.droppedSendIds.clear();
    },
    close: async () => undefined,
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      const entry: FakeSendGridRequest = { at: Date.now(), headers: req.headers, status: 0 };
      fake.requests.push(entry);
      const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        entry.status = status;
        res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
        res.end(body === undefined ? undefined : JSON.stringify(body));
      };

      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v3/mail/send') {
        answer(404, { errors: [error(`No route for ${req.method} ${req.url}`, null)] });
        return;
      }
      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        answer(401, { errors: [error('The provided authorization grant is invalid, expired, or revoked', null)] });
        return;
      }
      if (throttle) {
        const now = Date.now();
        if (now >= windowStart + throttle.windowMs) {
          windowStart = now;
          windowCount = 0;
        }
        windowCount++;
        const reset = Math.ceil((windowStart + throttle.windowMs) / 1000);
        const limits = { 'x-ratelimit-limit': String(throttle.limit), 'x-ratelimit-remaining': String(Math.max(0, throttle.limit - windowCount)), 'x-ratelimit-reset': String(reset) };
        if (windowCount > throttle.limit) {
          answer(429, { errors: [error('too many requests', null)] }, limits);
          return;
        }
      }
      if (drops > 0) {
        drops--;
        try {
          const dropped = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (record) entry.body = dropped;
          for (const p of dropped.personalizations ?? []) {
            const id = p.custom_args?.send_id;
            if (id) fake.droppedSendIds.set(id, (fake.droppedSendIds.get(id) ?? 0) + 1);
          }
        } catch { /* not JSON: dropped all the same */ }
        req.socket.destroy(); // read to the end, never answered
        return;
      }
      if (failures && failures.times > 0) {
        failures.times--;
        answer(failures.status, { errors: [error(http.STATUS_CODES[failures.status] ?? 'error', null)] });
        return;
      }
      if (size > MAX_BODY_BYTES) {
        answer(413, { errors: [error('The JSON payload you have included in your request is too large.', null)] });
        return;
      }
      if (!String(req.headers['content-type']).startsWith('application/json')) {
        answer(415, { errors: [error('Content-Type should be application/json.', null)] });
        return;
      }
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        answer(400, { errors: [error('Bad Request', null)] });
        return;
      }
      const errors = validateMailSend(body);
      if (record) entry.body = body;
      if (errors.length > 0) {
        entry.errors = errors;
        answer(400, { errors });
        return;
      }
      const messageId = crypto.randomBytes(16).toString('base64url').slice(0, 22);
      entry.messageId = messageId;
      const requestIndex = fake.requests.length - 1;
      body.personalizations.forEach((p: any, index: number) => {
        const sendId = p.custom_args?.send_id as string | undefined;
        fake.acceptedRecipients += p.to.length;
        if (sendId) fake.acceptedSendIds.set(sendId, (fake.acceptedSendIds.get(sendId) ?? 0) + 1);
        if (record) {
          fake.accepted.push({
            request: requestIndex, index, email: p.to[0].email, name: p.to[0].name, sendId,
            customArgs: p.custom_args ?? {}, headers: p.headers ?? {}, substitutions: p.substitutions ?? {}, messageId,
          });
        }
      });
      answer(202, undefined, { 'x-message-id': messageId });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  fake.url = `http://127.0.0.1:${port}`;
  fake.down = () => new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
  fake.up = () => new Promise<void>((resolve, reject) => {
    if (server.listening) return resolve();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  fake.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
  return fake;
}

/* Signed Event Webhook ------------------------------------------------------------------------ */

export interface WebhookKeys {
  /** What SendGrid shows as the verification key: base64 DER SubjectPublicKeyInfo. */
  publicKeyBase64: string;
  privateKey: crypto.KeyObject;
}

export function createWebhookKeys(): WebhookKeys {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), privateKey };
}

/** The two headers SendGrid sends with a signed delivery of `body`, by its documented scheme. */
export function signSendGridWebhook(body: string, privateKey: crypto.KeyObject, timestamp = Math.floor(Date.now() / 1000)): { signature: string; timestamp: string } {
  const signature = crypto.sign('sha256', Buffer.from(`${timestamp}${body}`, 'utf8'), privateKey).toString('base64');
  return { signature, timestamp: String(timestamp) };
}
