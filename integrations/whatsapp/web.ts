/**
 * The whatsapp-web.js channel (WHATSAPP_CHANNEL=web), for small operators without a WhatsApp
 * Business Account: the library drives WhatsApp Web in Debian's Chromium
 * (config.whatsapp.chromiumPath through puppeteer's `executablePath`, headless, never a browser
 * download) as a linked device of the business phone. UNOFFICIAL: WhatsApp does not allow
 * automated clients and may ban the number; the README says so.
 *
 * - Login: the library emits a QR code; it is printed in the terminal (qrcode-terminal) and
 *   written to `whatsapp_sessions` (id 'web'), where /health and GET /api/v1/whatsapp/session
 *   show it. LocalAuth keeps the session under `<data dir>/.wwebjs`, so a restart needs no QR.
 * - State: starting → qr → (authenticated) → ready; disconnected when the phone unlinks or the
 *   page dies, then the client is built and initialized again with a backoff (1 s doubling to 60 s).
 * - Inbound: each customer 'message' (not groups, statuses or our own) becomes an
 *   InboundWhatsApp and goes to `onInbound` (the worker wires services/whatsapp.ts's
 *   receiveWhatsApp, the same path as Cloud API webhooks); tried three times, then logged.
 * - Outbound: text through client.sendMessage. WhatsApp Web no longer shows buttons or lists,
 *   so those go as numbered text options; the choices are remembered per chat (in this process)
 *   and a reply that is just a number comes back as that option (kind interactive, its id).
 *   Templates are Meta's (Cloud API) notion: here their approved body is sent as text.
 * - Acks (message_ack: 1 server, 2 device, 3 read, -1 error) are applied as status events.
 *
 * The client lives in the worker process that sends (workers/main.ts starts it at boot): one
 * process per session, since LocalAuth's folder and the linked device are one per number.
 * The library is loaded lazily (`require` inside the default factory), so the other channels
 * never load it; tests pass a fake client emitting the library's events with its shapes.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Knex } from 'knex';
import { applyDeliveryStatus, writeWhatsAppSession, type SessionState } from '../../models/whatsapp';
import { WhatsAppSendError, type ChannelHealth, type InboundWhatsApp, type OutboundWhatsApp, type SendResult, type WhatsAppChannel } from './types';

/** The part of whatsapp-web.js's Message we read. */
export interface WebMessage {
  from: string;
  body: string;
  id: { _serialized: string; fromMe?: boolean };
  timestamp: number;
  type: string;
  hasMedia?: boolean;
  fromMe?: boolean;
  _data?: { notifyName?: string };
  selectedButtonId?: string;
  selectedRowId?: string;
  getContact?: () => Promise<{ number?: string; pushname?: string }>;
}

/** The part of whatsapp-web.js's Client we use (an EventEmitter). */
export interface WebClient {
  on(event: string, listener: (...args: any[]) => void): unknown;
  removeAllListeners(event?: string): unknown;
  initialize(): Promise<unknown>;
  sendMessage(chatId: string, content: string): Promise<{ id: { _serialized: string } }>;
  destroy(): Promise<unknown>;
}

export interface WebClientSettings { dataPath: string; chromiumPath: string }

export interface WebChannelOptions {
  knex: Knex;
  /** config.dataDir: LocalAuth keeps the session in `<dataDir>/.wwebjs`. */
  dataDir: string;
  chromiumPath: string;
  /** The business number's id for conversations (WHATSAPP_PHONE_NUMBER_ID, else 'web'). */
  businessId?: string;
  /** Where customers' messages go (the worker: services/whatsapp.ts receiveWhatsApp). */
  onInbound?: (m: InboundWhatsApp) => Promise<unknown>;
  /** Builds a client (default: whatsapp-web.js, loaded here). Tests pass a fake. */
  clientFactory?: (settings: WebClientSettings) => WebClient;
  /** Shows the QR code (default: qrcode-terminal on stdout). */
  printQr?: (qr: string) => void;
  sendTimeoutMs?: number;
  reconnect?: { initialMs: number; maxMs: number };
  /** Renders an approved template's body (default: from whatsapp_templates). */
  renderTemplate?: (name: string, language: string, parameters: string[]) => Promise<string | null>;
  log?: (msg: string, meta?: Record<string, unknown>) => void;
}

