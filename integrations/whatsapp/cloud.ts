/**
 * The WhatsApp Business Cloud API channel (WHATSAPP_CHANNEL=cloud): one POST per message to
 * `${graphApiBase}/${graphApiVersion}/${phoneNumberId}/messages` with the access token as a
 * bearer, in Meta's message format (text, interactive reply buttons and lists, templates), and
 * the answer's `messages[0].id` (wamid...) kept to match the status events the webhook brings.
 *
 * No Meta SDK: there is no official Node SDK for the Cloud API that we use, and the call is one
 * JSON POST, so this is plain `fetch` (undici, in Node 20), with an AbortSignal as the timeout.
 * The Graph API has no idempotency key for messages: a send whose outcome we cannot know is
 * reported `ambiguous` and never repeated (the claim-send rules in activities/conversations).
 *
 * What went wrong is classified for those rules (WhatsAppSendError):
 * - throttled: HTTP 429, or error codes 130429 (throughput), 131056 (pair rate), 131048 (spam
 *   rate), 80007 and 4 (API call rate) — nothing was taken; Retry-After is passed on when given.
 * - unavailable: 5xx, error codes 1/2/131016/133004 (Meta's "temporarily unavailable"), or the
 *   connection never opened (refused, DNS, unreachable) — nothing was written.
 * - refused: other 4xx — bad number (131026), template problems (132xxx), outside the 24-hour
 *   window (131047), a bad token (190): Meta will not take this message as it is.
 * - ambiguous: a timeout (config.whatsapp.sendTimeoutMs), a reset after connecting, or a 200
 *   without a message id: the request may have been taken.
 *
 * The send rate per business number is kept by integrations/whatsapp/rate.ts, which wraps every
 * channel createWhatsAppChannel builds; Meta's 130429 pauses that number's sends in the process.
 */
import type { ChannelHealth, OutboundWhatsApp, SendResult, WhatsAppChannel } from './types';
import { WhatsAppSendError } from './types';

export interface CloudSettings {
  accessToken?: string;
  phoneNumberId: string;
  graphApiBase: string;
  graphApiVersion: string;
  sendTimeoutMs: number;
  messagesPerSecond: number;
}

/** Meta's body for one message to `to` (E.164; Meta wants the digits without the +). */
export function cloudMessageBody(to: string, message: OutboundWhatsApp): Record<string, unknown> {
  const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to: to.replace(/^\+/, '') };
  switch (message.kind) {
    case 'text':
      return { ...base, type: 'text', text: { body: message.text, preview_url: false } };
    case 'buttons':
      return {
        ...base, type: 'interactive',
        interactive: { type: 'button', body: { text: message.text }, action: { buttons: message.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })) } },
      };
    case 'list':
      return {
        ...base, type: 'interactive',
        interactive: {
          type: 'list', body: { text: message.text },
          action: { button: message.button, sections: [{ rows: message.rows.map((r) => ({ id: r.id, title: r.title, ...(r.description ? { description: r.description } : {}) })) }] },
        },
      };
    case 'template':
      return {
        ...base, type: 'template',
        template: {
          name: message.name, language: { code: message.language },
          components: message.parameters.length ? [{ type: 'body', parameters: message.parameters.map((text) => ({ type: 'text', text })) }] : [],
        },
      };
  }
}

