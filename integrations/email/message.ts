/**
 * What every provider does to a message before its own wire format: checks that it can be sent
 * at all (and that a marketing message carries its unsubscribe link), the headers it gets
 * (List-Unsubscribe + List-Unsubscribe-Post for RFC 8058 one-click), and `{{key}}` substitution
 * for the providers that render locally (SMTP, the outbox).
 */
import type { EmailMessage } from './types';

export const UNSUBSCRIBE_TOKEN = '{{unsubscribe_url}}';

/** Headers a provider or the MIME layer owns; a message may not set them. */
const RESERVED_HEADERS = new Set([
  'to', 'from', 'subject', 'reply-to', 'cc', 'bcc', 'sender', 'date', 'message-id', 'mime-version',
  'content-type', 'content-transfer-encoding', 'received', 'dkim-signature', 'x-sg-id', 'x-sg-eid', 'x-spirit-send-id',
]);

const SEND_ID = /^[A-Za-z0-9._-]{1,100}$/;
// Deliberately loose: the provider is the judge of deliverability; this only stops what cannot be an address.
const ADDRESS = /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+$/;
const HEADER_NAME = /^[!-9;-~]+$/; // printable ASCII without ':' (RFC 5322 ftext)

export function isPlausibleAddress(email: string): boolean {
  return ADDRESS.test(email);
}

/** Why this message cannot be sent as it is, or null. */
export function messageProblem(message: EmailMessage): string | null {
  if (typeof message.sendId !== 'string' || !SEND_ID.test(message.sendId)) return `sendId must match ${SEND_ID}, got "${message.sendId}"`;
  if (!message.to || !isPlausibleAddress(message.to.email)) return `invalid recipient address "${message.to?.email}"`;
  if (!message.from || !isPlausibleAddress(message.from.email)) return `invalid sender address "${message.from?.email}"`;
  if (message.replyTo && !isPlausibleAddress(message.replyTo.email)) return `invalid reply-to address "${message.replyTo.email}"`;
  if (!message.subject) return 'the subject is empty';
  if (!message.html && !message.text) return 'the message has neither html nor text';
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (!HEADER_NAME.test(name)) return `invalid header name "${name}"`;
    if (RESERVED_HEADERS.has(name.toLowerCase())) return `header "${name}" is set by the provider, not the message`;
    if (typeof value !== 'string' || /[\r\n]/.test(value)) return `header "${name}" must be a single-line string`;
  }
  if (message.unsubscribeUrl !== undefined && !/^https?:\/\/[^\s<>]+$/.test(message.unsubscribeUrl)) {
    return `unsubscribeUrl must be an http(s) URL, got "${message.unsubscribeUrl}"`;
  }
  if (message.kind === 'marketing') {
    if (!message.unsubscribeUrl) return 'a marketing email must carry an unsubscribe link (unsubscribeUrl)';
    if (!showsUnsubscribeLink(message)) return `a marketing email must show its unsubscribe link in the body (${UNSUBSCRIBE_TOKEN} or the URL itself)`;
  } else if (message.kind !== 'transactional') {
    return `kind must be "marketing" or "transactional", got "${message.kind}"`;
  }
  return null;
}

function showsUnsubscribeLink(message: EmailMessage): boolean {
  const url = message.unsubscribeUrl!;
  const body = message.html || message.text;
  return body.includes(UNSUBSCRIBE_TOKEN) || body.includes(url) || body.includes(url.replace(/&/g, '&amp;'));
}

/** `substitutions` plus `unsubscribe_url`. */
export function substitutionsOf(message: EmailMessage): Record<string, string> {
  const values: Record<string, string> = { ...message.substitutions };
  if (message.unsubscribeUrl) values.unsubscribe_url = message.unsubscribeUrl;
  return values;
}

/** Replaces `{{key}}` for the keys given; unknown tokens stay as they are (as SendGrid leaves them). */
export function substitute(template: string, values: Record<string, string>, encode: (value: string, key: string) => string = (v) => v): string {
  if (!template.includes('{{')) return template;
  return template.replace(/\{\{([^{}]+)\}\}/g, (token, key: string) => (Object.prototype.hasOwnProperty.call(values, key) ? encode(values[key], key) : token));
}

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * How a raw value is written into each part. The unsubscribe URL is ours (no characters HTML
 * would read) and stays as it is, so its link is found and left alone by the link rewriting.
 */
export const encodeFor = {
  html: (value: string, key: string) => (key === 'unsubscribe_url' ? value : escapeHtml(value)),
  subject: (value: string) => value.replace(/[\r\n]+/g, ' '),
  text: (value: string) => value,
};

/** The message's own headers plus the RFC 8058 pair when it has an unsubscribe URL. */
export function headersOf(message: EmailMessage): Record<string, string> {
  const headers: Record<string, string> = { ...message.headers };
  if (message.unsubscribeUrl) {
    const names = new Set(Object.keys(headers).map((h) => h.toLowerCase()));
    if (!names.has('list-unsubscribe')) headers['List-Unsubscribe'] = `<${message.unsubscribeUrl}>`;
    if (!names.has('list-unsubscribe-post')) headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }
  return headers;
}

export interface RenderedMessage {
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
}

/** Subject, bodies and headers as this recipient receives them (for providers that render locally). */
export function renderMessage(message: EmailMessage): RenderedMessage {
  const values = substitutionsOf(message);
  return {
    subject: substitute(message.subject, values, encodeFor.subject),
    html: substitute(message.html, values, encodeFor.html),
    text: substitute(message.text, values, encodeFor.text),
    headers: headersOf(message),
  };
}