/** whatsapp-web.js with LocalAuth under the data dir and the system's Chromium. */
export function libraryClient(settings: WebClientSettings): WebClient {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lib = require('whatsapp-web.js') as { Client: new (options: unknown) => WebClient; LocalAuth: new (options: unknown) => unknown };
  return new lib.Client({
    authStrategy: new lib.LocalAuth({ dataPath: settings.dataPath }),
    puppeteer: { executablePath: settings.chromiumPath, headless: true, args: ['--no-sandbox'] },
  });
}

function terminalQr(qr: string): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('qrcode-terminal') as { generate: (text: string, options: { small: boolean }) => void }).generate(qr, { small: true });
  } catch {
    process.stdout.write(`WhatsApp Web QR code (qrcode-terminal is not installed; render this text as a QR code): ${qr}\n`);
  }
}

const digits = (wid: string) => wid.replace(/@.*$/, '').replace(/\D/g, '');
const RECENT_KEYS = 1000;

export class WebChannel extends EventEmitter implements WhatsAppChannel {
  readonly kind = 'web' as const;
  readonly businessId: string;
  private client?: WebClient;
  private state: SessionState = 'starting';
  private detail?: string;
  private attempts = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private closed = false;
  private writes: Promise<void> = Promise.resolve();
  /** The numbered options last sent to each chat, so "2" comes back as the second one. */
  private readonly options = new Map<string, Array<{ id: string; title: string }>>();
  /** A retried send with the same key (same process) answers the first send's id. */
  private readonly sent = new Map<string, SendResult>();

  constructor(private readonly o: WebChannelOptions) {
    super();
    this.businessId = o.businessId && o.businessId !== 'simulator' ? o.businessId : 'web';
  }

  /** Builds the client and initializes it (the QR, or the saved session). */
  async start(): Promise<void> {
    if (this.closed) return;
    this.setState('starting', this.attempts ? `reconnecting (attempt ${this.attempts})` : 'starting WhatsApp Web');
    const factory = this.o.clientFactory ?? libraryClient;
    let client: WebClient;
    try {
      client = factory({ dataPath: path.join(this.o.dataDir, '.wwebjs'), chromiumPath: this.o.chromiumPath });
    } catch (err) {
      this.setState('disconnected', `whatsapp-web.js could not be loaded: ${(err as Error).message}`);
      this.scheduleReconnect();
      return;
    }
    this.client = client;
    client.on('qr', (qr: string) => {
      this.setState('qr', 'scan the QR code with the business phone (WhatsApp → Linked devices)', qr);
      (this.o.printQr ?? terminalQr)(qr);
    });
    client.on('authenticated', () => this.setState('starting', 'authenticated; loading chats'));
    client.on('auth_failure', (message: string) => {
      this.setState('disconnected', `authentication failed: ${message}`);
      this.scheduleReconnect();
    });
    client.on('ready', () => {
      this.attempts = 0;
      this.setState('ready', 'linked and ready');
    });
    client.on('message', (m: WebMessage) => { void this.handleMessage(m); });
    client.on('message_ack', (m: WebMessage, ack: number) => { void this.handleAck(m, ack); });
    client.on('disconnected', (reason: string) => {
      this.setState('disconnected', `disconnected: ${reason}`);
      this.scheduleReconnect();
    });
    try {
      await client.initialize();
    } catch (err) {
      if (this.client !== client) return;
      this.setState('disconnected', `WhatsApp Web did not start: ${(err as Error).message}`);
      this.scheduleReconnect();
    }
  }

