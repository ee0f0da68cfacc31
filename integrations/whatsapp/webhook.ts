/**
 * The Cloud API's webhook, as data: the signature Meta puts on every delivery
 * (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`), and a
 * delivery's `entry[].changes[].value` turned into the channel's own shapes — customer messages
 * (InboundWhatsApp) and status events for messages we sent (StatusWhatsApp). Knows nothing of
 * HTTP or the database: the API route verifies and stores, services/whatsapp.ts processes.
 */
import crypto from 'node:crypto';
import type { InboundWhatsApp, StatusWhatsApp } from './types';

/** Constant-time check of `X-Hub-Signature-256` against the raw body. */
export function verifySignature(rawBody: Buffer, header: string | undefined, appSecret: string): boolean {
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec((header ?? '').trim());
  if (!match) return false;
  const given = Buffer.from(match[1].toLowerCase(), 'hex');
  const expected = crypto.createHmac('sha256', appSecret).update(rawBody).digest();
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

/** The header value Meta would send for this body (tests, the simulator, the bench). */
export function signBody(rawBody: Buffer | string, appSecret: string): string {
  return `sha256=${crypto.createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/** A delivery's shape, as far as we read it (Cloud API webhook reference, "messages" field). */
export interface CloudWebhookBody {
  object: string;
  entry: Array<{ id?: string; changes?: Array<{ field?: string; value?: CloudChangeValue }> }>;
}

interface CloudChangeValue {
  messaging_product?: string;
  metadata?: { display_phone_number?: string; phone_number_id?: string };
  contacts?: Array<{ wa_id?: string; profile?: { name?: string } }>;
  messages?: Array<Record<string, any>>;
  statuses?: Array<Record<string, any>>;
}

/** A body that is a WhatsApp Business Account delivery (else the webhook answers 400). */
export function isCloudWebhookBody(body: unknown): body is CloudWebhookBody {
  return !!body && typeof body === 'object' && (body as { object?: unknown }).object === 'whatsapp_business_account' && Array.isArray((body as { entry?: unknown }).entry);
}

const seconds = (v: unknown): Date => {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? new Date(n * 1000) : new Date();
};

/**
 * One Cloud API message object as an InboundWhatsApp (unknown kinds become `unsupported`, never
 * dropped). A reaction (an emoji put on one of our messages) is no message to answer: null.
 */
export function toInbound(businessId: string, m: Record<string, any>, profileName?: string): InboundWhatsApp | null {
  if (typeof m?.from !== 'string' || typeof m?.id !== 'string') return null;
  if (m.type === 'reaction') return null;
  const base = { businessId, from: `+${m.from.replace(/^\+/, '')}`, messageId: m.id, at: seconds(m.timestamp), ...(profileName ? { profileName } : {}) };
  const type = String(m.type ?? 'unknown');
  if (type === 'text' && typeof m.text?.body === 'string') return { ...base, kind: 'text', text: m.text.body };
  if (type === 'interactive') {
    const choice = m.interactive?.button_reply ?? m.interactive?.list_reply;
    if (choice && typeof choice.id === 'string') return { ...base, kind: 'interactive', text: String(choice.title ?? choice.id), replyId: choice.id };
  }
  // A quick-reply button of a template: its payload is what we put there.
  if (type === 'button' && m.button) return { ...base, kind: 'interactive', text: String(m.button.text ?? m.button.payload ?? ''), replyId: String(m.button.payload ?? m.button.text ?? '') };
  const caption = typeof m[type]?.caption === 'string' && m[type].caption.trim() ? ` ${m[type].caption.trim()}` : '';
  return { ...base, kind: 'unsupported', text: `[${type}]${caption}`, type };
}

const STATUSES = new Set(['sent', 'delivered', 'read', 'failed']);

/** Everything a delivery carries: customer messages and status events, in order. */
export function parseCloudWebhook(body: CloudWebhookBody): { messages: InboundWhatsApp[]; statuses: StatusWhatsApp[] } {
  const messages: InboundWhatsApp[] = [];
  const statuses: StatusWhatsApp[] = [];
  for (const entry of body.entry ?? []) {
    for (const change of entry?.changes ?? []) {
      const value = change?.value;
      if (!value || (change.field && change.field !== 'messages')) continue;
      const businessId = String(value.metadata?.phone_number_id ?? '');
      const names = new Map((value.contacts ?? []).filter((c) => c?.wa_id).map((c) => [String(c.wa_id), c.profile?.name]));
      for (const m of value.messages ?? []) {
        const inbound = toInbound(businessId, m, names.get(String(m?.from)) ?? undefined);
        if (inbound) messages.push(inbound);
      }
      for (const s of value.statuses ?? []) {
        if (typeof s?.id !== 'string' || !STATUSES.has(s.status)) continue;
        const error = Array.isArray(s.errors) && s.errors[0] ? { code: Number(s.errors[0].code), title: String(s.errors[0].title ?? s.errors[0].message ?? '') } : undefined;
        statuses.push({ providerMessageId: s.id, status: s.status, at: seconds(s.timestamp), ...(error ? { error } : {}) });
      }
    }
  }
  return { messages, statuses };
}

/** A delivery carrying one customer message, the way Meta sends it (the simulator and tests build theirs with this). */
export function cloudMessageEvent(m: { businessId: string; from: string; messageId: string; at?: Date; profileName?: string; message: Record<string, unknown> }): CloudWebhookBody {
  const waId = m.from.replace(/^\+/, '');
  return {
    object: 'whatsapp_business_account',
    entry: [{
      id: 'WABA_ID',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp', metadata: { display_phone_number: m.businessId, phone_number_id: m.businessId },
          contacts: [{ wa_id: waId, ...(m.profileName ? { profile: { name: m.profileName } } : {}) }],
          messages: [{ from: waId, id: m.messageId, timestamp: String(Math.floor((m.at ?? new Date()).getTime() / 1000)), ...m.message }],
        },
      }],
    }],
  };
}