const THROTTLED = new Set([130429, 131056, 131048, 80007, 4]);
const TEMPORARILY_UNAVAILABLE = new Set([1, 2, 131016, 133004]);
/** Connection errors that mean nothing was written (the socket never opened). */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Retry-After in seconds or an HTTP date, as milliseconds. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Classifies a Graph API error answer. */
export function classifyGraphError(httpStatus: number, body: unknown, retryAfter: string | null): WhatsAppSendError {
  const error = (body as { error?: { code?: unknown; message?: unknown; error_data?: { details?: unknown } } } | undefined)?.error;
  const code = typeof error?.code === 'number' ? error.code : undefined;
  const text = `Graph API ${httpStatus}${code !== undefined ? ` (${code})` : ''}: ${typeof error?.message === 'string' ? error.message : 'no error message'}${typeof error?.error_data?.details === 'string' ? ` — ${error.error_data.details}` : ''}`;
  const details = { code, httpStatus, retryAfterMs: retryAfterMs(retryAfter) };
  if (httpStatus === 429 || (code !== undefined && THROTTLED.has(code))) return new WhatsAppSendError('throttled', text, details);
  if (httpStatus >= 500 || (code !== undefined && TEMPORARILY_UNAVAILABLE.has(code))) return new WhatsAppSendError('unavailable', text, details);
  return new WhatsAppSendError('refused', text, details);
}

function errorCode(err: unknown): string | undefined {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let i = 0; e && i < 4; i++, e = e.cause as typeof e) if (typeof e.code === 'string') return e.code;
  return undefined;
}

export class CloudChannel implements WhatsAppChannel {
  readonly kind = 'cloud' as const;
  readonly businessId: string;

  constructor(private readonly settings: CloudSettings, private readonly fetchImpl: typeof fetch = fetch) {
    this.businessId = settings.phoneNumberId;
  }

  get url(): string {
    return `${this.settings.graphApiBase.replace(/\/+$/, '')}/${this.settings.graphApiVersion}/${this.settings.phoneNumberId}/messages`;
  }

  async send(to: string, message: OutboundWhatsApp, _key: string): Promise<SendResult> {
    if (!this.settings.accessToken) throw new WhatsAppSendError('unavailable', 'WHATSAPP_ACCESS_TOKEN is not set: nothing was sent');
    let res: Response;
    try {
      res = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.settings.accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(cloudMessageBody(to, message)),
        signal: AbortSignal.timeout(this.settings.sendTimeoutMs),
      });
    } catch (err) {
      const name = (err as Error)?.name;
      if (name === 'TimeoutError' || name === 'AbortError') throw new WhatsAppSendError('ambiguous', `Graph API: no answer within ${this.settings.sendTimeoutMs} ms (the message may have been taken)`);
      const code = errorCode(err);
      if (code && NOT_CONNECTED.has(code)) throw new WhatsAppSendError('unavailable', `Graph API not reachable (${code}): nothing was sent`);
      throw new WhatsAppSendError('ambiguous', `Graph API connection failed after connecting (${code ?? (err as Error).message}): the message may have been taken`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      // The status line came and the body did not: for a 2xx the message was taken, but we lack its id.
      if (res.ok) throw new WhatsAppSendError('ambiguous', `Graph API answered ${res.status} and the body was cut off (${(err as Error).name})`, { httpStatus: res.status });
      throw classifyGraphError(res.status, undefined, res.headers.get('retry-after'));
    }
    let body: unknown;
    try { body = text ? JSON.parse(text) : undefined; } catch { body = undefined; }
    if (!res.ok) throw classifyGraphError(res.status, body, res.headers.get('retry-after'));
    const id = (body as { messages?: Array<{ id?: unknown }> } | undefined)?.messages?.[0]?.id;
    if (typeof id !== 'string' || !id) throw new WhatsAppSendError('ambiguous', `Graph API answered ${res.status} without a message id`, { httpStatus: res.status });
    return { providerMessageId: id };
  }

  health(): ChannelHealth {
    const missing = [!this.settings.accessToken && 'WHATSAPP_ACCESS_TOKEN', (!this.settings.phoneNumberId || this.settings.phoneNumberId === 'simulator') && 'WHATSAPP_PHONE_NUMBER_ID'].filter(Boolean);
    if (missing.length) return { channel: 'cloud', state: 'misconfigured', detail: `missing ${missing.join(', ')}` };
    return { channel: 'cloud', state: 'ready', detail: `Cloud API ${this.settings.graphApiVersion}, phone number id ${this.settings.phoneNumberId}` };
  }
}