  /** Drops the current client and starts again after the backoff (once per disconnection). */
  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const { initialMs, maxMs } = this.o.reconnect ?? { initialMs: 1000, maxMs: 60_000 };
    const delay = Math.min(maxMs, initialMs * 2 ** this.attempts);
    this.attempts++;
    const old = this.client;
    this.client = undefined;
    if (old) {
      old.removeAllListeners();
      old.destroy().catch(() => undefined);
    }
    this.emit('reconnecting', { attempt: this.attempts, delayMs: delay });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.start();
    }, delay);
    this.reconnectTimer.unref?.();
  }

  private setState(state: SessionState, detail?: string, qr?: string): void {
    this.state = state;
    this.detail = detail;
    this.o.log?.(`whatsapp-web: ${state}`, detail ? { detail } : {});
    // In order, one after another; a failed write is logged, the next one carries the state.
    this.writes = this.writes.then(() => writeWhatsAppSession(this.o.knex, { id: 'web', state, qr: qr ?? null, detail: detail ?? null }))
      .catch((err) => this.o.log?.('whatsapp-web: session state not written', { err: (err as Error).message }));
    this.emit('state', { state, detail, qr });
  }

  /** Resolves when the session state written so far is in the database (tests). */
  async flushed(): Promise<void> {
    await this.writes;
  }

  private async customerNumber(m: WebMessage): Promise<string | null> {
    if (m.from.endsWith('@c.us')) return digits(m.from) || null;
    // Newer accounts hide the number behind a linked id (@lid): the contact knows it.
    if (m.from.endsWith('@lid') && m.getContact) {
      const contact = await m.getContact().catch(() => undefined);
      return contact?.number ? digits(contact.number) : null;
    }
    return null;
  }

  /** A library Message as the channel's InboundWhatsApp, or null for what is not a customer's message. */
  async toInbound(m: WebMessage): Promise<InboundWhatsApp | null> {
    if (m.fromMe || m.id?.fromMe || /@(g\.us|broadcast|newsletter)$/.test(m.from)) return null;
    const number = await this.customerNumber(m);
    if (!number) {
      this.o.log?.('whatsapp-web: a message from an id without a phone number was ignored', { from: m.from });
      return null;
    }
    const base = {
      businessId: this.businessId, from: `+${number}`, messageId: m.id._serialized,
      at: m.timestamp ? new Date(m.timestamp * 1000) : new Date(), ...(m._data?.notifyName ? { profileName: m._data.notifyName } : {}),
    };
    const choiceId = m.selectedButtonId ?? m.selectedRowId;
    if (choiceId) return { ...base, kind: 'interactive', replyId: choiceId, text: m.body || choiceId };
    if (m.type === 'chat') {
      const chosen = /^\s*(\d{1,2})\s*\.?\s*$/.exec(m.body ?? '');
      const offered = this.options.get(number);
      if (chosen && offered && Number(chosen[1]) >= 1 && Number(chosen[1]) <= offered.length) {
        const option = offered[Number(chosen[1]) - 1];
        return { ...base, kind: 'interactive', replyId: option.id, text: option.title };
      }
      return { ...base, kind: 'text', text: m.body ?? '' };
    }
    const type = m.type === 'ptt' ? 'audio' : m.type || 'unknown';
    return { ...base, kind: 'unsupported', type, text: `[${type}]${m.hasMedia && m.body?.trim() ? ` ${m.body.trim()}` : ''}` };
  }

  private async handleMessage(m: WebMessage): Promise<void> {
    let inbound: InboundWhatsApp | null;
    try {
      inbound = await this.toInbound(m);
    } catch (err) {
      this.o.log?.('whatsapp-web: a message could not be read', { err: (err as Error).message });
      return;
    }
    if (!inbound || !this.o.onInbound) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.o.onInbound(inbound);
        this.emit('inbound', inbound);
        return;
      } catch (err) {
        // WhatsApp Web does not deliver a message twice: a few tries, then it is logged (the phone still has it).
        if (attempt >= 3) {
          this.o.log?.('whatsapp-web: a customer message could not be stored', { messageId: inbound.messageId, from: inbound.from, err: (err as Error).message });
          this.emit('inbound_failed', inbound, err);
          return;
        }
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  }

  private async handleAck(m: WebMessage, ack: number): Promise<void> {
    const status = ack === -1 ? 'failed' : ack === 1 ? 'sent' : ack === 2 ? 'delivered' : ack >= 3 ? 'read' : null;
    if (!status || !m?.id?._serialized) return;
    await applyDeliveryStatus(this.o.knex, { providerMessageId: m.id._serialized, status, at: new Date(), ...(status === 'failed' ? { error: { code: -1, title: 'WhatsApp Web reported an error' } } : {}) })
      .catch((err) => this.o.log?.('whatsapp-web: ack not applied', { err: (err as Error).message }));
  }

  /** What this channel sends for a message: text, with choices as numbered options. */
  async render(to: string, message: OutboundWhatsApp): Promise<string> {
    const number = digits(to);
    switch (message.kind) {
      case 'text': return message.text;
      case 'buttons':
      case 'list': {
        const choices = message.kind === 'buttons' ? message.buttons.map((b) => ({ id: b.id, title: b.title, description: undefined as string | undefined })) : message.rows;
        this.options.set(number, choices.map((c) => ({ id: c.id, title: c.title })));
        // The hub's text already numbers its options (for channels without interactive messages): then they are not listed twice.
        const listed = choices.every((c, i) => message.text.includes(`${i + 1}.`) && message.text.includes(c.title.replace(/…$/, '').slice(0, 12)));
        if (listed) return message.text;
        return `${message.text}\n\n${choices.map((c, i) => `${i + 1}. ${c.title}${c.description ? ` — ${c.description}` : ''}`).join('\n')}`;
      }
      case 'template': {
        const body = await (this.o.renderTemplate ?? ((n, l, p) => defaultTemplate(this.o.knex, n, l, p)))(message.name, message.language, message.parameters);
        if (body === null) throw new WhatsAppSendError('refused', `no approved template ${message.name} (${message.language}) to send as text`);
        return body;
      }
    }
  }

  async send(to: string, message: OutboundWhatsApp, key: string): Promise<SendResult> {
    const done = this.sent.get(key);
    if (done) return done;
    const client = this.client;
    if (!client || this.state !== 'ready') throw new WhatsAppSendError('unavailable', `WhatsApp Web is not ready (${this.state}${this.detail ? `: ${this.detail}` : ''}); nothing was sent`);
    const text = await this.render(to, message);
    const timeoutMs = this.o.sendTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const sent = await Promise.race([
        client.sendMessage(`${digits(to)}@c.us`, text),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new WhatsAppSendError('ambiguous', `WhatsApp Web: no answer within ${timeoutMs} ms (the message may have been sent)`)), timeoutMs); }),
      ]);
      const result = { providerMessageId: sent?.id?._serialized ?? `web-${key}` };
      this.sent.set(key, result);
      if (this.sent.size > RECENT_KEYS) this.sent.delete(this.sent.keys().next().value!);
      return result;
    } catch (err) {
      if (err instanceof WhatsAppSendError) throw err;
      const text = (err as Error)?.message ?? String(err);
      if (/no lid|invalid wid|wid error|not a whatsapp user/i.test(text)) throw new WhatsAppSendError('refused', `WhatsApp Web refused the number: ${text}`);
      // The page took the call and failed somewhere in it: it may have been sent.
      throw new WhatsAppSendError('ambiguous', `WhatsApp Web send failed: ${text}`);
    } finally {
      clearTimeout(timer);
    }
  }

  health(): ChannelHealth {
    return { channel: 'web', state: this.state, ...(this.detail ? { detail: this.detail } : {}) };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners();
      await client.destroy().catch(() => undefined);
    }
    await this.writes;
  }
}

/** An approved template's body from whatsapp_templates, its {{n}} filled in (this language, else English). */
async function defaultTemplate(knex: Knex, name: string, language: string, parameters: string[]): Promise<string | null> {
  const rows = await knex('whatsapp_templates').where({ name, status: 'approved' }).whereIn('language', [language, 'en']);
  const t = rows.find((r) => r.language === language) ?? rows[0];
  return t ? String(t.body).replace(/\{\{(\d+)\}\}/g, (_, n) => parameters[Number(n) - 1] ?? '') : null;
}
