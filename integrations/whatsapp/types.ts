/**
 * One interface for the three WhatsApp channels (`WHATSAPP_CHANNEL`): the Cloud API (Graph API
 * over HTTPS, signed webhooks), whatsapp-web.js (a linked device driven through Chromium) and the
 * local simulator (development and tests). Callers speak in messages; each channel maps them to
 * its wire format and classifies what went wrong in the terms the claim-send rules need:
 * nothing was handed over (retry later, or fail for good), or the hand-over is ambiguous
 * (`unknown`, never resent).
 */

/** Meta's limits for interactive messages (Cloud API reference, "interactive object"). */
export const WHATSAPP_LIMITS = {
  text: 4096,
  /** Body of an interactive message. */
  interactiveBody: 1024,
  buttons: 3,
  buttonTitle: 20,
  listRows: 10,
  listRowTitle: 24,
  listRowDescription: 72,
  listButton: 20,
  replyId: 256,
} as const;

export type OutboundWhatsApp =
  | { kind: 'text'; text: string }
  /** Reply buttons: at most 3, titles of at most 20 characters. */
  | { kind: 'buttons'; text: string; buttons: Array<{ id: string; title: string }> }
  /** A list: at most 10 rows, titles of at most 24 characters, one section. */
  | { kind: 'list'; text: string; button: string; rows: Array<{ id: string; title: string; description?: string }> }
  /** An approved template with its body parameters in order (outside the 24-hour window, only these). */
  | { kind: 'template'; name: string; language: string; parameters: string[] };

/** A customer's message as every channel hands it over. */
export interface InboundWhatsApp {
  /** The business number's id on the channel (Cloud API: phone_number_id). */
  businessId: string;
  /** The customer's number, E.164 (with the +). */
  from: string;
  /** WhatsApp's message id (wamid...): a repeat delivery carries the same one. */
  messageId: string;
  at: Date;
  /** The profile name WhatsApp shows, when it says. */
  profileName?: string;
  /** text: typed; interactive: a button or list row chosen (`replyId` is its id); other kinds are not understood. */
  kind: 'text' | 'interactive' | 'unsupported';
  /** The text typed, the title of the choice, or `[image]`, `[sticker]`, `[location]`... */
  text: string;
  replyId?: string;
  /** The WhatsApp type for unsupported messages: image, sticker, location, audio... */
  type?: string;
}

/** A status event for a message we sent. */
export interface StatusWhatsApp {
  providerMessageId: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  at: Date;
  /** Meta's error code and title for failed. */
  error?: { code: number; title: string };
}

export interface SendResult {
  /** The provider's id of the message (wamid...), to match status events. */
  providerMessageId: string;
}

/**
 * Why a send did not go out:
 * - `throttled`: the provider refused for rate (Cloud API 130429 / 131056, HTTP 429); nothing was handed over, try later (`retryAfterMs`).
 * - `unavailable`: nothing was handed over (connection refused, 5xx before acceptance, the session not ready); try later.
 * - `refused`: the provider will never take this message (bad number, template not approved, outside the window); fail it.
 * - `ambiguous`: the request may have been taken (timeout or reset after it was written); never resend.
 */
export class WhatsAppSendError extends Error {
  constructor(
    readonly kind: 'throttled' | 'unavailable' | 'refused' | 'ambiguous',
    message: string,
    readonly details: { code?: number; httpStatus?: number; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = 'WhatsAppSendError';
  }
}

export type ChannelHealth = {
  channel: 'simulator' | 'cloud' | 'web';
  /** ready: can send; starting; qr: waiting for the phone to scan; disconnected; misconfigured. */
  state: 'ready' | 'starting' | 'qr' | 'disconnected' | 'misconfigured';
  detail?: string;
};

export interface WhatsAppChannel {
  readonly kind: 'simulator' | 'cloud' | 'web';
  /** The business number's id that this channel sends from (Cloud API: phone_number_id). */
  readonly businessId: string;
  /** Sends one message. `key` is stable per message: channels that can, pass it on for deduplication. */
  send(to: string, message: OutboundWhatsApp, key: string): Promise<SendResult>;
  health(): ChannelHealth;
  close?(): Promise<void>;
}
